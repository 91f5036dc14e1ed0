"""Train the learned intent matcher and write edge_agent/answers/intent_model.json.

    .venv/bin/python tools/train_intent_model.py [--epochs 40] [--l2 1e-5] [--seed 0]

Sentences drawn from the templates (edge_agent.answers.intent_training), plus the tuning split of
`edge-agent bench answers` (its intents with their class, its other questions as ``none``, three times
each). Never a held-out split. Deterministic for a seed; a minute or two on one core. Run it again when
the templates, home-assistant-intents or the tuning split change, and commit the JSON (about 50 kB)."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge_agent.answers.intent_features import reversal_cues, tokens  # noqa: E402
from edge_agent.answers.intent_model import encode  # noqa: E402
from edge_agent.answers.intent_training import (  # noqa: E402
    AREAS,
    CLASS_OF,
    NAMES,
    NONE,
    WILDCARD,
    all_templates,
    fit,
    template_sentences,
)
from edge_agent.bench.answers import load_questions  # noqa: E402

TUNING_REPEATS = 3


def tuning_examples() -> list[tuple[str, str]]:
    out = []
    for group, questions in load_questions("tuning").items():
        for q in questions:
            label = CLASS_OF.get(q["intent"], NONE) if group == "intents" else NONE
            out.append((label, q["text"]))
    return out * TUNING_REPEATS


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--l2", type=float, default=1e-5)
    p.add_argument("--output", type=Path, default=ROOT / "edge_agent" / "answers" / "intent_model.json")
    args = p.parse_args()
    examples = list(template_sentences(all_templates("en"), random.Random(args.seed))) + tuning_examples()
    classes = sorted({label for label, _ in examples})
    weights, bias = fit(examples, classes, epochs=args.epochs, l2=args.l2, seed=args.seed)
    vocab: dict[str, set[str]] = {}
    for label, text in examples:
        vocab.setdefault(label, set()).update(w for w in tokens(text) if w != "NUM")
    names = {w for phrase in AREAS + NAMES + WILDCARD for w in tokens(phrase)}
    cue_words = set().union(*(v for c, v in vocab.items() if c != NONE)) - names
    cues: dict[str, set[str]] = {}
    for label, text in examples:
        cues.setdefault(label, set()).update(reversal_cues(text, frozenset(cue_words)))
    data = encode(weights, bias, classes, vocab, cues, cue_words)
    args.output.write_text(json.dumps(data) + "\n", encoding="utf-8")
    print(f"{len(examples)} sentences, {len(classes)} classes -> {args.output} "
          f"({args.output.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
