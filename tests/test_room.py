"""The simulated room: impulse responses, the streaming echo path, levels, drift, and the closed
loop of ``--input WAV --room`` (the WAV sink's replies come back into the input)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.files import WavPlayback
from edge_agent.audio.room import (
    PRESETS,
    SPEECH_REF_RMS,
    RoomSimulator,
    impulse_response,
    pyroomacoustics_ir,
    room_input,
    room_spec,
    synthetic_ir,
)
from edge_agent.audio.wav import write_wav
from edge_agent.errors import InputDataError


def _quiet(name: str = "kiosk", **kw: float) -> RoomSimulator:
    return RoomSimulator(room_spec(name, **{"noise_db": -200.0, "clip": 0.0, **kw}), image_source=False)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def test_presets_are_three_rooms_with_growing_reverberation() -> None:
    assert list(PRESETS) == ["kiosk", "living_room", "hall"]
    irs = [synthetic_ir(PRESETS[n]) for n in PRESETS]
    for ir in irs:
        assert np.sum(ir.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-3)
    assert len(irs[0]) < len(irs[1]) < len(irs[2])


def test_synthetic_ir_decays_by_60_db_over_rt60() -> None:
    spec = PRESETS["living_room"]
    ir = synthetic_ir(spec).astype(np.float64)
    t = int(0.05 * SAMPLE_RATE)
    early = np.mean(ir[t : t + 800] ** 2)
    late = np.mean(ir[-800:] ** 2)
    assert 10 * np.log10(early / late) > 35


def test_image_source_room_when_pyroomacoustics_is_installed() -> None:
    pytest.importorskip("pyroomacoustics")
    ir = pyroomacoustics_ir(PRESETS["kiosk"])
    assert ir is not None and np.sum(ir.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-3)


def test_room_spec_by_name_by_file_and_errors(tmp_path: Path) -> None:
    assert room_spec("hall", echo_db=6.0).echo_db == 6.0
    with pytest.raises(InputDataError, match="unknown room"):
        room_spec("cathedral")
    with pytest.raises(InputDataError, match="does not exist"):
        room_spec(str(tmp_path / "missing.wav"))
    ir = np.zeros(800, np.int16)
    ir[10], ir[200] = 20000, -6000
    write_wav(tmp_path / "ir.wav", ir, SAMPLE_RATE)
    spec = room_spec(str(tmp_path / "ir.wav"))
    got = impulse_response(spec)
    assert int(np.argmax(np.abs(got))) == 10 and np.sum(got.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-3)


def test_echo_arrives_after_the_delay_and_streams_like_one_block() -> None:
    rng = np.random.default_rng(0)
    played = (rng.standard_normal(SAMPLE_RATE) * 3000).astype(np.int16)
    one = _quiet(delay_ms=60.0).echo_only(played)
    room = _quiet(delay_ms=60.0)
    blocks = np.concatenate([room.echo_only(played[i : i + 160]) for i in range(0, len(played), 160)])
    assert np.allclose(one, blocks, atol=1e-2)
    impulse = np.zeros(4000, np.int16)
    impulse[0] = 10000
    echo = _quiet(delay_ms=60.0).echo_only(impulse)
    direct = int(PRESETS["kiosk"].direct_m / 343.0 * SAMPLE_RATE)
    assert int(np.argmax(np.abs(echo))) == int(0.06 * SAMPLE_RATE) + direct


@pytest.mark.parametrize("echo_db", [-6.0, 0.0, 10.0])
def test_echo_level_is_relative_to_the_users_speech(echo_db: float) -> None:
    rng = np.random.default_rng(1)
    played = (rng.standard_normal(2 * SAMPLE_RATE) * 3000).astype(np.int16)
    room = RoomSimulator(room_spec("kiosk", echo_db=echo_db, noise_db=-200.0, clip=0.0), image_source=False,
                         echo_rms=3000)
    echo = room.echo_only(played)[SAMPLE_RATE:]
    assert 20 * np.log10(_rms(echo) / SPEECH_REF_RMS) == pytest.approx(echo_db, abs=1.0)


def test_mix_adds_user_and_noise_and_clips_softly() -> None:
    room = RoomSimulator(room_spec("kiosk", noise_db=-30.0), image_source=False)
    silence = np.zeros(SAMPLE_RATE, np.int16)
    noise = room.mix(silence, silence)
    assert 20 * np.log10(_rms(noise) / SPEECH_REF_RMS) == pytest.approx(-30.0, abs=3.0)
    loud = np.full(1000, 30000, np.int16)
    assert np.abs(_quiet(clip=0.5)._speaker(loud, 1000)).max() < np.abs(_quiet(clip=0.0)._speaker(loud, 1000)).max()


def test_clock_drift_of_100_ppm_stretches_the_echo() -> None:
    tone = (np.sin(2 * np.pi * 500 * np.arange(11 * SAMPLE_RATE) / SAMPLE_RATE) * 3000).astype(np.int16)
    room = _quiet(drift_ppm=100.0, delay_ms=0.0)
    parts, played = [], 0
    for _ in range(10 * SAMPLE_RATE // 512):
        k = room.speaker_samples(512)  # the speaker plays its clock's share of each microphone block
        parts.append(room._speaker(tone[played : played + k], 512))
        played += k
    assert played == pytest.approx(len(parts) * 512 * (1 + 100e-6), abs=1)
    out = np.concatenate(parts)
    ref = _quiet(delay_ms=0.0)._speaker(tone, len(tone))

    def lag(at: int) -> int:  # how far ahead of the microphone's clock the speaker is, near ``at``
        span = slice(at, at + 4000)
        return int(np.argmax([float(np.dot(out[span], ref[span.start + k : span.stop + k])) for k in range(-16, 32)])) - 16

    # 100 ppm fast: 16 samples further ahead after 10 s (the interpolation's 8-sample look-ahead aside)
    assert lag(len(out) - 4100) - lag(1000) == pytest.approx(16, abs=2)


def test_room_input_hears_what_the_wav_sink_played(tmp_path: Path) -> None:
    """``--input WAV --room kiosk``: the reply the sink writes comes back into the next hops."""
    write_wav(tmp_path / "user.wav", np.zeros(SAMPLE_RATE, np.int16), SAMPLE_RATE)
    source = room_input(tmp_path / "user.wav", "kiosk", paced=False, noise_db=-200.0)
    sink = WavPlayback(tmp_path / "out.wav", sample_rate=22050, paced=False, position=source.now)
    sink.add_reference(source.reference)

    hops = source.hops(512)
    heard = [next(hops) for _ in range(5)]  # 160 ms of nothing

    async def reply() -> None:
        sink.begin_reply()
        await sink.write((np.sin(2 * np.pi * 440 * np.arange(22050) / 22050) * 8000).astype(np.int16))

    source.written = 5 * 512
    asyncio.run(reply())
    heard += [next(hops) for _ in range(20)]
    audio = np.concatenate(heard)
    assert _rms(audio[: 5 * 512]) < 5
    assert _rms(audio[5 * 512 + 2000 :]) > 300  # the room's echo of the reply, 60 ms later
