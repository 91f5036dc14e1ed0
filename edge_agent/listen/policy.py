"""The end-of-turn decision as a clock-free state machine.

It is driven only by what it is given: ``process(frame_s, speech_prob, level_db)`` once per VAD frame
(the audio time advances by ``frame_s``; ``level_db``, the frame's loudness, is optional), and a
``turn_probability()`` callable it invokes when it wants the turn model's opinion (the listener runs
Smart Turn on the ring buffer's look-back; tests pass a script). No clock, no audio, no model: tests
drive it with synthetic sequences.

Rules (times are audio time):
  - a frame is speech when P >= threshold, silence when P < threshold - HYSTERESIS, else it keeps
    the current state (Silero's own recommendation for its output);
  - during a turn, a frame is silence, whatever the VAD says short of being sure (P >= SURE_SPEECH),
    when the loudness envelope (the loudest frame of the last ``quiet_window_frames``) is
    ``quiet_drop_db`` or more below the user's (the envelope's mean over the turn's confident speech
    frames). Silero scores babble and a TV 0.5-1.0, so after the user stops in such noise
    ``speech_end`` came 0.35-1.1 s late on the generated set; the babble sits 15+ dB below the
    user's loudest syllables (nearer the mic) though only 7-10 dB below the mean of all their frames,
    hence the envelope. It also keeps the noise from "resuming" the turn;
  - ``speech_start`` once speech lasted ``speech_start_ms`` (audio_t = where that speech began);
  - ``speech_end`` at the first silent frame after speech (audio_t = end of the last speech frame):
    the moment a speculative transcription may start; speech that comes back (again
    ``speech_start_ms`` long) emits ``speech_start`` again and the speculation is stale;
  - after ``first_check_ms`` of silence the turn model is asked, then every ``recheck_ms``; the turn ends
    (reason ``model``) when ``confirm_votes`` consecutive answers are >= the threshold in force
    (``early_threshold`` before ``early_ms`` of silence, ``threshold`` after);
  - ``max_silence_ms`` of silence ends the turn whatever the model said (``max_silence``);
  - a turn longer than ``max_turn_s`` is cut (``max_length``);
  - listening with no speech for ``listen_timeout_s`` ends with ``timeout`` (nobody spoke);
  - while playback is active the speech threshold is ``playback_threshold``, and speech lasting
    ``barge_in_ms`` emits ``barge_in`` (once per stretch of speech), even when not listening; the
    barge-in speech becomes the start of a new turn.

Semantic signal: ``set_semantic_hint(p, speech_end_t, confidence)`` or a ``semantic`` callable
(returning a :class:`~edge_agent.listen.hint.Hint` or a bare probability) gives the probability
that the partial transcript is a complete utterance, and how far the transcript can be trusted.
When one is present the decision uses ``(1 - semantic_weight) * P_model + semantic_weight * P_text``,
where ``P_text`` is the hint pulled towards 0.5 as far as the transcript is doubtful
(:func:`~edge_agent.listen.hint.effective_hint`). With ``semantic_wait_ms`` > 0 (set it when a hint
source is wired, e.g. speculative STT at ``speech_end``), the model alone cannot end the turn
before that much silence while no hint has arrived. Two rules bound what the hint can do:
  - when the blend says complete but Smart Turn alone is below ``disagree_below`` (the words look
    finished, the voice does not: a pause inside "dim the light ... to 30%", or a misheard
    transcript), the turn does not end before ``disagree_wait_ms`` of silence;
  - when the hint is below ``quick_hint`` (the words may well go on: "Set the oven" before "to 180
    degrees"), the turn does not end before ``lead_on_wait_ms`` of silence, which outlasts most
    short pauses inside a command;
  - when Smart Turn alone is at or above ``sure_threshold`` after ``sure_after_ms`` of silence,
    the turn ends whatever the text says (reason ``model_sure``): a transcript that looks
    unfinished cannot hold the turn to the maximum silence;
  - once the hint for this silence has arrived (the words cannot change unless the user speaks
    again), ``settled_after_ms`` of silence ends the turn whatever either model says (reason
    ``settled``): ``max_silence_ms`` stays for silence with no transcript to judge.

With ``completeness`` (a :class:`~edge_agent.listen.completeness.TrainedCompleteness`), a check that
has a hint asks it instead of the blend and the rules that bound it (disagreement, lead-on wait);
the bounded wait, the settled silence and the maximum silence stay.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge_agent.compat import StrEnum
from edge_agent.config import TurnConfig, VadConfig
from edge_agent.events import BargeIn, Event, SpeechEnd, SpeechStart, TurnEnd
from edge_agent.listen.hint import Hint, effective_hint

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.listen.completeness import TrainedCompleteness

HYSTERESIS = 0.15
CONFIDENT_SPEECH = 0.9
"""Frames at or above this set the user's level (the loudness envelope's mean over them)."""
SURE_SPEECH = 0.95
"""Frames the VAD is this sure of stay speech however quiet (a user who drops their voice)."""
MIN_LEVEL_FRAMES = 8
"""Confident frames needed before the user's level is trusted (~250 ms of speech)."""
_VAD, _TURN = VadConfig(), TurnConfig()
VAD_FRAME_S = 512 / 16000
"""Silero's frame at 16 kHz: the listener's hop."""


def _vad_frames_in(ms: float) -> int:
    return max(1, round(ms / (1000.0 * VAD_FRAME_S)))


@dataclass(frozen=True)
class PolicyConfig:
    """Defaults are the config file's (``vad``/``turn`` sections), except the turn model's decision
    (``turn_threshold`` .. ``recheck_ms``, ``semantic_wait_ms``), which defaults to the audio-only
    setting (no semantic hint) that ``TurnConfig`` documents, and the rules that bound the hint
    (``disagree_*``, ``sure_*``, ``quick_hint``/``lead_on_wait_ms``), off; the daemon uses
    :meth:`from_settings`."""

    threshold: float = _VAD.threshold
    speech_start_ms: float = _VAD.speech_start_ms
    playback_threshold: float = _VAD.playback_threshold
    barge_in_ms: float = _VAD.barge_in_ms
    turn_threshold: float = 0.7
    early_threshold: float = 0.7
    early_ms: float = _TURN.early_ms
    confirm_votes: int = 2
    first_check_ms: float = _TURN.first_check_ms
    recheck_ms: float = 128.0
    max_silence_ms: float = _TURN.max_silence_ms
    max_turn_s: float = _TURN.max_turn_s
    listen_timeout_s: float = _TURN.listen_timeout_s
    semantic_weight: float = _TURN.semantic_weight
    semantic_wait_ms: float = 0.0
    disagree_below: float = 0.0
    """Smart Turn below this while the blend says complete: the models disagree (0: never)."""
    disagree_wait_ms: float = 0.0
    """Silence needed before a turn the models disagree on may end."""
    sure_threshold: float = 1.0
    """Smart Turn at or above this ends the turn whatever the text says (1.0: never) ..."""
    sure_after_ms: float = math.inf
    """... once there has been this much silence."""
    quick_hint: float = 0.0
    """A text hint (as weighed) below this cannot end the turn before ``lead_on_wait_ms`` of silence."""
    lead_on_wait_ms: float = 0.0
    """Silence before a turn whose text is not sure it ended may end (0: no such wait)."""
    doubt_both_ways: bool = True
    """A doubtful hint is pulled towards 0.5 either way (False: only one that says finished)."""
    settled_after_ms: float = math.inf
    """Silence that ends the turn once this silence's hint has arrived (inf: never; reason ``settled``)."""
    completeness: TrainedCompleteness | None = None
    """A trained decision that replaces the blend at checks with a hint (None: the blend)."""
    use_turn_model: bool = _TURN.enabled
    quiet_drop_db: float = _VAD.quiet_drop_db
    quiet_window_frames: int = _vad_frames_in(_VAD.quiet_window_ms)
    quiet_end_ms: float = 0.0
    """Speech with no frame within ``user_within_db`` of the user's loudest for this long is not the
    user: the speech ended at the last such frame (a voice in the room, e.g. a television, that the
    VAD is sure of; 0: off). The user's own speech never went 0.6 s without one on the tuning and
    validation splits."""
    user_within_db: float = 14.0
    """How near the user's level (dB) a frame must come to count as the user's (``quiet_end_ms``)."""
    quiet_end_tail_ms: float = 320.0
    """Such a speech end is put this long after the last frame near the user's level (a quiet last
    syllable can follow it: the transcript is cut at the speech end)."""
    resume_hold_ms: float = 352.0
    """After such an end, VAD speech resumes the turn only once a frame of it comes within
    ``user_within_db`` of the user; a run of it holds the turn model's checks back this long at most."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyConfig:
        v, t = settings.vad, settings.turn
        return cls(
            threshold=v.threshold, speech_start_ms=v.speech_start_ms, playback_threshold=v.playback_threshold,
            barge_in_ms=v.barge_in_ms, turn_threshold=t.threshold,
            early_threshold=t.early_threshold, early_ms=t.early_ms,
            confirm_votes=t.confirm_votes, first_check_ms=t.first_check_ms,
            recheck_ms=t.recheck_ms, max_silence_ms=t.max_silence_ms, max_turn_s=t.max_turn_s,
            listen_timeout_s=t.listen_timeout_s, use_turn_model=t.enabled, semantic_weight=t.semantic_weight,
            semantic_wait_ms=t.semantic_wait_ms, quiet_drop_db=v.quiet_drop_db,
            disagree_below=t.disagree_below, disagree_wait_ms=t.disagree_wait_ms,
            sure_threshold=t.sure_threshold, sure_after_ms=t.sure_after_ms,
            quick_hint=t.quick_hint, lead_on_wait_ms=t.lead_on_wait_ms,
            doubt_both_ways=t.hint_confidence != "finished",
            quiet_window_frames=_vad_frames_in(v.quiet_window_ms),
            quiet_end_ms=v.quiet_end_ms, user_within_db=v.user_within_db,
            settled_after_ms=t.settled_after_ms if t.settled_after_ms > 0 else math.inf,
            completeness=_trained(t.decision),
        )


def _trained(decision: str) -> TrainedCompleteness | None:
    if decision != "trained":
        return None
    from edge_agent.listen.completeness import shipped

    return shipped()


def level_db(frame: np.ndarray, scratch: np.ndarray | None = None) -> float:
    """Mean power of the int16 ``frame`` in dB (re one LSB). ``scratch``: a float32 buffer at least as
    long, reused so the listener allocates no array per frame."""
    n = len(frame)
    if n == 0:
        return 0.0
    buf = scratch[:n] if scratch is not None and len(scratch) >= n else np.empty(n, np.float32)
    np.copyto(buf, frame, casting="unsafe")
    return 10.0 * math.log10(float(np.dot(buf, buf)) / n + 1.0)


class Phase(StrEnum):
    IDLE = "idle"
    """Not listening (only barge-in is watched, while playback is active)."""
    WAITING = "waiting"
    """Listening, no speech yet."""
    SPEECH = "speech"
    SILENCE = "silence"
    """Silence after speech: the turn may be over."""


TurnProbability = Callable[[], float]
NO_EVENTS: tuple[Event, ...] = ()


class TurnPolicy:
    def __init__(self, config: PolicyConfig | None = None, turn_probability: TurnProbability | None = None,
                 semantic: Callable[[], Hint | float | None] | None = None) -> None:
        self.cfg = config or PolicyConfig()
        self.turn_probability = turn_probability
        self.semantic = semantic
        self.t = 0.0
        self.phase = Phase.IDLE
        self.playback = False
        self.turn_checks = 0
        """How many times the turn model was asked (all turns)."""
        self._semantic_hint: Hint | None = None
        self._timeout_s = self.cfg.listen_timeout_s
        self._clear_turn()
        self._barge_run = 0.0
        self._barged = False

    # --- control (the listener calls these on its own thread) ------------------------------------

    def start(self, t: float | None = None, timeout_s: float | None = None) -> None:
        """Begin listening for a turn at audio time ``t`` (default: now); ``timeout_s`` overrides
        ``listen_timeout_s`` for this once (e.g. the follow-up window)."""
        if t is not None:
            self.t = t
        self._clear_turn()
        self.phase = Phase.WAITING
        self._listen_start_t = self.t
        self._timeout_s = self.cfg.listen_timeout_s if timeout_s is None else timeout_s

    def stop(self) -> None:
        self._clear_turn()
        self.phase = Phase.IDLE

    def set_playback_active(self, active: bool) -> None:
        self.playback = active
        self._barge_run, self._barged = 0.0, False

    def set_semantic_hint(self, p: float | Hint | None, speech_end_t: float | None = None,
                          confidence: float = 1.0) -> None:
        """Probability that the partial transcript is a complete utterance (None: no opinion), or a
        whole :class:`~edge_agent.listen.hint.Hint` (its own confidence and scores).

        ``speech_end_t``: the ``audio_t`` of the ``speech_end`` the transcript ended at; a hint that
        arrives after the user went on (another speech_end, or speech again) is then ignored.
        ``confidence``: how far the transcript can be trusted (:mod:`edge_agent.listen.hint`)."""
        if speech_end_t is not None and (self.phase is not Phase.SILENCE or self.last_speech_t is None
                                         or abs(self.last_speech_t - speech_end_t) > 1e-6):
            return
        self._semantic_hint = p if p is None or isinstance(p, Hint) else Hint(p, confidence)

    @property
    def listening(self) -> bool:
        return self.phase is not Phase.IDLE

    # --- the state machine ---------------------------------------------------------------------

    def _clear_turn(self) -> None:
        self._run_start: float | None = None  # where the current run of speech frames began
        self._run = 0.0
        self.speech_start_t: float | None = None
        self.last_speech_t: float | None = None
        self._next_check_ms = 0.0
        self._votes = 0
        self.last_probability: float | None = None
        self._listen_start_t = self.t
        self._semantic_hint = None
        self._envelope: deque[float] = deque(maxlen=max(1, self.cfg.quiet_window_frames))
        self._user_sum = 0.0
        self._user_n = 0
        self._user_peak = -math.inf
        """The loudest envelope of the turn's confident speech (a voice far below it does not lower it)."""
        self._last_loud_t = self.t
        """The end of the last frame within ``user_within_db`` of the user's level."""
        self._run_loud = False
        """The current run of speech had such a frame."""
        self._frame_loud = True
        """This frame is one (True when the level rule is off or the user's level not known yet)."""
        self._gated = False
        """The speech ended by ``quiet_end_ms`` this turn: resuming needs a frame near the user's level."""

    def process(self, frame_s: float, speech_prob: float, level_db: float | None = None) -> tuple[Event, ...]:
        """One VAD frame of ``frame_s`` seconds ending now, with its loudness in dB (any fixed
        reference; None: the VAD alone decides); returns the events it caused."""
        start, self.t = self.t, self.t + frame_s
        threshold = self.cfg.playback_threshold if self.playback else self.cfg.threshold
        if speech_prob >= threshold:
            speech: bool | None = True
        elif speech_prob < max(threshold - HYSTERESIS, 0.01):
            speech = False
        else:
            speech = None  # ambiguous: keep the current state
        if level_db is not None and self._far_below_user(speech_prob, level_db):
            speech = False  # speech-like noise well below the user's voice: not the user
        if level_db is not None and self.cfg.quiet_end_ms > 0:
            self._track_loud(level_db)

        events: tuple[Event, ...] = NO_EVENTS
        if self.playback:
            events = self._barge_in(frame_s, start, speech)
            if events:
                return events
        if self.phase is Phase.IDLE:
            return NO_EVENTS
        if self.phase is Phase.WAITING:
            return self._waiting(frame_s, start, speech)
        if self.phase is Phase.SPEECH:
            return self._speaking(frame_s, start, speech)
        return self._silence(frame_s, start, speech)

    def _far_below_user(self, speech_prob: float, level: float) -> bool:
        if self.cfg.quiet_drop_db <= 0 or self.playback or self.phase not in (Phase.SPEECH, Phase.SILENCE):
            return False
        self._envelope.append(level)
        envelope = max(self._envelope)
        if self.phase is Phase.SPEECH and speech_prob >= CONFIDENT_SPEECH:
            self._user_sum += envelope
            self._user_n += 1
            self._user_peak = max(self._user_peak, envelope)
        return (speech_prob < SURE_SPEECH and self._user_n >= MIN_LEVEL_FRAMES
                and envelope < self._user_sum / self._user_n - self.cfg.quiet_drop_db)

    def _track_loud(self, level: float) -> None:
        if self.phase not in (Phase.SPEECH, Phase.SILENCE):
            return
        loud = self._user_n < MIN_LEVEL_FRAMES or level >= self._user_peak - self.cfg.user_within_db
        if loud and self.phase is Phase.SPEECH:
            self._last_loud_t = self.t
        self._frame_loud = loud

    def _quiet_too_long(self) -> bool:
        """Speech that has not come near the user's level for ``quiet_end_ms``: not the user's."""
        return self.cfg.quiet_end_ms > 0 and self._user_n >= MIN_LEVEL_FRAMES \
            and (self.t - self._last_loud_t) * 1000.0 >= self.cfg.quiet_end_ms - 1e-6

    def _run_is_user(self) -> bool:
        """The run of speech in a silence may be the user going on (always, unless the turn's speech
        has been ended by ``quiet_end_ms``: then it must have come near the user's level)."""
        return not self._gated or self._run_loud

    def _count_run(self, frame_s: float, start: float, speech: bool | None) -> bool:
        """Track consecutive speech; True when it has lasted speech_start_ms."""
        if speech:
            if self._run_start is None:
                self._run_start, self._run, self._run_loud = start, 0.0, False
            self._run += frame_s
            self._run_loud = self._run_loud or self._frame_loud
        elif speech is False:
            self._run_start, self._run = None, 0.0
            self._run_loud = False
        return self._run_start is not None and self._run * 1000.0 >= self.cfg.speech_start_ms - 1e-6

    def _barge_in(self, frame_s: float, start: float, speech: bool | None) -> tuple[Event, ...]:
        if speech:
            self._barge_run += frame_s
        elif speech is False:
            self._barge_run, self._barged = 0.0, False
        if self._barged or self._barge_run * 1000.0 < self.cfg.barge_in_ms - 1e-6:
            return NO_EVENTS
        self._barged = True
        began = self.t - self._barge_run
        self._clear_turn()
        self.phase = Phase.SPEECH
        self.speech_start_t, self.last_speech_t = began, self.t
        return (BargeIn(audio_t=self.t), SpeechStart(audio_t=began))

    def _waiting(self, frame_s: float, start: float, speech: bool | None) -> tuple[Event, ...]:
        if self._count_run(frame_s, start, speech):
            self.phase = Phase.SPEECH
            self.speech_start_t = self._run_start
            self.last_speech_t = self.t
            return (SpeechStart(audio_t=self._run_start),)
        if self.t - self._listen_start_t >= self._timeout_s - 1e-9:
            self.phase = Phase.IDLE
            return (TurnEnd(audio_t=self.t, reason="timeout"),)
        return NO_EVENTS

    def _speaking(self, frame_s: float, start: float, speech: bool | None) -> tuple[Event, ...]:
        if speech is False or self._quiet_too_long():
            if speech is not False:  # a voice in the room, not the user: the user stopped at their last loud frame
                self._gated = True
                self.last_speech_t = min(self.t, max(self._last_loud_t, self.speech_start_t or 0.0)
                                         + self.cfg.quiet_end_tail_ms / 1000.0)
            self.phase = Phase.SILENCE
            self._run_start, self._run, self._run_loud = None, 0.0, False
            self._next_check_ms = self.cfg.first_check_ms
            self._votes = 0
            return (SpeechEnd(audio_t=self.last_speech_t),)
        self.last_speech_t = self.t
        return self._max_length() or NO_EVENTS

    def _silence(self, frame_s: float, start: float, speech: bool | None) -> tuple[Event, ...]:
        if self._count_run(frame_s, start, speech) and self._run_is_user():
            self.phase = Phase.SPEECH  # the user goes on: this turn continues
            self.last_speech_t = self.t
            # speech that has not come near the user's level yet gets resume_hold_ms to (a quiet onset)
            self._last_loud_t = self.t if self._run_loud else max(
                self._last_loud_t, self.t - (self.cfg.quiet_end_ms - self.cfg.resume_hold_ms) / 1000.0)
            self._semantic_hint = None  # it described the words before this pause
            return (SpeechStart(audio_t=self._run_start),)
        cut = self._max_length()
        if cut:
            return cut
        assert self.last_speech_t is not None
        silence_ms = (self.t - self.last_speech_t) * 1000.0
        if silence_ms >= self.cfg.max_silence_ms - 1e-6:
            return self._end("max_silence")
        holds = self._run_start is not None and (
            self._run_is_user() or self._run * 1000.0 < self.cfg.resume_hold_ms - 1e-6)
        if (self.cfg.use_turn_model and self.turn_probability is not None and not holds
                and silence_ms >= self._next_check_ms - 1e-6):
            self._next_check_ms += self.cfg.recheck_ms
            hint = self._hint()
            if hint is not None and silence_ms >= self.cfg.settled_after_ms - 1e-6:
                return self._end("settled")  # the words are in and have not gone on: nothing left to wait for
            p_model = self.turn_probability()
            if hint is not None and self.cfg.completeness is not None:
                p = self.cfg.completeness.probability(hint, silence_ms)
                blended = p >= self.cfg.completeness.threshold
            else:
                p = self._combined(p_model, hint)
                blended = self._blend_ends(p, p_model, hint, silence_ms)
            self.turn_checks += 1
            self.last_probability = p
            sure = p_model >= self.cfg.sure_threshold and silence_ms >= self.cfg.sure_after_ms - 1e-6
            self._votes = self._votes + 1 if blended or sure else 0
            if self._votes >= self.cfg.confirm_votes:
                return self._end("model" if blended else "model_sure")
        return NO_EVENTS

    def _blend_ends(self, p: float, p_model: float, hint: Hint | None, silence_ms: float) -> bool:
        limit = self.cfg.early_threshold if silence_ms < self.cfg.early_ms else self.cfg.turn_threshold
        waiting = hint is None and silence_ms < self.cfg.semantic_wait_ms - 1e-6
        blended = p >= limit and not waiting
        if blended and hint is not None and p_model < self.cfg.disagree_below \
                and silence_ms < self.cfg.disagree_wait_ms - 1e-6:
            blended = False  # the words look finished, the voice does not: wait a little
        if blended and hint is not None and silence_ms < self.cfg.lead_on_wait_ms - 1e-6 \
                and effective_hint(hint, self.cfg.doubt_both_ways) < self.cfg.quick_hint:
            blended = False  # the words may well go on ("Set the oven | to 180"): wait out a short pause
        return blended

    def _hint(self) -> Hint | None:
        if self.semantic is None:
            return self._semantic_hint
        h = self.semantic()
        return h if h is None or isinstance(h, Hint) else Hint(h)

    def _combined(self, p_model: float, hint: Hint | None) -> float:
        if hint is None:
            return p_model
        w = self.cfg.semantic_weight
        return (1.0 - w) * p_model + w * effective_hint(hint, self.cfg.doubt_both_ways)

    def _max_length(self) -> tuple[Event, ...]:
        if self.speech_start_t is not None and self.t - self.speech_start_t >= self.cfg.max_turn_s - 1e-9:
            return self._end("max_length")
        return NO_EVENTS

    def _end(self, reason: str) -> tuple[Event, ...]:
        event = TurnEnd(audio_t=self.t, probability=self.last_probability if reason != "max_length" else None,
                        reason=reason, speech_start_t=self.speech_start_t, last_speech_t=self.last_speech_t)
        self._clear_turn()
        self.phase = Phase.IDLE
        return (event,)

    def force_end(self, reason: str = "forced") -> tuple[Event, ...]:
        """End the turn now (push-to-talk released, end of input); nothing if no speech was heard."""
        if self.phase in (Phase.SPEECH, Phase.SILENCE):
            return self._end(reason)
        self.stop()
        return NO_EVENTS
