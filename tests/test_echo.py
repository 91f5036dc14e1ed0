"""The echo canceller (real WebRTC AEC3), its framing, the pass-through, the residual-echo guard,
and the echo reference ring."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio import echo as echo_module
from edge_agent.audio.echo import (
    FRAME,
    EchoCanceller,
    PassThroughEchoCanceller,
    ResidualEchoGuard,
    WebRtcEchoCanceller,
    echo_library_status,
    load_echo_canceller,
)
from edge_agent.audio.echo_reference import EchoReference
from edge_agent.audio.room import RoomSimulator, room_spec

HOP = 512


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    """Amplitude-modulated coloured noise: speech-like enough for an AEC to converge on."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    x = np.convolve(rng.standard_normal(n), np.ones(6) / 6, mode="same")
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * np.arange(n) / SAMPLE_RATE) ** 2
    x = x * env
    return (x / np.sqrt(np.mean(x**2)) * 3000).astype(np.int16)


def _run(canceller: EchoCanceller, mic: np.ndarray, ref: np.ndarray, hop: int = HOP) -> np.ndarray:
    out = np.zeros(len(mic) // hop * hop, np.int16)
    for i in range(0, len(out), hop):
        out[i : i + hop] = canceller.process(mic[i : i + hop], ref[i : i + hop])
    return out


@pytest.mark.parametrize("hop", [160, 512, 333])
def test_framing_is_a_fixed_10ms_delay_for_any_hop(hop: int) -> None:
    mic = np.arange(hop * 20, dtype=np.int64).astype(np.int16)
    out = _run(PassThroughEchoCanceller(max_hop=512), mic, np.zeros_like(mic), hop)
    assert np.array_equal(out[FRAME:], mic[: len(out) - FRAME])
    assert not out[:FRAME].any()


def test_process_rejects_oversized_or_mismatched_hops() -> None:
    c = PassThroughEchoCanceller(max_hop=512)
    with pytest.raises(ValueError):
        c.process(np.zeros(513, np.int16), np.zeros(513, np.int16))
    with pytest.raises(ValueError):
        c.process(np.zeros(512, np.int16), np.zeros(160, np.int16))


def test_powers_are_reported_per_hop() -> None:
    c = PassThroughEchoCanceller(max_hop=512)
    c.process(np.full(512, 100, np.int16), np.full(512, 10, np.int16))
    assert c.mic_power == pytest.approx(10000.0)
    assert c.ref_power == pytest.approx(100.0)


def test_webrtc_cancels_a_delayed_reverberant_echo() -> None:
    """The real library, through the simulated kiosk at 0 dB, 60 ms: ERLE >= 20 dB after 3 s."""
    ref = _speechlike(8.0, 1)
    room = RoomSimulator(room_spec("kiosk", echo_db=0.0, noise_db=-80.0), image_source=False, echo_rms=3000)
    mic = np.concatenate([room.mix(ref[i : i + HOP], np.zeros(HOP, np.int16)) for i in range(0, len(ref), HOP)])
    c = WebRtcEchoCanceller(max_hop=HOP)
    assert c.active
    out = _run(c, mic, ref)
    a = 3 * SAMPLE_RATE
    erle = 10 * np.log10(np.sum(mic[a : len(out)].astype(float) ** 2) / np.sum(out[a:].astype(float) ** 2))
    assert erle >= 20.0, erle


def test_webrtc_keeps_the_user_when_nothing_plays() -> None:
    user = _speechlike(3.0, 2)
    out = _run(WebRtcEchoCanceller(max_hop=HOP), user, np.zeros_like(user))
    a = SAMPLE_RATE
    assert np.sqrt(np.mean(out[a:].astype(float) ** 2)) > 0.5 * 3000


def test_delay_hint_reaches_the_library() -> None:
    c = WebRtcEchoCanceller(max_hop=HOP, delay_ms=40)
    assert c._apm.stream_delay_ms == 40
    c.set_delay_ms(-5)
    assert c.delay_ms == 0


def test_missing_library_falls_back_to_pass_through_with_one_warning(monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ImportError("no module named pywebrtc_audio")

    monkeypatch.setattr(echo_module, "WebRtcEchoCanceller", broken)
    monkeypatch.setattr(echo_module, "_warned", False)
    with caplog.at_level(logging.WARNING):
        first = load_echo_canceller()
        second = load_echo_canceller()
    assert isinstance(first, PassThroughEchoCanceller) and not first.active
    assert isinstance(second, PassThroughEchoCanceller)
    warnings = [r for r in caplog.records if "half duplex" in r.getMessage()]
    assert len(warnings) == 1 and "pip install pywebrtc-audio" in warnings[0].getMessage()


def test_disabled_is_pass_through() -> None:
    assert not load_echo_canceller(enabled=False).active


def test_no_canceller_where_the_input_cannot_hear_the_output() -> None:
    """A WAV input hears no echo unless a simulated room feeds the replies back: AEC3 would only
    thin the user's voice there (its unconverged suppressor ate barge-ins)."""
    from edge_agent.audio.echo_path import build_echo_path
    from edge_agent.config import Settings

    assert build_echo_path(Settings(), acoustic=False).echo is None
    echo = build_echo_path(Settings()).echo
    assert echo is not None and echo.active


def test_library_status_for_doctor() -> None:
    ok, detail = echo_library_status()
    assert ok and "pywebrtc-audio" in detail


# --- AEC3 with its linear output (our shim, built by `edge-agent models pull webrtc-aec3`) -----------


@pytest.fixture
def aec3_library(model_path) -> str:  # type: ignore[no-untyped-def]
    return str(model_path(echo_module.AEC3_LIBRARY_MODEL, echo_module.AEC3_LIBRARY_FILE))


def _erle(mic: np.ndarray, out: np.ndarray, a: int, b: int) -> float:
    return float(10 * np.log10(np.sum(mic[a:b].astype(float) ** 2) / np.sum(out[a:b].astype(float) ** 2)))


def test_linear_aec3_cancels_and_gives_its_linear_output(aec3_library: str) -> None:
    """Reference only, the image-source kiosk at 0 dB: both outputs at >= 20 dB ERLE after 3 s (the
    linear filter covers 160 ms of the room's response)."""
    ref = _speechlike(8.0, 1)
    room = RoomSimulator(room_spec("kiosk", echo_db=0.0, noise_db=-80.0), image_source=True, echo_rms=3000)
    mic = np.concatenate([room.mix(ref[i : i + HOP], np.zeros(HOP, np.int16)) for i in range(0, len(ref), HOP)])
    c = echo_module.Aec3LinearEchoCanceller(aec3_library, max_hop=HOP)
    assert c.active and c.has_linear
    out = np.zeros(len(mic) // HOP * HOP, np.int16)
    lin = np.zeros_like(out)
    for i in range(0, len(out), HOP):
        out[i : i + HOP] = c.process(mic[i : i + HOP], ref[i : i + HOP])
        lin[i : i + HOP] = c.linear
    a = 3 * SAMPLE_RATE
    assert _erle(mic, out, a, len(out)) >= 20.0
    assert _erle(mic, lin, a, len(out)) >= 20.0
    assert not np.array_equal(out, lin)


def test_linear_aec3_keeps_more_of_the_user_under_double_talk(aec3_library: str) -> None:
    """The reason for the shim: with the echo 6 dB over the user, the linear output is closer to the
    user's own signal than the suppressed one (the wake word and the STT read it)."""
    ref = _speechlike(10.0, 3)
    user = np.zeros_like(ref)
    user[5 * SAMPLE_RATE :] = (_speechlike(5.0, 4) // 2)[: len(ref) - 5 * SAMPLE_RATE]
    room = RoomSimulator(room_spec("kiosk", echo_db=6.0, noise_db=-80.0), image_source=True, echo_rms=3000)
    mic = np.concatenate([room.mix(ref[i : i + HOP], user[i : i + HOP]) for i in range(0, len(ref), HOP)])
    c = echo_module.Aec3LinearEchoCanceller(aec3_library, max_hop=HOP)
    out = np.zeros(len(mic) // HOP * HOP, np.int16)
    lin = np.zeros_like(out)
    for i in range(0, len(out), HOP):
        out[i : i + HOP] = c.process(mic[i : i + HOP], ref[i : i + HOP])
        lin[i : i + HOP] = c.linear

    def match(x: np.ndarray) -> float:
        """The best correlation with the user's signal over 0-40 ms of lag (frame, AEC3 and room delays)."""
        a, b = 5 * SAMPLE_RATE, len(x) - 700
        u = user[a:b].astype(float)
        return max(float(np.dot(u, x[a + lag : b + lag]) / np.sqrt(np.dot(u, u) * np.dot(x[a + lag : b + lag].astype(float),
                                                                                        x[a + lag : b + lag]) + 1e-9))
                   for lag in range(0, 640, 2))

    assert match(lin) > match(out) + 0.05, (match(lin), match(out))


def test_linear_is_the_cleaned_hop_without_a_linear_filter_output() -> None:
    c = PassThroughEchoCanceller(max_hop=HOP)
    out = c.process(np.full(HOP, 7, np.int16), np.zeros(HOP, np.int16))
    assert c.linear is out


def test_linear_aec3_bypassed_while_idle_gives_the_microphone_on_both_outputs(aec3_library: str) -> None:
    mic = np.arange(HOP * 6, dtype=np.int64).astype(np.int16)
    c = echo_module.Aec3LinearEchoCanceller(aec3_library, max_hop=HOP)
    outs, lins = [], []
    for i in range(0, len(mic), HOP):
        outs.append(c.process(mic[i : i + HOP], np.zeros(HOP, np.int16)).copy())
        lins.append(c.linear.copy())
    assert np.array_equal(np.concatenate(outs), np.concatenate(lins))
    assert np.array_equal(np.concatenate(outs)[FRAME:], mic[: len(mic) - FRAME])


def test_a_linear_library_that_does_not_load_falls_back_to_pywebrtc(caplog: pytest.LogCaptureFixture,
                                                                    tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "libedge_aec3.so"
    broken.write_bytes(b"not a library")
    with caplog.at_level(logging.WARNING):
        c = load_echo_canceller(max_hop=HOP, linear_library=str(broken))
    assert isinstance(c, WebRtcEchoCanceller) and c.active and not c.has_linear
    assert any("models pull --force webrtc-aec3" in r.getMessage() for r in caplog.records)


def test_noise_suppression_asks_for_the_apm_canceller(aec3_library: str) -> None:
    c = load_echo_canceller(max_hop=HOP, noise_suppression=True, linear_library=aec3_library)
    assert isinstance(c, WebRtcEchoCanceller)
    assert isinstance(load_echo_canceller(max_hop=HOP, linear_library=aec3_library), echo_module.Aec3LinearEchoCanceller)


def test_linear_aec3_delay_hint_and_reset(aec3_library: str) -> None:
    c = echo_module.Aec3LinearEchoCanceller(aec3_library, max_hop=HOP, delay_ms=40)
    assert c.delay_ms == 40
    c.process(_speechlike(0.1, 5)[:HOP], _speechlike(0.1, 6)[:HOP])
    c.reset()
    out = c.process(np.zeros(HOP, np.int16), np.ones(HOP, np.int16))
    assert len(out) == HOP and not out[:FRAME].any()


def test_the_recipe_refuses_a_changed_sdist(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from edge_agent.errors import ModelError
    from edge_agent.models.recipes import aec3

    fake = tmp_path / "pywebrtc_audio-0.2.0.tar.gz"
    fake.write_bytes(b"something else")
    with pytest.raises(ModelError, match="sha256"):
        aec3._unpack_vendor(fake, tmp_path / "src")


def test_guard_learns_the_residual_floor_and_lets_louder_speech_through() -> None:
    guard = ResidualEchoGuard(margin_db=25.0, warmup_s=0.0)  # a canceller past its start (below)
    hop_s = HOP / SAMPLE_RATE
    ref_p = 3000.0**2
    for _ in range(50):  # converged AEC: residual 25 dB under the reference
        assert not guard.user_possible(ref_p, ref_p * 10 ** -2.5, hop_s)
    assert guard.ratio_db == pytest.approx(-25.0, abs=0.5)
    assert not guard.user_possible(ref_p, ref_p * 10 ** -1.0, hop_s)  # 15 dB above the floor: not enough
    assert guard.user_possible(ref_p, ref_p * 10 ** 0.5, hop_s)  # 30 dB above: the user
    assert guard.last_excess_db == pytest.approx(30.0, abs=0.5)


def test_guard_follows_the_room_tail_after_the_reference_stops() -> None:
    guard = ResidualEchoGuard(margin_db=25.0, tail_db_per_s=75.0, warmup_s=0.0)
    hop_s = HOP / SAMPLE_RATE
    ref_p = 3000.0**2
    for _ in range(20):
        guard.user_possible(ref_p, ref_p * 10 ** -2.5, hop_s)
    # the reverberation still rings for a moment: its leftovers are not the user
    assert not guard.user_possible(0.0, ref_p * 10 ** -2.5, hop_s)
    for _ in range(40):  # 1.3 s later the room is quiet: anything may be the user
        guard.user_possible(0.0, 1.0, hop_s)
    assert guard.user_possible(0.0, 1.0, hop_s)


def test_a_new_canceller_needs_a_louder_voice_until_it_has_heard_some_reference() -> None:
    """AEC3 lets bursts of echo through in its first seconds: 43 dB above the floor is the agent,
    not the user, until the guard has heard ``warmup_s`` of reference; then 30 dB is enough again."""
    guard = ResidualEchoGuard(margin_db=25.0, warmup_db=25.0, warmup_s=8.0)
    hop_s = HOP / SAMPLE_RATE
    ref_p = 3000.0**2
    for _ in range(40):  # 1.3 s of reply, the residual 45 dB under the reference
        guard.user_possible(ref_p, ref_p * 10 ** -4.5, hop_s, ref_p)
    assert not guard.user_possible(ref_p, ref_p * 10 ** -0.2, hop_s, ref_p)  # a burst 43 dB above the floor
    for _ in range(200):  # 6.4 s of reply: converged
        guard.user_possible(ref_p, ref_p * 10 ** -4.5, hop_s, ref_p)
    assert guard.user_possible(ref_p, ref_p * 10 ** -1.5, hop_s, ref_p)  # 30 dB above: the user


def test_the_rooms_tail_has_a_floor_of_its_own() -> None:
    """In a reply's pause the room still rings and AEC3's leftovers stand far above the floor the
    reply's speech taught (its linear filter has nothing to cancel there): they are not the user. A
    voice well above the tail's own floor still is."""
    guard = ResidualEchoGuard(margin_db=25.0, tail_db_per_s=75.0, warmup_s=0.0)
    hop_s = HOP / SAMPLE_RATE
    ref_p = 3000.0**2
    for _ in range(30):  # speech: converged to 45 dB under the reference
        guard.user_possible(ref_p, ref_p * 10 ** -4.5, hop_s, ref_p)
    # the pause: the reference falls silent, the tail's leftovers come out 35 dB above the speech floor
    assert not guard.user_possible(0.0, ref_p * 10 ** -1.0, hop_s, ref_p * 10 ** -0.5)
    assert not guard.user_possible(0.0, ref_p * 10 ** -1.2, hop_s, ref_p * 10 ** -0.7)
    assert guard.ratio_db == pytest.approx(-45.0, abs=1.0)  # the speech floor is not moved by the tail
    # a user 30 dB above the tail's floor, in the same pause, louder than the room's ringing
    assert guard.user_possible(0.0, ref_p * 10 ** 1.8, hop_s, ref_p * 10 ** 1.8)


def test_a_tail_the_canceller_lets_through_is_the_room_while_the_microphone_only_falls() -> None:
    """A long tail the canceller barely touches is not the user while the microphone rings down,
    however far above the tail's floor; a voice that lifts the microphone over that ringing is."""
    guard = ResidualEchoGuard(margin_db=25.0, tail_db_per_s=75.0, warmup_s=0.0)
    hop_s = HOP / SAMPLE_RATE
    ref_p = 3000.0**2
    for _ in range(30):
        guard.user_possible(ref_p, ref_p * 10 ** -4.5, hop_s, ref_p)
    for k in range(1, 8):  # the room rings down at 60 dB/s, 2 dB a hop; the canceller takes 10 dB off
        mic = ref_p * 10 ** (-0.2 * k)
        assert not guard.user_possible(0.0, mic * 0.1, hop_s, mic)
    mic = ref_p * 10 ** (-0.2 * 8 + 2.0)  # someone speaks up: 20 dB over the ringing
    assert guard.user_possible(0.0, mic, hop_s, mic)


# --- the reference ring ------------------------------------------------------------------------------


def test_timeline_reads_place_samples_at_their_position() -> None:
    ref = EchoReference(timeline=True)
    ref.write_at(np.arange(1, 101, dtype=np.int16), 1000)
    out = np.zeros(64, np.int16)
    assert ref.read_hop_into(out, 980) == 44
    assert not out[:20].any() and out[20] == 1 and out[63] == 44
    assert ref.read_hop_into(out, 1044) == 56
    assert out[0] == 45 and not out[56:].any()
    assert ref.read_hop_into(out, 5000) == 0 and not out.any()


def test_timeline_pads_gaps_and_drops_overlaps() -> None:
    ref = EchoReference(timeline=True)
    ref.write_at(np.full(10, 5, np.int16), 0)
    ref.write_at(np.full(10, 7, np.int16), 20)  # 10 samples of silence between
    ref.write_at(np.full(10, 9, np.int16), 25)  # overlaps: the first writer stands
    out = np.zeros(40, np.int16)
    ref.read_at_into(out, 0)
    assert list(out[:10]) == [5] * 10 and not out[10:20].any()
    assert list(out[20:30]) == [7] * 10 and list(out[30:35]) == [9] * 5


def test_feeder_is_asked_before_each_read() -> None:
    ref = EchoReference(timeline=True)
    asked: list[int] = []
    ref.feeder = asked.append
    ref.read_at_into(np.zeros(32, np.int16), 100)
    assert asked == [132]


def test_sequential_reads_zero_fill_and_drop_a_lead_beyond_max() -> None:
    ref = EchoReference(max_lead_s=0.1)
    out = np.zeros(HOP, np.int16)
    assert ref.read_hop_into(out, 0) == 0 and not out.any()
    ref.append(np.ones(SAMPLE_RATE, np.int16))  # 1 s ahead: far beyond 100 ms
    ref.read_next_into(out)
    assert ref.ring.available <= int(0.1 * SAMPLE_RATE)
    ref.skip(100)
    assert ref.ring.available <= int(0.1 * SAMPLE_RATE) - 100


def test_idle_reference_bypasses_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    c = WebRtcEchoCanceller(max_hop=HOP, idle_s=0.1)
    calls = []
    monkeypatch.setattr(c, "_frame", lambda m, r, o, lin: calls.append(1))
    silent = np.zeros(HOP, np.int16)
    for _ in range(10):  # 320 ms of silence from the speaker: bypassed from the start (nothing ever played)
        c.process(silent, silent)
    assert not calls
    c.process(silent, np.ones(HOP, np.int16))  # the speaker plays: cancelled
    assert calls


def test_doctor_names_the_fix_when_the_library_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_agent.commands.doctor import check_echo
    from edge_agent.config import Settings

    assert check_echo(Settings())[0].status == "ok"
    monkeypatch.setattr(echo_module, "echo_library_status", lambda *a: (False, "pywebrtc-audio does not load (x)"))
    (check,) = check_echo(Settings())
    assert check.status == "warn" and "half duplex" in check.detail
    assert check.fix is not None and "pip install 'pywebrtc-audio" in check.fix


def test_guard_survives_a_digitally_silent_output() -> None:
    guard = ResidualEchoGuard()
    hop_s = HOP / SAMPLE_RATE
    assert not guard.user_possible(3000.0**2, 0.0, hop_s)
    assert not guard.user_possible(3000.0**2, 0.0, hop_s)
    assert guard.user_possible(3000.0**2, 3000.0**2, hop_s)


def test_the_filter_length_setting_reaches_the_shim(aec3_library: str) -> None:
    """``audio.echo_filter_ms``: 160 ms by default (40 blocks of 4 ms), 52 ms (AEC3's own) for a
    microphone and a speaker on separate clocks."""
    from edge_agent.audio.echo_path import build_echo_path
    from edge_agent.config import Settings

    default = build_echo_path(Settings()).echo
    short = build_echo_path(Settings(audio={"echo_filter_ms": 52})).echo  # type: ignore[arg-type]
    assert isinstance(default, echo_module.Aec3LinearEchoCanceller) and default._filter_blocks == 40
    assert isinstance(short, echo_module.Aec3LinearEchoCanceller) and short._filter_blocks == 13
