"""The wake check's text half: does a transcript contain the keyword?

Whisper writes what it hears, so a keyword has a few spellings (``okay nabu``, ``ok naboo``...);
matching ignores case, punctuation and spaces and allows one wrong letter in a long spelling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SPELLINGS: dict[str, tuple[str, ...]] = {
    # Whisper writes what it hears; with the keyword as its prompt it spells the real phrase like
    # this (collected on the generated wake set). The first spelling is also the prompt.
    "okay_nabu": ("Okay Nabu", "okay naboo"),
    "hey_jarvis": ("Hey Jarvis", "hey jervis"),
    "alexa": ("Alexa", "alexia"),
    "hey_mycroft": ("Hey Mycroft", "hey my croft"),
}


def prompt_for(keyword: str) -> str:
    return SPELLINGS.get(keyword, (keyword.replace("_", " ").title(),))[0] + "."


def normalize(text: str) -> str:
    text = text.lower().replace("o.k.", "okay").replace("-", " ")
    text = re.sub(r"[^a-z ]+", " ", text)
    words = ["okay" if w in ("ok", "okey", "okeh", "okie") else w for w in text.split()]
    return " ".join(words)


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _spellings(keyword: str) -> tuple[str, ...]:
    return SPELLINGS.get(keyword, (keyword.replace("_", " "),))


def keyword_span(keyword: str, words: Sequence[str], max_edits: int = 1) -> tuple[int, int, int] | None:
    """``(first, end, edits)``: the run of ``words`` closest to one of ``keyword``'s spellings (spaces
    ignored), if within ``max_edits`` letters (none for spellings under 6 letters)."""
    norm = [normalize(w).replace(" ", "") for w in words]
    best: tuple[int, int, int] | None = None
    for s in _spellings(keyword):
        target = normalize(s).replace(" ", "")
        allowed = max_edits if len(target) >= 6 else 0
        n = len(normalize(s).split())
        for k in range(max(1, n - 1), n + 2):
            for i in range(max(1, len(norm) - k + 1)):
                d = _distance("".join(norm[i : i + k]), target)
                if d <= allowed and (best is None or d < best[2]):
                    best = (i, min(i + k, len(norm)), d)
    return best


def matches(keyword: str, text: str, max_edits: int = 1) -> bool:
    """True if ``text`` contains one of ``keyword``'s spellings (within ``max_edits`` letters,
    spaces ignored). Unknown (custom) keywords match their own name, underscores as spaces."""
    return keyword_span(keyword, normalize(text).split(), max_edits) is not None


def ends_on_first_word(keyword: str, text: str) -> bool:
    """True if ``text`` stops on the first word of a several-word spelling ("Okay." for okay_nabu)."""
    words = normalize(text).split()
    return bool(words) and any(
        len(normalize(s).split()) > 1 and normalize(s).split()[0] == words[-1] for s in _spellings(keyword))


def without_leading_keyword(text: str, keywords: Sequence[str], max_edits: int = 1) -> str:
    """``text`` without a wake phrase it starts with ("Okay Nabu, what time is it?" -> "what time
    is it?"): said again over a reply or in the follow-up window, it is not part of the request."""
    words = text.split()
    for keyword in keywords:
        span = keyword_span(keyword, words[:4], max_edits)
        if span is not None and span[0] == 0 and span[1] < len(words):
            return " ".join(words[span[1]:]).lstrip(" ,.!?;:")
    return text
