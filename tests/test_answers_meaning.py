"""The meaning model: the ONNX graph the recipe writes computes BERT as the reference does; the intents'
nearest-neighbour fallback and the knowledge search's check of meaning, with a stand-in encoder; and the
real model when it is pulled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent.answers.intent_model import IntentClassifier
from edge_agent.answers.knowledge import KnowledgeBase
from edge_agent.answers.meaning import MODEL, load_encoder
from edge_agent.models.recipes.minilm_onnx import HEADS, HIDDEN, LAYERS, bert_graph

MUSEUM = """# Test museum

## Cloakroom

The cloakroom is on the ground floor and it is free.

## First aid

Any member of staff in a blue jacket can call first aid.

## Cafe

The cafe serves soup and cakes on the first floor.

## Shop

The shop sells books and maps next to the entrance.

## Parking

The car park has 80 spaces and costs 2 euros per hour.
"""


def _reference_bert(w: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    def norm(x: np.ndarray, p: str) -> np.ndarray:
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-12) * w[f"{p}.weight"] + w[f"{p}.bias"]

    def lin(x: np.ndarray, p: str) -> np.ndarray:
        return x @ w[f"{p}.weight"].T + w[f"{p}.bias"]

    from math import erf
    gelu = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / np.sqrt(2))))
    n, d = len(ids), HIDDEN // HEADS
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
    x = norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        q, k, v = (lin(x, f"{p}.attention.self.{t}").reshape(n, HEADS, d).transpose(1, 0, 2)
                   for t in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / np.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(n, HIDDEN)
        x = norm(lin(a, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        h = lin(gelu(lin(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
        x = norm(h + x, f"{p}.output.LayerNorm")
    return x


def test_the_recipe_graph_is_bert() -> None:
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    shapes: dict[str, tuple[int, ...]] = {"embeddings.word_embeddings.weight": (50, HIDDEN), "embeddings.position_embeddings.weight": (16, HIDDEN),
              "embeddings.token_type_embeddings.weight": (2, HIDDEN)}
    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        for t in ("query", "key", "value", "output.dense"):
            name = f"{p}.attention.self.{t}" if t != "output.dense" else f"{p}.attention.output.dense"
            shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (HIDDEN, HIDDEN), (HIDDEN,)
        shapes[f"{p}.intermediate.dense.weight"], shapes[f"{p}.intermediate.dense.bias"] = (4 * HIDDEN, HIDDEN), (4 * HIDDEN,)
        shapes[f"{p}.output.dense.weight"], shapes[f"{p}.output.dense.bias"] = (HIDDEN, 4 * HIDDEN), (HIDDEN,)
        for ln in (f"{p}.attention.output.LayerNorm", f"{p}.output.LayerNorm"):
            shapes[f"{ln}.weight"], shapes[f"{ln}.bias"] = (HIDDEN,), (HIDDEN,)
    shapes["embeddings.LayerNorm.weight"], shapes["embeddings.LayerNorm.bias"] = (HIDDEN,), (HIDDEN,)
    w = {k: (rng.standard_normal(s) * 0.05).astype(np.float32) for k, s in shapes.items()}
    for k in w:
        if "LayerNorm.weight" in k:
            w[k] += 1.0
    ids = [1, 7, 42, 3, 2]
    session = ort.InferenceSession(bert_graph(w).SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input_ids": np.array([ids], dtype=np.int64)})[0][0]
    assert np.allclose(got, _reference_bert(w, ids), atol=1e-3)


class _Encoder:
    """Stand-in: a passage's sentence means the words of AXES it has; a question means ``question_means``."""

    AXES = ("cloakroom", "staff", "aid")

    def __init__(self, question_means: str) -> None:
        self.question_means = question_means

    def embed(self, text: str) -> np.ndarray:
        said = self.question_means if text.endswith("?") else text.lower()
        v = np.array([float(word in said) for word in self.AXES], dtype=np.float32)
        return v / (np.linalg.norm(v) or 1.0)

    def embed_all(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.embed(t) for t in texts])


def test_a_passage_found_by_words_but_far_in_meaning_does_not_answer(tmp_path: Path) -> None:
    f = tmp_path / "m.md"
    f.write_text(MUSEUM, encoding="utf-8")
    question = "Can staff in blue jackets call first aid in the cloakroom?"
    hit, _ = KnowledgeBase([f]).answer(question)
    assert hit is not None and hit.passage.heading == "First aid"  # by its words
    hit, why = KnowledgeBase([f], encoder=_Encoder("cloakroom")).answer(question)  # type: ignore[arg-type]
    assert hit is None and "nearer in meaning" in why
    hit, _ = KnowledgeBase([f], encoder=_Encoder("staff aid")).answer(question)  # type: ignore[arg-type]
    assert hit is not None and hit.passage.heading == "First aid"  # near in meaning too: still answered


def test_without_the_model_the_answers_match_words_only(tmp_path: Path) -> None:
    assert load_encoder(tmp_path) is None


def _real_encoder():  # type: ignore[no-untyped-def]
    from edge_agent.config import Settings

    encoder = load_encoder(Path(Settings().paths.models_dir))
    if encoder is None:
        pytest.skip(f"the model {MODEL} is not pulled: `edge-agent models pull {MODEL}` (tests of the real model)")
    return encoder


def test_the_real_model_puts_paraphrases_near() -> None:
    encoder = _real_encoder()
    a, b, c = (encoder.embed(t) for t in ("turn the volume down", "please speak more quietly", "what day is it"))
    assert abs(float(a @ a) - 1.0) < 1e-4
    assert float(a @ b) > float(a @ c) + 0.2


def test_the_nearest_fallback_is_checked_like_the_learned_matcher() -> None:
    from edge_agent.answers import AnswerRouter
    from edge_agent.config import Settings

    _real_encoder()
    router = AnswerRouter(Settings(answers={"demo_tool": True}))
    if router.neighbours is None:
        pytest.skip("the model intent-refs-minilm is not pulled: `edge-agent models pull intent-refs-minilm`")
    found = router.match("Is my countdown done?")
    assert found is not None and found.name == "HassTimerStatus" and "nearest" in found.by
    assert router.match("What time does the ferry leave?") is None
    assert isinstance(router.learned, IntentClassifier)


class _Neighbours:
    def __init__(self, label: str, sim: float) -> None:
        self.label, self.sim = label, sim

    def nearest(self, text: str) -> tuple[str, float]:
        return self.label, self.sim


def test_the_nearest_sentence_never_decides_on_or_off_against_the_words() -> None:
    from edge_agent.answers import AnswerRouter
    from edge_agent.config import Settings

    router = AnswerRouter(Settings(answers={"demo_tool": True}))
    text = "Please have the lobby lights switched on."
    router.neighbours = _Neighbours("turn_off", 0.9)  # type: ignore[assignment]
    found = router._nearest_match(text)
    assert found is None  # meaning put it next to "switch the lights off"; its words say on
    router.neighbours = _Neighbours("turn_on", 0.9)  # type: ignore[assignment]
    found = router._nearest_match(text)
    assert found is not None and found.name == "HassTurnOn" and found.slots.get("area") == "lobby"
    router.neighbours = _Neighbours("turn_on", 0.5)  # type: ignore[assignment]
    assert router._nearest_match(text) is None  # not near enough
