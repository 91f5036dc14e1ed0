"""Small talk stays short: a bound on the local model's reply, cut where a sentence or clause ends.

The prompt asks for one short sentence, but a 135M model does not always listen ("Tell me a
joke." can run to a paragraph). :func:`bounded` passes the streamed text on a clause at a time (the
voice starts on the first clause, as it would without the bound) until the reply holds
``max_sentences`` sentences, or the next clause would take it past ``max_words`` words, and then
closes the stream, so nothing past the bound is generated, synthesised or spoken. A reply with no
clause end within the bound stops at its last word, with a full stop.

With ``no_numbers`` the reply also ends at the last clause end before its first digit: the small
model is never the source of a number (a story it was asked for began "In the 12th century"). When
nothing comes before it, ``instead`` is said."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)")
"""A sentence's end is known once the character after it has come ("3." may become "3.5")."""
_CLAUSE_END = re.compile(r"[,;:]+(?=\s)|\n")
"""A clause's end, where the voice may start (a line break too, as for the clause splitter)."""
_WORD = re.compile(r"\S+")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Bound:
    """The most a small-talk reply may say."""

    max_sentences: int = 2
    max_words: int = 25
    no_numbers: bool = False
    """End the reply before the clause that holds its first digit."""
    instead: str = ""
    """Said when nothing within the bound can be said (the first clause holds a number)."""


@dataclass(frozen=True)
class Settled:
    """What of a reply's text so far can be passed on: ``text[:upto] + closing``; ``done``: stop there."""

    upto: int
    closing: str = ""
    done: bool = False


def _words(text: str) -> int:
    return len(text.split())


def settle(text: str, bound: Bound, final: bool = False) -> Settled:
    """How much of ``text`` (a reply so far; ``final``: all of it) can be passed on: up to its last
    clause or sentence end within ``bound``, so the voice can start on the first clause."""
    ends = sorted([(m.end(), True) for m in _SENTENCE_END.finditer(text)]
                  + [(m.end(), False) for m in _CLAUSE_END.finditer(text)])
    digit = _DIGIT.search(text) if bound.no_numbers else None
    if digit is not None:  # a number: the reply ends at the last clause end before it
        ends = [(end, is_sentence) for end, is_sentence in ends if end <= digit.start()]
    elif final and text.strip() and (not ends or text[ends[-1][0]:].strip()):
        ends.append((len(text.rstrip()), True))
    upto = 0
    sentences = 0
    for end, is_sentence in ends:
        if _words(text[:end]) > bound.max_words:
            break
        upto = end
        sentences += is_sentence
        if sentences >= bound.max_sentences:
            return Settled(upto, done=True)
    if digit is not None:
        return Settled(upto, done=True)
    if _words(text) <= bound.max_words:
        # with the space after the last end: the clause splitter cuts a clause on seeing it
        return Settled(len(text) if final else min(upto + 1, len(text)) if upto else 0, done=final)
    if upto:  # the bound falls inside a sentence: stop at the last sentence or clause end before it
        return Settled(upto, done=True)
    # no end at all within the bound: stop at its last word, with a full stop
    limit = [m.end() for m in _WORD.finditer(text)][bound.max_words - 1]
    return Settled(limit, closing=".", done=True)


async def bounded(stream: AsyncIterator[Any], bound: Bound) -> AsyncIterator[Any]:
    """The deltas of ``stream`` (objects with a ``text``), their text passed on a clause at a time up
    to ``bound``; the stream is closed once the bound is reached."""
    text = ""
    passed = 0
    last: Any = None
    try:
        async for delta in stream:
            piece = getattr(delta, "text", None)
            if piece:
                text += piece
                last = delta
            # the end, or a tool call: the text so far is all there is
            ending = not piece and (getattr(delta, "finish_reason", None) or getattr(delta, "tool_call", None))
            settled = settle(text, bound, final=bool(ending))
            if settled.upto > passed or settled.closing:
                yield _with_text(last, text[passed:settled.upto] + settled.closing)
                passed = settled.upto
            elif settled.done and not passed and bound.instead and text.strip():
                yield _with_text(last, bound.instead)  # nothing before the number: say this instead
            if not piece:
                yield delta
            if settled.done:
                return
        settled = settle(text, bound, final=True)
        if last is not None and (settled.upto > passed or settled.closing):
            yield _with_text(last, text[passed:settled.upto] + settled.closing)
        elif last is not None and not passed and bound.instead and text.strip():
            yield _with_text(last, bound.instead)
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def _with_text(delta: Any, text: str) -> Any:
    if dataclasses.is_dataclass(delta) and not isinstance(delta, type):
        return dataclasses.replace(delta, text=text)
    return type(delta)(text=text)
