"""TTS: Piper with the joe voice, and speaking a reply clause by clause while it is written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import ModelError
from edge_agent.tts.streamer import ClauseSynthesizer, SpokenChunk


class FakeTts:
    """One chunk per call, as long as the text (so tests can see what was said); records calls."""

    sample_rate = 1000

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[str] = []
        self.delay = delay

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.calls.append(text)
        time.sleep(self.delay)
        yield np.full(len(text), 1, np.int16)
        yield np.full(3, 2, np.int16)


async def deltas_of(text: str, delay: float = 0.0, fail_after: int | None = None) -> AsyncIterator[str]:
    for i, word in enumerate(text.split(" ")):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("the model went away")
        await asyncio.sleep(delay)
        yield (" " if i else "") + word


async def collect(it: AsyncIterator[SpokenChunk]) -> list[SpokenChunk]:
    return [piece async for piece in it]


def test_clauses_are_normalised_synthesized_in_order_and_marked() -> None:
    tts = FakeTts()
    synth = ClauseSynthesizer(tts)
    pieces = asyncio.run(collect(synth.stream(deltas_of("Sure! That costs $5 at the shop, and it opens at 10:30 tomorrow. 🎉"))))
    assert tts.calls == ["Sure!", "That costs five dollars at the shop", "and it opens at ten thirty tomorrow."]
    assert [p.clause_index for p in pieces] == [0, 0, 1, 1, 2, 2]
    assert [p.last_of_clause for p in pieces] == [False, True] * 3
    assert pieces[2].text == "That costs $5 at the shop," and pieces[2].spoken == "That costs five dollars at the shop"


def test_the_first_clause_may_be_short() -> None:
    tts = FakeTts()
    asyncio.run(collect(ClauseSynthesizer(tts, first_min_chars=8).stream(
        deltas_of("Okay then, I will, of course, turn it on."))))
    assert tts.calls == ["Okay then", "I will, of course, turn it on."]  # later clauses: 20 chars before a comma


def test_audio_starts_before_the_text_is_finished() -> None:
    async def run() -> tuple[float, float]:
        done_at = 0.0

        async def deltas() -> AsyncIterator[str]:
            nonlocal done_at
            async for d in deltas_of("Hello there. " + "and some more words " * 10, delay=0.01):
                yield d
            done_at = time.monotonic()

        first = None
        async for _ in ClauseSynthesizer(FakeTts()).stream(deltas()):
            first = first or time.monotonic()
        assert first is not None
        return first, done_at

    first, done = asyncio.run(run())
    assert first < done


def test_leaving_early_cancels_the_reader_and_leaks_no_task() -> None:
    async def run() -> tuple[int, int]:
        tts = FakeTts()
        stream = ClauseSynthesizer(tts).stream(deltas_of("One. Two. Three. Four. Five. Six.", delay=0.01))
        async for piece in stream:
            if piece.clause_index == 1:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.sleep(0.05)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return len(tts.calls), len(others)

    calls, leaked = asyncio.run(run())
    assert calls == 2 and leaked == 0


def test_an_llm_error_mid_reply_says_what_came_and_then_raises() -> None:
    tts = FakeTts()

    async def run() -> list[SpokenChunk]:
        got: list[SpokenChunk] = []
        with pytest.raises(RuntimeError, match="went away"):
            async for piece in ClauseSynthesizer(tts).stream(deltas_of("First part. Second part is", fail_after=4)):
                got.append(piece)
        return got

    asyncio.run(run())
    assert tts.calls == ["First part.", "Second part"]


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
        await collect(ClauseSynthesizer(FakeTts(delay=0.2)).speak("A slow clause. Another slow one."))
        stop.set()
        await task
        return ticks

    assert asyncio.run(run()) > 20  # 0.4 s of synthesis: the loop kept ticking every 5 ms


# --- the real voice -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def piper(model_path):  # type: ignore[no-untyped-def]
    from edge_agent.tts.piper_tts import PiperTts

    tts = PiperTts(model_path("piper-joe-medium", "en_US-joe-medium.onnx"))
    tts.warm_up()
    return tts


def test_missing_voice_names_the_fix(tmp_path: Path) -> None:
    from edge_agent.tts.piper_tts import PiperTts

    with pytest.raises(ModelError, match="models pull piper-joe-medium"):
        PiperTts(tmp_path / "nope.onnx")


@pytest.mark.real_model
def test_piper_speaks_a_clause(piper) -> None:  # type: ignore[no-untyped-def]
    audio = piper.synthesize_all("Sure, the kitchen lights are on now.")
    assert piper.sample_rate == 22050
    assert audio.dtype == np.int16 and 1.0 < audio.size / 22050 < 4.0
    assert np.abs(audio).max() > 3000


@pytest.mark.real_model
def test_streamed_reply_is_spoken_and_understood(piper, model_path) -> None:  # type: ignore[no-untyped-def]
    """Round trip: tokens -> clauses -> Piper -> Whisper hears the normalised words."""
    from edge_agent.audio.wav import resample
    from edge_agent.stt.whisper import WhisperStt

    async def run() -> list[SpokenChunk]:
        return await collect(ClauseSynthesizer(piper).stream(
            deltas_of("**Sure!** The bus ticket costs $5, and it leaves at 10:30.", delay=0.005)))

    pieces = asyncio.run(run())
    assert [p.spoken for p in pieces if p.last_of_clause] == [
        "Sure!", "The bus ticket costs five dollars", "and it leaves at ten thirty."]
    audio = np.concatenate([p.audio for p in pieces])
    heard = WhisperStt(model_path("whisper-tiny-en")).transcribe(resample(audio, 22050, 16000)).lower()
    assert "ticket" in heard and "bus" in heard
    assert "5" in heard or "five" in heard
