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
bounded offline queue holds only QoS 1 events, and a long outage can never replay stale state."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import queue
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge_agent.config import MqttConfig
from edge_agent.control import AgentControl
from edge_agent.errors import MqttError
from edge_agent.events import (
    AgentState,
    ErrorEvent,
    Event,
    EventType,
    LlmRoute,
    ReplyText,
    StateChanged,
    Transcript,
    TurnDone,
)
from edge_agent.mqtt.commands import (
    MAX_PAYLOAD_BYTES,
    Command,
    CommandError,
    apply_command,
    parse_command,
    response_payload,
)
from edge_agent.mqtt.discovery import discovery_messages
from edge_agent.mqtt.metrics import Metrics
from edge_agent.mqtt.topics import EVENT_TOPIC_NAMES, Topics, is_valid_topic

log = logging.getLogger(__name__)

INBOX_LIMIT = 10_000
"""Items waiting for the worker; beyond this, events and commands are dropped (and counted)."""
PENDING_RESPONSES = 256
"""``ask`` requests whose reply is still due on their MQTT 5 response topic."""
ERROR_REPLIES_PER_S = 50.0
ERROR_REPLIES_BURST = 200.0
"""Answers to bad commands are rate-limited, so a flood of them cannot fill paho's bounded queue
and push the agent's own events out; the excess is counted (``errors_suppressed``), not answered."""
RECEIVE_MAXIMUM = 16
"""Unacknowledged QoS 1 commands the broker may have in flight to us (MQTT 5 Receive Maximum)."""
COMMAND_QUEUE_LIMIT = 1000
"""Commands waiting for the command worker; beyond this they are dropped (and counted)."""
REPUBLISH_DELAY_S = 0.02
"""After a reconnect, paho first re-sends what was in flight; retained topics go after it so a
stale in-flight state can never overwrite the newest one."""

_FORWARDED = frozenset({*EVENT_TOPIC_NAMES, EventType.STATE, EventType.LLM_ROUTE})


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class BridgeStats:
    connects: int = 0
    events_published: int = 0
    events_dropped: int = 0
    """QoS 1 events refused because paho's offline queue was full."""
    inbox_dropped: int = 0
    commands_ok: int = 0
    commands_rejected: int = 0
    """Invalid commands (answered on event/error)."""
    commands_failed: int = 0
    """Valid commands the agent raised on (answered on event/error)."""
    errors_suppressed: int = 0
    """Answers to bad commands left out by the rate limit."""
    handler_errors: int = 0
    """Unexpected exceptions caught in the bridge's own code: should stay 0."""
    last_connect_t: float | None = None
    last_republish_t: float | None = None
    stale_retained_dropped: int = 0
    """Unacknowledged retained publishes (state, metrics…) dropped when the connection was lost."""


def _drop_unacked_retained(client: mqtt.Client, topics: set[str]) -> int:
    """Forget the retained publishes paho still holds unacknowledged when a connection drops (and
    again when it is back, before paho re-sends what it holds).

    A publish made in the moment between the broker going away and paho noticing stays in paho's
    session, and paho re-sends it after the reconnect, *after* calling ``on_connect``: a stale state
    could then overwrite the newest one that the reconnect republishes. The newest payload of every
    retained topic is republished on connect anyway, so the old ones are dropped here. paho has no
    public API for this; its ``_out_messages`` (paho-mqtt 2.x) is used under its own lock, and if it
    ever changes shape nothing is dropped (the reconnect then only repeats a few old states)."""
    messages = getattr(client, "_out_messages", None)
    lock = getattr(client, "_out_message_mutex", None)
    if messages is None or lock is None:
        return 0
    with lock:
        stale = [mid for mid, m in messages.items() if getattr(m, "retain", False) and m.topic in topics]
        for mid in stale:
            del messages[mid]
    return len(stale)


class _Stop:
    pass


class _Pace:
    """A token bucket: ``wait()`` returns at once while under ``rate`` per second (bursts of one
    second's worth), otherwise sleeps until the next token."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = self.burst
        self.t = time.monotonic()

    def wait(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens < 1.0:
            time.sleep((1.0 - self.tokens) / self.rate)
            self.tokens = 1.0
            self.t = time.monotonic()
        self.tokens -= 1.0


_STOP = _Stop()


def turn_route(done: TurnDone, attempts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The route that answered a turn: the router's winner as TurnDone reports it (a hedge or a
    failover may launch several attempts, and an earlier, slower one can win), with the reason
    the matching attempt was launched for (None when no ``llm_route`` told it)."""
    if done.backend is None:
        return None
    reason = next((a["reason"] for a in reversed(attempts)
                   if a["backend"] == done.backend and a["region"] == done.region), None)
    return {"backend": done.backend, "region": done.region, "reason": reason}


class MqttBridge:
    """Events to MQTT and MQTT commands to an :class:`AgentControl`. Thread-safe entry points:
    :meth:`on_event`, :meth:`publish_tool`, :meth:`handle_message`, :meth:`start`, :meth:`stop`."""

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
        self._clock = clock
        self._control: AgentControl | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: queue.Queue[Any] = queue.Queue(maxsize=INBOX_LIMIT)
        self._commands: queue.Queue[Any] = queue.Queue(maxsize=COMMAND_QUEUE_LIMIT)
        self._pace = _Pace(cfg.max_commands_per_s)
        self._stopping = threading.Event()
        self._retained: dict[str, bytes] = {}
        self._retained_lock = threading.Lock()
        self._routes: OrderedDict[int | None, list[dict[str, Any]]] = OrderedDict()
        """The LLM attempts (``llm_route``) of recent turns, by turn id (None: the router didn't know it)."""
        self._responses: OrderedDict[str, tuple[str, bytes | None]] = OrderedDict()
        self._responses_lock = threading.Lock()  # the worker adds, the worker and the loop remove
        self._tokens = itertools.count(1)
        self._last: dict[str, Any] = {"transcript": None, "reply": None, "latency_ms": None, "turn_id": None}
        self._was_connected = False
        self._turn_id: int | None = None
        self._refusals = 0
        self._error_tokens = ERROR_REPLIES_BURST
        self._error_refill_t = time.monotonic()
        self._error_lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="mqtt-bridge", daemon=True)
        self._command_worker = threading.Thread(target=self._run_commands, name="mqtt-commands", daemon=True)
        self._client = self._make_client(client_id or f"edge-agent-{cfg.device_id}")
        self._set_retained(self.topics.availability, b"online")
        self._set_state(AgentState.IDLE, None, time.time())
        if cfg.discovery:
            for topic, config in discovery_messages(self.topics).items():
                self._set_retained(topic, _json(config))

    # --- setup ----------------------------------------------------------------------------------

    def _make_client(self, client_id: str) -> mqtt.Client:
        cfg = self.cfg
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,  # acked by the worker once handled: the broker's flow control paces a flood
        )
        client.will_set(self.topics.availability, "offline", qos=1, retain=True)
        password = self._password()
        if cfg.username is not None:
            client.username_pw_set(cfg.username, password)
        if cfg.tls or cfg.tls_ca or cfg.tls_cert:
            self._set_tls(client)
        client.reconnect_delay_set(cfg.reconnect_min_s, max(cfg.reconnect_min_s, cfg.reconnect_max_s))
        client.max_queued_messages_set(cfg.max_queued_messages)
        client.max_inflight_messages_set(50)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def _password(self) -> str | None:
        if self.cfg.password is not None:
            return self.cfg.password.get_secret_value()
        if self.cfg.password_file is not None:
            try:
                return self.cfg.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise MqttError(f"mqtt.password_file {self.cfg.password_file} cannot be read: {exc.strerror}") from None
        return None

    def _set_tls(self, client: mqtt.Client) -> None:
        cfg = self.cfg
        for name in ("tls_ca", "tls_cert", "tls_key"):
            path = getattr(cfg, name)
            if path is not None and not path.is_file():
                raise MqttError(f"mqtt.{name} {path} does not exist")
        try:
            client.tls_set(
                ca_certs=str(cfg.tls_ca) if cfg.tls_ca else None,
                certfile=str(cfg.tls_cert) if cfg.tls_cert else None,
                keyfile=str(cfg.tls_key) if cfg.tls_key else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise MqttError(f"mqtt TLS setup failed (check tls_ca, tls_cert, tls_key): {exc}") from None
        if cfg.tls_insecure:
            client.tls_insecure_set(True)

    def attach(self, control: AgentControl | None, loop: asyncio.AbstractEventLoop | None) -> None:
        """Where commands go: ``control`` is called on ``loop`` (or inline when ``loop`` is None)."""
        self._control = control
        self._loop = loop
        if control is not None:
            try:
                self._set_state(control.state, None, time.time())
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
        self.stats.stale_retained_dropped += _drop_unacked_retained(client, topics)

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
        if event.type in _FORWARDED:
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
            self._handle_event(item[1], item[2])
        elif tag == "message":
            try:
                self.handle_message(item[1], item[2], item[3], item[4], size=item[5])
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

    def _set_state(self, state: AgentState, turn_id: int | None, ts: float) -> None:
        self._set_retained(self.topics.state, _json({"state": str(state), "since": _iso(ts), "turn_id": turn_id}))

    def _handle_event(self, ts: float, event: Event) -> None:
        self.metrics.observe(event)
        if event.turn_id is not None:
            self._turn_id = event.turn_id
        if isinstance(event, StateChanged):
            self._set_state(event.state, event.turn_id if event.turn_id is not None else self._turn_id, ts)
            return
        if isinstance(event, LlmRoute):
            attempts = self._routes.setdefault(event.turn_id, [])
            attempts.append({"backend": event.backend, "region": event.region, "reason": event.reason})
            del attempts[:-8]
            while len(self._routes) > 16:
                self._routes.popitem(last=False)
            return
        name = EVENT_TOPIC_NAMES.get(event.type)
        if name is None:
            return
        payload = event.to_dict()
        if "turn_id" not in payload and self._turn_id is not None and event.type is EventType.TOOL:
            payload["turn_id"] = self._turn_id  # the tool runner doesn't know the turn; the bridge does
        last_changed = False
        if isinstance(event, TurnDone):
            # the router's route events may not carry the turn id: then the latest ones are this turn's
            attempts = self._routes.pop(event.turn_id, []) or self._routes.pop(None, [])
            route = turn_route(event, attempts)
            if route is not None:
                payload["route"] = route
            if event.voice_to_voice_ms is not None:
                self._last.update(latency_ms=round(event.voice_to_voice_ms, 1), turn_id=event.turn_id)
                last_changed = True
        elif isinstance(event, Transcript) and event.final:
            self._last.update(transcript=event.text, turn_id=event.turn_id)
            last_changed = True
        elif isinstance(event, ReplyText):
            self._last.update(reply=event.text, turn_id=event.turn_id)
            last_changed = True
            if event.reply_to is not None:
                self._answer(event)
        rc = self._publish(self.topics.event(name), _json(payload))
        if rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self.stats.events_published += 1  # NO_CONN: kept in paho's queue, sent on reconnect
        if last_changed:
            self._set_retained(self.topics.last, _json(self._last))

    def _answer(self, reply: ReplyText) -> None:
        with self._responses_lock:
            target = self._responses.pop(reply.reply_to or "", None)
        if target is not None:
            topic, correlation = target
            self._respond(topic, correlation, response_payload(
                "ask", True, reply=reply.text, turn_id=reply.turn_id, truncated=reply.truncated))

    def _respond(self, topic: str | None, correlation: bytes | None, body: dict[str, Any]) -> None:
        if not topic:
            return
        props = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            props.CorrelationData = correlation
        self._publish(topic, _json(body), properties=props)

    def _error_budget(self) -> bool:
        with self._error_lock:
            now = time.monotonic()
            self._error_tokens = min(ERROR_REPLIES_BURST,
                                     self._error_tokens + (now - self._error_refill_t) * ERROR_REPLIES_PER_S)
            self._error_refill_t = now
            if self._error_tokens >= 1.0:
                self._error_tokens -= 1.0
                return True
        self.stats.errors_suppressed += 1
        if self.stats.errors_suppressed == 1 or self.stats.errors_suppressed % 1000 == 0:
            log.warning("MQTT: a flood of bad commands; answers to %d of them left out so far",
                        self.stats.errors_suppressed)
        return False

    def _publish_error(self, command: str, message: str, response: str | None, correlation: bytes | None) -> None:
        if not self._error_budget():
            return
        wall_t = self._clock() if self._clock is not None else None
        error = ErrorEvent(stage="command", message=message, wall_t=wall_t)
        self._publish(self.topics.event("error"), _json(error.to_dict()))
        self._respond(response, correlation, response_payload(command, False, error=message))

    def _publish_metrics(self) -> None:
        stats = {k: v for k, v in asdict(self.stats).items() if not k.endswith("_t")}
        self._set_retained(self.topics.metrics, _json(self.metrics.snapshot({"mqtt": stats})))

    def publish_tool(self, topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        """For :class:`~edge_agent.mqtt.tools.MqttToolRunner`: publish now, or say it cannot
        (an action the user asked for must not fire minutes later, after an outage)."""
        if not self._client.is_connected():
            return False
        return self._publish(topic, payload, qos=qos, retain=retain) == MQTTErrorCode.MQTT_ERR_SUCCESS

    # --- incoming commands (worker thread) -------------------------------------------------------

    def handle_message(
        self,
        topic: str,
        payload: bytes,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        size: int | None = None,
    ) -> None:
        """Validate one incoming message and hand a valid command to the agent. Every refusal is
        answered on ``event/error`` (and the response topic, if any); nothing here raises."""
        if topic == self.topics.ha_status:
            if payload.strip().lower() == b"online":
                self._republish()  # Home Assistant restarted: it needs discovery and state again
            return
        if not topic.startswith(self.topics.cmd_prefix):
            return
        name = topic[len(self.topics.cmd_prefix):]
        response = response_topic if self._response_allowed(response_topic) else None
        try:
            if response_topic is not None and response is None:
                raise CommandError(name[:40], "response topic refused (wildcards, too long, or inside the "
                                   "agent's own or the discovery topics)")
            if size is not None and size > len(payload):
                raise CommandError(name[:40], f"payload of {size} bytes is larger than {MAX_PAYLOAD_BYTES}")
            command = parse_command(name, payload)
        except CommandError as exc:
            self.stats.commands_rejected += 1
            log.debug("MQTT command refused: %s", exc)
            self._publish_error(exc.command, str(exc), response, correlation)
            return
        token = None
        if command.name == "ask" and response is not None:
            token = f"r{next(self._tokens)}"
            with self._responses_lock:
                self._responses[token] = (response, correlation)
                while len(self._responses) > PENDING_RESPONSES:
                    self._responses.popitem(last=False)
        self._dispatch(command, token, response, correlation)

    def _response_allowed(self, topic: str | None) -> bool:
        if not topic or not is_valid_topic(topic, max_bytes=256):
            return False
        return not topic.startswith((f"{self.topics.base}/", f"{self.topics.discovery_prefix}/"))

    def _dispatch(self, command: Command, token: str | None, response: str | None, correlation: bytes | None) -> None:
        if self._control is None:
            self.stats.commands_failed += 1
            self._publish_error(command.name, f"cmd/{command.name}: the agent is not ready yet", response, correlation)
            return
        if self._loop is None:
            self._apply(command, token, response, correlation)
            return
        try:
            self._loop.call_soon_threadsafe(self._apply, command, token, response, correlation)
        except RuntimeError:  # the loop is closed: the agent is shutting down
            self.stats.commands_failed += 1
            self._publish_error(command.name, f"cmd/{command.name}: the agent is shutting down", response, correlation)

    def _apply(self, command: Command, token: str | None, response: str | None, correlation: bytes | None) -> None:
        """On the asyncio loop: start the command; never let an exception reach the loop."""
        assert self._control is not None
        try:
            apply_command(self._control, command, reply_to=token)
        except Exception as exc:
            self.stats.commands_failed += 1
            log.warning("MQTT command %s failed: %s", command.name, exc)
            with self._responses_lock:
                self._responses.pop(token or "", None)
            self._publish_error(command.name, f"cmd/{command.name}: failed: {exc}", response, correlation)
            return
        self.stats.commands_ok += 1
        if response is not None and command.name != "ask":
            self._respond(response, correlation, response_payload(command.name, True))
