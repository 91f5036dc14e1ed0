"""The MQTT bridge: agent events out, commands in, over paho-mqtt 2.x (MQTT 5).

Threads (nothing here ever runs on the audio path or blocks the asyncio loop):
  * paho's network thread (``loop_start``) connects, reconnects with backoff and does the socket I/O;
    its callbacks only enqueue;
  * one worker thread (``mqtt-bridge``) turns bus events into publishes and publishes metrics;
  * one more (``mqtt-commands``) validates incoming commands, paced (a flood waits at the broker,
    thanks to MQTT 5 flow control and acknowledging only once handled). Valid commands are handed
    to the asyncio loop with ``call_soon_threadsafe``, where :class:`AgentControl` is called;
  * the bus subscriber (:meth:`MqttBridge.on_event`, called inline on any thread, the listener's
    included) only enqueues.

Retained topics (availability, state, last, metrics, discovery) are held in a dict, newest payload
per topic, and published only while connected; every (re)connect publishes them all again. So paho's
bounded offline queue holds only QoS 1 events, and a long outage can never replay stale state.

The parts: ``client.py`` configures paho; ``forward.py`` turns events into topics
(:class:`~edge_agent.mqtt.forward.EventForwarder`); ``incoming.py`` turns messages into commands
(:class:`~edge_agent.mqtt.incoming.CommandHandler`); this module owns the connection, the queues
and the two worker threads."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge_agent.config import MqttConfig
from edge_agent.control import AgentControl
from edge_agent.events import AgentState, Event
from edge_agent.mqtt.client import make_client
from edge_agent.mqtt.commands import MAX_PAYLOAD_BYTES
from edge_agent.mqtt.discovery import discovery_messages
from edge_agent.mqtt.forward import FORWARDED, EventForwarder
from edge_agent.mqtt.incoming import CommandHandler
from edge_agent.mqtt.metrics import Metrics
from edge_agent.mqtt.outbox import BridgeStats, to_json
from edge_agent.mqtt.paho_compat import drop_unacked_retained
from edge_agent.mqtt.ratelimit import TokenBucket
from edge_agent.mqtt.topics import Topics

log = logging.getLogger(__name__)

TOOL_ACK_S = 2.0
"""How long a tool call waits for the broker's acknowledgement before it is reported not done."""

INBOX_LIMIT = 10_000
"""Items waiting for the worker; beyond this, events and commands are dropped (and counted)."""
RECEIVE_MAXIMUM = 16
"""Unacknowledged QoS 1 commands the broker may have in flight to us (MQTT 5 Receive Maximum)."""
COMMAND_QUEUE_LIMIT = 1000
"""Commands waiting for the command worker; beyond this they are dropped (and counted)."""
REPUBLISH_DELAY_S = 0.02
"""After a reconnect, paho first re-sends what was in flight; retained topics go after it so a
stale in-flight state can never overwrite the newest one."""


class _Stop:
    pass


_STOP = _Stop()


class MqttBridge:
    """Events to MQTT and MQTT commands to an :class:`AgentControl`. Thread-safe entry points:
    :meth:`on_event`, :meth:`publish_tool`, :meth:`submit`, :meth:`start`, :meth:`stop`; incoming
    messages are validated and applied by :attr:`commands`."""

    def __init__(
        self,
        cfg: MqttConfig,
        *,
        clock: Callable[[], float] | None = None,
        client_id: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.topics = Topics(cfg.topic_prefix, cfg.device_id, cfg.discovery_prefix)
        self.stats = BridgeStats()
        self.metrics = Metrics()
        self._inbox: queue.Queue[Any] = queue.Queue(maxsize=INBOX_LIMIT)
        self._commands: queue.Queue[Any] = queue.Queue(maxsize=COMMAND_QUEUE_LIMIT)
        self._pace = TokenBucket(cfg.max_commands_per_s)
        self._stopping = threading.Event()
        self._retained: dict[str, bytes] = {}
        self._retained_lock = threading.Lock()
        self._was_connected = False
        self._refusals = 0
        self.commands = CommandHandler(self.topics, self.stats, self._publish, self._republish, clock)
        self.forwarder = EventForwarder(self.topics, self.metrics, self.stats, self._publish,
                                        self._set_retained, self.commands.answer)
        self._worker = threading.Thread(target=self._run, name="mqtt-bridge", daemon=True)
        self._command_worker = threading.Thread(target=self._run_commands, name="mqtt-commands", daemon=True)
        self._client = make_client(cfg, client_id or f"edge-agent-{cfg.device_id}", self.topics.availability)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_message = self._on_message
        self._set_retained(self.topics.availability, b"online")
        self.forwarder.set_state(AgentState.IDLE, None, time.time())
        if cfg.discovery:
            for topic, config in discovery_messages(self.topics).items():
                self._set_retained(topic, to_json(config))

    # --- setup ----------------------------------------------------------------------------------

    def attach(self, control: AgentControl | None, loop: asyncio.AbstractEventLoop | None) -> None:
        """Where commands go: ``control`` is called on ``loop`` (or inline when ``loop`` is None)."""
        self.commands.attach(control, loop)
        if control is not None:
            try:
                self.forwarder.set_state(control.state, None, time.time())
            except Exception:  # a half-started agent: keep the default state
                log.debug("agent state not readable yet", exc_info=True)

    def start(self) -> None:
        """Start connecting in the background; never blocks on the broker."""
        self._worker.start()
        self._command_worker.start()
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self._client.connect_async(self.cfg.host, self.cfg.port, self.cfg.keepalive, clean_start=True,
                                   properties=props)
        self._client.loop_start()
        log.info("MQTT: connecting to %s:%d as %s in the background", self.cfg.host, self.cfg.port, self.topics.base)

    def stop(self, timeout: float = 2.0) -> None:
        """Publish what is queued, then ``offline``, then disconnect (so no Last Will is sent)."""
        self._stopping.set()
        for q, worker in ((self._commands, self._command_worker), (self._inbox, self._worker)):
            try:
                q.put(_STOP, timeout=timeout)
            except queue.Full:
                pass
            if worker.is_alive():
                worker.join(timeout)
        if self._client.is_connected():
            try:
                info = self._client.publish(self.topics.availability, b"offline", qos=1, retain=True)
                info.wait_for_publish(timeout=min(1.0, timeout))
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until both workers have handled everything queued before this call."""
        for q in (self._commands, self._inbox):
            done = threading.Event()
            try:
                q.put(("flush", done), timeout=timeout)
            except queue.Full:
                return False
            if not done.wait(timeout):
                return False
        return True

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    # --- paho callbacks (network thread): enqueue only ----------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        try:
            if reason.is_failure:
                self._refusals += 1
                if self._refusals not in (1, 10) and self._refusals % 100:
                    return  # said already; paho keeps retrying with backoff
                log.warning("MQTT broker %s:%d refused the connection: %s (check mqtt.username, "
                            "the password and TLS settings)", self.cfg.host, self.cfg.port, reason)
                return
            self._refusals = 0
            self.stats.connects += 1
            self.stats.last_connect_t = time.monotonic()
            client.subscribe([
                (self.topics.cmd_filter, SubscribeOptions(qos=1, noLocal=True)),
                (self.topics.ha_status, SubscribeOptions(qos=1)),
            ])
            self._was_connected = True
            # Again here: paho re-sends what it holds only after this callback, and a publish made
            # while it was reconnecting is still held; the republish below sends the newest instead.
            self._forget_stale_retained(client)
            log.info("MQTT: connected to %s:%d", self.cfg.host, self.cfg.port)
            self._put(("connected",))
        except Exception:
            self.stats.handler_errors += 1
            log.exception("MQTT on_connect failed")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self._was_connected and not self._stopping.is_set():
            log.warning("MQTT: lost the broker (%s); reconnecting in the background", reason)
        self._was_connected = False
        self._forget_stale_retained(client)

    def _forget_stale_retained(self, client: mqtt.Client) -> None:
        with self._retained_lock:
            topics = set(self._retained)
        self.stats.stale_retained_dropped += drop_unacked_retained(client, topics)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.debug("MQTT: broker %s:%d not reachable; retrying with backoff", self.cfg.host, self.cfg.port)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            props = msg.properties
            response = getattr(props, "ResponseTopic", None) if props is not None else None
            correlation = getattr(props, "CorrelationData", None) if props is not None else None
            self.submit(msg.topic, bytes(msg.payload), response, correlation, ack=(msg.mid, msg.qos))
        except Exception:
            self.stats.handler_errors += 1
            log.debug("MQTT: unreadable message dropped", exc_info=True)

    def submit(self, topic: str, payload: bytes, response_topic: str | None = None,
               correlation: bytes | None = None, ack: tuple[int, int] | None = None) -> None:
        """Queue one incoming message for the worker, as paho's callback does (any thread).
        ``ack`` is the message's (mid, qos): acknowledged once handled, or now if it is dropped."""
        size = len(payload)
        if size > MAX_PAYLOAD_BYTES:
            payload = b""  # refused by its size alone; don't keep the big buffer queued
        try:
            self._commands.put_nowait(("message", topic, payload, response_topic, correlation, size, ack))
        except queue.Full:  # a flood of QoS 0 messages (QoS 1 ones are paced by the broker)
            self.stats.inbox_dropped += 1
            self._ack(ack)

    def _ack(self, ack: tuple[int, int] | None) -> None:
        if ack is not None and ack[1] > 0:
            self._client.ack(*ack)

    # --- the bus subscriber (any thread): enqueue only -----------------------------------------

    def on_event(self, event: Event) -> None:
        if event.type in FORWARDED:
            self._put(("event", time.time(), event))

    def _put(self, item: Any) -> bool:
        try:
            self._inbox.put_nowait(item)
        except queue.Full:
            self.stats.inbox_dropped += 1
            return False
        return True

    # --- the worker thread -----------------------------------------------------------------------

    def _run(self) -> None:
        interval = self.cfg.metrics_interval
        next_metrics = time.monotonic()
        while True:
            wait = next_metrics - time.monotonic()
            if wait <= 0:
                self._safely(self._publish_metrics)
                next_metrics = time.monotonic() + interval
                continue
            try:
                item = self._inbox.get(timeout=wait)
            except queue.Empty:
                continue
            if item is _STOP:
                return
            self._safely(self._handle, item)

    def _run_commands(self) -> None:
        """Incoming messages, paced to ``max_commands_per_s``. Each is acknowledged only once handled
        and, per MQTT 5, the broker keeps at most RECEIVE_MAXIMUM unacknowledged, so a flood waits at
        the broker. (Debian's mosquitto 2.0.11 stops enforcing that after the first acknowledgement;
        there the bounded queue is what holds a flood back.)"""
        while True:
            item = self._commands.get()
            if item is _STOP:
                return
            if item[0] == "message":
                if self._stopping.is_set():  # shutting down: what is still queued is dropped
                    self._ack(item[6])
                    continue
                self._pace.wait()
            self._safely(self._handle, item)

    def _safely(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            self.stats.handler_errors += 1
            log.exception("MQTT bridge: unexpected error (kept running)")

    def _handle(self, item: tuple[Any, ...]) -> None:
        tag = item[0]
        if tag == "event":
            self.forwarder.handle(item[1], item[2])
        elif tag == "message":
            try:
                self.commands.handle_message(item[1], item[2], item[3], item[4], size=item[5])
            finally:
                self._ack(item[6])
        elif tag == "flush":
            item[1].set()
        elif tag == "connected":
            time.sleep(REPUBLISH_DELAY_S)
            self._republish()

    def _republish(self) -> None:
        with self._retained_lock:
            items = list(self._retained.items())
        for topic, payload in items:
            self._publish(topic, payload, retain=True)
        self.stats.last_republish_t = time.monotonic()

    # --- outgoing --------------------------------------------------------------------------------

    def _publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                 properties: Properties | None = None) -> MQTTErrorCode:
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        except ValueError as exc:  # an invalid topic (e.g. a response topic paho refuses)
            log.debug("MQTT: cannot publish to %r: %s", topic[:80], exc)
            return MQTTErrorCode.MQTT_ERR_INVAL
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            self.stats.events_dropped += 1
            if self.stats.events_dropped == 1 or self.stats.events_dropped % 1000 == 0:
                log.warning("MQTT: offline queue full (%d); dropped %d events so far",
                            self.cfg.max_queued_messages, self.stats.events_dropped)
        return info.rc

    def _set_retained(self, topic: str, payload: bytes) -> None:
        """Remember the newest payload; publish it now only when connected (reconnects re-send all)."""
        with self._retained_lock:
            self._retained[topic] = payload
        if self._client.is_connected():
            self._publish(topic, payload, retain=True)

    def retained(self) -> dict[str, bytes]:
        """A copy of what the bridge keeps retained (for tests and diagnostics)."""
        with self._retained_lock:
            return dict(self._retained)

    def _publish_metrics(self) -> None:
        stats = {k: v for k, v in asdict(self.stats).items() if not k.endswith("_t")}
        self._set_retained(self.topics.metrics, to_json(self.metrics.snapshot({"mqtt": stats})))

    def publish_tool(self, topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        """For :class:`~edge_agent.mqtt.tools.MqttToolRunner`: publish now and, at QoS 1 or 2, wait
        (up to ``TOOL_ACK_S``; blocking: call it off the loop) until the broker has acknowledged it;
        False if it could not be published or was not acknowledged in time. An action the user asked
        for must not fire minutes later, after an outage, nor be reported done when it was not."""
        if not self._client.is_connected():
            return False
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        except ValueError as exc:
            log.debug("MQTT: cannot publish a tool call to %r: %s", topic[:80], exc)
            return False
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        if qos == 0:
            return True
        try:
            info.wait_for_publish(timeout=TOOL_ACK_S)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()
