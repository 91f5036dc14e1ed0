"""The wake keyword classifier: span features, the logistic fit, its file, and the training set's
separation from the bench's (the bench must grade it on voices and phrases it never saw)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent import speechgen
from edge_agent.errors import ModelError
from edge_agent.listen.wake import classifier
from edge_agent.listen.wake.classifier import load_classifiers
from edge_agent.listen.wake.spelling import normalize
from edge_agent.models import Manifest, ModelManager
from edge_agent.models.recipes import RECIPES
from edge_agent.models.recipes import wake_classifier as recipe


def test_span_features_pool_equal_parts_of_the_span() -> None:
    encoded = np.repeat(np.arange(100, dtype=np.float32)[:, None], 3, axis=1)  # frame k holds k
    f = classifier.span_features(encoded, 0.5, 1.0, segments=4)  # frames 25..50, 2 of margin
    assert f.shape == (4 * 3 + 1,)
    means = f[:-1].reshape(4, 3)[:, 0]
    assert np.all(np.diff(means) > 0) and 23 <= means[0] < 30 and 45 < means[-1] <= 52
    assert f[-1] == pytest.approx(0.5)
    # A span at the very end or of no length still gives every segment at least one frame.
    assert np.isfinite(classifier.span_features(encoded, 1.99, 1.99, segments=4)).all()


def test_the_span_is_narrowed_to_where_it_is_louder_than_the_room() -> None:
    # 2.5 s of quiet noise with a loud "word" from 1.2 s to 1.9 s; the alignment says 0.0 to 2.0 s.
    rng = np.random.default_rng(1)
    samples = rng.normal(0, 0.003, 40_000)
    samples[19_200:30_400] += rng.normal(0, 0.1, 11_200)
    levels = classifier.frame_levels(samples)
    assert levels.shape == (125,)
    start, end = classifier.speech_within(levels, 0.0, 2.0)
    assert start == pytest.approx(1.2, abs=0.03) and end == pytest.approx(1.9, abs=0.03)
    # Nothing loud inside the span, or a buffer of digital silence: the aligned span as it was.
    assert classifier.speech_within(levels, 0.2, 1.0) == (0.2, 1.0)
    assert classifier.speech_within(classifier.frame_levels(np.zeros(8000)), 0.1, 0.4) == (0.1, 0.4)


def test_logistic_fit_separates_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (60, 5)), rng.normal(0, 1, (20, 5)) + [3, 0, 0, 0, 0]])
    y = np.r_[np.zeros(60), np.ones(20)]
    model = classifier.fit_logistic(x, y, l2=1.0)
    scores = np.array([model.score(row) for row in x])
    assert ((scores >= 0.5) == (y == 1)).mean() > 0.95
    path = tmp_path / "kw.npz"
    classifier.save(path, model, {"keyword": "kw"})
    again, meta = classifier.load(path)
    assert meta == {"keyword": "kw"} and again.score(x[0]) == pytest.approx(model.score(x[0]), rel=1e-5)
    with pytest.raises(ValueError, match="both"):
        classifier.fit_logistic(x, np.zeros(len(x)))


def test_a_damaged_classifier_file_names_the_fix(tmp_path: Path) -> None:
    d = tmp_path / "wake-classifier-okay-nabu"
    d.mkdir()
    (d / "okay_nabu.npz").write_bytes(b"not a numpy file")
    with pytest.raises(ModelError, match="models pull --force wake-classifier-okay-nabu"):
        classifier.load(d / "okay_nabu.npz")


def test_the_manifest_builds_the_classifier_again_when_its_training_changes() -> None:
    spec = Manifest.load().get(classifier.model_name("okay_nabu"))
    assert spec.build == classifier.GENERATOR_VERSION
    assert spec.derive is not None and RECIPES[spec.derive] is recipe.build


def test_a_classifier_trained_for_an_older_check_is_refused_with_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = classifier.LogisticModel(np.zeros(3, np.float32), np.ones(3, np.float32), np.zeros(3, np.float32), 0.0)
    path = tmp_path / "okay_nabu.npz"
    manager = ModelManager(tmp_path)
    monkeypatch.setattr(manager, "require", lambda name, file=None: path)
    classifier.save(path, model, {"generator": classifier.GENERATOR_VERSION - 1})
    with pytest.raises(ModelError, match="older wake check.*models pull --force wake-classifier-okay-nabu"):
        load_classifiers(["okay_nabu"], manager)
    classifier.save(path, model, {"generator": classifier.GENERATOR_VERSION})
    assert list(load_classifiers(["okay_nabu", "hey_jarvis"], manager)) == ["okay_nabu"]


def test_training_set_shares_no_voice_and_only_the_noisy_neighbour_with_the_bench() -> None:
    assert not {v.label for v in recipe.TRAIN_VOICES} & {v.label for v in speechgen.ALL_VOICES}
    bench = {normalize(t) for texts in speechgen.CONFUSABLE_TEXT.values() for t in texts}
    train = {normalize(t) for texts in recipe.NEIGHBOURS.values() for t in texts}
    assert not bench & train
    noisy = {normalize(t) for texts in recipe.NOISY_NEIGHBOURS.values() for t in texts}
    assert bench & noisy == {"obey nabu"}  # said on the bench by other voices in other noise (README)
    plan = recipe.clip_plan("okay_nabu")
    kinds = {kind for kind, *_ in plan}
    assert kinds == {"wake", "neighbour", "noisy_neighbour", "ordinary"}
    noisy_clips = [recipe._clip("okay_nabu", text, recipe.TRAIN_VOICES[vi], k, kind)
                   for kind, text, vi, k, _ in plan if kind == "noisy_neighbour"][:3]
    assert all(u.noise != "none" for u in noisy_clips)
    with pytest.raises(ModelError, match="no training phrases"):
        recipe.clip_plan("alexa")


def test_some_training_phrases_have_speech_before_them() -> None:
    """Every third wake phrase and neighbour follows the end of another sentence (the agent's reply
    or another voice): the classifier learns the phrase, not "speech after silence"."""
    plan = recipe.clip_plan("okay_nabu")
    wake = [(text, vi, k) for kind, text, vi, k, cmd in plan if kind == "wake" and cmd is None]
    text, vi, k = next(w for w in wake if w[2] % recipe.SPEECH_BEFORE_EVERY == recipe.SPEECH_BEFORE_EVERY - 1)
    u = recipe._clip("okay_nabu", text, recipe.TRAIN_VOICES[vi], k, "wake")
    assert len(u.segments) == 2 and u.segments[1].text == text
    assert u.segments[1].start_t - u.segments[0].end_t <= 0.4
    plain = recipe._clip("okay_nabu", text, recipe.TRAIN_VOICES[vi], k - 1, "wake")
    assert [s.text for s in plain.segments] == [text]
