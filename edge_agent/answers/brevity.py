"""Small talk stays short: a bound on the local model's reply, cut where a sentence ends.

The prompt asks for one short sentence, but a 135M model does not always listen ("Tell me a
joke." can run to a paragraph). :func:`bounded` passes the streamed text on a whole sentence at a
time until the reply holds ``max_sentences`` sentences, or the next one would take it past
``max_words`` words, and then closes the stream, so nothing past the bound is generated,
synthesised or spoken. A first sentence that is itself too long is ended at its last clause
boundary (a comma, a semicolon) within the bound, with a full stop."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)")
"""A sentence's end is known once the character after it has come ("3." may become "3.5")."""
_CLAUSE_END = re.compile(r"[,;:]+(?=\s)")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Bound:
    """The most a small-talk reply may say."""

    max_sentences: int = 2
    max_words: int = 25


@dataclass(frozen=True)
class Settled:
    """What of a reply's text so far can be passed on: ``text[:upto] + closing``; ``done``: stop there."""

    upto: int
    closing: str = ""
    done: bool = False


def _words(text: str) -> int:
    return len(text.split())


def settle(text: str, bound: Bound, final: bool = False) -> Settled:
    """How much of ``text`` (a reply so far; ``final``: all of it) is complete sentences within ``bound``."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if final and text.strip() and (not ends or text[ends[-1]:].strip()):
        ends.append(len(text.rstrip()))
    upto = 0
    for count, end in enumerate(ends, start=1):
        if _words(text[:end]) > bound.max_words:
            break
        upto = end
        if count >= bound.max_sentences:
            return Settled(upto, done=True)
    if _words(text) <= bound.max_words:
        return Settled(len(text) if final else upto, done=final)
    if upto:  # the next sentence would pass the bound: stop after the last whole one
        return Settled(upto, done=True)
    # the first sentence alone is too long: end it at its last clause boundary within the bound
    limit = [m.end() for m in _WORD.finditer(text)][bound.max_words - 1]
    clauses = [m.start() for m in _CLAUSE_END.finditer(text, 0, limit)]
    stop = clauses[-1] if clauses else limit
    return Settled(len(text[:stop].rstrip(" -")), closing=".", done=True)


async def bounded(stream: AsyncIterator[Any], bound: Bound) -> AsyncIterator[Any]:
    """The deltas of ``stream`` (objects with a ``text``), their text passed on a sentence at a time
    up to ``bound``; the stream is closed once the bound is reached."""
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
            if not piece:
                yield delta
            if settled.done:
                return
        settled = settle(text, bound, final=True)
        if last is not None and (settled.upto > passed or settled.closing):
            yield _with_text(last, text[passed:settled.upto] + settled.closing)
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


def _with_text(delta: Any, text: str) -> Any:
    if dataclasses.is_dataclass(delta) and not isinstance(delta, type):
        return dataclasses.replace(delta, text=text)
    return type(delta)(text=text)
