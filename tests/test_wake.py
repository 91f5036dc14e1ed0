"""Wake word: the shared decision rule with a fake engine, the second stage with a fake verifier,
configuration errors (Porcupine keys, unknown keywords, missing custom models), and each real
engine on generated speech."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest

from edge_agent import speechgen
from edge_agent.config import Settings
from edge_agent.errors import WakeWordError
from edge_agent.listen.wake.base import Detection, WindowedDetector
from edge_agent.listen.wake.factory import build_first_stage, build_wake_detector
from edge_agent.listen.wake.spelling import ends_on_first_word, keyword_span, matches, normalize
from edge_agent.listen.wake.verified import VerifiedDetector
from edge_agent.listen.wake.verifier import Look, SttVerifier, shifted

CHUNK = 160


class FakeEngine:
    """Scores scripted per step (one step per 160 samples)."""

    chunk_samples = CHUNK
    default_window = 1

    def __init__(self, scores: list[float], keywords: tuple[str, ...] = ("kw",)) -> None:
        self.scores = scores
        self.keywords = keywords
        self.default_threshold = tuple(0.5 for _ in keywords)
        self.i = 0
        self.chunks: list[np.ndarray] = []

    def step(self, chunk: np.ndarray, out: np.ndarray) -> int:
        self.chunks.append(chunk.copy())
        out[0] = self.scores[self.i] if self.i < len(self.scores) else 0.0
        self.i += 1
        return 1

    def reset(self) -> None:
        self.i = 0

    def close(self) -> None:
        pass


def feed(det, n_samples: int, hop: int) -> list[tuple[int, Detection]]:
    """Detections with the sample count at which each was reported."""
    out = []
    audio = np.arange(n_samples, dtype=np.int64).astype(np.int16)
    for i in range(0, n_samples, hop):
        d = det.process(audio[i : i + hop])
        if d is not None:
            out.append((min(i + hop, n_samples), d))
    return out


def steps(*pairs: tuple[int, float], total: int = 600) -> list[float]:
    s = [0.0] * total
    for at, p in pairs:
        s[at] = p
    return s


def test_threshold_and_score() -> None:
    det = WindowedDetector(FakeEngine(steps((10, 0.7))), threshold=0.5, window=1, refractory_s=0.0)
    hits = feed(det, 100 * CHUNK, CHUNK)
    assert [(n, d.keyword, round(d.score, 3)) for n, d in hits] == [(11 * CHUNK, "kw", 0.7)]


def test_window_averages_steps() -> None:
    scores = steps((10, 0.9), (12, 0.9))
    # Window 2: 0.45 at most, below 0.5.
    assert feed(WindowedDetector(FakeEngine(scores), 0.5, 2, 0.0), 100 * CHUNK, CHUNK) == []
    # Window 1: each peak alone is enough.
    assert len(feed(WindowedDetector(FakeEngine(scores), 0.5, 1, 0.0), 100 * CHUNK, CHUNK)) == 2
    # Two consecutive high steps fill a window of 2.
    hits = feed(WindowedDetector(FakeEngine(steps((10, 0.9), (11, 0.8))), 0.5, 2, 0.0), 100 * CHUNK, CHUNK)
    assert [round(d.score, 3) for _, d in hits] == [0.85]


def test_refractory_in_audio_time() -> None:
    # Peaks 1 s apart (100 steps of 10 ms): the second falls inside a 2 s refractory period.
    scores = steps((10, 0.9), (110, 0.9), (400, 0.9))
    hits = feed(WindowedDetector(FakeEngine(scores), 0.5, 1, refractory_s=2.0), 600 * CHUNK, 320)
    assert [n // CHUNK for n, _ in hits] == [12, 402]
    hits = feed(WindowedDetector(FakeEngine(scores), 0.5, 1, refractory_s=0.5), 600 * CHUNK, 320)
    assert len(hits) == 3


@pytest.mark.parametrize("hop", [1, 77, 160, 320, 1000, 4096])
def test_any_hop_length_gives_the_same_chunks(hop: int) -> None:
    engine = FakeEngine(steps((20, 0.9)))
    det = WindowedDetector(engine, 0.5, 1, 0.0)
    acc_before = det._acc
    hits = feed(det, 50 * CHUNK + 17, hop)
    assert len(engine.chunks) == 50 and det.samples_seen == 50 * CHUNK
    expected = np.arange(50 * CHUNK, dtype=np.int64).astype(np.int16).reshape(50, CHUNK)
    assert np.array_equal(np.stack(engine.chunks), expected)
    assert len(hits) == 1
    assert det._acc is acc_before  # the accumulator is reused, never reallocated


def test_best_keyword_wins_and_reset_forgets() -> None:
    class Two(FakeEngine):
        def step(self, chunk: np.ndarray, out: np.ndarray) -> int:
            out[0] = (0.6, 0.9) if self.i == 5 else (0.0, 0.0)
            self.i += 1
            return 1

    det = WindowedDetector(Two([], ("a", "b")), 0.5, 1, 5.0)
    hits = feed(det, 10 * CHUNK, CHUNK)
    assert [d.keyword for _, d in hits] == ["b"]
    det.reset()
    assert det.samples_seen == 0
    assert [d.keyword for _, d in feed(det, 10 * CHUNK, CHUNK)] == ["b"]  # refractory forgotten too


class FakeVerifier:
    def __init__(self, *answers: bool | None) -> None:
        self.answers = list(answers)
        self.seen: list[np.ndarray] = []

    def confirm(self, keyword: str, audio: np.ndarray) -> bool | None:
        self.seen.append(audio)
        return self.answers[min(len(self.seen), len(self.answers)) - 1]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("answer", [True, False])
def test_second_stage_sees_the_buffer_after_the_delay(answer: bool) -> None:
    first = WindowedDetector(FakeEngine(steps((100, 0.9))), 0.5, 1, 0.0)
    verifier = FakeVerifier(answer)
    det = VerifiedDetector(first, verifier, buffer_s=0.5, delay_s=0.2)
    hits = feed(det, 300 * CHUNK, 320)
    assert det.candidates == 1 and len(verifier.seen) == 1
    heard = verifier.seen[0]
    assert len(heard) == 8000
    # The buffer ends at the sample where the delay ran out, oldest first.
    end = (101 * CHUNK + 3200 + 319) // 320 * 320
    assert np.array_equal(heard, np.arange(end - 8000, end, dtype=np.int64).astype(np.int16))
    if answer:
        assert [n for n, _ in hits] == [end] and det.confirmed == 1
    else:
        assert hits == [] and det.confirmed == 0


def test_a_rejected_candidate_whose_score_kept_rising_is_checked_again_after_the_peak() -> None:
    # Fires at step 100 (low threshold), peaks at step 150: a slow speaker still saying the phrase.
    scores = steps(total=600)
    scores[100:151] = [0.5 + 0.009 * k for k in range(51)]
    scores[151:170] = [0.95] * 19  # the detector samples the score once per hop: hold the peak a while
    first = WindowedDetector(FakeEngine(scores), 0.5, 1, 5.0)
    verifier = FakeVerifier(False)
    det = VerifiedDetector(first, verifier, buffer_s=0.5, delay_s=0.2)
    feed(det, 600 * CHUNK, 320)
    assert det.candidates == 1 and len(verifier.seen) == 2
    fire_end, peak_end = 101 * CHUNK, 151 * CHUNK
    ends = [int(a[-1]) for a in verifier.seen]  # the test audio counts samples (mod 2**16)
    assert ends[0] + 1 >= fire_end + 3200 and ends[1] + 1 >= peak_end + 3200 > ends[0] + 1
    # A score that did not rise after the fire: one check only.
    flat = WindowedDetector(FakeEngine(steps((100, 0.9))), 0.5, 1, 5.0)
    once = FakeVerifier(False)
    feed(VerifiedDetector(flat, once, buffer_s=0.5, delay_s=0.2), 600 * CHUNK, 320)
    assert len(once.seen) == 1


@pytest.mark.parametrize("later", [True, False])
def test_not_yet_is_checked_once_more_after_a_fixed_wait(later: bool) -> None:
    # "Okay." alone: the first stage fired on the first word; the verifier asks to look again.
    first = WindowedDetector(FakeEngine(steps((100, 0.9))), 0.5, 1, 0.0)
    verifier = FakeVerifier(None, later, None)
    det = VerifiedDetector(first, verifier, buffer_s=0.5, delay_s=0.2, unfinished_wait_s=0.5)
    hits = feed(det, 600 * CHUNK, 320)
    assert det.candidates == 1 and len(verifier.seen) == 2  # one wait only, even if "not yet" again
    ends = [int(a[-1]) + 1 for a in verifier.seen]
    assert ends[1] - ends[0] >= 8000
    assert [n for n, _ in hits] == ([ends[1]] if later else [])


def test_spelling_match() -> None:
    assert normalize("O.K., Nabu!") == "okay nabu"
    for text in ("Okay Nabu.", "OK, Naboo!", "okay nabu turn on the lights", "Okay, Nabo."):
        assert matches("okay_nabu", text), text
    for text in ("Okay, now.", "Obey Nabu.", "Hey Nabu.", "Okay Google.", ""):
        assert not matches("okay_nabu", text), text
    assert matches("hey_jarvis", "Hey, Jarvis.")
    assert not matches("hey_jarvis", "Hey Travis.")
    words = ["So,", "okay,", "Nabu.", "Lights"]
    assert keyword_span("okay_nabu", words) == (1, 3, 0)
    assert keyword_span("okay_nabu", ["Okay,", "Naboo!"]) == (0, 2, 0)  # the second spelling
    assert keyword_span("okay_nabu", ["Okay,", "now."]) is None
    assert ends_on_first_word("okay_nabu", "Okay.") and ends_on_first_word("okay_nabu", "Right, OK")
    assert not ends_on_first_word("okay_nabu", "Okay, now.") and not ends_on_first_word("alexa", "Alexa")


class ScriptedLooks(SttVerifier):
    """The STT check's voting with each placement's verdict scripted (no model): the first look
    gets ``first``, the buffer 0.3 s later ``later``, the one with 0.25 s cut ``cut``."""

    def __init__(self, first: bool, later: bool = False, cut: bool = False, views: int = 3,
                 text: str = "") -> None:
        self.verdicts = {40000: first, 44800: later, 36000: cut}
        self.text = text
        self.views = views
        self.shared = SimpleNamespace(lock=threading.Lock())
        self._other_core = ThreadPoolExecutor(1) if views > 1 else None
        self.seen: list[int] = []

    def _look(self, keyword: str, audio: np.ndarray) -> Look:
        self.seen.append(len(audio))
        return Look(self.text, None, self.verdicts[len(audio)])


@pytest.mark.parametrize(("first", "later", "cut", "views", "verdict", "looks"), [
    (True, False, False, 1, True, (True,)),
    (True, True, False, 3, True, (True, True)),  # the second placement agrees: no third look
    (True, False, True, 3, True, (True, False, True)),
    (True, False, False, 3, False, (True, False, False)),
    (True, False, True, 2, False, (True, False)),
    (False, True, True, 3, False, (False,)),  # a failed first look decides
])
def test_two_placements_of_the_buffer_must_agree(first: bool, later: bool, cut: bool, views: int,
                                                 verdict: bool, looks: tuple[bool, ...]) -> None:
    verifier = ScriptedLooks(first, later, cut, views=views)
    try:
        assert verifier.confirm("okay_nabu", np.zeros(40000, np.int16)) is verdict
        assert verifier.last_views == looks
        # the second placement is looked at alongside the first (it is needed whenever the first passes)
        assert sorted(verifier.seen) == sorted([40000, 44800, 36000][: min(views, 2 + (len(looks) > 2))])
    finally:
        verifier.close()


def test_a_failed_first_look_that_stops_on_okay_is_not_yet() -> None:
    verifier = ScriptedLooks(False, text="Okay.")
    try:
        assert verifier.confirm("okay_nabu", np.zeros(40000, np.int16)) is None
    finally:
        verifier.close()


def test_shifted_repeats_the_start_or_cuts_it() -> None:
    audio = np.arange(16000, dtype=np.int16)
    later = shifted(audio, 0.3)
    assert len(later) == 16000 + 4800 and np.array_equal(later[:4800], audio[:4800])
    assert np.array_equal(later[4800:], audio)
    assert np.array_equal(shifted(audio, -0.25), audio[4000:])


# --- configuration errors ---------------------------------------------------------------------


def settings(**wake: object) -> Settings:
    s = Settings()
    for k, v in wake.items():
        setattr(s.wake, k, v)
    return s


def test_porcupine_without_a_key_names_the_setting(model_manager) -> None:
    with pytest.raises(WakeWordError, match=r"wake\.porcupine_access_key"):
        build_wake_detector(settings(engine="porcupine", keywords=["jarvis"]), model_manager)


@pytest.mark.parametrize("key", ["not-a-key", "A" * 56 + "=="])
def test_porcupine_with_a_bad_key_names_the_setting_and_hides_the_key(model_manager, key: str) -> None:
    with pytest.raises(WakeWordError, match=r"wake\.porcupine_access_key") as info:
        build_wake_detector(settings(engine="porcupine", keywords=["jarvis"], porcupine_access_key=key),
                            model_manager)
    assert key not in str(info.value)


@pytest.mark.parametrize("engine,known", [("micro", "hey_jarvis"), ("open", "hey_rhasspy"), ("porcupine", "jarvis")])
def test_unknown_keyword_lists_the_available_ones(model_manager, engine: str, known: str) -> None:
    with pytest.raises(WakeWordError, match="unknown keyword 'hey_nobody'") as info:
        build_wake_detector(settings(engine=engine, keywords=["hey_nobody"], porcupine_access_key="x"),
                            model_manager)
    assert known in str(info.value)


@pytest.mark.parametrize("engine,name", [("micro", "mine.json"), ("micro", "mine.tflite"),
                                         ("open", "mine.tflite"), ("porcupine", "mine.ppn")])
def test_missing_custom_model_is_named(model_manager, tmp_path, engine: str, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(WakeWordError, match="does not exist") as info:
        build_wake_detector(settings(engine=engine, keywords=[str(path)], porcupine_access_key="x"), model_manager)
    assert str(path) in str(info.value)


def test_engine_verify_refuses_custom_models(model_manager, tmp_path) -> None:
    cfg = tmp_path / "mine.json"
    cfg.write_text("{}")
    with pytest.raises(WakeWordError, match="wake.verify = engine needs built-in keywords"):
        build_wake_detector(settings(keywords=[str(cfg)], verify="engine"), model_manager)


def test_custom_micro_tflite_needs_its_json(model_manager, tmp_path) -> None:
    path = tmp_path / "mine.tflite"
    path.write_bytes(b"\0")
    with pytest.raises(WakeWordError, match="needs its config"):
        build_wake_detector(settings(keywords=[str(path)]), model_manager)


# --- real engines ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_wake() -> speechgen.Utterance:
    return speechgen.wake_set("okay_nabu", 1, with_command=False, voices=[speechgen.Voice("piper")])[0]


def quiet_and_noise() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = [np.zeros(3 * 16000, np.int16)]
    for kind in ("white", "pink", "babble"):
        out.append(np.clip(speechgen.noise(kind, 3 * 16000, rng) * 2000, -32768, 32767).astype(np.int16))
    return out


def detections(det, audio: np.ndarray, hop: int = 320) -> list[tuple[float, Detection]]:
    det.reset()
    return [((i + hop) / 16000, d) for i in range(0, len(audio), hop) if (d := det.process(audio[i : i + hop]))]


@pytest.mark.real_model
@pytest.mark.parametrize("engine", ["micro", "open"])
def test_engine_detects_the_wake_phrase_and_ignores_noise(model_manager, clean_wake, engine: str) -> None:
    det = build_first_stage(engine, settings(engine=engine), model_manager)
    try:
        hits = detections(det, clean_wake.samples)
        seg = clean_wake.segments[0]
        assert len(hits) == 1, hits
        t, d = hits[0]
        assert d.keyword == "okay_nabu" and seg.start_t < t < seg.end_t + 1.0
        for audio in quiet_and_noise():
            assert detections(det, audio) == []
    finally:
        det.close()


@pytest.mark.real_model
def test_default_is_micro_confirmed_by_stt(model_manager) -> None:
    det = build_wake_detector(Settings(), model_manager)
    try:
        assert isinstance(det, VerifiedDetector) and det.keywords == ("okay_nabu",)
        assert det.first.thresholds[0] < 0.5  # a permissive first stage; the STT decides
    finally:
        det.close()


@pytest.mark.real_model
def test_micro_with_several_keywords(model_manager) -> None:
    jarvis = speechgen.wake_set("hey_jarvis", 1, with_command=False, voices=[speechgen.Voice("piper")])[0]
    det = build_first_stage("micro", settings(keywords=["okay_nabu", "hey_jarvis"]), model_manager)
    assert det.keywords == ("okay_nabu", "hey_jarvis")
    assert [d.keyword for _, d in detections(det, jarvis.samples)] == ["hey_jarvis"]


@pytest.mark.real_model
@pytest.mark.slow
def test_stt_second_stage_confirms_the_phrase_and_rejects_a_confusable(model_manager, clean_wake) -> None:
    det = build_wake_detector(settings(verify="stt"), model_manager)
    assert isinstance(det, VerifiedDetector)
    try:
        assert [d.keyword for _, d in detections(det, clean_wake.samples)] == ["okay_nabu"]
        assert matches("okay_nabu", det.verifier.last_text)  # type: ignore[attr-defined]
        okay_now = speechgen.speak("Okay now.", speechgen.Voice("piper"))
        audio = np.concatenate([np.zeros(16000, np.int16), okay_now, np.zeros(24000, np.int16)])
        assert detections(det, audio) == []
    finally:
        det.close()


@pytest.mark.real_model
@pytest.mark.slow
def test_keyword_classifier_rejects_a_near_miss_whisper_spells_as_the_keyword(model_manager, clean_wake) -> None:
    # "Okay, bamboo." (Piper, clean): prompted with the keyword, tiny.en writes "Okay, Nabu."; the
    # spelling alone accepts it, the trained classifier (a default model) does not.
    bamboo = speechgen.speak("Okay, bamboo.", speechgen.Voice("piper", speed=0.8, pitch=1.12))
    audio = np.concatenate([np.zeros(16000, np.int16), bamboo, np.zeros(24000, np.int16)])
    spelling = build_wake_detector(settings(classifier_threshold=0.0), model_manager)
    classified = build_wake_detector(settings(), model_manager)
    try:
        assert isinstance(classified, VerifiedDetector) and "okay_nabu" in classified.verifier.classifiers  # type: ignore[attr-defined]
        assert [d.keyword for _, d in detections(spelling, audio)] == ["okay_nabu"]
        assert detections(classified, audio) == []
        assert classified.verifier.last_score is not None and classified.verifier.last_score < 0.5  # type: ignore[attr-defined]
        assert [d.keyword for _, d in detections(classified, clean_wake.samples)] == ["okay_nabu"]
    finally:
        spelling.close()
        classified.close()


@pytest.mark.real_model
@pytest.mark.slow
def test_a_second_placement_rejects_okay_now_that_one_look_accepts(model_manager) -> None:
    # The bench's "Okay now." (espeak en-us+m3, 20 dB white noise): one look reads "Okay Nabu.",
    # every other placement "Okay, now.".
    okay_now = [u for u in speechgen.confusable_set(["okay_nabu"])
                if u.text == "Okay now." and u.voice == "espeak:en-us+m3:s170:p40"]
    assert len(okay_now) == 1
    one_look = build_wake_detector(settings(stt_views=1), model_manager)
    voted = build_wake_detector(settings(), model_manager)
    try:
        assert [d.keyword for _, d in detections(one_look, okay_now[0].samples)] == ["okay_nabu"]
        assert detections(voted, okay_now[0].samples) == []
    finally:
        one_look.close()
        voted.close()


@pytest.mark.real_model
def test_stt_check_shares_the_stt_engines_whisper_model(model_manager) -> None:
    from edge_agent.stt.whisper import WhisperStt

    model_dir = model_manager.require("whisper-tiny-en", "model.bin").parent
    verifier = SttVerifier(str(model_dir))
    stt = WhisperStt(model_dir)
    try:
        assert verifier.backend is stt.backend and verifier.shared.lock is stt._lock  # one copy in memory
        assert stt.transcribe(np.zeros(8000, np.int16)) == ""  # both still usable
        assert isinstance(verifier.transcribe(np.zeros(16000, np.int16), "Okay Nabu."), str)
    finally:
        verifier.close()
