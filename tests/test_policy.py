"""The clock-free turn policy, driven by synthetic VAD sequences: no audio, no models."""

from __future__ import annotations

import pytest

from edge_agent.config import load_settings
from edge_agent.events import BargeIn, EventType, SpeechEnd, SpeechStart, TurnEnd
from edge_agent.listen.policy import Phase, PolicyConfig, TurnPolicy

F = 0.032  # Silero frame


def run(policy: TurnPolicy, seq: list[tuple[float, float]]) -> list:
    """``seq``: (seconds, speech probability) stretches, fed frame by frame."""
    events = []
    for seconds, prob in seq:
        for _ in range(round(seconds / F)):
            events.extend(policy.process(F, prob))
    return events


def types(events) -> list[str]:
    return [str(e.type) for e in events]


class Script:
    """A fake turn model: answers from a list (the last answer repeats); records when it was asked."""

    def __init__(self, answers: list[float], policy_ref: list[TurnPolicy]) -> None:
        self.answers, self.asked, self.ref = answers, [], policy_ref

    def __call__(self) -> float:
        pol = self.ref[0]
        self.asked.append(round((pol.t - pol.last_speech_t) * 1000))
        return self.answers[min(len(self.asked) - 1, len(self.answers) - 1)]


def make(answers: list[float] | None = None, **cfg) -> tuple[TurnPolicy, Script | None]:
    ref: list[TurnPolicy] = []
    script = Script(answers, ref) if answers is not None else None
    cfg = {"confirm_votes": 1, "turn_threshold": 0.5, "early_threshold": 0.5, **cfg}
    pol = TurnPolicy(PolicyConfig(**cfg), turn_probability=script)
    ref.append(pol)
    pol.start(0.0)
    return pol, script


def test_speech_start_needs_speech_start_ms() -> None:
    pol, _ = make([0.9], speech_start_ms=96)
    assert run(pol, [(0.064, 0.9), (0.064, 0.0)]) == []  # 64 ms blip: not speech
    ev = run(pol, [(0.128, 0.9)])
    assert types(ev) == ["speech_start"]
    assert ev[0].audio_t == pytest.approx(0.128)


def test_complete_turn_ends_at_first_check() -> None:
    pol, script = make([0.9], first_check_ms=192, recheck_ms=96)
    ev = run(pol, [(0.32, 0.0), (1.0, 0.95), (1.0, 0.01)])
    assert types(ev) == ["speech_start", "speech_end", "turn_end"]
    start, end, turn = ev
    assert isinstance(start, SpeechStart) and start.audio_t == pytest.approx(0.32)
    assert isinstance(end, SpeechEnd) and end.audio_t == pytest.approx(1.312, abs=1e-6)
    assert isinstance(turn, TurnEnd)
    assert turn.reason == "model" and turn.probability == 0.9
    assert turn.last_speech_t == pytest.approx(1.312, abs=1e-6)
    assert turn.audio_t - turn.last_speech_t == pytest.approx(0.192, abs=1e-6)
    assert script is not None and script.asked == [192]
    assert pol.phase is Phase.IDLE


def test_incomplete_rechecks_then_max_silence() -> None:
    pol, script = make([0.1], first_check_ms=192, recheck_ms=192, max_silence_ms=992)
    ev = run(pol, [(0.5, 0.9), (2.0, 0.0)])
    assert types(ev) == ["speech_start", "speech_end", "turn_end"]
    assert ev[-1].reason == "max_silence" and ev[-1].probability == 0.1
    assert ev[-1].audio_t - ev[-1].last_speech_t == pytest.approx(0.992, abs=1e-6)
    assert script is not None and script.asked == [192, 384, 576, 768, 960]


def test_incomplete_then_complete_as_silence_grows() -> None:
    pol, script = make([0.2, 0.3, 0.8], first_check_ms=192, recheck_ms=192)
    ev = run(pol, [(0.5, 0.9), (1.0, 0.0)])
    assert ev[-1].reason == "model" and ev[-1].probability == 0.8
    assert script is not None and script.asked == [192, 384, 576]


def test_pause_then_more_speech_continues_the_turn() -> None:
    pol, script = make([0.2, 0.9], first_check_ms=192, recheck_ms=192)
    ev = run(pol, [(0.5, 0.9), (0.3, 0.0), (0.5, 0.9), (0.5, 0.0)])
    assert types(ev) == ["speech_start", "speech_end", "speech_start", "speech_end", "turn_end"]
    turn = ev[-1]
    assert turn.speech_start_t == pytest.approx(0.0)
    assert turn.last_speech_t == pytest.approx(1.3, abs=0.04)


def test_confirm_votes_and_early_threshold() -> None:
    pol, script = make([0.7], first_check_ms=96, recheck_ms=96, confirm_votes=2)
    ev = run(pol, [(0.5, 0.9), (1.0, 0.0)])
    assert script is not None and script.asked == [96, 192]
    assert ev[-1].audio_t - ev[-1].last_speech_t == pytest.approx(0.192, abs=1e-6)

    pol, script = make([0.7], first_check_ms=96, recheck_ms=96, early_threshold=0.8, early_ms=300)
    ev = run(pol, [(0.5, 0.9), (1.0, 0.0)])
    assert script is not None and script.asked == [96, 192, 288, 320 + 64]
    assert ev[-1].reason == "model"


def test_hysteresis_keeps_speech_through_ambiguous_frames() -> None:
    pol, script = make([0.9])
    ev = run(pol, [(0.5, 0.9), (0.5, 0.45), (0.5, 0.0)])  # 0.45 is between 0.35 and 0.5
    assert types(ev) == ["speech_start", "speech_end", "turn_end"]
    assert ev[1].audio_t == pytest.approx(1.0, abs=0.04)


def test_silence_only_policy_without_model() -> None:
    pol, _ = make(None, max_silence_ms=512)
    ev = run(pol, [(0.5, 0.9), (1.0, 0.0)])
    assert ev[-1].reason == "max_silence" and ev[-1].probability is None


def test_max_turn_cuts_a_monologue() -> None:
    pol, _ = make([0.1], max_turn_s=2.0)
    ev = run(pol, [(3.0, 0.9)])
    assert types(ev) == ["speech_start", "turn_end"]
    assert ev[-1].reason == "max_length"
    assert ev[-1].audio_t == pytest.approx(2.0, abs=0.04)


def test_nobody_speaks_times_out() -> None:
    pol, _ = make([0.9], listen_timeout_s=1.0)
    ev = run(pol, [(2.0, 0.0)])
    assert types(ev) == ["turn_end"] and ev[0].reason == "timeout" and ev[0].speech_start_t is None
    assert not pol.listening
    assert run(pol, [(1.0, 0.9)]) == []  # idle: speech is ignored
    pol.start(timeout_s=0.5)  # a follow-up window of its own
    began = pol.t
    ev = run(pol, [(0.6, 0.0)])
    assert types(ev) == ["turn_end"] and ev[0].audio_t - began == pytest.approx(0.512, abs=1e-6)


def test_barge_in_during_playback_uses_the_playback_threshold() -> None:
    pol = TurnPolicy(PolicyConfig(barge_in_ms=192, playback_threshold=0.85))
    pol.set_playback_active(True)
    assert run(pol, [(1.0, 0.7)]) == []  # the agent's own voice leaking in: below 0.85
    ev = run(pol, [(0.3, 0.95)])
    assert [type(e) for e in ev] == [BargeIn, SpeechStart]
    assert ev[0].audio_t - ev[1].audio_t == pytest.approx(0.192, abs=1e-6)
    assert pol.phase is Phase.SPEECH
    assert run(pol, [(1.0, 0.95)]) == []  # once per stretch of speech


def test_semantic_hint_is_blended_when_given() -> None:
    pol, _ = make([0.4], first_check_ms=96, recheck_ms=96, semantic_weight=0.5)
    run(pol, [(0.5, 0.9), (0.05, 0.0)])
    pol.set_semantic_hint(0.9)
    ev = run(pol, [(0.2, 0.0)])
    assert ev[-1].reason == "model" and ev[-1].probability == pytest.approx(0.65)


def test_force_end_and_settings() -> None:
    pol, _ = make([0.1])
    run(pol, [(0.5, 0.9)])
    ev = pol.force_end()
    assert ev[0].type is EventType.TURN_END and ev[0].reason == "forced"
    cfg = PolicyConfig.from_settings(load_settings(None, turn={"first_check_ms": 150, "confirm_votes": 2}))
    assert cfg.first_check_ms == 150 and cfg.confirm_votes == 2


def test_text_completeness_hint() -> None:
    from edge_agent.listen.hint import text_completeness

    assert text_completeness("Please remind me to") == 0.0
    assert text_completeness("I think we should.") == 0.0
    assert text_completeness("I was wondering if...") == 0.0
    assert text_completeness("Set a timer for ten minutes.") == 1.0
    assert text_completeness("  ") is None


def test_semantic_wait_holds_the_model_until_a_hint_arrives() -> None:
    pol, script = make([0.95], first_check_ms=96, recheck_ms=96, semantic_wait_ms=400)
    ev = run(pol, [(0.5, 0.9), (0.3, 0.0)])
    assert types(ev) == ["speech_start", "speech_end"]  # model says complete, but no hint yet
    pol.set_semantic_hint(0.0)  # the text says incomplete: 0.5 * 0.95 + 0 < 0.5
    assert types(run(pol, [(0.3, 0.0)])) == []
    pol2, _ = make([0.95], first_check_ms=96, recheck_ms=96, semantic_wait_ms=400)
    ev = run(pol2, [(0.5, 0.9), (1.0, 0.0)])
    assert ev[-1].reason == "model"  # no hint ever: the model decides after the wait
    assert ev[-1].audio_t - ev[-1].last_speech_t == pytest.approx(0.48, abs=1e-6)


def test_stale_semantic_hint_is_ignored() -> None:
    pol, _ = make([0.4], first_check_ms=96, recheck_ms=96, max_silence_ms=5000)
    ev = run(pol, [(0.5, 0.9), (0.05, 0.0)])
    end_t = ev[-1].audio_t
    run(pol, [(0.2, 0.9)])  # the user went on
    pol.set_semantic_hint(1.0, speech_end_t=end_t)  # the transcript of the earlier pause: stale
    assert types(run(pol, [(0.5, 0.0)])) == ["speech_end"]
    ev = run(pol, [(0.05, 0.0)])
    pol.set_semantic_hint(1.0, speech_end_t=pol.last_speech_t)  # fresh
    ev = run(pol, [(0.2, 0.0)])
    assert ev[-1].reason == "model"


# --- speech-like noise far below the user's voice --------------------------------------------------


def run_levels(policy: TurnPolicy, seq: list[tuple[float, float, float | None]]) -> list:
    """``seq``: (seconds, speech probability, level in dB) stretches."""
    events = []
    for seconds, prob, level in seq:
        for _ in range(round(seconds / F)):
            events.extend(policy.process(F, prob, level))
    return events


def test_babble_far_below_the_user_ends_speech_once_the_envelope_falls() -> None:
    # Silero scores babble 0.5-0.9 after the user stops; 20 dB below the user it is not the user
    pol, _ = make([0.0], quiet_drop_db=12.0, quiet_window_frames=12)
    ev = run_levels(pol, [(0.3, 0.0, 40.0), (1.5, 0.99, 70.0), (1.5, 0.7, 50.0)])
    ends = [e for e in ev if isinstance(e, SpeechEnd)]
    assert types(ev) == ["speech_start", "speech_end"]
    # the envelope (loudest frame of the last 384 ms) falls 384 ms after the voice
    assert ends[0].audio_t == pytest.approx(1.8 + 0.384 - F, abs=0.04)


def test_without_levels_or_with_the_rule_off_the_vad_alone_decides() -> None:
    seq = [(0.3, 0.0, 40.0), (1.5, 0.99, 70.0), (1.5, 0.7, 50.0)]
    pol, _ = make([0.0], quiet_drop_db=0.0)
    assert types(run_levels(pol, seq)) == ["speech_start"]
    pol, _ = make([0.0], quiet_drop_db=12.0)
    assert types(run_levels(pol, [(s, p, None) for s, p, _ in seq])) == ["speech_start"]


def test_quiet_speech_the_vad_is_sure_of_is_still_speech() -> None:
    # a user who turns away drops 20 dB, but Silero stays sure: no speech_end
    pol, _ = make([0.0], quiet_drop_db=12.0, quiet_window_frames=12)
    assert types(run_levels(pol, [(0.3, 0.0, 40.0), (1.5, 0.99, 70.0), (1.5, 0.98, 50.0)])) == ["speech_start"]


def test_babble_does_not_resume_the_turn_but_the_user_does() -> None:
    pol, script = make([0.1], quiet_drop_db=12.0, quiet_window_frames=12, max_silence_ms=5000)
    ev = run_levels(pol, [(0.3, 0.0, 40.0), (1.5, 0.99, 70.0), (0.5, 0.1, 30.0), (1.0, 0.8, 50.0)])
    assert types(ev) == ["speech_start", "speech_end"]  # the babble's 0.8 is not speech
    assert pol.phase is Phase.SILENCE
    ev = run_levels(pol, [(0.3, 0.99, 68.0)])
    assert types(ev) == ["speech_start"]  # the user, as loud as before, is


def test_a_voice_far_below_the_user_that_the_vad_is_sure_of_ends_the_users_speech() -> None:
    # a television 20 dB below the user, Silero sure of it: after 640 ms with no frame within 14 dB
    # of the user's loudest, the user's speech ended (320 ms after their last loud frame, for a quiet
    # last syllable), and the turn can end
    pol, script = make([0.9], quiet_drop_db=12.0, quiet_window_frames=12, quiet_end_ms=640.0, user_within_db=14.0)
    ev = run_levels(pol, [(0.3, 0.0, 40.0), (1.5, 0.99, 70.0), (0.6, 0.99, 50.0)])
    assert types(ev) == ["speech_start"]  # not yet: 640 ms
    ev = run_levels(pol, [(0.5, 0.99, 50.0)])
    assert types(ev)[0] == "speech_end" and ev[0].audio_t == pytest.approx(1.8 + 0.32, abs=0.04)
    assert types(ev)[-1] == "turn_end"  # the television does not resume the turn; the checks go on
    assert script is not None and script.asked


def test_after_such_an_end_the_user_at_their_level_resumes_the_turn() -> None:
    pol, _ = make([0.1], quiet_drop_db=12.0, quiet_window_frames=12, quiet_end_ms=640.0, user_within_db=14.0,
                  max_silence_ms=5000)
    ev = run_levels(pol, [(0.3, 0.0, 40.0), (1.5, 0.99, 70.0), (1.0, 0.99, 50.0)])
    assert types(ev) == ["speech_start", "speech_end"]
    assert types(run_levels(pol, [(0.5, 0.99, 50.0)])) == []  # the television again: not the user
    assert types(run_levels(pol, [(0.2, 0.99, 68.0)])) == ["speech_start"]  # the user is


def test_the_user_within_reach_of_their_loudest_stays_speech() -> None:
    pol, _ = make([0.0], quiet_drop_db=12.0, quiet_window_frames=12, quiet_end_ms=640.0, user_within_db=14.0)
    seq = [(0.3, 0.0, 40.0), (1.5, 0.99, 70.0), (2.0, 0.99, 59.0)]  # 11 dB down, for 2 s
    assert types(run_levels(pol, seq)) == ["speech_start"]


def test_level_rule_needs_enough_confident_speech_to_know_the_user() -> None:
    # 160 ms of speech (5 frames < MIN_LEVEL_FRAMES): no reference yet, the VAD decides
    pol, _ = make([0.0], quiet_drop_db=12.0, quiet_window_frames=2)
    assert types(run_levels(pol, [(0.3, 0.0, 40.0), (0.16, 0.99, 70.0), (1.0, 0.7, 40.0)])) == ["speech_start"]


def test_level_db_is_the_mean_power_in_db() -> None:
    import numpy as np

    from edge_agent.listen.policy import level_db

    scratch = np.zeros(512, np.float32)
    assert level_db(np.full(512, 100, np.int16), scratch) == pytest.approx(40.0, abs=0.01)
    assert level_db(np.zeros(512, np.int16), scratch) == 0.0
    assert level_db(np.full(1024, -1000, np.int16), scratch) == pytest.approx(60.0, abs=0.01)  # longer than scratch
    assert level_db(np.zeros(0, np.int16)) == 0.0
