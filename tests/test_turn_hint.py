"""The confidence-weighted text hint and the rules that bound it (models disagree: wait a little;
Smart Turn sure: end whatever the text says; a hint short of sure: wait out a short inner pause), on
synthetic VAD sequences and scripted models."""

from __future__ import annotations

import pytest

from edge_agent.config import load_settings
from edge_agent.listen.hint import NEUTRAL, Hint, HintTrust, agrees, effective_hint, transcript_confidence
from edge_agent.listen.policy import PolicyConfig, TurnPolicy

F = 0.032


def run(policy: TurnPolicy, seconds: float, prob: float) -> list:
    events = []
    for _ in range(round(seconds / F)):
        events.extend(policy.process(F, prob))
    return events


def policy(model: float, hint: Hint | None, **cfg: float) -> TurnPolicy:
    """A policy whose Smart Turn always answers ``model`` and whose hint is ``hint`` from the start."""
    base = {"confirm_votes": 1, "turn_threshold": 0.6, "early_threshold": 0.6, "first_check_ms": 160,
            "recheck_ms": 64, "semantic_weight": 0.7, "max_silence_ms": 2000, **cfg}
    pol = TurnPolicy(PolicyConfig(**base), turn_probability=lambda: model, semantic=lambda: hint)  # type: ignore[arg-type]
    pol.start(0.0)
    return pol


def end_after(pol: TurnPolicy) -> tuple[str, float]:
    """Speak 1 s, then stay silent: the turn end's reason and its silence in ms."""
    run(pol, 1.0, 0.95)
    ends = [e for e in run(pol, 3.0, 0.0) if e.type == "turn_end"]
    return ends[0].reason, round((ends[0].audio_t - ends[0].last_speech_t) * 1000)


def test_confidence_from_the_decoder_scores() -> None:
    kw = {"doubt_logprob": -1.0, "sure_logprob": -0.3}
    assert transcript_confidence(-0.2, 0.0, **kw) == 1.0
    assert transcript_confidence(-1.2, 0.0, **kw) == 0.0
    assert transcript_confidence(-0.65, 0.0, **kw) == pytest.approx(0.5)
    assert transcript_confidence(-0.2, 0.4, **kw) == pytest.approx(0.6)  # maybe no speech at all
    assert transcript_confidence(None, None, **kw) == 1.0  # an engine without scores: as before
    # the later decode changed what the earlier one heard: half as sure
    assert transcript_confidence(-0.2, 0.0, earlier="book a table for", text="Look at the table for two.", **kw) == 0.5
    assert transcript_confidence(-0.2, 0.0, earlier="Book a table for", text="book a table for two", **kw) == 1.0


def test_agreement_is_a_word_prefix() -> None:
    assert agrees("Set the thermostat to", "set the thermostat to 21 degrees.")
    assert not agrees("Set the thermostat too", "Set the thermostat to 21.")
    assert agrees("", "anything")


def test_a_doubtful_hint_is_pulled_towards_no_opinion() -> None:
    assert effective_hint(Hint(1.0, 1.0)) == 1.0
    assert effective_hint(Hint(0.0, 1.0)) == 0.0
    assert effective_hint(Hint(1.0, 0.0)) == NEUTRAL
    assert effective_hint(Hint(0.0, 0.5)) == pytest.approx(0.25)


def test_hint_trust_off_is_always_sure() -> None:
    assert HintTrust(enabled=False).confidence(-3.0, 0.9, "x") == 1.0
    assert HintTrust().confidence(-3.0, 0.0, "x") == 0.0


def test_a_doubtful_finished_looking_transcript_does_not_end_the_turn_alone() -> None:
    # sure transcript that looks finished, Smart Turn unsure (0.3): 0.3*0.3 + 0.7 = 0.79 -> ends at once
    assert end_after(policy(0.3, Hint(1.0, 1.0)))[0] == "model"
    # the same text from a doubtful decode: 0.09 + 0.7*0.5 = 0.44 < 0.6: the maximum silence
    assert end_after(policy(0.3, Hint(1.0, 0.0))) == ("max_silence", 2016)


def test_a_doubtful_unfinished_looking_transcript_does_not_hold_the_turn() -> None:
    # Smart Turn 0.9, a sure "unfinished" text: 0.27 + 0 < 0.6, held to the maximum silence ...
    assert end_after(policy(0.9, Hint(0.0, 1.0)))[0] == "max_silence"
    # ... a doubtful one: 0.27 + 0.35 = 0.62: the turn ends at the first check
    reason, silence = end_after(policy(0.9, Hint(0.0, 0.0)))
    assert reason == "model" and silence < 250


def test_when_the_models_disagree_the_turn_waits_a_little() -> None:
    # text says finished (1.0, sure), Smart Turn says not (0.1): the blend 0.73 would end at 160 ms
    reason, silence = end_after(policy(0.1, Hint(1.0, 1.0), disagree_below=0.3, disagree_wait_ms=500))
    assert reason == "model" and 500 <= silence < 600
    # they agree (Smart Turn 0.5 >= 0.3): no extra wait
    reason, silence = end_after(policy(0.5, Hint(1.0, 1.0), disagree_below=0.3, disagree_wait_ms=500))
    assert silence < 250


def test_a_sure_turn_model_bounds_the_wait_whatever_the_text() -> None:
    reason, silence = end_after(policy(0.9, Hint(0.0, 1.0), sure_threshold=0.8, sure_after_ms=600))
    assert reason == "model_sure" and 600 <= silence < 700
    # not sure enough: the maximum silence decides, as before
    assert end_after(policy(0.7, Hint(0.0, 1.0), sure_threshold=0.8, sure_after_ms=600))[0] == "max_silence"


def test_set_semantic_hint_takes_a_confidence() -> None:
    pol = TurnPolicy(PolicyConfig(confirm_votes=1, turn_threshold=0.6, early_threshold=0.6, first_check_ms=160,
                                  semantic_weight=0.7), turn_probability=lambda: 0.3)
    pol.start(0.0)
    run(pol, 1.0, 0.95)
    run(pol, 0.064, 0.0)
    pol.set_semantic_hint(1.0, pol.last_speech_t, confidence=0.0)
    assert not [e for e in run(pol, 1.0, 0.0) if e.type == "turn_end"]


def test_the_settings_reach_the_policy() -> None:
    s = load_settings(None, turn={"disagree_below": 0.25, "disagree_wait_ms": 450, "sure_threshold": 0.8,
                                  "sure_after_ms": 700})
    cfg = PolicyConfig.from_settings(s)
    assert (cfg.disagree_below, cfg.disagree_wait_ms, cfg.sure_threshold, cfg.sure_after_ms) == (0.25, 450, 0.8, 700)


def test_finished_mode_discounts_only_a_hint_that_says_finished() -> None:
    assert effective_hint(Hint(0.0, 0.0), both_ways=False) == 0.0  # a doubtful "unfinished" still holds
    assert effective_hint(Hint(1.0, 0.0), both_ways=False) == NEUTRAL  # a doubtful "finished" cannot end
    # held by the doubtful unfinished-looking text, the bounded wait ends it
    reason, silence = end_after(policy(0.9, Hint(0.0, 0.0), doubt_both_ways=False, sure_threshold=0.8,
                                       sure_after_ms=1000))
    assert reason == "model_sure" and 1000 <= silence < 1100
    s = load_settings(None, turn={"hint_confidence": "finished"})
    assert PolicyConfig.from_settings(s).doubt_both_ways is False
    assert PolicyConfig.from_settings(load_settings(None)).doubt_both_ways is True


def test_a_hint_short_of_sure_waits_out_a_short_inner_pause() -> None:
    # "Set the oven" (0.98: P(end) at full_at, finished-looking) with Smart Turn sure: no end before 416 ms
    reason, silence = end_after(policy(0.95, Hint(0.98, 1.0), quick_hint=0.985, lead_on_wait_ms=416))
    assert reason == "model" and 416 <= silence < 480
    # a text the LM is sure of ends at the first check, as before
    reason, silence = end_after(policy(0.95, Hint(1.0, 1.0), quick_hint=0.985, lead_on_wait_ms=416))
    assert silence < 250
    cfg = PolicyConfig.from_settings(load_settings(None, turn={"quick_hint": 0.99, "lead_on_wait_ms": 480}))
    assert (cfg.quick_hint, cfg.lead_on_wait_ms) == (0.99, 480)


def test_the_lm_hint_keeps_its_top_band_for_how_sure_it_is() -> None:
    from edge_agent.listen.semantic import hint_from_probability

    assert hint_from_probability(0.0) == 0.0
    assert hint_from_probability(0.1) == pytest.approx(0.49)
    assert hint_from_probability(0.2) == pytest.approx(0.98)
    assert hint_from_probability(0.25) == pytest.approx(0.985)
    assert hint_from_probability(0.4) == hint_from_probability(0.9) == pytest.approx(1.0)


def test_once_the_words_are_in_the_settled_silence_ends_the_turn() -> None:
    # the text looks unfinished and Smart Turn is unsure: the maximum silence decides without the rule
    assert end_after(policy(0.3, Hint(0.0, 1.0)))[0] == "max_silence"
    reason, silence = end_after(policy(0.3, Hint(0.0, 1.0), settled_after_ms=1000))
    assert reason == "settled" and 1000 <= silence < 1064
    # no transcript for this silence: nothing settled, the maximum silence stays
    assert end_after(policy(0.3, None, settled_after_ms=1000))[0] == "max_silence"
    assert PolicyConfig.from_settings(load_settings(None)).settled_after_ms == 1000
    assert PolicyConfig.from_settings(load_settings(None, turn={"settled_after_ms": 0})).settled_after_ms == float("inf")


def test_the_trained_decision_replaces_the_blend_when_a_hint_is_in() -> None:
    from edge_agent.listen.completeness import FEATURES, TrainedCompleteness, features, shipped

    # P(end) and the silence raise it; the rest is zero here
    model = TrainedCompleteness((1.0, 0.0, 0.0, 0.0, 5.0), bias=3.0, threshold=0.9)
    sure_words = Hint(0.99, 1.0, p_end=0.4, text="Set a timer for ten minutes.")
    doubtful = Hint(0.2, 1.0, p_end=0.01, text="Set the oven to")
    assert features(doubtful, 500)[FEATURES.index("ends_open")] == 1.0
    # Smart Turn says "not finished" (0.1): the blend would wait, the trained decision ends on the words
    reason, silence = end_after(policy(0.1, sure_words, completeness=model))  # type: ignore[arg-type]
    assert reason == "model" and silence < 200
    # log(0.01) + 3 + 5 s: it needs about 0.76 s of silence
    reason, silence = end_after(policy(0.1, doubtful, completeness=model))  # type: ignore[arg-type]
    assert reason == "model" and 700 <= silence < 850
    assert model.probability(doubtful, 500) < model.probability(doubtful, 800)
    cfg = PolicyConfig.from_settings(load_settings(None, turn={"decision": "trained"}))
    assert cfg.completeness == shipped() and PolicyConfig.from_settings(load_settings(None)).completeness is None
    assert len(shipped().weights) == len(FEATURES) and 0.5 <= shipped().threshold < 1.0


def test_fitting_the_trained_decision_learns_the_direction_of_each_input() -> None:
    import random

    from edge_agent.listen.completeness import fit_rows

    rng = random.Random(3)
    rows = []
    for _ in range(400):  # ended words: likely text, longer silences; going on: unlikely text
        rows.append((Hint(1.0, p_end=rng.uniform(0.05, 0.4), text="Stop the music."), rng.uniform(288, 1100), True))
        rows.append((Hint(0.1, p_end=rng.uniform(1e-4, 0.1), text="Set the oven to"), rng.uniform(288, 700), False))
    model = fit_rows(rows, 0.5)
    assert model.weights[0] > 0 and model.weights[1] < 0 and model.weights[4] > 0
    assert model.ends(rows[0][0], 900) and not model.ends(rows[1][0], 300)
