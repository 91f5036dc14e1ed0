"""faster-whisper behind one adapter: every use of its non-public API is in this module.

:class:`~edge_agent.stt.whisper.WhisperStt` and the wake word's STT check
(:mod:`edge_agent.listen.wake.verifier`) work below ``WhisperModel.transcribe``: they pad the mel
frames themselves, run the encoder once and hand its output to the CTranslate2 decoder and to the
word alignment. That uses faster-whisper internals: ``WhisperModel.model`` (the CTranslate2
``Whisper``: ``generate``, ``is_multilingual``), ``feature_extractor``, ``encode``, ``get_prompt``,
``find_alignment``, ``hf_tokenizer``, ``max_length``, ``faster_whisper.tokenizer.Tokenizer`` and
``faster_whisper.transcribe.get_suppressed_tokens`` / ``merge_punctuations``. ``pyproject.toml``
bounds faster-whisper to the versions this was written for; ``tests/test_contract_faster_whisper.py``
checks every name used here and fails naming this module when one changes.

One loaded model per process (:func:`shared_whisper`) serves both users, with a lock that
serialises calls into it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

# faster-whisper's defaults for attaching punctuation to the word next to it
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


class WhisperBackend:
    """One loaded ``faster_whisper.WhisperModel``, seen through the calls this project makes."""

    def __init__(self, model_dir: str, compute_type: str = "int8", threads: int = 1, workers: int = 2) -> None:
        from faster_whisper import WhisperModel

        self._model: Any = WhisperModel(model_dir, device="cpu", compute_type=compute_type,
                                        cpu_threads=threads, num_workers=workers)

    @property
    def is_multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    @property
    def max_length(self) -> int:
        """The decoder's longest sequence in tokens (448 for Whisper)."""
        return int(self._model.max_length)

    def tokenizer(self, language: str) -> tuple[Any, list[int]]:
        """A transcribe tokenizer for ``language`` and the tokens decoding suppresses (faster-whisper's
        default set)."""
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        tokenizer = Tokenizer(self._model.hf_tokenizer, self._model.model.is_multilingual,
                              task="transcribe", language=language)
        return tokenizer, list(get_suppressed_tokens(tokenizer, [-1]) or [])

    def prompt(self, tokenizer: Any, previous: list[int]) -> list[int]:
        """The decoder prompt without timestamps: ``previous`` text tokens, then the start of transcript."""
        prompt: list[int] = self._model.get_prompt(tokenizer, previous, without_timestamps=True)
        return prompt

    def mel(self, samples: np.ndarray, padding: int | None = None) -> np.ndarray:
        """Log-mel frames of float32 ``samples`` (``padding`` samples of zeros added; None: the
        extractor's default, one frame's worth)."""
        if padding is None:
            out: np.ndarray = self._model.feature_extractor(samples)
        else:
            out = self._model.feature_extractor(samples, padding=padding)
        return out

    def encode(self, mel: np.ndarray) -> Any:
        """The encoder's output for ``mel`` (a CTranslate2 ``StorageView``, batch of one)."""
        return self._model.encode(mel)

    def generate(self, encoded: Any, prompts: list[list[int]], **options: Any) -> Any:
        """CTranslate2's ``Whisper.generate`` on encoder output: the list of results, one per prompt."""
        return self._model.model.generate(encoded, prompts, **options)

    def words(self, tokenizer: Any, tokens: list[int], encoded: Any, frames: int) -> list[dict[str, Any]]:
        """Word timings of ``tokens`` (faster-whisper's cross-attention alignment over ``frames`` mel
        frames), punctuation merged into the neighbouring word; words left empty by the merge dropped."""
        from faster_whisper.transcribe import merge_punctuations

        alignment: list[dict[str, Any]] = self._model.find_alignment(tokenizer, [tokens], encoded, frames)[0]
        merge_punctuations(alignment, PREPEND_PUNCTUATION, APPEND_PUNCTUATION)
        return [w for w in alignment if w["word"]]

    def segment_texts(self, audio: np.ndarray | str, **options: Any) -> list[str]:
        """``WhisperModel.transcribe`` (public API: its own 30 s windows and seeking): each segment's text."""
        segments, _ = self._model.transcribe(audio, **options)
        return [s.text for s in segments]


class SharedWhisper:
    """One loaded Whisper model, the lock that serialises calls into it, and its tokenizers."""

    def __init__(self, backend: WhisperBackend) -> None:
        self.backend = backend
        self.lock = threading.Lock()
        self._tokenizers: dict[str, tuple[Any, list[int]]] = {}

    def tokenizer(self, language: str) -> tuple[Any, list[int]]:
        """:meth:`WhisperBackend.tokenizer`, made once per model and language for every user of the model."""
        found = self._tokenizers.get(language)
        if found is None:
            found = self._tokenizers[language] = self.backend.tokenizer(language)
        return found


_shared: weakref.WeakValueDictionary[tuple[str, str, int], SharedWhisper] = weakref.WeakValueDictionary()
_shared_guard = threading.Lock()


def shared_whisper(model_dir: str | Path, compute_type: str = "int8", threads: int = 1) -> SharedWhisper:
    """The process's one copy of this Whisper model (loaded on first use).

    The STT engine and the wake word's STT check both use tiny.en; two copies cost ~90 MB more
    resident (plus ~100 MB transient while the second loads). Calls go through ``lock``: wake checks
    and turn decodes rarely overlap, and one decode at a time keeps to one intra-op thread. Two
    workers (CTranslate2 replicas sharing the weights) let the wake check, holding the lock, look at
    two placements of its buffer at once. The model is freed once no user holds it (a reload with
    other settings does not keep the old one)."""
    key = (str(Path(model_dir).expanduser().resolve()), compute_type, threads)
    with _shared_guard:  # held while loading: a second caller waits for the first load
        found = _shared.get(key)
        if found is not None:
            return found
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # its per-call INFO lines are noise
        made = SharedWhisper(WhisperBackend(key[0], compute_type, threads))
        _shared[key] = made
        return made
