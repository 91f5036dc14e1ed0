"""Second stage: confirm each first-stage detection on the buffered wake audio.

The first stage runs at a lower threshold (it then misses fewer unusual voices but also fires on
similar-sounding phrases); every candidate is checked once, after a short delay so the whole
phrase is in the buffer, by one of:

- ``stt``: Whisper tiny.en (faster-whisper, int8, one thread) transcribes the last 2.5 s with the
  keyword as prompt; the text must contain one of the keyword's spellings (``okay nabu``, ``ok
  naboo``, ...) and, for a keyword with a trained classifier (``okay_nabu``), the encoder's output
  over the keyword's words must score at least ``wake.classifier_threshold``
  (:mod:`edge_agent.listen.wake_classifier`); a check that passes is looked at on up to two other
  placements of the buffer (``wake.stt_views``, ``VIEW_SHIFTS_S``) and two looks must pass;
- ``engine``: the other local engine (openWakeWord for microWakeWord and back) is run over the
  same audio and must score the keyword above its own threshold.

Either costs nothing while idle: work happens only on a candidate (about one a minute of speech).
The detection is reported ``delay_s`` after the first stage fired. A rejected candidate whose
first-stage score went on rising after the fire (a slow speaker: the low threshold fired early in
the phrase) is checked once more ``delay_s`` after the score's peak (at most ``max_wait_s`` after
the fire): recall 0.938 -> 0.958 on the generated set (``bench/wake_eval.py``), the slow espeak
voice. A transcript that stops on the keyword's first word ("Okay.") is a "not yet": the phrase is
still being said, so it is checked once more ``UNFINISHED_WAIT_S`` later (with the first stage at
0.03 this found a Piper clip in 10 dB babble that fired on "okay").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edge_agent.errors import ModelError, WakeWordError
from edge_agent.listen import wake_classifier
from edge_agent.listen.wake import RATE, Detection, WakeWordDetector, WindowedDetector

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.models import ModelManager

BUFFER_S = 2.5
WHISPER_FRAMES = 3000  # the 30 s window Whisper was trained on (what transcribe() pads to)
DELAY_S = 0.3
MAX_WAIT_S = 1.0
UNFINISHED_WAIT_S = 0.75
"""After a "not yet" (the transcript ends on the keyword's first word), check again this much later:
a first stage at a low threshold can fire on "okay" while "Nabu" is still to come."""

# First-stage thresholds when a second stage confirms (chosen by measurement; see wake_eval).
FIRST_STAGE_THRESHOLD = {("micro", "stt"): 0.03, ("micro", "engine"): 0.5,
                         ("open", "stt"): 0.2, ("open", "engine"): 0.2}
SECOND_ENGINE_THRESHOLD = {"open": 0.2, "micro": 0.5}


def default_first_stage_threshold(engine: str, verify: str) -> float:
    return FIRST_STAGE_THRESHOLD.get((engine, verify), 0.5)


class Verifier(Protocol):
    def confirm(self, keyword: str, audio: np.ndarray) -> bool | None:
        """True: the keyword was said; False: it was not; None: not yet (the audio stops partway
        through the phrase), so ask again a little later."""

    def close(self) -> None: ...


class VerifiedDetector(WakeWordDetector):
    """A first stage whose detections are reported only once the verifier confirms them."""

    def __init__(self, first: WindowedDetector, verifier: Verifier, buffer_s: float = BUFFER_S,
                 delay_s: float = DELAY_S, max_wait_s: float = MAX_WAIT_S,
                 unfinished_wait_s: float = UNFINISHED_WAIT_S) -> None:
        self.first = first
        self.verifier = verifier
        self._unfinished_wait = int(unfinished_wait_s * RATE)
        self._ring = np.zeros(int(buffer_s * RATE), np.int16)
        self._delay = int(delay_s * RATE)
        self._max_wait = max(self._delay, int(max_wait_s * RATE))
        self._reset_state()

    def _reset_state(self) -> None:
        self._ring[:] = 0
        self._pos = 0
        self._pending: Detection | None = None
        self._index = 0
        self._peak = 0.0
        self._peak_at = 0
        self._since_fire = 0
        self._checks = 0
        self._recheck_at = 0
        self._waited = False
        self.candidates = 0
        self.confirmed = 0

    @property
    def frame_samples(self) -> int:
        return self.first.frame_samples

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.first.keywords

    def _write(self, frame: np.ndarray) -> None:
        n = len(self._ring)
        if len(frame) >= n:
            self._ring[:] = frame[-n:]
            self._pos = 0
            return
        end = self._pos + len(frame)
        if end <= n:
            self._ring[self._pos : end] = frame
        else:
            cut = n - self._pos
            self._ring[self._pos :] = frame[:cut]
            self._ring[: end - n] = frame[cut:]
        self._pos = end % n

    def buffered(self) -> np.ndarray:
        """The last ``buffer_s`` of audio, oldest first (a copy; only made for a candidate)."""
        return np.concatenate((self._ring[self._pos :], self._ring[: self._pos]))

    def process(self, frame: np.ndarray) -> Detection | None:
        self._write(frame)
        det = self.first.process(frame)
        if self._pending is None:
            if det is None:
                return None
            self.candidates += 1
            self._pending = det
            self._index = self.first.keywords.index(det.keyword)
            self._peak = det.score
            self._peak_at = 0
            self._since_fire = 0
            self._checks = 0
            self._recheck_at = 0
            self._waited = False
            return None
        self._since_fire += len(frame)
        score = float(self.first.last_scores[self._index])
        if score > self._peak:
            self._peak, self._peak_at = score, self._since_fire
        if self._checks == 0:
            # First check ``delay`` after the first stage fired (as soon as the phrase can be over).
            if self._since_fire < self._delay:
                return None
        elif self._recheck_at:
            if self._since_fire < self._recheck_at:
                return None  # after "not yet": a fixed wait
        elif self._since_fire - self._peak_at < self._delay and self._since_fire < self._max_wait:
            return None  # the second check: ``delay`` after the score's peak (or at ``max_wait``)
        self._checks += 1
        self._recheck_at = 0
        confirmed = self.verifier.confirm(self._pending.keyword, self.buffered())
        if confirmed is None and not self._waited:
            self._waited = True
            self._recheck_at = self._since_fire + self._unfinished_wait
            return None
        if confirmed:
            pending, self._pending = self._pending, None
            self.confirmed += 1
            # The first stage fires early at its low threshold; its peak over the phrase says more.
            return Detection(pending.keyword, self._peak)
        if self._checks == 1 and self._peak_at > 0 and not self._waited:
            # A low threshold fires early in the phrase; a slow speaker may not have finished it
            # ``delay`` later. The score still rose after the fire: check once more after its peak.
            return None
        self._pending = None
        return None

    def reset(self) -> None:
        self.first.reset()
        self._reset_state()

    def close(self) -> None:
        self.first.close()
        self.verifier.close()


# --- STT ------------------------------------------------------------------------------------------

# faster-whisper's defaults for attaching punctuation to the word next to it
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"

SPELLINGS: dict[str, tuple[str, ...]] = {
    # Whisper writes what it hears; with the keyword as its prompt it spells the real phrase like
    # this (collected on the generated wake set). The first spelling is also the prompt.
    "okay_nabu": ("Okay Nabu", "okay naboo"),
    "hey_jarvis": ("Hey Jarvis", "hey jervis"),
    "alexa": ("Alexa", "alexia"),
    "hey_mycroft": ("Hey Mycroft", "hey my croft"),
}


def prompt_for(keyword: str) -> str:
    return SPELLINGS.get(keyword, (keyword.replace("_", " ").title(),))[0] + "."


def normalize(text: str) -> str:
    text = text.lower().replace("o.k.", "okay").replace("-", " ")
    text = re.sub(r"[^a-z ]+", " ", text)
    words = ["okay" if w in ("ok", "okey", "okeh", "okie") else w for w in text.split()]
    return " ".join(words)


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _spellings(keyword: str) -> tuple[str, ...]:
    return SPELLINGS.get(keyword, (keyword.replace("_", " "),))


def keyword_span(keyword: str, words: Sequence[str], max_edits: int = 1) -> tuple[int, int, int] | None:
    """``(first, end, edits)``: the run of ``words`` closest to one of ``keyword``'s spellings (spaces
    ignored), if within ``max_edits`` letters (none for spellings under 6 letters)."""
    norm = [normalize(w).replace(" ", "") for w in words]
    best: tuple[int, int, int] | None = None
    for s in _spellings(keyword):
        target = normalize(s).replace(" ", "")
        allowed = max_edits if len(target) >= 6 else 0
        n = len(normalize(s).split())
        for k in range(max(1, n - 1), n + 2):
            for i in range(max(1, len(norm) - k + 1)):
                d = _distance("".join(norm[i : i + k]), target)
                if d <= allowed and (best is None or d < best[2]):
                    best = (i, min(i + k, len(norm)), d)
    return best


def matches(keyword: str, text: str, max_edits: int = 1) -> bool:
    """True if ``text`` contains one of ``keyword``'s spellings (within ``max_edits`` letters,
    spaces ignored). Unknown (custom) keywords match their own name, underscores as spaces."""
    return keyword_span(keyword, normalize(text).split(), max_edits) is not None


def ends_on_first_word(keyword: str, text: str) -> bool:
    """True if ``text`` stops on the first word of a several-word spelling ("Okay." for okay_nabu)."""
    words = normalize(text).split()
    return bool(words) and any(
        len(normalize(s).split()) > 1 and normalize(s).split()[0] == words[-1] for s in _spellings(keyword))


@dataclass(frozen=True)
class KeywordHeard:
    text: str
    """The prompted transcript."""
    features: np.ndarray
    """:func:`~edge_agent.listen.wake_classifier.span_features` over the keyword's aligned words (narrowed
    to where they are louder than the room)."""


VIEW_SHIFTS_S = (0.3, -0.25)
"""With ``views`` 2 or 3, the buffer placed 0.3 s later is looked at alongside the first look (on the
other core) and, with 3, if the first passes and that one fails, the buffer with its first 0.25 s cut
after them; two looks must pass. Whisper tiny.en's
transcript of a short clip flips with where the clip starts: on the bench, "okay now" (espeak, 20 dB
white noise) reads "Okay Nabu." once and "Okay, now." at every other placement, while real wake phrases
that pass keep passing (all 85 bench checks, 99.4% of 352 training checks; README, Wake word)."""


def shifted(audio: np.ndarray, shift_s: float) -> np.ndarray:
    """``audio`` placed ``shift_s`` later (its own first ``shift_s``, the room before the phrase,
    repeated in front) or, for a negative shift, with its first ``-shift_s`` cut."""
    n = int(abs(shift_s) * RATE)
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
    keyword's words must score at least ``threshold`` (:mod:`edge_agent.listen.wake_classifier`)."""

    def __init__(self, model_dir: str, threads: int = 1,
                 classifiers: dict[str, wake_classifier.LogisticModel] | None = None,
                 threshold: float = 0.5, views: int = 3) -> None:
        from edge_agent.stt.whisper import shared_whisper

        # The same loaded model as the STT engine's when both use tiny.en int8 (the default): one
        # copy in memory, calls serialised by its lock.
        try:
            self.shared: Any = shared_whisper(model_dir, "int8", threads)
        except (OSError, RuntimeError, ValueError) as exc:
            raise WakeWordError(f"wake.verify = stt: Whisper model {model_dir} cannot be loaded: {exc}") from None
        self.model: Any = self.shared.model
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
        segments, _ = self.model.transcribe(
            audio.astype(np.float32) / 32768.0, language="en", beam_size=1, temperature=0.0,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
            initial_prompt=prompt)
        return " ".join(s.text for s in segments).strip()

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
        from faster_whisper.transcribe import merge_punctuations

        samples = audio.astype(np.float32) / 32768.0
        model = self.model
        # as transcribe() does: the audio's frames (the extractor adds one of padding), zeros after
        mel = model.feature_extractor(samples)[:, :WHISPER_FRAMES]
        content = min(mel.shape[1] - 1, WHISPER_FRAMES)
        mel = np.pad(mel[:, :content], ((0, 0), (0, WHISPER_FRAMES - content)))
        encoded = model.encode(mel)
        result = model.model.generate(
            encoded, [self._prompt_tokens(keyword)], beam_size=1, max_length=model.max_length,
            suppress_blank=True, suppress_tokens=self._suppress)[0]
        tokens = [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]
        text = self._tokenizer.decode(tokens).strip()
        if not matches(keyword, text):
            return text, None
        alignment = model.find_alignment(self._tokenizer, [tokens], encoded, content)[0]
        merge_punctuations(alignment, PREPEND_PUNCTUATION, APPEND_PUNCTUATION)
        words = [w for w in alignment if w["word"]]
        span = keyword_span(keyword, [w["word"] for w in words])
        if span is None:
            return text, None
        first, end, _ = span
        start_s, end_s = wake_classifier.speech_within(
            wake_classifier.frame_levels(samples), float(words[first]["start"]), float(words[end - 1]["end"]))
        features = wake_classifier.span_features(np.asarray(encoded)[0], start_s, end_s)
        return text, KeywordHeard(text, features)

    def _prompt_tokens(self, keyword: str) -> list[int]:
        found = self._prompts.get(keyword)
        if found is None:
            # as transcribe(initial_prompt=...) builds it: previous text, then the start of transcript
            previous = self._tokenizer.encode(" " + prompt_for(keyword))
            found = self._prompts[keyword] = self.model.get_prompt(self._tokenizer, previous, without_timestamps=True)
        return found

    def _look(self, keyword: str, audio: np.ndarray) -> Look:
        """One look: the keyword's spelling in the prompted transcript and, where the keyword has a
        classifier, its score over the keyword's words at least ``threshold``."""
        # Without a prompt tiny.en writes an unknown name as ordinary words ("okay, now boo"), just
        # as it would for a confusable; the keyword as prompt lets it spell the name when it is there.
        classifier = self.classifiers.get(keyword)
        if classifier is None:
            text = self._transcribe(audio, prompt_for(keyword))
            return Look(text, None, matches(keyword, text))
        text, found = self._keyword_features(keyword, audio)
        score = classifier.score(found.features) if found is not None else None
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
        self.model = None
        self.shared = None


# --- the other engine -----------------------------------------------------------------------------


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


def load_classifiers(keywords: Sequence[str], models: ModelManager) -> dict[str, wake_classifier.LogisticModel]:
    """The trained keyword classifiers the manifest has for ``keywords`` (others: the STT check alone)."""
    from edge_agent.listen.wake_training import GENERATOR_VERSION, model_name

    out = {}
    for keyword in keywords:
        name = model_name(keyword)
        if name in models.manifest.models:
            model, meta = wake_classifier.load(models.require(name, f"{keyword}.npz"))
            if meta.get("generator") != GENERATOR_VERSION:
                # trained on another check's features (an older edge-agent): its scores would mean nothing
                raise ModelError(f"model {name!r} was trained for an older wake check (version "
                                 f"{meta.get('generator')}, this one needs {GENERATOR_VERSION}). "
                                 f"Fix: edge-agent models pull --force {name}")
            out[keyword] = model
    return out


def build_verifier(kind: str, engine: str, settings: Settings, models: ModelManager) -> Verifier:
    if kind == "stt":
        path = models.require("whisper-tiny-en", "model.bin").parent
        wake = settings.wake
        classifiers = load_classifiers(wake.keywords, models) if wake.classifier_threshold > 0 else {}
        return SttVerifier(str(path), classifiers=classifiers, threshold=wake.classifier_threshold,
                           views=wake.stt_views)
    if kind == "engine":
        from edge_agent.listen.wake import build_first_stage

        other = "open" if engine == "micro" else "micro"
        second = build_first_stage(other, settings, models, threshold=SECOND_ENGINE_THRESHOLD[other])
        second.refractory_samples = 0
        return EngineVerifier(second)
    raise WakeWordError(f"wake.verify: unknown second stage {kind!r}; available: none, stt, engine")
