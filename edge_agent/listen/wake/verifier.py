"""The verifiers a first-stage candidate is checked by (:class:`~edge_agent.listen.wake.verified.Verifier`).

- :class:`SttVerifier`: Whisper tiny.en (faster-whisper, int8, one thread) transcribes the buffered
  audio with the keyword as prompt; the text must contain one of the keyword's spellings
  (:mod:`edge_agent.listen.wake.spelling`) and, for a keyword with a trained classifier
  (``okay_nabu``), the encoder's output over the keyword's words must score at least
  ``wake.classifier_threshold`` (:mod:`edge_agent.listen.wake.classifier`); a check that passes is
  looked at on up to two other placements of the buffer (``wake.stt_views``, ``VIEW_SHIFTS_S``) and
  two looks must pass;
- :class:`EngineVerifier`: the other local engine (openWakeWord for microWakeWord and back) is run
  over the same audio and must score the keyword above its own threshold.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.errors import WakeWordError
from edge_agent.listen.wake.base import WindowedDetector
from edge_agent.listen.wake.classifier import LogisticModel, frame_levels, span_features, speech_within
from edge_agent.listen.wake.spelling import ends_on_first_word, keyword_span, matches, prompt_for
from edge_agent.stt.whisper_backend import shared_whisper

WHISPER_FRAMES = 3000  # the 30 s window Whisper was trained on (what transcribe() pads to)


@dataclass(frozen=True)
class KeywordHeard:
    text: str
    """The prompted transcript."""
    features: np.ndarray
    """:func:`~edge_agent.listen.wake.classifier.span_features` over the keyword's aligned words (narrowed
    to where they are louder than the room)."""


VIEW_SHIFTS_S = (0.3, -0.25)
"""With ``views`` 2 or 3, the buffer placed 0.3 s later is looked at alongside the first look (on the
other core) and, with 3, if the first passes and that one fails, the buffer with its first 0.25 s cut
after them; two looks must pass. Whisper tiny.en's transcript of a short clip can flip with where the
clip starts (a near miss read as the keyword at one placement only), while a real wake phrase that
passes keeps passing when the clip moves."""


def shifted(audio: np.ndarray, shift_s: float) -> np.ndarray:
    """``audio`` placed ``shift_s`` later (its own first ``shift_s``, the room before the phrase,
    repeated in front) or, for a negative shift, with its first ``-shift_s`` cut."""
    n = int(abs(shift_s) * SAMPLE_RATE)
    return np.concatenate((audio[:n], audio)) if shift_s > 0 else audio[n:]


@dataclass(frozen=True)
class Look:
    """What one placement of the buffer gave."""

    text: str
    score: float | None
    """The keyword classifier's score (None: no classifier, or the keyword's spelling not found)."""
    passed: bool


class SttVerifier:
    """Whisper tiny.en on the candidate's audio, the keyword as prompt: the keyword's spelling must be
    in the text and, where the keyword has a trained classifier, what the encoder heard over the
    keyword's words must score at least ``threshold`` (:mod:`edge_agent.listen.wake.classifier`)."""

    def __init__(self, model_dir: str, threads: int = 1,
                 classifiers: dict[str, LogisticModel] | None = None,
                 threshold: float = 0.5, views: int = 3) -> None:
        # The same loaded model as the STT engine's when both use tiny.en int8 (the default): one
        # copy in memory, calls serialised by its lock.
        try:
            self.shared: Any = shared_whisper(model_dir, "int8", threads)
        except (OSError, RuntimeError, ValueError) as exc:
            raise WakeWordError(f"wake.verify = stt: Whisper model {model_dir} cannot be loaded: {exc}") from None
        self.backend: Any = self.shared.backend
        self._tokenizer, self._suppress = self.shared.tokenizer("en")
        self._prompts: dict[str, list[int]] = {}
        self.classifiers = classifiers or {}
        self.threshold = threshold
        self.last_text = ""
        self.last_score: float | None = None
        self.views = views
        self._other_core = ThreadPoolExecutor(1, thread_name_prefix="wake-look") if views > 1 else None
        self.last_views: tuple[bool, ...] = ()
        """The last candidate's looks, in order (up to ``views``)."""

    def transcribe(self, audio: np.ndarray, prompt: str | None = None) -> str:
        with self.shared.lock:
            return self._transcribe(audio, prompt)

    def _transcribe(self, audio: np.ndarray, prompt: str | None) -> str:
        texts = self.backend.segment_texts(
            audio.astype(np.float32) / 32768.0, language="en", beam_size=1, temperature=0.0,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
            initial_prompt=prompt)
        return " ".join(texts).strip()

    def keyword_features(self, keyword: str, audio: np.ndarray) -> KeywordHeard | None:
        """:meth:`_keyword_features` under the lock; the transcript goes to ``last_text``."""
        with self.shared.lock:
            self.last_text, found = self._keyword_features(keyword, audio)
        return found

    def _keyword_features(self, keyword: str, audio: np.ndarray) -> tuple[str, KeywordHeard | None]:
        """The prompted transcript and, if the keyword's spelling is in it, the encoder's features over
        the keyword's words (None when the spelling is not there). Caller holds the lock (or owns the
        look); nothing on ``self`` changes, so two looks can run at once.

        One encoder pass serves the decode, the word alignment and the features (faster-whisper's
        ``transcribe`` would encode again, and the encoder is most of a check's cost)."""
        samples = audio.astype(np.float32) / 32768.0
        backend = self.backend
        # as transcribe() does: the audio's frames (the extractor adds one of padding), zeros after
        mel = backend.mel(samples)[:, :WHISPER_FRAMES]
        content = min(mel.shape[1] - 1, WHISPER_FRAMES)
        mel = np.pad(mel[:, :content], ((0, 0), (0, WHISPER_FRAMES - content)))
        encoded = backend.encode(mel)
        result = backend.generate(
            encoded, [self._prompt_tokens(keyword)], beam_size=1, max_length=backend.max_length,
            suppress_blank=True, suppress_tokens=self._suppress)[0]
        tokens = [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]
        text = self._tokenizer.decode(tokens).strip()
        if not matches(keyword, text):
            return text, None
        words = backend.words(self._tokenizer, tokens, encoded, content)
        span = keyword_span(keyword, [w["word"] for w in words])
        if span is None:
            return text, None
        first, end, _ = span
        start_s, end_s = speech_within(
            frame_levels(samples), float(words[first]["start"]), float(words[end - 1]["end"]))
        features = span_features(np.asarray(encoded)[0], start_s, end_s)
        return text, KeywordHeard(text, features)

    def _prompt_tokens(self, keyword: str) -> list[int]:
        found = self._prompts.get(keyword)
        if found is None:
            # as transcribe(initial_prompt=...) builds it: previous text, then the start of transcript
            previous = self._tokenizer.encode(" " + prompt_for(keyword))
            found = self._prompts[keyword] = self.backend.prompt(self._tokenizer, previous)
        return found

    def _look(self, keyword: str, audio: np.ndarray) -> Look:
        """One look: the keyword's spelling in the prompted transcript and, where the keyword has a
        classifier, its score over the keyword's words at least ``threshold``."""
        # Without a prompt tiny.en writes an unknown name as ordinary words ("okay, now boo"), just
        # as it would for a confusable; the keyword as prompt lets it spell the name when it is there.
        model = self.classifiers.get(keyword)
        if model is None:
            text = self._transcribe(audio, prompt_for(keyword))
            return Look(text, None, matches(keyword, text))
        text, found = self._keyword_features(keyword, audio)
        score = model.score(found.features) if found is not None else None
        return Look(text, score, score is not None and score >= self.threshold)

    def _looks(self, keyword: str, audio: np.ndarray) -> list[Look]:
        """The first look and, with ``views`` 2 or 3, the others it needs (caller holds the lock)."""
        if self._other_core is None:
            return [self._look(keyword, audio)]
        # A real wake needs the second placement too, and one look after the other would hold the
        # listener back by a whole check: it runs on another core (its own model replica) meanwhile.
        second = self._other_core.submit(self._look, keyword, shifted(audio, VIEW_SHIFTS_S[0]))
        first = self._look(keyword, audio)
        looks = [first, second.result()]
        if not first.passed:
            return [first]
        if not looks[1].passed and self.views >= 3:
            looks.append(self._look(keyword, shifted(audio, VIEW_SHIFTS_S[1])))
        return looks

    def confirm(self, keyword: str, audio: np.ndarray) -> bool | None:
        with self.shared.lock:
            looks = self._looks(keyword, audio)
        self.last_text, self.last_score = looks[0].text, looks[0].score
        self.last_views = tuple(look.passed for look in looks)
        if not looks[0].passed:
            return None if ends_on_first_word(keyword, looks[0].text) else False
        # Two placements must agree: a passing look is only the first of them.
        return self.views == 1 or sum(self.last_views) >= 2

    def close(self) -> None:
        if self._other_core is not None:
            self._other_core.shutdown(wait=True)
            self._other_core = None
        self.backend = None
        self.shared = None


class EngineVerifier:
    """Runs a second :class:`WindowedDetector` from scratch over the buffered audio."""

    def __init__(self, second: WindowedDetector) -> None:
        self.second = second
        self.last_score = 0.0

    def confirm(self, keyword: str, audio: np.ndarray) -> bool:
        self.second.reset()
        self.second.process(audio)
        if keyword not in self.second.keywords:
            return True  # the other engine has no such keyword: nothing to check against
        k = self.second.keywords.index(keyword)
        self.last_score = float(self.second.peak_scores[k])
        return self.last_score >= float(self.second.thresholds[k])

    def close(self) -> None:
        self.second.close()
