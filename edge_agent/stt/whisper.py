"""Whisper tiny.en through faster-whisper / CTranslate2, cut down for short voice commands.

Why this does not just call ``WhisperModel.transcribe``: that pads every utterance to 30 s of
mel frames (3000), so one call costs the same ~0.25-0.8 s whatever the length, and almost all of
it is the encoder. CTranslate2 4.x accepts fewer frames (it only rejects more than 3000), so we
encode the utterance padded to ``max(min_frames, frames + tail)`` instead. Measured on the 2-core
dev machine with 12 Piper commands (``tools/stt_timings.py``):

- padded to exactly the utterance (no tail): 10x faster but the decoder repeats itself or drops
  words (WER 0.44): the model was trained on 30 s windows and expects silence after the speech;
- padded to >= 10 s (1000 frames) with >= 2 s of tail: nearly the same words as the full 30 s
  window at about a third of the CPU (int8, one thread, 2 s / 5 s utterances: 132 / 190 ms CPU
  against 429 / 513 ms for ``WhisperModel.transcribe``; float32: 216 / 366 against 581 / 744),
  but one word lost on one of 16 varied Piper commands (WER 0.044 against 0.033);
- 15 s (the default, ``stt.min_encoder_s``): WER 0.033 on those Piper commands and 0.132 on 16
  espeak-ng ones, against 0.033 and 0.198 for ``WhisperModel.transcribe``, at ~1.5x the 10 s cost;
- 5 s windows and tighter ones lose words (WER 0.22+).

A 0.1 s lead of silence is added too: Piper (and a tight VAD cut) start speech at sample 0 and
Whisper then drops the first word ("turn on the ..." -> "on the ...").

Decoding is greedy (beam 1), without timestamps, English, no VAD filter, with a token budget
proportional to the audio's length (a runaway repetition cannot run to 224 tokens), plus
:func:`trim_repetition` for the tail the model sometimes repeats.

:class:`SpeculativeTranscriber` starts decoding when silence begins and reuses the result if the
user said nothing more, so the end-of-turn wait hides the STT cost.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.errors import ModelError, SttError
from edge_agent.stt.base import SAMPLE_RATE, SpeechToText, UtteranceBuffer, as_float32, as_int16

log = logging.getLogger(__name__)

HOP = 160  # samples per mel frame at 16 kHz
MAX_FRAMES = 3000  # Whisper's 30 s window
LEAD_S = 0.1
NO_SPEECH_THRESHOLD = 0.6  # faster-whisper's default pair: both must hold ...
LOGPROB_THRESHOLD = -1.0
NO_SPEECH_ALONE = 0.8  # ... but pure silence decodes "you" at -0.33 with p(no speech) 0.99


class SharedWhisper:
    """One loaded CTranslate2 Whisper model and the lock that serialises calls into it."""

    def __init__(self, model: object) -> None:
        self.model: Any = model
        self.lock = threading.Lock()
        self._tokenizers: dict[str, tuple[Any, list[int]]] = {}

    def tokenizer(self, language: str) -> tuple[Any, list[int]]:
        """The transcribe tokenizer for ``language`` and the tokens decoding suppresses (faster-whisper's
        default set), made once per model and language for every user of the model."""
        found = self._tokenizers.get(language)
        if found is None:
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens

            tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                                  task="transcribe", language=language)
            found = self._tokenizers[language] = (tokenizer, list(get_suppressed_tokens(tokenizer, [-1]) or []))
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
    from faster_whisper import WhisperModel

    key = (str(Path(model_dir).expanduser().resolve()), compute_type, threads)
    with _shared_guard:  # held while loading: a second caller waits for the first load
        found = _shared.get(key)
        if found is not None:
            return found
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # its per-call INFO lines are noise
        made = SharedWhisper(WhisperModel(key[0], device="cpu", compute_type=compute_type,
                                          cpu_threads=threads, num_workers=2))
        _shared[key] = made
        return made


class WhisperStt:
    """``transcribe(audio_16k) -> str`` and ``stream()``; one CTranslate2 call per utterance.

    ``min_encoder_s`` is the shortest window the encoder sees (15 s measured as safe for tiny.en;
    30 reproduces stock faster-whisper). ``tail_s`` is the silence kept after the speech."""

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
        self.model = self.shared.model
        self.language = language if self.model.model.is_multilingual else "en"
        self.tokenizer, self.suppress_tokens = self.shared.tokenizer(self.language)
        self.prompt = self.model.get_prompt(self.tokenizer, [], without_timestamps=True)
        self.beam_size = beam_size
        self.min_frames = min(MAX_FRAMES, int(min_encoder_s * SAMPLE_RATE / HOP))
        self.tail_frames = int(tail_s * SAMPLE_RATE / HOP)
        self.max_utterance_samples = int(max_utterance_s * SAMPLE_RATE)
        self.max_length = self.model.max_length  # 448 for Whisper
        self._lock = self.shared.lock  # one decode at a time (shared with the wake check): one intra-op thread

    # --- the interface ----------------------------------------------------------------------------

    def stream(self) -> WhisperStream:
        return WhisperStream(self)

    def transcribe(self, audio: np.ndarray) -> str:
        audio = as_float32(audio)
        if audio.size == 0:
            return ""
        lead = int(LEAD_S * SAMPLE_RATE)
        if audio.size + lead > MAX_FRAMES * HOP:
            return self._transcribe_long(audio)
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
        feats: np.ndarray = self.model.feature_extractor(padded, padding=0)
        return np.ascontiguousarray(feats[:, :frames])

    def _decode(self, audio: np.ndarray) -> str:
        feats = self.features(audio)
        try:
            encoded = self.model.encode(feats)
            # ~3 tokens per second of speech is typical; 8/s + 16 leaves room and stops runaways
            budget = min(self.max_length - len(self.prompt), int(audio.size / SAMPLE_RATE * 8) + 16)
            result = self.model.model.generate(
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
            return ""  # silence or noise: no words rather than a hallucination
        text: str = self.tokenizer.decode(tokens).strip()
        return trim_repetition(text)

    def _transcribe_long(self, audio: np.ndarray) -> str:
        """Longer than one window: faster-whisper's own seeking over 30 s windows."""
        with self._lock:
            segments, _ = self.model.transcribe(
                audio, language=self.language, beam_size=self.beam_size, vad_filter=False,
                without_timestamps=True, condition_on_previous_text=False)
            return " ".join(s.text.strip() for s in segments).strip()


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
    """Buffers one utterance (preallocated, up to ``max_utterance_s``); decodes in ``final()``.

    ``speculate()`` starts the decode in the background; ``final()`` reuses it when nothing but
    silence came after (see :class:`SpeculativeTranscriber`)."""

    def __init__(self, stt: WhisperStt) -> None:
        self._stt = stt
        self._buf = UtteranceBuffer(stt.max_utterance_samples)
        self._spec = SpeculativeTranscriber(stt)
        self._speech_end = 0

    def feed(self, frame: np.ndarray | bytes) -> None:
        if isinstance(frame, (bytes, bytearray, memoryview)):
            frame = np.frombuffer(frame, dtype=np.int16)
        self._buf.feed(as_int16(frame))

    def speculate(self) -> None:
        self._spec.start(self._buf.audio())

    def partial(self) -> str:
        return self._spec.peek() or ""

    def final(self) -> str:
        try:
            return self._spec.result_for(self._buf.audio())
        finally:
            self._spec.close()


class SpeculativeTranscriber:
    """Decode as soon as silence begins; reuse the result if the user said nothing more.

    ``start(audio)`` copies the audio and decodes it on a worker thread (CTranslate2 releases the
    GIL). ``result_for(audio)`` returns that result when ``audio`` is the speculated audio plus
    nothing but silence (peak below ``silence_peak``), or when ``speech_end`` (samples) says the
    speech ended inside the speculated part; otherwise it decodes ``audio`` again (the user went on)
    and the speculative result is thrown away. A later ``start`` replaces an earlier speculation.

    ``hits`` / ``misses`` count what happened, for benchmarks."""

    def __init__(self, stt: SpeechToText, executor: ThreadPoolExecutor | None = None,
                 silence_peak: int = 600) -> None:
        self._stt = stt
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="stt-spec")
        self._silence_peak = silence_peak
        self._audio: np.ndarray | None = None
        self._future: Future[str] | None = None
        self.hits = 0
        self.misses = 0

    def start(self, audio: np.ndarray) -> None:
        if audio.size == 0:
            return
        if self._future is not None and self._audio is not None and self._same(audio):
            return  # nothing new since the last speculation
        self._audio = np.array(audio, copy=True)
        self._future = self._executor.submit(self._stt.transcribe, self._audio)

    def peek(self) -> str | None:
        """The speculative text if it is ready, else None (never blocks)."""
        if self._future is not None and self._future.done() and self._future.exception() is None:
            return self._future.result()
        return None

    def result_for(self, audio: np.ndarray, speech_end: int | None = None) -> str:
        if self._future is not None and self._audio is not None and self._reusable(audio, speech_end):
            self.hits += 1
            return self._future.result()
        if self._future is not None:
            self.misses += 1
        self._future = None
        self._audio = None
        return self._stt.transcribe(np.array(audio, copy=True))

    def cancel(self) -> None:
        """Forget the speculation (the result of a decode in flight is ignored)."""
        self._future = None
        self._audio = None

    def close(self) -> None:
        self.cancel()
        if self._own_executor:
            self._executor.shutdown(wait=False)

    def _same(self, audio: np.ndarray) -> bool:
        assert self._audio is not None
        return audio.size == self._audio.size and np.array_equal(audio[-HOP:], self._audio[-HOP:])

    def _reusable(self, audio: np.ndarray, speech_end: int | None) -> bool:
        assert self._audio is not None
        n = self._audio.size
        if audio.size < n or not np.array_equal(audio[max(0, n - HOP) : n], self._audio[max(0, n - HOP) :]):
            return False  # a different utterance, or the buffer was cut
        if speech_end is not None:
            return speech_end <= n
        extra = audio[n:]
        if extra.size == 0:
            return True
        peak = float(np.max(np.abs(as_float32(extra)))) * 32768.0
        return peak < self._silence_peak
