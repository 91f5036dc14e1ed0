"""The daemon's life: start (devices, engines, conversation, services, audio), serve until stopped
or until a WAV input is done, shut down in reverse. Every component publishes on one event bus;
services (MQTT, systemd) plug in with :meth:`Daemon.add_service`.

Threads: the audio input (PortAudio callback, or a WAV feeder thread) fills the ring; the listener
thread runs wake word / VAD / turn policy; the asyncio loop owns the conversation; STT, TTS and the
LLM each have one worker thread. Signals: SIGTERM/SIGINT stop (playback first, exit 0), SIGHUP
reloads the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.agent import Conversation, ExecutorSpeaker, ExecutorTranscriber, Playback
from edge_agent.answers.router import AnswerRouter, declared_tools
from edge_agent.app.listening import BeatingListener, ListenerAdapter
from edge_agent.app.service import Service
from edge_agent.app.wiring import Engines, conversation_settings, load_engines, voice_sample_rate
from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.chime import chime_samples
from edge_agent.audio.echo_path import EchoPath, build_echo_path
from edge_agent.audio.files import PacedInput, WavInput, WavPlayback
from edge_agent.audio.microphone import Microphone, check_input_device
from edge_agent.audio.playback import SinkPlayback, open_speaker
from edge_agent.audio.ringbuf import RingBuffer, ring_for_seconds
from edge_agent.audio.room import room_input
from edge_agent.bus import EventBus
from edge_agent.config import Settings
from edge_agent.control import ToolRunner
from edge_agent.event_log import EventWriter
from edge_agent.events import AgentState, ErrorEvent, Event, StateChanged
from edge_agent.models import ModelManager, manager_from_settings

log = logging.getLogger(__name__)

Closer = Callable[[], Coroutine[Any, Any, None] | None]


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
    """Hear the replies through this simulated room (preset or impulse-response WAV)."""
    source: PacedInput | None = None
    """Programmatic input instead of ``input_wav`` (benchmarks), fed like a WAV input."""


@dataclass
class _Devices:
    """The audio ends, opened before the models load (a missing device fails fast): either an input
    feed (WAV or programmatic) or the microphone; the speaker unless the output is a WAV file."""

    feed: PacedInput | None
    mic: Microphone | None
    speaker: SinkPlayback | None
    echo_path: EchoPath


class Daemon:
    """One agent process. ``await run()`` until stopped (or until a WAV input is done)."""

    def __init__(self, settings: Settings, options: RunOptions | None = None, bus: EventBus | None = None,
                 process_start: float | None = None) -> None:
        self.settings = settings
        self.options = options or RunOptions()
        self.bus = bus or EventBus()
        self.process_start = process_start if process_start is not None else time.monotonic()
        self.services: list[Service] = []
        self.heartbeats: list[Callable[[], None]] = []
        """Called from the listener loop once per processed hop while audio flows (sd_notify WATCHDOG)."""
        self.conversation: Conversation | None = None
        self.listener: BeatingListener | None = None
        self.cold_start_s: float | None = None
        self.tools: ToolRunner | None = None
        self._stop: asyncio.Event | None = None
        self._input_done: asyncio.Event | None = None
        self._closers: list[Closer] = []

    # --- extension points ---------------------------------------------------------------------

    def add_service(self, service: Service) -> None:
        """Register a service: ``await service.start(daemon)`` once the agent is up, ``await
        service.stop()`` on the way down. Its listener heartbeat, if it wants one, is called
        once per processed hop; the first service offering tools gives them to the LLM."""
        self.services.append(service)
        beat = service.listener_heartbeat()
        if beat is not None:
            self.heartbeats.append(beat)
        if self.tools is None:
            self.tools = service.tool_runner()

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
        from edge_agent.app.systemd import SystemdService, reload_settings

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
        models = manager_from_settings(self.settings)
        devices = self._open_devices(models)
        engines = await self._load_engines(models, devices.echo_path)
        self._closers.append(engines.llm.stop)
        ring = ring_for_seconds(self.settings.audio.ring_seconds, SAMPLE_RATE)
        self.listener = BeatingListener(engines.core, ring, heartbeat=self.heartbeat)
        devices.echo_path.attach_listener(self.listener)
        answers = await asyncio.to_thread(self._build_answers) if self.settings.answers.enabled else None
        self.conversation = self._build_conversation(devices, engines, self.listener, answers)
        for service in self.services:
            await service.start(self)
        self._mark_listening()
        self._start_audio(devices, self.listener, ring)

    def _open_devices(self, models: ModelManager) -> _Devices:
        opts = self.options
        feed = opts.source or (WavInput(opts.input_wav, paced=not opts.fast) if opts.input_wav else None)
        # A WAV or scripted input hears the replies only through --room: with no echo to cancel, AEC3
        # would only thin the user's voice while its suppressor is unconverged (barge-ins missed).
        echo_path = build_echo_path(self.settings, acoustic=feed is None or bool(opts.room and opts.input_wav))
        if opts.room and opts.input_wav:
            feed = room_input(opts.input_wav, opts.room, paced=not opts.fast)
        mic = Microphone(self.settings, self.bus) if feed is None else None
        if mic is not None:
            check_input_device(self.settings)
        speaker = None
        if opts.output_wav is None:
            speaker = open_speaker(self.settings, voice_sample_rate(self.settings, models))
            self._closers.append(speaker.close)
        return _Devices(feed=feed, mic=mic, speaker=speaker, echo_path=echo_path)

    async def _load_engines(self, models: ModelManager, echo_path: EchoPath) -> Engines:
        """The engines, with the listener's events going to the conversation once it exists."""

        def on_listener_event(event: Event) -> None:
            if self.conversation is not None:
                self.conversation.post(event)

        return await load_engines(self.settings, models, on_listener_event, self.process_start, echo=echo_path.echo)

    def _build_answers(self) -> AnswerRouter:
        """The answer router (blocking: it loads the intent templates and indexes the knowledge)."""
        router = AnswerRouter(self.settings, tools=self.tools, emit=self.bus.publish, on_alarm=self._alarm,
                              volume=lambda: self.settings.audio.volume)
        for problem in router.problems:
            log.warning("%s", problem)
            self.bus.publish(ErrorEvent(stage="knowledge", message=problem))
        return router

    def _alarm(self, text: str) -> None:
        """A timer rang (on the loop): say so."""
        if self.conversation is not None:
            self.conversation.say(text)

    def _build_conversation(self, devices: _Devices, engines: Engines, listener: BeatingListener,
                            answers: AnswerRouter | None = None) -> Conversation:
        feed, settings = devices.feed, self.settings
        paced = feed is None or feed.paced
        latency_clock: Callable[[], float] | None
        if feed is not None:
            latency_clock = feed.now if paced else None
        else:
            latency_clock = devices.mic.now if devices.mic is not None else None
        sink: Playback
        if self.options.output_wav is not None:
            wav_out = WavPlayback(self.options.output_wav, engines.tts.sample_rate, paced=paced,
                                  position=feed.now if feed is not None else None)
            self._closers.append(wav_out.close)
            room_reference = getattr(feed, "reference", None)  # a simulated room hears the replies
            if room_reference is not None:
                wav_out.add_reference(room_reference)
            sink = wav_out
        else:
            assert devices.speaker is not None
            sink = devices.speaker
        devices.echo_path.attach_sink(sink)
        core = engines.core
        return Conversation(
            bus=self.bus, llm=engines.llm, speaker=ExecutorSpeaker(engines.tts), playback=sink,
            transcriber=ExecutorTranscriber(engines.stt),
            listener=ListenerAdapter(listener, pre_roll_s=settings.turn.pre_roll_ms / 1000),
            settings=conversation_settings(settings), tools=self.tools,
            audio_now=latency_clock, audio_clock=lambda: core.t, on_reload=self.reload,
            completeness=engines.completeness, answers=answers,
            chime=chime_samples(settings.audio.chime, sink.sample_rate),
        )

    def _mark_listening(self) -> None:
        """The cold start is over: the heap is settled and the agent is idle, listening."""
        settle_heap()
        self.cold_start_s = time.monotonic() - self.process_start
        log.info("listening (cold start %.2f s)", self.cold_start_s)
        self.bus.publish(StateChanged(state=AgentState.IDLE, previous=None))

    def _start_audio(self, devices: _Devices, listener: BeatingListener, ring: RingBuffer) -> None:
        """Audio starts flowing: the input feed steps the listener itself; the microphone fills the
        ring and the listener thread pulls from it."""
        if devices.feed is not None:
            loop = asyncio.get_running_loop()
            assert self._input_done is not None
            done = self._input_done
            devices.feed.start(listener, lambda: _set_threadsafe(loop, done))
            self._closers.append(devices.feed.stop)
            return
        assert devices.mic is not None
        self._closers.append(devices.mic.close)
        devices.mic.start(ring)
        listener.start()
        self._closers.append(listener.stop)

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
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping %r failed", service)
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
    wrappers, config) into the permanent generation, so later full collections don't walk them
    (a full collection of the start-up heap holds the listener loop for tens of milliseconds)."""
    t0 = time.monotonic()
    gc.collect()
    gc.freeze()
    log.debug("start-up heap frozen (%d objects) in %.0f ms", gc.get_freeze_count(), (time.monotonic() - t0) * 1000)


def _set_threadsafe(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(event.set)


def add_default_services(daemon: Daemon) -> None:
    """systemd notify when run by systemd; the MQTT bridge when ``mqtt.enabled``, else the declared
    ``command`` tools alone."""
    from edge_agent.app.systemd import service_from_env

    systemd = service_from_env()
    if systemd is not None:
        daemon.add_service(systemd)
    # the declared tools, with the example one when `answers.demo_tool` asks for it
    tools = declared_tools(daemon.settings)
    if daemon.settings.mqtt.enabled:
        from edge_agent.app.mqtt_service import MqttService

        mqtt = daemon.settings.mqtt.model_copy(update={"tools": tools})
        daemon.add_service(MqttService(mqtt, daemon.bus))
    elif any(tool.command for tool in tools):  # local programs need no broker
        from edge_agent.app.local_tools import LocalToolService

        daemon.add_service(LocalToolService(tools, daemon.bus))


def run_daemon(settings: Settings, options: RunOptions, process_start: float | None = None,
               on_ready: Callable[[Daemon], object] | None = None,
               services: list[Service] | None = None) -> tuple[int, Daemon]:
    """Run a daemon to the end in a fresh event loop; returns (exit status, daemon). ``services``:
    the daemon's services instead of the default ones (systemd notify, MQTT)."""
    bus = EventBus()
    writer = EventWriter(options.events) if options.events else None
    if writer is not None:
        bus.subscribe(writer)
    daemon = Daemon(settings, options, bus, process_start=process_start)
    if services is None:
        add_default_services(daemon)
    else:
        for service in services:
            daemon.add_service(service)
    if on_ready is not None:
        on_ready(daemon)
    try:
        return asyncio.run(daemon.run()), daemon
    finally:
        if writer is not None:
            writer.close()
