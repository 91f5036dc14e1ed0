"""``bench listen``'s turn scoring on scripted VAD output and a scripted turn model (no audio models)."""

from __future__ import annotations

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.bench.listen import FRAME, Recorded, TurnCache, score_turns
from edge_agent.listen.policy import PolicyConfig
from edge_agent.speechgen import Segment, Utterance

F = FRAME / SAMPLE_RATE


class Always:
    """A turn model that always says the turn is complete."""

    def predict(self, audio: np.ndarray) -> float:
        return 0.99


def clip(kind: str, pieces: list[tuple[float, float]], words: list[tuple[float, float]]) -> Recorded:
    """VAD output from (seconds, probability) stretches; ``words``: the spoken segments (start, end)."""
    probs = np.concatenate([np.full(round(s / F), p, np.float32) for s, p in pieces])
    segs = tuple(Segment(f"w{i}", a, b) for i, (a, b) in enumerate(words))
    utt = Utterance(np.zeros(len(probs) * FRAME, np.int16), "x", kind, "test", segments=segs,
                    last_word_t=segs[-1].end_t)
    return Recorded(utt, probs)


def test_a_pause_cut_counts_and_an_end_before_the_last_word_is_a_cut_off() -> None:
    cfg = PolicyConfig(first_check_ms=160, confirm_votes=1, turn_threshold=0.5, early_threshold=0.5)
    pause = clip("pause", [(0.5, 0.0), (1.0, 0.99), (0.7, 0.0), (1.0, 0.99), (2.0, 0.0)], [(0.5, 1.5), (2.2, 3.2)])
    # the VAD lost the last word (0.6 s of it): the turn ends before the word does
    early = clip("complete", [(0.5, 0.0), (1.0, 0.99), (3.0, 0.0)], [(0.5, 2.1)])
    fine = clip("complete", [(0.5, 0.0), (1.0, 0.99), (3.0, 0.0)], [(0.5, 1.45)])
    r = score_turns([pause], [early, fine], cfg, TurnCache(Always()), 0.3, 8.0)  # type: ignore[arg-type]
    assert r["pause_false_end_rate"] == 1.0
    assert r["complete_cut_before_last_word"] == 1
    assert r["complete_within_700ms"] == 0.5  # only the fine one


class Scored:
    """A fake STT with scores: every transcript looks finished, decoded with ``logprob``."""

    def __init__(self, logprob: float) -> None:
        self.logprob, self.calls = logprob, 0

    def transcribe(self, audio: np.ndarray) -> str:
        return self.transcribe_scored(audio).text

    def transcribe_scored(self, audio: np.ndarray):  # type: ignore[no-untyped-def]
        from edge_agent.stt.base import Transcription

        self.calls += 1
        return Transcription("Turn on the light.", self.logprob, 0.0)


class Unsure:
    """A turn model that never makes up its mind."""

    def predict(self, audio: np.ndarray) -> float:
        return 0.3


def test_a_doubtful_transcript_cannot_cut_a_pause_in_the_replay() -> None:
    from edge_agent.bench.turns import TextHints
    from edge_agent.listen.hint import HintTrust

    cfg = PolicyConfig(first_check_ms=160, recheck_ms=64, confirm_votes=1, turn_threshold=0.6, early_threshold=0.6,
                       semantic_weight=0.7, semantic_wait_ms=500)
    pause = clip("pause", [(0.5, 0.0), (1.0, 0.99), (0.7, 0.0), (1.0, 0.99), (2.5, 0.0)], [(0.5, 1.5), (2.2, 3.2)])
    trust = HintTrust(doubt_logprob=-1.2, sure_logprob=-0.2)
    sure = TextHints(Scored(-0.1))
    r = score_turns([pause], [], cfg, TurnCache(Unsure()), 0.3, 8.0, sure, 0.0, trust)  # type: ignore[arg-type]
    assert r["pause_cut"] == 1  # a sure "finished" text ends the turn at the pause
    doubtful = TextHints(Scored(-1.5))
    r = score_turns([pause], [], cfg, TurnCache(Unsure()), 0.3, 8.0, doubtful, 0.0, trust)  # type: ignore[arg-type]
    assert r["pause_cut"] == 0
    assert doubtful.stt.calls == 2  # one speculative decode per speech_end, each cached by its audio


def test_no_two_splits_share_a_voice_a_noise_or_a_sentence() -> None:
    from edge_agent import speechgen
    from edge_agent.speechgen import heldout

    def names(voices) -> set[str]:  # an espeak-ng voice and variant, whatever the speed and pitch
        return {v.name for v in voices if isinstance(v, speechgen.Voice)}

    splits = {"tuning": ({v.label for v in speechgen.ALL_VOICES}, names(speechgen.ESPEAK_VOICES),
                         {" ".join(p) for p in (*speechgen.PAUSE_SENTENCES, *speechgen.WHOLE_PAUSE_SENTENCES,
                                                *speechgen.INNER_PAUSE_COMMANDS)} | set(speechgen.COMPLETE_SENTENCES),
                         set(speechgen.NOISES))}
    for name, sp in heldout.SPLITS.items():
        splits[name] = ({v.label for v in sp.voices}, names(sp.voices),
                        {" ".join(p) for p in sp.pause_sentences} | {" ".join(p) for p in sp.complete_sentences},
                        {kind for kind, _ in sp.noise_plan} - {"none"})
    assert set(splits) >= {"tuning", "heldout", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6"}
    for a in splits:
        for b in splits:
            if a < b:
                for what, x, y in zip(("voice", "espeak voice", "sentence", "noise"), splits[a], splits[b], strict=True):
                    assert not x & y, f"{a} and {b} share a {what}: {x & y}"
    assert {kind for sp in heldout.SPLITS.values() for kind, _ in sp.noise_plan} <= set(heldout.HELDOUT_NOISES)
