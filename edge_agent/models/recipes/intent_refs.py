"""The intents' reference sentences in meaning space: what the nearest-neighbour fallback of the answers
compares a request with (:class:`edge_agent.answers.meaning.IntentNeighbours`).

About 2,400 sentences: up to 200 a class drawn from the same sentence templates the learned matcher is
trained on (:mod:`edge_agent.answers.intent_training`, Home Assistant's intents we do not answer as
``none``) and the tuning split's questions (its intents with their class, the rest ``none``); never a
held-out split. Each is embedded with ``minilm-l6-int8`` here, on the device, so nothing derived from
the model is in the repository: ``intent_refs.npz`` (``vectors`` float16 [n, 384], ``labels``). About
15 s on one x86 core, a minute or two on a Pi. Bump the manifest's ``build`` when the templates, the
tuning split or the drawing change."""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

SOURCE_MODEL = "minilm-l6-int8"
OUTPUT_FILE = "intent_refs.npz"
PER_CLASS = 200


def _tuning_questions() -> dict[str, list[dict[str, Any]]]:
    """``bench answers``' tuning split, read from its data file (a runtime recipe does not import the
    benchmark kit)."""
    from edge_agent.compat import tomllib

    data = tomllib.loads((resources.files("edge_agent") / "data" / "answers_tuning.toml").read_text(encoding="utf-8"))
    return {group: list(data.get(group, [])) for group in ("intents", "knowledge", "chitchat", "out_of_scope")}


def reference_sentences() -> list[tuple[str, str]]:
    from edge_agent.answers.intent_training import CLASS_OF, NONE, all_templates, template_sentences

    drawn = list(template_sentences(all_templates("en"), random.Random(0)))
    random.Random(1).shuffle(drawn)
    per: dict[str, list[str]] = {}
    for label, text in drawn:
        if len(per.setdefault(label, [])) < PER_CLASS:
            per[label].append(text)
    tuning = [(CLASS_OF.get(q["intent"], NONE) if group == "intents" else NONE, q["text"])
              for group, questions in _tuning_questions().items() for q in questions]
    return [(label, text) for label, texts in sorted(per.items()) for text in texts] + tuning


def build(inputs: dict[str, Path], out_dir: Path) -> None:
    """The model manager's ``derive`` hook: ``inputs[SOURCE_MODEL]`` is the encoder's directory."""
    from edge_agent.answers.meaning import Encoder

    encoder = Encoder(Path(inputs[SOURCE_MODEL]))
    refs = reference_sentences()
    vectors = encoder.embed_all([text for _, text in refs]).astype(np.float16)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(out_dir) / OUTPUT_FILE, "wb") as f:
        np.savez(f, vectors=vectors, labels=np.array([label for label, _ in refs]))
