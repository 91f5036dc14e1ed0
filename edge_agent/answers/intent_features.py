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


NEGATORS = frozenset(["not", "no", "never", "nothing", "nor", "neither", "without", "anymore", "longer"])
"""Words that turn a request round ("*no longer* muted", "I do*n't* want it on"): one cue, ``not``.
"""
REVERSING_PREFIXES = ("un", "dis", "de")
AWAY = frozenset(["off", "out", "from"])
"""Words that, followed by a state ("take it *off mute*", "come *out of* silent mode"), leave it."""


def reversal_cues(text: str, known_words: frozenset[str] = frozenset()) -> set[str]:
    """What in ``text`` turns a request round: ``not`` for a negation (a negator or an "n't" word),
    ``un:WORD`` for a reversing prefix on a word of ``known_words`` ("unmute", "disconnect"), and
    ``off:WORD`` for "off" / "out of" / "from" before a word of ``known_words`` (articles aside: "take it off
    mute" is ``off:mute``). ``known_words`` are the words of the training sentences less the names of things
    and places, so "switch off the foyer light" gives no cue. The learned matcher refuses a class whose
    training sentences never have a cue the sentence has (:meth:`IntentClassifier.check_reversal`)."""
    raw = _TOKEN.findall(text.lower().replace("’", "'"))
    words = [w.replace("'", "") for w in raw]
    cues: set[str] = set()
    for i, w in enumerate(words):
        if w in NEGATORS or raw[i].endswith("n't") or w in _NT_WORDS:
            cues.add("not")
        for prefix in REVERSING_PREFIXES:
            if w.startswith(prefix) and w not in known_words and w[len(prefix):] in known_words:
                cues.add(f"un:{w[len(prefix):]}")
        if w in AWAY:
            rest = [x for x in words[i + 1:i + 4] if x not in _ARTICLES and x not in AWAY]
            if rest and rest[0] in known_words:
                cues.add(f"off:{rest[0]}")
    return cues


_NT_WORDS = frozenset(["dont", "doesnt", "didnt", "cant", "wont", "isnt", "arent", "wasnt", "shouldnt", "wouldnt",
                       "couldnt", "havent", "hasnt", "neednt"])
_ARTICLES = frozenset(["the", "a", "an", "my", "your", "this", "that", "its", "it", "of", "me", "us"])
