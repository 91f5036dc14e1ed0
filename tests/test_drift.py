"""Clock drift between speaker and microphone: the fractional reader, the delay tracker, and the
corrector that finds the clocks' ratio from the echo and reads the reference at it, through the
simulated room's drifting speaker clock."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.drift import TAPS, ClockDriftCorrector, FractionalReader
from edge_agent.audio.echo_reference import EchoReference
from edge_agent.audio.room import RoomSimulator, room_spec

HOP = 160


def _tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    return (np.sin(2 * np.pi * hz * np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE) * 3000).astype(np.float32)


def test_reader_at_step_one_is_the_input_delayed_by_its_look_ahead() -> None:
    x = _tone(0.5)
    reader = FractionalReader()
    out = np.zeros(HOP, np.float32)
    got = []
    for i in range(0, len(x), HOP):
        reader.push(x[i : i + HOP])
        reader.read(out, 1.0)
        got.append(out.copy())
    y = np.concatenate(got)
    assert np.max(np.abs(y[TAPS // 2 :] - x[: -TAPS // 2])) < 0.01 * 3000  # band-limited, -40 dB at 440 Hz


def test_reader_at_a_fractional_step_resamples_without_gaps() -> None:
    x = _tone(2.0, 300.0)
    reader = FractionalReader()
    out = np.zeros(HOP, np.float32)
    step, pushed, got = 1.01, 0, []
    while pushed < len(x) - 4 * HOP:
        need = reader.needed(HOP, step)
        reader.push(x[pushed : pushed + need])
        pushed += need
        reader.read(out, step)
        got.append(out.copy())
    y = np.concatenate(got)[TAPS : -2 * HOP]  # the first samples are the look-ahead's silence
    want = np.sin(2 * np.pi * 300 * ((np.arange(len(y)) + TAPS) * step - TAPS // 2) / SAMPLE_RATE) * 3000
    assert np.max(np.abs(y - want)) < 0.01 * 3000  # a 1% faster clock: a continuous 303 Hz tone


def _speech_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal(int(seconds * SAMPLE_RATE))
    syllables = np.sin(np.arange(len(x)) / SAMPLE_RATE * 2 * np.pi * 3) > -0.3
    x = np.convolve(x * syllables, np.ones(3) / 3, "same")
    return (x / np.std(x) * 3000).astype(np.int16)


def _run(ppm: float, seconds: float, room: str = "kiosk", jitter_ms: float = 0.0,
         ) -> tuple[ClockDriftCorrector, list[np.ndarray], list[np.ndarray]]:
    """Replies of 5 s with 2.5 s pauses through a room whose speaker runs ``ppm`` fast, the reference
    ring fed at the speaker's clock and read through the corrector, as the listener does."""
    rng = np.random.default_rng(1)
    sim = RoomSimulator(room_spec(room, echo_db=6.0, drift_ppm=ppm, noise_db=-60.0, jitter_ms=jitter_ms), echo_rms=3000, image_source=False)
    reference = EchoReference()
    corrector = ClockDriftCorrector(reference, HOP)
    stream = np.concatenate([np.concatenate((_speech_like(5.0, rng), np.zeros(int(2.5 * SAMPLE_RATE), np.int16)))
                             for _ in range(int(seconds / 7.5) + 1)])
    ref, mics, refs, played, silent = np.zeros(HOP, np.int16), [], [], 0, np.zeros(HOP, np.int16)
    for position in range(0, int(seconds * SAMPLE_RATE), HOP):
        k = sim.speaker_samples(HOP)
        seg = stream[played : played + k]
        played += k
        reference.append(seg)
        mic = sim.mix(seg, silent)
        corrector.read_hop_into(ref, position)
        corrector.observe(mic, ref)
        mics.append(mic)
        refs.append(ref.copy())
    return corrector, mics, refs


@pytest.mark.parametrize("ppm", [100.0, -100.0, 40.0])
def test_the_clocks_ratio_is_found_from_the_echo(ppm: float) -> None:
    corrector, _, _ = _run(ppm, 35.0)
    assert corrector.resampling
    assert corrector.drift_ppm == pytest.approx(ppm, abs=2.0)


def test_after_the_fix_the_echo_delay_holds_still() -> None:
    corrector, _, _ = _run(100.0, 60.0, "hall")
    assert corrector.resampling
    (t0, r0), (t1, r1) = corrector.tracker.points[-15], corrector.tracker.points[-1]
    assert (r1 - r0) / (t1 - t0) == pytest.approx(1 + 100e-6, abs=3e-6)  # (mic sample, speaker sample)
    # the reference as read keeps pace with the microphone: the delay measured on it no longer slides
    late = [lag for t, lag in corrector.tracker.lags if t > t0]
    assert len(late) >= 10 and max(late) - min(late) < 1.0
    uncorrected = [lag for _, lag in corrector.tracker.lags][:8]
    assert max(uncorrected) - min(uncorrected) > 3.0  # before: 1.6 samples a second


def test_one_clock_leaves_the_reference_untouched() -> None:
    corrector, _, refs = _run(0.0, 30.0)
    assert not corrector.resampling
    assert corrector.drift_ppm == 0.0
    rng = np.random.default_rng(1)  # the same stream _run played
    want = np.concatenate((_speech_like(5.0, rng), np.zeros(int(2.5 * SAMPLE_RATE), np.int16)))
    # bit for bit, no resampling: only the look-ahead's 0.5 ms, there from the start
    assert np.array_equal(np.concatenate(refs)[TAPS // 2 : len(want)], want[: -TAPS // 2])


def test_a_latency_that_jumps_is_not_taken_for_drift() -> None:
    corrector, _, _ = _run(0.0, 40.0, jitter_ms=1.0)  # the echo path's delay steps by up to 1 ms each second
    assert len(corrector.tracker.points) > 20
    assert not corrector.resampling
