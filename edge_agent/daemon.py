"""The daemon: settings -> models (loaded in parallel) -> audio in/out -> listener thread ->
conversation, all publishing on one event bus; services (MQTT, systemd) plug in with
:meth:`Daemon.add_service`.

Threads: the audio input (PortAudio callback, or a WAV feeder thread) fills the ring; the listener
thread runs wake word / VAD / turn policy; the asyncio loop owns the conversation; STT, TTS and the
LLM each have one worker thread. Signals: SIGTERM/SIGINT stop (playback first, exit 0), SIGHUP
reloads the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge_agent.agent import Conversation, ConversationSettings, ExecutorSpeaker, ExecutorTranscriber
from edge_agent.audio.files import WavInput, WavPlayback
from edge_agent.bus import EventBus
from edge_agent.config import Settings
from edge_agent.errors import AudioError, EdgeAgentError
from edge_agent.event_log import EventWriter
from edge_agent.events import AgentState, Event, StateChanged
from edge_agent.listen.listener import Listener

log = logging.getLogger(__name__)

RATE = 16000


class Service(Protocol):
    """Something that lives as long as the daemon (the MQTT bridge, systemd notify)."""

    async def start(self, daemon: Any) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class RunOptions:
    input_wav: Path | None = None
    """A WAV file instead of the microphone."""
    output_wav: Path | None = None
    """A WAV file instead of the speaker."""
    fast: bool = False
    """Feed the input WAV as fast as it is processed (not paced in real time)."""
    stay: bool = False
    """Keep running after the input WAV ends (until SIGTERM)."""
    events: str | None = None
    """``-`` (stdout) or a file: JSON lines of every event."""
    config_path: str | None = None
    room: str | None = None
    """Issue 17 (aec): hear the replies through this simulated room (preset or impulse-response WAV)."""
    source: Any = None
    """Programmatic input instead of ``input_wav`` (benchmarks): has ``paced``, ``now()``,
    ``start(listener, on_done)`` and ``stop()`` like :class:`~edge_agent.audio.files.WavInput`."""


# --- events out ---------------------------------------------------------------------------------


# --- engines ------------------------------------------------------------------------------------


def voice_path(settings: Settings, models: Any) -> Path:
    """The Piper voice file: a manifest name or a path to an ``.onnx``."""
    voice = settings.tts.voice
    if voice.endswith(".onnx") or "/" in voice:
        path = Path(voice).expanduser()
        if not path.is_file():
            from edge_agent.errors import ModelError

            raise ModelError(f"tts.voice {voice!r} does not exist (give a Piper .onnx path or a voice name "
                             "from `edge-agent models list`)")
    else:
        spec = models.manifest.get(voice)
        onnx = next(f.path for f in spec.files if f.path.endswith(".onnx"))
        path = models.require(voice, onnx)
    return Path(path)


def voice_sample_rate(settings: Settings, models: Any) -> int:
    """The voice's sample rate from its ``.onnx.json`` (without loading the voice)."""
    try:
        config = json.loads(Path(f"{voice_path(settings, models)}.json").read_text(encoding="utf-8"))
        return int(config["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError):
        return 22050


def build_tts(settings: Settings, models: Any) -> Any:
    from edge_agent.tts.piper_tts import PiperTts

    return PiperTts(voice_path(settings, models), threads=settings.tts.threads,
                    length_scale=settings.tts.length_scale, speaker_id=settings.tts.speaker_id)


def build_completeness(settings: Settings, models: Any, chat: Any = None) -> Callable[[str], float | None] | None:
    """The turn policy's semantic hint source (the local LM's P(end of sentence) on the speculative
    transcript), when ``turn.semantic_wait_ms`` > 0 says the policy will wait for it; else None.
    ``chat``: the loaded local chat model (a ``llama_cpp.Llama``), whose weights it then shares."""
    if settings.turn.semantic_wait_ms <= 0 or not settings.stt.speculative:
        return None
    from edge_agent.listen.semantic import LmCompleteness
    from edge_agent.llm.local import gguf_path

    llama = getattr(chat, "llm", None)
    source = llama if hasattr(llama, "_model") else gguf_path(settings, models)
    return LmCompleteness(source).hint  # type: ignore[no-any-return]


def conversation_settings(settings: Settings) -> ConversationSettings:
    from edge_agent.llm.local import system_prompt

    c = settings.conversation
    return ConversationSettings(system_prompt=system_prompt(settings), follow_up_s=c.follow_up_s,
                                barge_in=c.barge_in, apology=c.apology, speculative_stt=settings.stt.speculative)


def build_llm(settings: Settings, models: Any, bus: EventBus) -> Any:
    """The chat model: the router over the local model and any cloud regions (``llm/factory.py``)."""
    from edge_agent.llm.factory import build_chat_model

    return build_chat_model(settings, models)  # its events reach the bus through the conversation's subscription


# --- the daemon ---------------------------------------------------------------------------------


class Daemon:
    """One agent process. ``await run()`` until stopped (or until a WAV input is done)."""

    def __init__(self, settings: Settings, options: RunOptions | None = None, bus: EventBus | None = None,
                 process_start: float | None = None) -> None:
        self.settings = settings
        self.options = options or RunOptions()
        self.bus = bus or EventBus()
        self.process_start = process_start if process_start is not None else time.monotonic()
        self.services: list[Any] = []
        self.heartbeats: list[Callable[[], None]] = []
        """Called from the listener loop once per processed hop while audio flows (sd_notify WATCHDOG)."""
        self.conversation: Conversation | None = None
        self.listener: Any = None
        self.cold_start_s: float | None = None
        self.tools: Any = None
        self._stop: asyncio.Event | None = None
        self._input_done: asyncio.Event | None = None
        self._closers: list[Callable[[], Any]] = []

    # --- extension points ---------------------------------------------------------------------

    def add_service(self, service: Any) -> None:
        """Register a service: ``await service.start(daemon)`` once the agent is up, ``await
        service.stop()`` on the way down. A service with a ``heartbeat.beat`` gets the listener's
        heartbeat; one with ``tools`` (a ToolRunner) is offered to the LLM."""
        self.services.append(service)
        beat = getattr(getattr(service, "heartbeat", None), "beat", None)
        if callable(beat):
            self.heartbeats.append(beat)
        if getattr(service, "tools", None) is not None and self.tools is None:
            self.tools = service.tools

    def heartbeat(self) -> None:
        for beat in self.heartbeats:
            beat()

    @property
    def control(self) -> Conversation:
        """The :class:`~edge_agent.control.AgentControl` (the conversation)."""
        assert self.conversation is not None, "the daemon is not running"
        return self.conversation

    def stop(self) -> None:
        """Stop (from the loop): playback is cut at once, then everything shuts down."""
        if self.conversation is not None:
            self.conversation.cancel()
        if self._stop is not None:
            self._stop.set()

    def reload(self) -> None:
        """SIGHUP: re-read the config; what a running conversation can change, it takes. An
        invalid config is refused (error event) and the running one kept."""
        from edge_agent.service import SystemdService, reload_settings

        systemd = next((s for s in self.services if isinstance(s, SystemdService)), None)
        new = reload_settings(self.options.config_path, self.settings, self.bus, systemd)
        if new is self.settings:
            return
        self.settings = new
        if self.conversation is not None:
            self.conversation.cfg = conversation_settings(new)
        logging.getLogger().setLevel(new.logging.level.upper())
        log.info("conversation settings applied (models, audio and MQTT changes need a restart)")

    # --- run ----------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._input_done = asyncio.Event()
        for sig, handler in ((signal.SIGTERM, self.stop), (signal.SIGINT, self.stop), (signal.SIGHUP, self.reload)):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handler)
        try:
            await self._start()
            await self._serve()
        finally:
            await self._shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)
        return 0

    async def _start(self) -> None:
        from edge_agent.models import manager_from_settings

        loop = asyncio.get_running_loop()
        settings, opts = self.settings, self.options
        models = manager_from_settings(settings)
        wav_in = opts.source or (WavInput(opts.input_wav, paced=not opts.fast) if opts.input_wav else None)
        from edge_agent.audio.echo_path import build_echo_path  # issue 17 (aec)
        from edge_agent.audio.room import room_input  # issue 17 (aec)

        echo_path = build_echo_path(settings)  # issue 17 (aec)
        if opts.room and opts.input_wav:  # issue 17 (aec)
            wav_in = room_input(opts.input_wav, opts.room, paced=not opts.fast)
        mic = Microphone(settings, self.bus) if wav_in is None else None
        if mic is not None:
            check_input_device(settings)  # before the models load: a missing microphone fails fast
        speaker = None
        if opts.output_wav is None:  # before the models load: a missing speaker fails fast
            speaker = open_speaker(settings, voice_sample_rate(settings, models))
            self._closers.append(speaker.close)

        # Models load in parallel: onnxruntime, CTranslate2 and llama.cpp release the GIL while loading.
        conv_ref: list[Conversation] = []

        def on_listener_event(event: Event) -> None:
            if conv_ref:
                conv_ref[0].post(event)

        llm = build_llm(settings, models, self.bus)
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="load") as pool:
            from edge_agent.listen.listener import build_listener_core
            from edge_agent.stt.factory import create_stt

            timings: dict[str, float] = {}

            def timed(name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
                def run() -> Any:
                    out = fn()
                    timings[name] = time.monotonic() - self.process_start
                    return out
                return run

            async def llm_start() -> None:
                await llm.start()
                timings["llm"] = time.monotonic() - self.process_start

            f_core = loop.run_in_executor(pool, timed("listener", lambda: build_listener_core(
                settings, models, on_listener_event, echo=echo_path.echo)))  # issue 17 (aec): echo=
            f_stt = loop.run_in_executor(pool, timed("stt", lambda: _warmed_stt(create_stt(settings, models))))
            f_tts = loop.run_in_executor(pool, timed("tts", lambda: _warmed_tts(build_tts(settings, models))))

            async def llm_then_semantic() -> Any:  # the hint shares the chat model's weights
                await llm_start()
                chat = getattr(llm, "local", None)
                return await loop.run_in_executor(pool, timed("semantic", lambda: build_completeness(
                    settings, models, chat)))

            t_load = time.monotonic() - self.process_start
            results = await asyncio.gather(f_core, f_stt, f_tts, llm_then_semantic(), return_exceptions=True)
        log.info("models loading from %.2f s after process start; ready at: %s", t_load,
                 ", ".join(f"{k} {v:.2f} s" for k, v in sorted(timings.items(), key=lambda kv: kv[1])))
        self._closers.append(llm.stop)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        core: Any
        stt: Any
        tts: Any
        completeness: Any
        core, stt, tts, completeness = (r for r in results[:4] if not isinstance(r, BaseException))

        from edge_agent.audio.ringbuf import ring_for_seconds

        ring = ring_for_seconds(settings.audio.ring_seconds, RATE)
        self.listener = BeatingListener(core, ring, heartbeat=self.heartbeat)
        echo_path.attach_listener(self.listener)  # issue 17 (aec)
        listener_ctl = ListenerAdapter(self.listener, pre_roll_s=settings.turn.pre_roll_ms / 1000)
        paced = wav_in is None or wav_in.paced
        if wav_in is not None:
            latency_clock: Callable[[], float] | None = wav_in.now if paced else None
        else:
            latency_clock = mic.now if mic is not None else None
        if opts.output_wav is not None:
            sink: Any = WavPlayback(opts.output_wav, tts.sample_rate, paced=paced,
                                    position=wav_in.now if wav_in is not None else None)
            self._closers.append(sink.close)
            room_reference = getattr(wav_in, "reference", None)  # issue 17 (aec): the room hears the sink
            if room_reference is not None:
                sink.add_reference(room_reference)
        else:
            assert speaker is not None
            sink = speaker
        echo_path.attach_sink(sink)  # issue 17 (aec)
        self.conversation = Conversation(
            bus=self.bus, llm=llm, speaker=ExecutorSpeaker(tts), playback=sink,
            transcriber=ExecutorTranscriber(stt), listener=listener_ctl,
            settings=conversation_settings(settings), tools=self.tools,
            audio_now=latency_clock, audio_clock=lambda: core.t, on_reload=self.reload,
            completeness=completeness,
        )
        conv_ref.append(self.conversation)
        for svc in self.services:
            await svc.start(self)
        settle_heap()
        # Listening from here on: the cold start is over.
        self.cold_start_s = time.monotonic() - self.process_start
        log.info("listening (cold start %.2f s)", self.cold_start_s)
        self.bus.publish(StateChanged(state=AgentState.IDLE, previous=None))
        if wav_in is not None:
            assert self._input_done is not None
            done = self._input_done
            wav_in.start(self.listener, lambda: _set_threadsafe(loop, done))
            self._closers.append(wav_in.stop)
        else:
            assert mic is not None
            self._closers.append(mic.close)
            mic.start(ring)
            self.listener.start()
            self._closers.append(self.listener.stop)

    async def _serve(self) -> None:
        assert self._stop is not None and self._input_done is not None and self.conversation is not None
        stop = asyncio.ensure_future(self._stop.wait())
        done = asyncio.ensure_future(self._input_done.wait())
        try:
            await asyncio.wait({stop, done}, return_when=asyncio.FIRST_COMPLETED)
            if done.done() and not stop.done():
                await asyncio.sleep(0)  # events posted before the end of input are handled first
                wait_idle = asyncio.ensure_future(self.conversation.wait_idle())
                await asyncio.wait({stop, wait_idle}, return_when=asyncio.FIRST_COMPLETED)
                wait_idle.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await wait_idle
                if self.options.stay and not stop.done():
                    log.info("input done; staying up until SIGTERM (--stay)")
                    await stop
        finally:
            for t in (stop, done):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    async def _shutdown(self) -> None:
        if self.conversation is not None:
            self.conversation.playback.stop()
            await self.conversation.close()
        for svc in reversed(self.services):
            try:
                await svc.stop()
            except Exception:
                log.exception("stopping %r failed", svc)
        for close in reversed(self._closers):
            try:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("closing %r failed", close)
        self._closers.clear()


def settle_heap() -> None:
    """Once start-up is over: collect, then ``gc.freeze()`` every surviving object (modules, model
    wrappers, config) into the permanent generation, so later full collections don't walk them. A
    full collection of the start-up heap held the listener loop ~29 ms in a command flood (``bench
    mqtt``), ~8 ms after this."""
    t0 = time.monotonic()
    gc.collect()
    gc.freeze()
    log.debug("start-up heap frozen (%d objects) in %.0f ms", gc.get_freeze_count(), (time.monotonic() - t0) * 1000)


def _set_threadsafe(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(event.set)


def _warmed_stt(stt: Any) -> Any:
    """One tiny call, so the first real turn doesn't pay for first-call set-up (in the loader thread)."""
    with contextlib.suppress(Exception):
        stt.transcribe(np.zeros(RATE // 2, np.int16))
    return stt


def _warmed_tts(tts: Any) -> Any:
    with contextlib.suppress(Exception):
        for _ in tts.synthesize("Hi."):
            pass
    return tts


class BeatingListener(Listener):
    """The listener, plus a heartbeat after every step that processed audio (the watchdog's
    evidence that frames flow: no audio, no beat)."""

    def __init__(self, core: Any, ring: Any, heartbeat: Callable[[], None]) -> None:
        super().__init__(core, ring)
        self._beat = heartbeat

    def step(self) -> int:
        n = super().step()
        if n:
            self._beat()
        return n


class ListenerAdapter:
    """The conversation's :class:`~edge_agent.conversation.ListenerControl` over the listener."""

    def __init__(self, listener: Any, pre_roll_s: float = 0.3) -> None:
        self.listener = listener
        self.pre_roll_s = pre_roll_s

    def set_playback_active(self, active: bool) -> None:
        self.listener.set_playback_active(active)

    def listen(self, timeout_s: float | None) -> None:
        self.listener.start_listening(timeout_s)  # the follow-up window's own timeout

    def stop_listening(self) -> None:
        self.listener.stop_listening()

    def utterance(self, start_t: float, end_t: float) -> np.ndarray:
        return self.listener.audio_between(max(0.0, start_t - self.pre_roll_s), end_t)  # type: ignore[no-any-return]

    def set_semantic_hint(self, p: float | None, speech_end_t: float | None = None) -> None:
        self.listener.set_semantic_hint(p, speech_end_t)


# --- microphone and speaker (PortAudio) -----------------------------------------------------------


def has_input_device(settings: Settings) -> bool:
    """Whether PortAudio can see a microphone (any input device at all)."""
    from edge_agent.audio import pa

    try:
        portaudio = pa.open_portaudio()
    except Exception:
        return False
    try:
        return any(d.get("maxInputChannels", 0) > 0 for d in pa.list_devices(portaudio))
    finally:
        with contextlib.suppress(Exception):
            portaudio.terminate()


def check_input_device(settings: Settings) -> None:
    """Raise AudioError (listing the devices) if the configured microphone is not there."""
    from edge_agent.audio import pa

    portaudio = pa.open_portaudio()
    try:
        pa.find_device(portaudio, settings.audio.input_device, "input")
    finally:
        with contextlib.suppress(Exception):
            portaudio.terminate()


class Microphone:
    """The PortAudio microphone into the listener's ring; ``now()`` is the capture clock."""

    def __init__(self, settings: Settings, bus: EventBus) -> None:
        self.settings = settings
        self.bus = bus
        self.source: Any = None

    def start(self, ring: Any) -> None:
        from edge_agent.audio.pa import MicSource

        a = self.settings.audio
        self.source = MicSource(ring, sample_rate=RATE, device=a.input_device, device_rate=a.device_sample_rate,
                                frame_ms=a.frame_ms, reconnect_max_s=a.reconnect_max_s, on_event=self._event)
        self.source.start()  # a missing device raises AudioError listing the devices

    def now(self) -> float:
        return self.source.ring.total_written / RATE if self.source is not None else 0.0

    def _event(self, kind: str, detail: str) -> None:
        from edge_agent.events import ErrorEvent

        if kind == "audio_lost":
            self.bus.publish(ErrorEvent(stage="audio", message=f"microphone lost: {detail}"))
        else:
            log.info("microphone %s: %s", kind, detail)

    def close(self) -> None:
        if self.source is not None:
            self.source.stop()


class SinkPlayback:
    """The conversation's :class:`~edge_agent.conversation.Playback` over a blocking
    :class:`~edge_agent.audio.base.AudioSink` (the speaker): writes and drains run on one thread;
    ``stop`` is immediate (the device falls silent within one callback period)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.sample_rate: int = sink.sample_rate
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playback")
        self._written = 0
        self._stopped_at: int | None = None

    def begin_reply(self) -> None:
        self.sink.begin_reply()
        self._written = 0
        self._stopped_at = None

    async def write(self, chunk: np.ndarray) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.sink.write, chunk)
        self._written += len(chunk)

    async def drain(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.sink.drain)

    def stop(self) -> None:
        self._stopped_at = self.played()
        self.sink.stop(wait=False) if _accepts_wait(self.sink.stop) else self.sink.stop()

    def played(self) -> int:
        if self._stopped_at is not None:
            return self._stopped_at
        first = self.sink.first_sample_t
        if first is None:
            return 0
        return min(self._written, int((time.monotonic() - first) * self.sample_rate))

    def set_volume(self, gain: float) -> None:
        self.sink.set_volume(gain)

    def close(self) -> None:
        self.sink.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _accepts_wait(fn: Any) -> bool:
    import inspect

    try:
        return "wait" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def open_speaker(settings: Settings, sample_rate: int) -> SinkPlayback:
    from edge_agent.audio.pa import SpeakerSink

    a = settings.audio
    sink = SpeakerSink(sample_rate=sample_rate, device=a.output_device, output_rate=a.output_sample_rate,
                       volume=a.volume, reconnect_max_s=a.reconnect_max_s)
    try:
        sink.start()  # a missing device raises AudioError listing the devices
    except AudioError as exc:
        raise AudioError(f"{exc.message} (or write the voice to a file with --output WAV)") from None
    return SinkPlayback(sink)


def add_default_services(daemon: Daemon) -> None:
    """systemd notify when run by systemd; the MQTT bridge when ``mqtt.enabled``."""
    from edge_agent.service import service_from_env

    systemd = service_from_env()
    if systemd is not None:
        daemon.add_service(systemd)
    if daemon.settings.mqtt.enabled:
        from edge_agent.mqtt.service import MqttService

        daemon.add_service(MqttService(daemon.settings.mqtt, daemon.bus))


def run_daemon(settings: Settings, options: RunOptions, process_start: float | None = None,
               on_ready: Callable[[Daemon], object] | None = None) -> tuple[int, Daemon]:
    """Run a daemon to the end in a fresh event loop; returns (exit status, daemon)."""
    bus = EventBus()
    writer = EventWriter(options.events) if options.events else None
    if writer is not None:
        bus.subscribe(writer)
    daemon = Daemon(settings, options, bus, process_start=process_start)
    add_default_services(daemon)
    if on_ready is not None:
        on_ready(daemon)
    try:
        status = asyncio.run(daemon.run())
    except EdgeAgentError:
        raise
    finally:
        if writer is not None:
            writer.close()
    return status, daemon
