"""Speak a reply while it is still being written: text deltas in, audio out, clause by clause.

:class:`ClauseSynthesizer` reads an async iterator of text deltas (LLM tokens), cuts them into
clauses with :class:`~edge_agent.tts.text.ClauseSplitter`, and synthesizes each clause as soon as
it is complete on an executor thread (blocking work never runs on the asyncio loop; Piper's
onnxruntime releases the GIL). Reading the next deltas and synthesizing the current clause
overlap, so the first audio is ready about one clause's synthesis time after the first clause
is complete, whatever the reply's length.

Usage::

    synth = ClauseSynthesizer(PiperTts(voice))
    async for piece in synth.stream(deltas):        # deltas: AsyncIterator[str]
        await playback.write(piece.audio)            # int16 at synth.sample_rate
        spoken_so_far.append(piece.text)             # piece.clause_index, piece.last_of_clause

Leaving the loop early (``break``, or the consuming task cancelled on barge-in) cancels the
reading of deltas; a clause being synthesized finishes on its thread and is thrown away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edge_agent.tts.text import ClauseSplitter, speakable


class TextToSpeech(Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> Iterator[np.ndarray]: ...


@dataclass(frozen=True)
class SpokenChunk:
    text: str
    """The clause as written (before normalisation), for the history and ``reply_text``."""
    spoken: str
    """The clause as it was given to the voice."""
    audio: np.ndarray = field(repr=False)
    """Mono int16 at the synthesizer's ``sample_rate``."""
    clause_index: int
    last_of_clause: bool


_END = object()


class ClauseSynthesizer:
    """See the module docstring. ``min_chars`` / ``first_min_chars``: how long a clause must be
    before a comma may end it (the first clause of a reply may be shorter: its audio comes first)."""

    def __init__(self, tts: TextToSpeech, executor: Executor | None = None, min_chars: int = 20,
                 first_min_chars: int = 12, max_chars: int = 180) -> None:
        self.tts = tts
        self.sample_rate = tts.sample_rate
        self.executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
        self.min_chars = min_chars
        self.first_min_chars = first_min_chars
        self.max_chars = max_chars

    async def stream(self, deltas: AsyncIterator[str]) -> AsyncIterator[SpokenChunk]:
        clauses: asyncio.Queue[object] = asyncio.Queue()
        reader = asyncio.create_task(self._split(deltas, clauses))
        try:
            index = 0
            while True:
                item = await clauses.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                text = str(item)
                spoken = speakable(text)
                if not any(ch.isalnum() for ch in spoken):
                    continue
                async for audio, last in self._synthesize(spoken):
                    yield SpokenChunk(text, spoken, audio, index, last)
                index += 1
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _split(self, deltas: AsyncIterator[str], out: asyncio.Queue[object]) -> None:
        splitter = ClauseSplitter(min_chars=self.first_min_chars, max_chars=self.max_chars, normalize=False)
        first = True
        try:
            async for delta in deltas:
                for clause in splitter.feed(delta):
                    out.put_nowait(clause)
                    if first:  # after the first clause, the usual minimum
                        first = False
                        splitter.min_chars = self.min_chars
            for clause in splitter.flush():
                out.put_nowait(clause)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the LLM failed mid-reply: say what we have, then report it
            for clause in splitter.flush():
                out.put_nowait(clause)
            out.put_nowait(exc)
        out.put_nowait(_END)

    async def _synthesize(self, text: str) -> AsyncIterator[tuple[np.ndarray, bool]]:
        loop = asyncio.get_running_loop()
        chunks = iter(self.tts.synthesize(text))
        nxt = await loop.run_in_executor(self.executor, next, chunks, None)
        while nxt is not None:
            after = await loop.run_in_executor(self.executor, next, chunks, None)
            yield nxt, after is None
            nxt = after

    async def speak(self, text: str) -> AsyncIterator[SpokenChunk]:
        """A whole text (e.g. the apology), clause by clause."""

        async def one() -> AsyncIterator[str]:
            yield text

        async for piece in self.stream(one()):
            yield piece
