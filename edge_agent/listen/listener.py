"""The streaming listener: echo canceller -> wake word -> VAD -> turn policy, on fixed hops of audio.

:class:`ListenerCore` is source-agnostic: ``process_hop(samples)`` takes the next 512 samples (32 ms
at 16 kHz) and calls ``on_event`` for each event. ``edge-agent listen`` feeds it from a WAV file as
fast as the CPU allows; the daemon's :class:`Listener` thread feeds it from the microphone ring
buffer. The same decisions either way; the clock is the sample count (``audio_t``).

States:
  idle       only the wake word runs (the VAD is off: idle cost is the wake engine alone), except
             while playback is active, when the VAD also runs to detect barge-in;
  listening  after a wake word, ``start_listening()`` (push-to-talk, follow-up) or a barge-in: VAD and
             the turn policy; ``turn_end`` returns to idle (``always_listen`` starts the next turn).

Audio for consumers: the core keeps the last ``history_s`` seconds it processed (its own C ring,
written once per hop, so it is aligned with the sample clock in both modes).
  - ``turn_audio()``: the current (or just-ended) turn, from ``pre_roll_ms`` before its speech start
    to its end (or now);
  - ``audio_between(t0, t1)``: any span by ``audio_t``.
Both may be called from any thread. With an echo canceller (``echo``) everything downstream is
cancelled, 10 ms behind the microphone (the canceller's frame): the VAD and the residual-echo guard
read the suppressed output; the wake word and the history (the turn model's and the STT's audio)
read the canceller's ``linear`` output, which is the suppressed one unless the canceller has a
linear filter output of its own (AEC3's suppressor thins the user's words under double talk). While the agent speaks, a hop's VAD probability counts for barge-in only when
the residual-echo guard says the cleaned signal could be the user; with the pass-through canceller
(no AEC library) barge-in is off while the agent speaks (half duplex). Without ``echo`` the VAD's
playback threshold alone guards barge-in, as before.

Speculative STT: react to ``speech_end`` (silence began; its
``audio_t`` is the end of speech) by calling ``turn_audio()`` off the listener thread; a later
``speech_start`` in the same turn means the user went on and the speculation is stale.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.drift import ClockDriftCorrector
from edge_agent.audio.echo import EchoCanceller, ResidualEchoGuard
from edge_agent.audio.echo_reference import EchoReference
from edge_agent.audio.ringbuf import RingBuffer
from edge_agent.events import Event, SpeechStart, TurnEnd, Wake
from edge_agent.listen.hint import Hint
from edge_agent.listen.policy import PolicyConfig, TurnPolicy, level_db

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.listen.turn import TurnDetector
    from edge_agent.listen.vad import Vad
    from edge_agent.listen.wake import WakeWordDetector
    from edge_agent.models import ModelManager

log = logging.getLogger(__name__)

HOP = 512
WAIT_SLACK_S = 0.005
IDLE_BATCH_HOPS = 4
"""While idle only the wake word runs, and it costs less woken rarely (its TFLite call runs on cold
caches after each sleep; measured in docs/design/idle-listener.md): 4 hops = 128 ms, at most that much
later to a wake word that its check delays by ~0.7 s anyway. Listening or playing, every hop at once."""
TALKING_LOOKBACK_S = 0.25
"""At a wake, speech in this much of the latest audio means the user is already making the request."""
CLEAR_USER_EXCESS_DB = 30.0
CLEAR_USER_MIN_POWER = 100.0**2
"""int16 mean square of about -50 dBFS: quieter than any voice at the microphone."""
CLEAR_USER_MIN_PROB = 0.15
WORDS_EXCESS_DB = 36.0
WORDS_HOLD_HOPS = 3
"""The second VAD's verdict holds this many hops (96 ms): under double talk its peak and the hops the
residual-echo guard finds far above the echo floor come a hop or two apart (traced: a "Stop." whose
words VAD read 0.91 while 31 dB over the floor, then 0.55-0.31 while 47-56 dB over it)."""
EventCallback = Callable[[Event], None]


class ListenerCore:
    def __init__(self, vad: Vad, turn: TurnDetector | None, wake: WakeWordDetector | None,
                 on_event: EventCallback, policy: PolicyConfig | None = None, *,
                 always_listen: bool = False, pre_roll_ms: float = 300.0, history_s: float = 40.0,
                 max_context_s: float = 8.0, echo: EchoCanceller | None = None,
                 words_vad: Vad | None = None) -> None:
        self.vad, self.turn, self.wake = vad, turn, wake
        self.echo = echo
        self.words_vad = words_vad
        """A second VAD, on the canceller's linear output, while the agent speaks (``_clearly_words``)."""
        self._words_recent = collections.deque([0.0] * WORDS_HOLD_HOPS, maxlen=WORDS_HOLD_HOPS)
        self.echo_guard = ResidualEchoGuard()
        self._silent_ref = np.zeros(HOP, np.int16)
        self.echo_hops_rejected = 0
        """Hops during playback whose speech the residual-echo guard refused (the agent's own voice)."""
        self.on_event = on_event
        cfg = policy or PolicyConfig()
        if always_listen:
            cfg = dataclasses.replace(cfg, listen_timeout_s=math.inf)
        self.policy = TurnPolicy(cfg, turn_probability=self._turn_probability if turn is not None else None)
        self.always_listen = always_listen
        self.pre_roll_s = pre_roll_ms / 1000.0
        self.samples = 0
        """Samples processed since the start: the sample clock."""
        self._history = RingBuffer(int(history_s * SAMPLE_RATE))
        self._history_lock = threading.Lock()
        self._context = np.zeros(int(max_context_s * SAMPLE_RATE), np.int16)
        self._level_scratch = np.zeros(HOP, np.float32)
        self._turn_span: tuple[float, float | None] | None = None
        self.turn_calls = 0
        if always_listen:
            self.policy.start(0.0)

    def reset(self) -> None:
        """A fresh stream: clock at 0, history and detector states forgotten (models kept)."""
        with self._history_lock:
            self._history.clear()
            self.samples = 0
        self.vad.reset()
        if self.words_vad is not None:
            self.words_vad.reset()
            self._words_recent.extend((0.0,) * WORDS_HOLD_HOPS)
        if self.wake is not None:
            self.wake.reset()
        if self.echo is not None:
            self.echo.reset()
            self.echo_guard = ResidualEchoGuard()  # a new canceller: the guard's warm-up again
        self.policy = TurnPolicy(self.policy.cfg, self.policy.turn_probability, self.policy.semantic)
        self._turn_span = None
        if self.always_listen:
            self.policy.start(0.0)

    # --- control: call from the thread that calls process_hop (Listener queues them) -----------

    @property
    def t(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def listening(self) -> bool:
        return self.policy.listening

    def start_listening(self, timeout_s: float | None = None) -> None:
        """Listen for a turn now, without a wake word (push-to-talk, follow-up window); nobody
        speaking for ``timeout_s`` (default ``turn.listen_timeout_s``) ends it with reason ``timeout``."""
        if not self.policy.listening:
            self.vad.reset()
            self.policy.start(self.t, timeout_s)

    def stop_listening(self) -> None:
        """Back to idle; a turn in progress is dropped (no event)."""
        self.policy.stop()
        if self.wake is not None:
            self.wake.reset()

    def end_turn(self, reason: str = "forced") -> None:
        """End the current turn now (push-to-talk released): emits ``turn_end`` with ``reason``."""
        for event in self.policy.force_end(reason):
            self._emit(event)

    def set_playback_active(self, active: bool) -> None:
        if active and not self.policy.listening:
            self.vad.reset()
        if active and self.words_vad is not None:
            # it hears only replies: its state from the last one's end held it at "no speech" for
            # seconds into the next (traced: a "Stop." heard 700 ms late)
            self.words_vad.reset()
            self._words_recent.extend((0.0,) * WORDS_HOLD_HOPS)
        self.policy.set_playback_active(active)

    def set_semantic_hint(self, p: float | Hint | None, speech_end_t: float | None = None,
                          confidence: float = 1.0) -> None:
        self.policy.set_semantic_hint(p, speech_end_t, confidence)

    def skip(self, n: int) -> None:
        """``n`` samples were lost (ring overrun): keep the clock on stream time."""
        self.samples += n
        self.policy.t = self.t

    # --- the hop -------------------------------------------------------------------------------

    def process_hop(self, hop: np.ndarray, ref: np.ndarray | None = None) -> None:
        """The next ``HOP`` int16 samples of the stream, with what the speaker played meanwhile
        (``ref``, aligned with ``hop``; None: nothing)."""
        user_possible = True
        words = hop
        if self.echo is not None:
            hop = self.echo.process(hop, self._silent_ref if ref is None else ref)
            # the suppressed output says whether it is speech; the linear output (as much of the user as
            # the echo allows: the suppressor thins words under double talk) is what is said
            words = self.echo.linear
            if self.policy.playback:
                user_possible = self.echo.active and self.echo_guard.user_possible(
                    self.echo.ref_power, self.echo.out_power, len(hop) / SAMPLE_RATE, self.echo.mic_power)
        with self._history_lock:
            self._history.write(words)
            self.samples += len(hop)
        hop_s = len(hop) / SAMPLE_RATE
        if not self.policy.listening and self.wake is not None:
            det = self.wake.process(words)
            if det is not None:
                talking = self._speaking_since(self.t - TALKING_LOOKBACK_S)
                self._emit(Wake(audio_t=self.t, keyword=det.keyword, score=det.score, user_talking=talking))
                self.vad.reset()
                self.policy.start(self.t)
                return
        if not self.policy.listening and not self.policy.playback:
            self.policy.t = self.t  # VAD off while idle
            return
        prob = self.vad.process(hop)
        if self.words_vad is not None and self.policy.playback:
            self._words_recent.append(self.words_vad.process(words))
            words_prob = max(self._words_recent)
        else:
            words_prob = 0.0
        if not user_possible:
            if prob >= self.policy.cfg.threshold:
                self.echo_hops_rejected += 1
            prob = 0.0
        elif self.policy.playback and (self._clearly_user(prob) or self._clearly_words(words_prob)):
            prob = max(prob, self.policy.cfg.playback_threshold)
        # the loudness is only wanted by the level rule; without it the VAD decides alone
        level = level_db(hop, self._level_scratch) if self.policy.cfg.quiet_drop_db > 0 else None
        for event in self.policy.process(hop_s, prob, level):
            self._emit(event)

    def _speaking_since(self, t0: float) -> bool:
        """Is there speech in the history since ``t0``? (The VAD is off while idle: run it once over
        those hops; the caller resets it.) The wake word's check confirms it ~0.7 s after the phrase,
        by when the user has often gone on to the request."""
        audio = self.audio_between(t0)
        return any(self.vad.process(audio[i : i + HOP]) >= self.policy.cfg.threshold
                   for i in range(0, len(audio) - HOP + 1, HOP))

    def _clearly_user(self, prob: float) -> bool:
        """Under double talk AEC3's suppressor thins the user's voice and the VAD hesitates: a hop
        far above the residual-echo floor, loud enough to be a voice and speech-like at all, is the user."""
        echo = self.echo
        return (echo is not None and echo.active and prob >= CLEAR_USER_MIN_PROB
                and self.echo_guard.last_excess_db >= CLEAR_USER_EXCESS_DB and echo.out_power >= CLEAR_USER_MIN_POWER)

    def _clearly_words(self, words_prob: float) -> bool:
        """The suppressor can thin a short "Stop." to nothing the VAD calls speech while leaving it far
        above the residual-echo floor: then the VAD on the linear output (the user's words whole, and
        the echo's leftovers, which the higher excess keeps out) decides."""
        echo = self.echo
        return (echo is not None and echo.active and words_prob >= self.policy.cfg.playback_threshold
                and self.echo_guard.last_excess_db >= WORDS_EXCESS_DB and echo.out_power >= CLEAR_USER_MIN_POWER)

    def _emit(self, event: Event) -> None:
        if isinstance(event, SpeechStart):
            start = self.policy.speech_start_t if self.policy.speech_start_t is not None else event.audio_t or 0.0
            self._turn_span = (max(0.0, start - self.pre_roll_s), None)  # same start when speech resumes
        if isinstance(event, TurnEnd):
            if self._turn_span is not None and event.speech_start_t is not None:
                self._turn_span = (self._turn_span[0], event.audio_t)
            if self.wake is not None:
                self.wake.reset()
            if self.always_listen:
                self.vad.reset()
                self.policy.start(self.t)
        self.on_event(event)

    # --- audio for the turn model and consumers -------------------------------------------------

    def _turn_probability(self) -> float:
        assert self.turn is not None
        start = self.policy.speech_start_t
        since = self.t - max(0.0, (start if start is not None else self.t) - self.pre_roll_s)
        n = min(int(round(since * SAMPLE_RATE)), len(self._context), self.samples)
        if n < HOP:  # nothing worth asking about (and the ring refuses an empty read)
            return 0.0
        self._history.peek_latest_into(self._context[:n])  # same thread as the writer: no lock
        self.turn_calls += 1
        return self.turn.predict(self._context[:n])

    def audio_between(self, t0: float, t1: float | None = None) -> np.ndarray:
        """int16 samples from audio time ``t0`` to ``t1`` (default: now), as far as history reaches."""
        with self._history_lock:
            now = self.samples
            end = now if t1 is None else min(now, int(round(t1 * SAMPLE_RATE)))
            start = max(0, int(round(t0 * SAMPLE_RATE)), now - self._history.capacity)
            if end <= start:
                return np.zeros(0, np.int16)
            latest = self._history.peek_latest(now - start)
        return latest[: end - start].copy()

    def turn_audio(self) -> np.ndarray:
        """The current or last turn's audio, with pre-roll (empty if there was none)."""
        span = self._turn_span
        if span is None:
            return np.zeros(0, np.int16)
        return self.audio_between(span[0], span[1])


class Listener:
    """The daemon's listener thread: pulls ``HOP`` samples at a time from the microphone ring.

    Control methods may be called from any thread (the conversation's event loop): they are queued
    and applied by the listener thread between hops, so the core is only ever touched by it."""

    def __init__(self, core: ListenerCore, ring: RingBuffer, rate: int = SAMPLE_RATE,
                 reference: EchoReference | None = None) -> None:
        self.core, self.ring, self.rate = core, ring, rate
        self.reference = reference
        """What the speaker played (read a hop at a time alongside the microphone), if known."""
        self.reader: ClockDriftCorrector | None = ClockDriftCorrector(reference, HOP) if reference is not None else None
        """How ``reference`` is read: through the clock-drift correction (``EchoPath`` sets both)."""
        self._hop = np.zeros(HOP, np.int16)
        self._ref_hop = np.zeros(HOP, np.int16)
        self._timing_logged = False
        self._commands: collections.deque[Callable[[], None]] = collections.deque()
        self._stop = threading.Event()
        self._kick = threading.Event()  # a command or stop: end the wait for audio now
        self._idle_batch = max(HOP, min(IDLE_BATCH_HOPS * HOP, ring.capacity // 2))
        self._thread: threading.Thread | None = None
        self._dropped = ring.dropped

    # thread-safe control
    def _command(self, command: Callable[[], None]) -> None:
        self._commands.append(command)
        self._kick.set()

    def start_listening(self, timeout_s: float | None = None) -> None:
        self._command(lambda: self.core.start_listening(timeout_s))

    def stop_listening(self) -> None:
        self._command(self.core.stop_listening)

    def end_turn(self) -> None:
        self._command(self.core.end_turn)

    def set_playback_active(self, active: bool) -> None:
        self._command(lambda: self.core.set_playback_active(active))

    def set_semantic_hint(self, p: float | Hint | None, speech_end_t: float | None = None,
                          confidence: float = 1.0) -> None:
        """Text completeness of the transcript up to the ``speech_end`` at ``speech_end_t`` (see
        :class:`edge_agent.listen.semantic.LmCompleteness`), and how far that transcript can be
        trusted (:mod:`edge_agent.listen.hint`); stale hints are dropped."""
        self._command(lambda: self.core.set_semantic_hint(p, speech_end_t, confidence))

    def turn_audio(self) -> np.ndarray:
        return self.core.turn_audio()

    def audio_between(self, t0: float, t1: float | None = None) -> np.ndarray:
        return self.core.audio_between(t0, t1)

    # the thread
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._kick.clear()
                self.step()
                missing = self.wanted_samples() - self.ring.available
                if missing > 0:
                    # Wait for the rest of a hop (the ring has no blocking read), plus a little slack so
                    # the wake-up does not land just before the callback that completes the hop:
                    # ~33 wake-ups/s instead of ~60 (measured), for at most 5 ms of added latency.
                    self._kick.wait(missing / self.rate + WAIT_SLACK_S)
        except Exception:
            log.exception("the listener thread failed")
            raise

    def wanted_samples(self) -> int:
        """How much audio to wait for before the next step: a hop while listening or playing, a
        batch of hops while idle (see ``IDLE_BATCH_HOPS``)."""
        policy = self.core.policy
        return HOP if policy.listening or policy.playback else self._idle_batch

    def step(self) -> int:
        """Apply queued commands and process every complete hop available; returns hops processed."""
        while self._commands:
            self._commands.popleft()()
        done = 0
        while self.ring.available >= HOP:
            dropped = self.ring.dropped
            if dropped != self._dropped:
                log.warning("listener fell behind: %d samples lost", dropped - self._dropped)
                self.core.skip(dropped - self._dropped)
                if self.reader is not None:
                    self.reader.skip(dropped - self._dropped)
                self._dropped = dropped
            got = self.ring.read_into(self._hop)
            if got < HOP:
                # The producer lapped us during the copy: only ``got`` samples are valid. Count them
                # as lost (the overrun itself shows in ``dropped`` next pass) so the clock stays right.
                self.core.skip(got)
                continue
            ref = self._reference_hop()
            self.core.process_hop(self._hop, ref)
            if ref is not None and self.reader is not None:
                self.reader.observe(self._hop, ref)
            done += 1
        return done

    def _reference_hop(self) -> np.ndarray | None:
        ref = self.reference
        if ref is None or self.reader is None or self.core.echo is None:
            return None
        self.reader.read_hop_into(self._ref_hop, self.core.samples)
        if not ref.timeline:
            self._update_delay_hint(ref)
        return self._ref_hop

    def _update_delay_hint(self, ref: EchoReference) -> None:
        """The AEC's delay hint from the device timing: a reference sample read now reaches the DAC
        ``dac_latency_s`` after it was queued, and the microphone sample read beside it was captured
        (ring lead difference) earlier or later; AEC3's own estimator refines the rest (the input's
        latency included)."""
        echo = self.core.echo
        assert echo is not None
        latency = ref.dac_latency_s
        if latency is None:
            if not self._timing_logged and ref.written:
                self._timing_logged = True
                log.info("the speaker reports no output timing: echo delay from the AEC's estimator alone")
            return
        lead_s = (ref.ring.available - self.ring.available) / self.rate
        hint = int(round(1000 * max(0.0, latency - lead_s)))
        if abs(hint - echo.delay_ms) >= 10:
            echo.set_delay_ms(min(hint, 500))


def build_listener_core(settings: Settings, models: ModelManager, on_event: EventCallback, *,
                        wake: bool = True, always_listen: bool = False,
                        echo: EchoCanceller | None = None) -> ListenerCore:
    """The core the settings describe; missing models raise ModelError naming ``models pull``."""
    from edge_agent.listen.turn import load_turn_detector
    from edge_agent.listen.vad import load_vad

    vad = load_vad(settings, models)
    turn = load_turn_detector(settings, models) if settings.turn.enabled else None
    detector = None
    if wake and settings.wake.enabled:
        from edge_agent.listen.wake import build_wake_detector

        detector = build_wake_detector(settings, models)
    policy = PolicyConfig.from_settings(settings)
    if echo is not None and echo.active:  # the guard and the AEC keep the echo out: the user's voice decides
        policy = dataclasses.replace(policy, playback_threshold=settings.audio.echo_barge_in_threshold,
                                     barge_in_ms=settings.audio.echo_barge_in_ms)
    words_vad = load_vad(settings, models) if echo is not None and echo.has_linear else None
    return ListenerCore(vad, turn, detector, on_event, policy,
                        always_listen=always_listen,
                        pre_roll_ms=settings.turn.pre_roll_ms, max_context_s=settings.turn.max_context_s,
                        echo=echo, words_vad=words_vad)
