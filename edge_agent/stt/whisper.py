"""Whisper tiny.en through faster-whisper / CTranslate2, cut down for short voice commands.

Why this does not just call ``WhisperModel.transcribe``: that pads every utterance to 30 s of
mel frames (3000), so one call costs the same whatever the length, and almost all of it is the
encoder. CTranslate2 accepts fewer frames (it only rejects more than 3000), so the utterance is
encoded padded to ``max(min_frames, frames + tail)`` instead:

- the model was trained on 30 s windows and expects silence after the speech: padded to exactly
  the utterance, the decoder repeats itself or drops words, so a tail of silence is always kept;
- 15 s (the default, ``stt.min_encoder_s``) is as accurate as the full 30 s window on the
  generated commands (``tools/stt_timings.py`` measures both) at a fraction of the CPU; shorter
  windows start to lose words.

A 0.1 s lead of silence is added too: Piper (and a tight VAD cut) start speech at sample 0 and
Whisper then drops the first word ("turn on the ..." -> "on the ...").

Decoding is greedy (beam 1), without timestamps, English, no VAD filter, with a token budget
proportional to the audio's length (a runaway repetition cannot run to 224 tokens), plus
:func:`trim_repetition` for the tail the model sometimes repeats. The calls below
``transcribe`` go through :mod:`edge_agent.stt.whisper_backend`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.errors import ModelError, SttError
from edge_agent.stt.base import Transcription, UtteranceBuffer, as_float32, as_int16
from edge_agent.stt.whisper_backend import shared_whisper

log = logging.getLogger(__name__)

HOP = 160  # samples per mel frame at 16 kHz
MAX_FRAMES = 3000  # Whisper's 30 s window
LEAD_S = 0.1
NO_SPEECH_THRESHOLD = 0.6  # faster-whisper's default pair: both must hold ...
LOGPROB_THRESHOLD = -1.0
NO_SPEECH_ALONE = 0.8  # ... but pure silence decodes "you" at -0.33 with p(no speech) 0.99


class WhisperStt:
    """``transcribe(audio_16k) -> str`` and ``stream()``; one CTranslate2 call per utterance.

    ``min_encoder_s`` is the shortest window the encoder sees (30 reproduces stock faster-whisper);
    ``tail_s`` is the silence kept after the speech."""

    name = "whisper"
    sample_rate = SAMPLE_RATE

    def __init__(self, model_dir: str | Path, compute_type: str = "int8", threads: int = 1,
                 beam_size: int = 1, language: str = "en", min_encoder_s: float = 15.0,
                 tail_s: float = 2.0, max_utterance_s: float = 30.0) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise ModelError(f"Whisper model directory {model_dir} has no model.bin "
                             "(fix: edge-agent models pull whisper-tiny-en, or set stt.model to a CTranslate2 Whisper directory)")
        try:
            self.shared = shared_whisper(model_dir, compute_type, threads)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(f"Whisper model {model_dir} cannot be loaded: {exc}") from None
        self.backend = self.shared.backend
        self.language = language if self.backend.is_multilingual else "en"
        self.tokenizer, self.suppress_tokens = self.shared.tokenizer(self.language)
        self.prompt = self.backend.prompt(self.tokenizer, [])
        self.beam_size = beam_size
        self.min_frames = min(MAX_FRAMES, int(min_encoder_s * SAMPLE_RATE / HOP))
        self.tail_frames = int(tail_s * SAMPLE_RATE / HOP)
        self.max_utterance_samples = int(max_utterance_s * SAMPLE_RATE)
        self.max_length = self.backend.max_length
        self._lock = self.shared.lock  # one decode at a time (shared with the wake check): one intra-op thread

    # --- the interface ----------------------------------------------------------------------------

    def stream(self) -> WhisperStream:
        return WhisperStream(self)

    def transcribe(self, audio: np.ndarray) -> str:
        return self.transcribe_scored(audio).text

    def transcribe_scored(self, audio: np.ndarray) -> Transcription:
        """The transcript with the decoder's average token log-probability and no-speech probability
        (longer than one window: faster-whisper's own seeking, without them)."""
        audio = as_float32(audio)
        if audio.size == 0:
            return Transcription("")
        lead = int(LEAD_S * SAMPLE_RATE)
        if audio.size + lead > MAX_FRAMES * HOP:
            return Transcription(self._transcribe_long(audio))
        with self._lock:
            return self._decode(audio)

    # --- internals --------------------------------------------------------------------------------

    def features(self, audio: np.ndarray) -> np.ndarray:
        """Log-mel frames of lead silence + audio + tail silence, at least ``min_frames`` long."""
        lead = int(LEAD_S * SAMPLE_RATE)
        frames = min(MAX_FRAMES, max(self.min_frames, (lead + audio.size) // HOP + self.tail_frames))
        padded = np.zeros(frames * HOP, dtype=np.float32)
        n = min(audio.size, padded.size - lead)
        padded[lead : lead + n] = audio[:n]
        feats = self.backend.mel(padded, padding=0)
        return np.ascontiguousarray(feats[:, :frames])

    def _decode(self, audio: np.ndarray) -> Transcription:
        feats = self.features(audio)
        try:
            encoded = self.backend.encode(feats)
            # ~3 tokens per second of speech is typical; 8/s + 16 leaves room and stops runaways
            budget = min(self.max_length - len(self.prompt), int(audio.size / SAMPLE_RATE * 8) + 16)
            result = self.backend.generate(
                encoded, [self.prompt], beam_size=self.beam_size, max_length=len(self.prompt) + budget,
                return_scores=True, return_no_speech_prob=True, suppress_blank=True,
                suppress_tokens=self.suppress_tokens,
            )[0]
        except (RuntimeError, ValueError) as exc:
            raise SttError(f"Whisper decoding failed: {exc}") from None
        tokens = result.sequences_ids[0]
        # scores are length-normalised log-probs; faster-whisper's avg adds one for the end token
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1) if result.scores else 0.0
        no_speech = result.no_speech_prob
        if no_speech > NO_SPEECH_ALONE or (no_speech > NO_SPEECH_THRESHOLD and avg_logprob < LOGPROB_THRESHOLD):
            return Transcription("", avg_logprob, no_speech)  # silence or noise: no words, not a hallucination
        text: str = self.tokenizer.decode(tokens).strip()
        return Transcription(trim_repetition(text), float(avg_logprob), float(no_speech))

    def _transcribe_long(self, audio: np.ndarray) -> str:
        """Longer than one window: faster-whisper's own seeking over 30 s windows."""
        with self._lock:
            texts = self.backend.segment_texts(
                audio, language=self.language, beam_size=self.beam_size, vad_filter=False,
                without_timestamps=True, condition_on_previous_text=False)
            return " ".join(t.strip() for t in texts).strip()


_SENTENCE_END = re.compile(r"(?<=[.!?,])\s+")


def trim_repetition(text: str) -> str:
    """Drop a trailing fragment that repeats the start of the text ("Turn off the fan. Turn off").

    Whisper given a short window sometimes starts the utterance over once the speech ends; a real
    speaker rarely repeats the first words of their own sentence as an unfinished tail."""
    parts = _SENTENCE_END.split(text)
    if len(parts) < 2:
        return text
    words = [re.sub(r"[^\w']", "", w.lower()) for w in text.split()]
    while len(parts) >= 2:
        tail = [re.sub(r"[^\w']", "", w.lower()) for w in parts[-1].split()]
        head_text = " ".join(parts[:-1])
        unfinished = not parts[-1].rstrip().endswith((".", "!", "?"))
        if unfinished and tail and tail == words[: len(tail)] and len(tail) <= len(words) - len(tail):
            text = head_text
            words = words[: len(words) - len(tail)]
            parts = parts[:-1]
        else:
            break
    return text


class WhisperStream:
    """Buffers one utterance (preallocated, up to ``max_utterance_s``); decodes it in ``final()``.

    Whisper has no partial results (``partial()`` is ""), and ``speculate()`` does nothing: the
    conversation starts its own transcription when silence begins and throws it away if the user
    goes on (:mod:`edge_agent.conversation`)."""

    def __init__(self, stt: WhisperStt) -> None:
        self._stt = stt
        self._buf = UtteranceBuffer(stt.max_utterance_samples)

    def feed(self, frame: np.ndarray | bytes) -> None:
        if isinstance(frame, (bytes, bytearray, memoryview)):
            frame = np.frombuffer(frame, dtype=np.int16)
        self._buf.feed(as_int16(frame))

    def speculate(self) -> None:
        """A hint the protocol allows an engine to ignore."""

    def partial(self) -> str:
        return ""

    def final(self) -> str:
        return self._stt.transcribe(np.array(self._buf.audio(), copy=True))
