"""The wake keyword classifier: span features, the logistic fit, its file, and the training set's
separation from the bench's (the bench must grade it on voices and phrases it never saw)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent import testaudio
from edge_agent.errors import ModelError
from edge_agent.listen import wake_classifier, wake_training
from edge_agent.listen.wake_verify import normalize


def test_span_features_pool_equal_parts_of_the_span() -> None:
    encoded = np.repeat(np.arange(100, dtype=np.float32)[:, None], 3, axis=1)  # frame k holds k
    f = wake_classifier.span_features(encoded, 0.5, 1.0, segments=4)  # frames 25..50, 2 of margin
    assert f.shape == (4 * 3 + 1,)
    means = f[:-1].reshape(4, 3)[:, 0]
    assert np.all(np.diff(means) > 0) and 23 <= means[0] < 30 and 45 < means[-1] <= 52
    assert f[-1] == pytest.approx(0.5)
    # A span at the very end or of no length still gives every segment at least one frame.
    assert np.isfinite(wake_classifier.span_features(encoded, 1.99, 1.99, segments=4)).all()


def test_logistic_fit_separates_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (60, 5)), rng.normal(0, 1, (20, 5)) + [3, 0, 0, 0, 0]])
    y = np.r_[np.zeros(60), np.ones(20)]
    model = wake_classifier.fit_logistic(x, y, l2=1.0)
    scores = np.array([model.score(row) for row in x])
    assert ((scores >= 0.5) == (y == 1)).mean() > 0.95
    path = tmp_path / "kw.npz"
    wake_classifier.save(path, model, {"keyword": "kw"})
    again, meta = wake_classifier.load(path)
    assert meta == {"keyword": "kw"} and again.score(x[0]) == pytest.approx(model.score(x[0]), rel=1e-5)
    with pytest.raises(ValueError, match="both"):
        wake_classifier.fit_logistic(x, np.zeros(len(x)))


def test_a_damaged_classifier_file_names_the_fix(tmp_path: Path) -> None:
    d = tmp_path / "wake-classifier-okay-nabu"
    d.mkdir()
    (d / "okay_nabu.npz").write_bytes(b"not a numpy file")
    with pytest.raises(ModelError, match="models pull --force wake-classifier-okay-nabu"):
        wake_classifier.load(d / "okay_nabu.npz")


def test_training_set_shares_no_voice_or_phrase_with_the_bench() -> None:
    assert not {v.label for v in wake_training.TRAIN_VOICES} & {v.label for v in testaudio.ALL_VOICES}
    bench = {normalize(t) for texts in testaudio.CONFUSABLE_TEXT.values() for t in texts}
    train = {normalize(t) for texts in wake_training.NEIGHBOURS.values() for t in texts}
    assert not bench & train
    plan = wake_training.clip_plan("okay_nabu")
    kinds = {kind for kind, *_ in plan}
    assert kinds == {"wake", "neighbour", "ordinary"}
    with pytest.raises(ModelError, match="no training phrases"):
        wake_training.clip_plan("alexa")
