"""The speech-out path: LLM deltas -> clauses -> TTS (on its executor thread) -> playback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest

from edge_agent.agent import ExecutorSpeaker
from edge_agent.agent.reply import Reply
from edge_agent.agent.speech_out import SpeechOut
from edge_agent.llm.base import Delta, ToolCallRequest


class FakeTts:
    """A blocking voice: one chunk as long as the text (so tests can see what was said) and a
    short tail; records calls."""

    sample_rate = 1000

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[str] = []
        self.delay = delay

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.calls.append(text)
        time.sleep(self.delay)
        yield np.full(len(text), 1000, np.int16)
        yield np.full(3, 2000, np.int16)


class RecordingPlayback:
    sample_rate = 1000

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.write_times: list[float] = []
        self.began = 0
        self.written = asyncio.Event()

    async def write(self, chunk: np.ndarray) -> None:
        self.chunks.append(chunk)
        self.write_times.append(time.monotonic())
        self.written.set()

    async def drain(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def played(self) -> int:
        return sum(int(c.size) for c in self.chunks)


class GainPlayback(RecordingPlayback):
    """A playback that applies the volume and times the reply itself."""

    def __init__(self) -> None:
        super().__init__()
        self.gain: float | None = None

    def set_volume(self, gain: float) -> None:
        self.gain = gain

    def begin_reply(self) -> None:
        self.began += 1


async def deltas_of(text: str, delay: float = 0.0, fail_after: int | None = None,
                    closed: list[bool] | None = None) -> AsyncIterator[Delta]:
    try:
        for i, word in enumerate(text.split(" ")):
            if fail_after is not None and i == fail_after:
                raise RuntimeError("the model went away")
            await asyncio.sleep(delay)
            yield Delta(text=(" " if i else "") + word)
        yield Delta(finish_reason="stop")
    finally:
        if closed is not None:
            closed.append(True)


def make(tts: FakeTts, playback: RecordingPlayback | None = None) -> tuple[SpeechOut, RecordingPlayback, list[Reply]]:
    playback = playback or RecordingPlayback()
    started: list[Reply] = []
    out = SpeechOut(ExecutorSpeaker(tts), playback, clock=asyncio.get_running_loop().time,
                    on_audio_start=started.append)
    return out, playback, started


def confirmed_reply() -> Reply:
    reply = Reply(1)
    reply.confirm()
    return reply


def others() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


def test_clauses_are_normalised_synthesized_in_order_and_counted() -> None:
    tts = FakeTts()

    async def run() -> tuple[Reply, RecordingPlayback, list[Reply]]:
        out, playback, started = make(tts)
        reply = confirmed_reply()
        call = await out.speak(reply, deltas_of("Sure! That costs $5 at the shop, and it opens at 10:30 tomorrow. 🎉"))
        assert call is None
        return reply, playback, started

    reply, playback, started = asyncio.run(run())
    assert tts.calls == ["Sure!", "That costs five dollars at the shop", "and it opens at ten thirty tomorrow."]
    assert reply.said == ["Sure!", "That costs $5 at the shop,", "and it opens at 10:30 tomorrow."]  # as written
    assert started == [reply] and reply.started
    assert [s.length for s in reply.spoken] == [len(c) + 3 for c in tts.calls]
    assert reply.samples == playback.played() == sum(len(c) + 3 for c in tts.calls)
    assert {"llm_first_token", "llm_first_clause", "tts_first_chunk"} <= set(reply.stages)


def test_the_first_clause_may_be_short_and_later_ones_are_not() -> None:
    tts = FakeTts()

    async def run() -> None:
        out, _, _ = make(tts)
        await out.speak(confirmed_reply(), deltas_of("Okay then, I will, of course, turn it on."))

    asyncio.run(run())
    assert tts.calls == ["Okay then", "I will, of course, turn it on."]  # later clauses: 20 chars before a comma


def test_audio_starts_before_the_text_is_finished() -> None:
    async def run() -> tuple[float, float]:
        done_at = 0.0

        async def deltas() -> AsyncIterator[Delta]:
            nonlocal done_at
            async for d in deltas_of("Hello there. " + "and some more words " * 10, delay=0.01):
                yield d
            done_at = time.monotonic()

        out, playback, _ = make(FakeTts())
        await out.speak(confirmed_reply(), deltas())
        return playback.write_times[0], done_at

    first, done = asyncio.run(run())
    assert first < done


def test_cancelling_stops_at_once_closes_the_stream_and_leaks_no_task() -> None:
    tts = FakeTts()
    closed: list[bool] = []

    async def run() -> int:
        out, playback, _ = make(tts)
        task = asyncio.ensure_future(out.speak(confirmed_reply(), deltas_of("One. Two. Three. Four. Five. Six.",
                                                                             delay=0.01, closed=closed)))
        await playback.written.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return len(others())

    assert asyncio.run(run()) == 0
    assert closed == [True], "the LLM stream is closed"
    assert len(tts.calls) < 6


def test_an_llm_error_mid_reply_propagates_and_leaks_no_task() -> None:
    tts = FakeTts()

    async def run() -> int:
        out, _, _ = make(tts)
        with pytest.raises(RuntimeError, match="went away"):
            await out.speak(confirmed_reply(), deltas_of("First part. Second part is", fail_after=4))
        return len(others())

    assert asyncio.run(run()) == 0


def test_a_tool_call_is_returned_and_not_spoken() -> None:
    tts = FakeTts()

    async def deltas() -> AsyncIterator[Delta]:
        yield Delta(tool_call=ToolCallRequest("set_light", {"on": True}))
        yield Delta(finish_reason="tool_calls")

    async def run() -> ToolCallRequest | None:
        out, _, _ = make(tts)
        return await out.speak(confirmed_reply(), deltas())

    assert asyncio.run(run()) == ToolCallRequest("set_light", {"on": True})
    assert tts.calls == []


def test_a_speculative_reply_prepares_its_first_clause_and_waits_to_be_heard() -> None:
    tts = FakeTts()

    async def run() -> tuple[list[str], int, list[str]]:
        out, playback, _ = make(tts)
        reply = Reply(1)  # not confirmed
        task = asyncio.ensure_future(out.speak(reply, deltas_of("Sure, here it is. And some more.")))
        await asyncio.sleep(0.2)
        waiting = list(tts.calls), len(playback.chunks)
        reply.confirm()
        await task
        return waiting[0], waiting[1], reply.said

    waiting_calls, played_while_waiting, said = asyncio.run(run())
    assert waiting_calls == ["Sure, here it is."] and played_while_waiting == 0  # the rest waits too
    assert said == ["Sure, here it is.", "And some more."]


def test_volume_is_applied_by_the_playback_when_it_can_else_here() -> None:
    async def run() -> tuple[RecordingPlayback, GainPlayback]:
        soft, soft_playback, _ = make(FakeTts())
        soft.set_volume(0.5)
        await soft.speak_text(confirmed_reply(), "Hello.")
        sink = GainPlayback()
        hard, _, _ = make(FakeTts(), sink)
        hard.set_volume(0.5)
        await hard.speak_text(confirmed_reply(), "Hello.")
        return soft_playback, sink

    soft, sink = asyncio.run(run())
    assert soft.chunks[0][0] == 500
    assert sink.gain == 0.5 and sink.chunks[0][0] == 1000 and sink.began == 1


def test_the_loop_is_never_blocked_by_synthesis() -> None:
    async def run() -> int:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        out, _, _ = make(FakeTts(delay=0.2))
        await out.speak_text(confirmed_reply(), "A slow clause. Another slow one.")
        stop.set()
        await task
        return ticks

    assert asyncio.run(run()) > 20  # 0.4 s of synthesis: the loop kept ticking every 5 ms


@pytest.mark.real_model
def test_streamed_reply_is_spoken_and_understood(model_path) -> None:  # type: ignore[no-untyped-def]
    """Round trip: tokens -> clauses -> Piper -> Whisper hears the normalised words."""
    from edge_agent.audio.wav import resample
    from edge_agent.stt.whisper import WhisperStt
    from edge_agent.tts.piper_tts import PiperTts

    piper = PiperTts(model_path("piper-joe-medium", "en_US-joe-medium.onnx"))
    spoken: list[str] = []

    class Recording:
        def __init__(self) -> None:
            self.sample_rate = piper.sample_rate

        def synthesize(self, text: str) -> Iterator[np.ndarray]:
            spoken.append(text)
            return piper.synthesize(text)

    async def run() -> RecordingPlayback:
        playback = RecordingPlayback()
        out = SpeechOut(ExecutorSpeaker(Recording()), playback, clock=asyncio.get_running_loop().time,
                        on_audio_start=lambda _: None)
        await out.speak(confirmed_reply(),
                        deltas_of("**Sure!** The bus ticket costs $5, and it leaves at 10:30.", delay=0.005))
        return playback

    playback = asyncio.run(run())
    assert spoken == ["Sure!", "The bus ticket costs five dollars", "and it leaves at ten thirty."]
    audio = np.concatenate(playback.chunks)
    heard = WhisperStt(model_path("whisper-tiny-en")).transcribe(resample(audio, piper.sample_rate, 16000)).lower()
    assert "ticket" in heard and "bus" in heard
    assert "5" in heard or "five" in heard
