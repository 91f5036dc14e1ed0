"""What a sentence means, as a vector: all-MiniLM-L6-v2 (int8 ONNX, the model ``minilm-l6-int8``).

The templates and the knowledge files have their own words; a visitor has others ("lower your voice",
"nappy", "pensioners"). A sentence-embedding model puts sentences that mean the same near each other,
whatever their words. This one is 6 layers, 384 wide, 23 MB in int8: about 4 ms a sentence on one core
here, its session about 30 MB. It runs on one thread (the audio front end has the others).

:func:`load_encoder` returns None when the model is not pulled or cannot be loaded: the answers then
stay lexical, as before, and say so once in the log."""

from __future__ import annotations

import json
import logging
import unicodedata
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODEL = "minilm-l6-int8"
ONNX_FILE = "minilm-l6-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
MAX_TOKENS = 128


class WordPiece:
    """BERT's uncased tokenizer (lower case, accents stripped, punctuation split off, greedy longest
    word pieces), read from the model's ``tokenizer.json``: the same ids as the ``tokenizers`` package
    gives, for a tenth of its memory."""

    def __init__(self, path: Path) -> None:
        model = json.loads(path.read_text(encoding="utf-8"))["model"]
        self.vocab: dict[str, int] = model["vocab"]
        self.unk = self.vocab[model.get("unk_token", "[UNK]")]
        self.cls, self.sep = self.vocab["[CLS]"], self.vocab["[SEP]"]

    def words(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(" " if c.isspace() else c for c in text
                       if unicodedata.category(c) != "Mn" and (c.isprintable() or c.isspace()))
        out: list[str] = []
        for chunk in text.split():
            word = ""
            for c in chunk:
                if unicodedata.category(c).startswith("P") or (c.isascii() and not c.isalnum()):
                    if word:
                        out.append(word)
                    out.append(c)
                    word = ""
                else:
                    word += c
            if word:
                out.append(word)
        return out

    def encode(self, text: str) -> list[int]:
        ids = [self.cls]
        for word in self.words(text):
            if len(word) > 100:
                ids.append(self.unk)
                continue
            pieces, start = [], 0
            while start < len(word):
                end = len(word)
                while end > start:
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        pieces.append(self.vocab[piece])
                        break
                    end -= 1
                if end == start:
                    pieces = [self.unk]
                    break
                start = end
            ids.extend(pieces)
        return [*ids, self.sep]


class Encoder:
    """Unit vectors of sentences: the mean of the last layer over the tokens, normalised."""

    def __init__(self, model_dir: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = False  # a sentence's few kB of activations need no arena
        options.add_session_config_entry("session.disable_prepacking", "1")  # 10 MB less, as fast here
        self.session = ort.InferenceSession(str(model_dir / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        self.tokenizer = WordPiece(model_dir / TOKENIZER_FILE)

    def embed(self, text: str) -> np.ndarray:
        ids = self.tokenizer.encode(text)
        if len(ids) > MAX_TOKENS:
            ids = [*ids[:MAX_TOKENS - 1], ids[-1]]
        hidden = self.session.run(None, {"input_ids": np.asarray([ids], dtype=np.int64)})[0][0]
        vector = hidden.mean(axis=0)
        return (vector / (np.linalg.norm(vector) or 1.0)).astype(np.float32)

    def embed_all(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self.embed(t) for t in texts])


def load_encoder(models_dir: Path) -> Encoder | None:
    """The encoder from ``models_dir``/minilm-l6-int8, or None (not pulled, or it does not load)."""
    model_dir = Path(models_dir) / MODEL
    if not (model_dir / ONNX_FILE).is_file() or not (model_dir / TOKENIZER_FILE).is_file():
        log.info("no %s in %s (`edge-agent models pull %s`): intents and knowledge match words only",
                 MODEL, models_dir, MODEL)
        return None
    try:
        return Encoder(model_dir)
    except Exception as exc:
        log.warning("%s could not be loaded (%s): intents and knowledge match words only", MODEL, exc)
        return None


REFS_MODEL = "intent-refs-minilm"
REFS_FILE = "intent_refs.npz"
NEAREST_MIN = 0.65
"""The cosine similarity to the nearest reference sentence below which the fallback does not answer.
Chosen on the validation splits (``heldout``-``heldout9``; the references hold the tuning split): at
0.65 it took 13 of the 18 intents that neither matcher took and no other question; at 0.6 also "When is
the next holiday?" (the date) and "What time does the sun set today?" (the time)."""


class IntentNeighbours:
    """The class of the reference sentence nearest in meaning (:mod:`edge_agent.models.recipes.intent_refs`)."""

    def __init__(self, path: Path, encoder: Encoder) -> None:
        with np.load(path) as data:
            self.vectors = data["vectors"].astype(np.float32)  # 3.7 MB (float16 products take 10 ms in numpy)
            self.labels = [str(label) for label in data["labels"]]
        self.encoder = encoder

    def nearest(self, text: str) -> tuple[str, float]:
        sims = self.vectors @ self.encoder.embed(text)
        k = int(sims.argmax())
        return self.labels[k], float(sims[k])


def load_neighbours(models_dir: Path, encoder: Encoder | None) -> IntentNeighbours | None:
    path = Path(models_dir) / REFS_MODEL / REFS_FILE
    if encoder is None or not path.is_file():
        return None
    try:
        return IntentNeighbours(path, encoder)
    except Exception as exc:
        log.warning("%s could not be loaded (%s): no nearest-neighbour fallback for the intents", REFS_MODEL, exc)
        return None
