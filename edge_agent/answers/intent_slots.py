"""Slots read from the words, for the learned intent matcher: a duration, a volume level or direction,
and a declared device.

The learned matcher says which intent a sentence is; what the intent needs (how long a timer, which
light) is read here from the text with plain rules, never guessed: an intent whose slot cannot be read
is not taken (a timer with no duration, a level with no number)."""

from __future__ import annotations

import re
from typing import Any

from edge_agent.answers.devices import DOMAIN_WORDS, Device

_UNITS = {"hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "minute": 60, "minutes": 60, "min": 60,
          "mins": 60, "second": 1, "seconds": 1, "sec": 1, "secs": 1}
_ONES = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
         "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
         "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "couple": 2}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_WORD = re.compile(r"[a-z]+|\d+(?:\.\d+)?")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("-", " "))


def _number_at(words: list[str], i: int) -> tuple[float | None, int]:
    """The number that starts at ``words[i]`` (digits, or words to ninety-nine, "a"/"an" as one) and
    how many words it takes."""
    w = words[i]
    if re.fullmatch(r"\d+(?:\.\d+)?", w):
        return float(w), 1
    if w in _TENS:
        if i + 1 < len(words) and words[i + 1] in _ONES and words[i + 1] not in ("a", "an", "couple"):
            return float(_TENS[w] + _ONES[words[i + 1]]), 2
        return float(_TENS[w]), 1
    if w in _ONES:
        return float(_ONES[w]), 1
    if w == "hundred":
        return 100.0, 1
    return None, 0


def duration_seconds(text: str) -> int | None:
    """Seconds named in ``text`` ("20 minutes", "an hour and a half", "two and a half minutes",
    "half an hour", "a minute 30"), or None when it names no duration."""
    words = _words(text)
    total = 0.0
    found = False
    i = 0
    while i < len(words):
        w = words[i]
        if w == "half" and i + 2 < len(words) and words[i + 1] in ("an", "a") and words[i + 2] in _UNITS:
            total += _UNITS[words[i + 2]] / 2
            found, i = True, i + 3
            continue
        if w == "quarter" and "hour" in words[i + 1:i + 4]:
            total += 900
            found, i = True, i + words[i + 1:i + 4].index("hour") + 2
            continue
        value, used = _number_at(words, i)
        if value is not None:
            j = i + used
            if words[j:j + 3] in (["and", "a", "half"],):
                value += 0.5
                j += 3
            if j < len(words) and words[j] in _UNITS:
                total += value * _UNITS[words[j]]
                found = True
                if words[j + 1:j + 4] == ["and", "a", "half"]:
                    total += _UNITS[words[j]] / 2
                    j += 3
                i = j + 1
                continue
        i += 1
    return int(round(total)) if found and total > 0 else None


def volume_level(text: str) -> int | None:
    """A level from 0 to 100 ("40 percent", "thirty", "to 7 out of 10" is not read), or None."""
    words = _words(text)
    levels = []
    for i in range(len(words)):
        value, used = _number_at(words, i)
        if value is not None and words[i] not in ("a", "an", "couple") and (i == 0 or _number_at(words, i - 1)[0] is None):
            levels.append(value)
    if len(levels) != 1 or not 0 <= levels[0] <= 100:
        return None
    return int(levels[0])


_UP = re.compile(r"\b(up|louder|higher|raise|increase|boost|more volume|can't hear|cannot hear|too quiet|"
                 r"(a bit|quite|very|so|rather) quiet)\b")
_DOWN = re.compile(r"\b(down|quieter|lower|softer|reduce|decrease|less loud|too loud|(a bit|quite|very|so|rather) "
                   r"loud)\b")


def volume_direction(text: str) -> str | None:
    """``up`` or ``down`` from the words ("louder", "too loud", "lower your voice"), or None if neither
    or both."""
    lowered = text.lower()
    up, down = bool(_UP.search(lowered)), bool(_DOWN.search(lowered))
    if up == down:
        return None
    return "up" if up else "down"


_FUNCTION = frozenset([
    "a", "an", "the", "please", "could", "can", "you", "would", "will", "turn", "switch", "put", "get",
    "set", "on", "off", "up", "out", "make", "it", "them", "this", "that", "to", "in", "at", "for",
    "me", "my", "our", "your", "now", "thanks", "thank", "just", "and", "of", "with", "again", "back",
    "kindly", "go", "ahead", "i", "we", "want", "like", "need", "some", "all", "is", "are", "be",
    "kill", "shut", "start", "stop", "power",
])


def device_slots(text: str, devices: list[Device]) -> dict[str, Any]:
    """The slots of turning something on or off: the declared device the words name (``tool``, and
    ``area`` when the text names one of its areas), else ``device``: the words of what was asked for
    (which the handler declines: nothing declared switches it)."""
    words = set(_words(text))
    lowered = " ".join(_words(text))
    for d in devices:
        nouns = DOMAIN_WORDS.get(d.domain, (d.domain,))
        areas = [a for a in (d.areas or {}) if re.search(rf"\b{re.escape(a)}\b", lowered)]
        if words & set(nouns) and len(areas) <= 1:
            slots: dict[str, Any] = {"tool": d.tool, "domain": d.domain}
            if areas:
                slots["area"] = areas[0]
            return slots
    thing = [w for w in _words(text) if w not in _FUNCTION]
    return {"device": " ".join(thing[:3]) or "that"}
