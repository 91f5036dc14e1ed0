"""The speech-out path: text deltas (LLM tokens) -> clauses -> TTS per clause -> playback.

:meth:`SpeechOut.speak` runs two stages at once: it reads the deltas and cuts them into clauses
(:func:`make_splitter`), while a second task synthesizes each clause as soon as it is complete and
queues its audio for playback, so the first clause is heard while the LLM still writes the second.
Each chunk queued is counted on the :class:`~edge_agent.agent.reply.Reply` (what was voiced, for
the heard-text of an interruption). A reply that is not confirmed yet (speculation) synthesizes
its first clause and then waits for its ``go`` before anything is played or read further.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import numpy as np

from edge_agent.agent.engines import Playback, ReplyTiming, Speaker, VolumeControl
from edge_agent.agent.reply import Reply, Spoken
from edge_agent.audio.base import apply_gain
from edge_agent.errors import EdgeAgentError, TtsError
from edge_agent.llm.base import Delta, ToolCallRequest
from edge_agent.tts.text import ClauseSplitter, speakable

FIRST_CLAUSE_MIN_CHARS = 6
FIRST_CLAUSE_MAX_CHARS = 32
CLAUSE_MIN_CHARS = 20
CLAUSE_MAX_CHARS = 180


def make_splitter() -> ClauseSplitter:
    """The clause splitter for one reply. Its first clause is cut short (at any comma, or at a space
    after ~32 characters): the voice's first chunk costs time in proportion to its length."""
    return ClauseSplitter(normalize=False, min_chars=FIRST_CLAUSE_MIN_CHARS, max_chars=FIRST_CLAUSE_MAX_CHARS)


def relax_splitter(splitter: ClauseSplitter) -> None:
    """After the first clause: the splitter's normal clause lengths (fewer, more natural cuts)."""
    splitter.min_chars, splitter.max_chars = CLAUSE_MIN_CHARS, CLAUSE_MAX_CHARS


async def text_stream(text: str) -> AsyncIterator[Delta]:
    """A fixed text as a stream of deltas (``say``, the apology, a confirmation question)."""
    yield Delta(text=text)
    yield Delta(finish_reason="stop")


def has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


class SpeechOut:
    """Speaks replies through one speaker into one playback.

    ``on_first_text(reply, ms)``: the stream's first text arrived ``ms`` after it began.
    ``on_audio_start(reply)``: the reply's first sample is being queued (it is being heard)."""

    def __init__(self, speaker: Speaker, playback: Playback, *, clock: Callable[[], float],
                 on_audio_start: Callable[[Reply], None],
                 on_first_text: Callable[[Reply, float], None] | None = None) -> None:
        self.speaker = speaker
        self.playback = playback
        self.clock = clock
        self.on_audio_start = on_audio_start
        self.on_first_text = on_first_text
        self.normalize: Callable[[str], str] = speakable
        """Text as it is spoken (numbers, abbreviations, symbols)."""
        self._gain = 1.0

    def set_volume(self, level: float) -> None:
        """The output gain: applied by the playback if it can (to what is queued, too), else here."""
        if isinstance(self.playback, VolumeControl):
            self.playback.set_volume(level)
        else:
            self._gain = level

    async def speak(self, reply: Reply, deltas: AsyncIterator[Delta]) -> ToolCallRequest | None:
        """Speak a stream of deltas to its end. Returns the tool call if the model asked for one
        instead of (or after) speaking. Cancelling stops it at once and closes the stream."""
        clauses: asyncio.Queue[str | None] = asyncio.Queue()
        speaking = asyncio.ensure_future(self._speak_clauses(reply, clauses))
        splitter = make_splitter()
        call: ToolCallRequest | None = None
        reply.t_llm = self.clock()
        first = True
        try:
            async with contextlib.aclosing(deltas) as stream:  # type: ignore[type-var]
                async for delta in stream:
                    if delta.tool_call is not None:
                        call = delta.tool_call
                        continue
                    if not delta.text:
                        continue
                    if first:
                        first = False
                        ms = round((self.clock() - reply.t_llm) * 1000, 1)
                        reply.stages.setdefault("llm_first_token", ms)
                        if self.on_first_text is not None:
                            self.on_first_text(reply, ms)
                    for clause in splitter.feed(delta.text):
                        self._queue(reply, clauses, clause)
                        relax_splitter(splitter)
                    if reply.t_first_clause is not None and not reply.confirmed:
                        await reply.go.wait()  # speculation has its first clause: the rest can wait
            for clause in splitter.flush():
                self._queue(reply, clauses, clause)
            clauses.put_nowait(None)
            await speaking
        finally:
            if not speaking.done():
                speaking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await speaking
            elif not speaking.cancelled():
                speaking.exception()  # retrieved: a TTS failure behind another error is not reported again
        return call

    async def speak_text(self, reply: Reply, text: str) -> None:
        await self.speak(reply, text_stream(text))

    def _queue(self, reply: Reply, clauses: asyncio.Queue[str | None], clause: str) -> None:
        reply.mark_first_clause(self.clock())
        clauses.put_nowait(clause)

    async def _speak_clauses(self, reply: Reply, clauses: asyncio.Queue[str | None]) -> None:
        while (clause := await clauses.get()) is not None:
            spoken = self.normalize(clause).strip()
            if not has_words(spoken):
                continue  # "...", an emoji: nothing to say
            t0 = self.clock()
            first_chunk = True
            entry = reply.begin_clause(clause)
            try:
                async for chunk in self.speaker.synthesize(spoken):
                    if first_chunk and not reply.started:
                        reply.stages["tts_first_chunk"] = round((self.clock() - t0) * 1000, 1)
                    if chunk.size:
                        first_chunk = False
                        await self._play(reply, entry, chunk)
            except (asyncio.CancelledError, EdgeAgentError):
                raise
            except Exception as exc:  # piper / onnxruntime raise their own types
                raise TtsError(f"speech synthesis failed: {exc}") from exc
            reply.end_clause(entry)

    async def _play(self, reply: Reply, entry: Spoken, chunk: np.ndarray) -> None:
        chunk = apply_gain(chunk, self._gain)
        if not reply.started:
            await reply.go.wait()  # a speculative reply is ready: it is heard once the turn is over
            if isinstance(self.playback, ReplyTiming):
                self.playback.begin_reply()
            reply.start(self.playback.played())
            self.on_audio_start(reply)
        await self.playback.write(chunk)
        reply.add_audio(entry, int(chunk.size))
