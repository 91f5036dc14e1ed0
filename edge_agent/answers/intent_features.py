"""The features of a sentence for the learned intent matcher (:mod:`edge_agent.answers.intent_model`).

Word unigrams and bigrams, and character 3- and 4-grams of each word with its boundaries, after the
numbers (digits and number words) are folded onto one token: the matcher learns that "set a NUM
minute timer" starts a timer whatever the number, and the slots are read from the text itself
(:mod:`edge_agent.answers.intent_slots`). Character n-grams carry a word's parts to forms the templates
never spelled ("timers", "countdown", "muted"). The features are hashed into a fixed range, so the
weights are a dense array and nothing has to hold a vocabulary."""

from __future__ import annotations

import re
import zlib

N_FEATURES = 1 << 14
"""Hash buckets: enough that the few thousand n-grams of the templates rarely share one."""

NUMBER_WORDS = frozenset([
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "half",
    "quarter",
])
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokens(text: str) -> list[str]:
    """Lower-case words, numbers folded onto ``NUM`` (and ``a``/``an`` kept: "an hour" is a duration)."""
    out = []
    for word in _TOKEN.findall(text.lower().replace("’", "'")):
        out.append("NUM" if word.isdigit() or word in NUMBER_WORDS else word)
    return out


def features(text: str) -> list[int]:
    """The hashed feature indices of ``text`` (with repeats: a count is a weight)."""
    words = tokens(text)
    if not words:
        return []
    grams = [f"w:{w}" for w in words]
    grams += [f"b:{a} {b}" for a, b in zip(["^", *words], [*words, "$"], strict=True)]
    for w in words:
        if w == "NUM":
            continue
        padded = f"<{w}>"
        grams += [f"c:{padded[i:i + n]}" for n in (3, 4) for i in range(len(padded) - n + 1)]
    return [zlib.crc32(g.encode()) % N_FEATURES for g in grams]
