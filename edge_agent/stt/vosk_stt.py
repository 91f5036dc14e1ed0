"""Vosk (Kaldi) streaming speech-to-text with partial results.

The English model (``vosk-small-en-us``) is fetched by URL on a device with internet; the code
path is tested here with the Korean model from PyPI (``vosk-ko``). Vosk wants 16-bit PCM bytes;
``AcceptWaveform`` returns True when Kaldi's endpointer closed a segment, whose text we keep."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.errors import ModelError
from edge_agent.stt.base import as_int16

FEED_CHUNK = 3200  # 0.2 s: how much `transcribe` feeds per call


class VoskStt:
    name = "vosk"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_dir: str | Path) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        model_dir = Path(model_dir)
        if not (model_dir / "am").is_dir() and not (model_dir / "final.mdl").is_file():
            raise ModelError(f"{model_dir} is not a Vosk model directory (no am/); fix: edge-agent models pull "
                             "vosk-small-en-us (needs internet) or set stt.model to a Vosk model directory")
        try:
            self.model = vosk.Model(str(model_dir))
        except Exception as exc:  # vosk raises a bare Exception when Kaldi cannot load the model
            raise ModelError(f"Vosk model {model_dir} cannot be loaded: {exc}") from None
        self._vosk = vosk

    def stream(self) -> VoskStream:
        return VoskStream(self._vosk.KaldiRecognizer(self.model, float(SAMPLE_RATE)))

    def transcribe(self, audio: np.ndarray) -> str:
        stream = self.stream()
        pcm = as_int16(audio)
        for i in range(0, pcm.size, FEED_CHUNK):
            stream.feed(pcm[i : i + FEED_CHUNK])
        return stream.final()


class VoskStream:
    """One utterance. ``partial()`` is the finished segments plus Kaldi's current partial."""

    def __init__(self, recognizer: object) -> None:
        self._rec = recognizer
        self._done: list[str] = []
        self._lock = threading.Lock()  # partial() may be asked from another thread than feed()

    def feed(self, frame: np.ndarray | bytes) -> None:
        data = frame if isinstance(frame, (bytes, bytearray, memoryview)) else as_int16(frame).tobytes()
        with self._lock:
            if self._rec.AcceptWaveform(bytes(data)):  # type: ignore[attr-defined]
                self._keep(self._rec.Result())  # type: ignore[attr-defined]

    def speculate(self) -> None:
        """Vosk decodes as it goes: nothing to start early."""

    def partial(self) -> str:
        with self._lock:
            current = json.loads(self._rec.PartialResult()).get("partial", "")  # type: ignore[attr-defined]
        return " ".join([*self._done, current]).strip()

    def final(self) -> str:
        with self._lock:
            self._keep(self._rec.FinalResult())  # type: ignore[attr-defined]
        return " ".join(self._done).strip()

    def _keep(self, result_json: str) -> None:
        text = json.loads(result_json).get("text", "").strip()
        if text:
            self._done.append(text)
