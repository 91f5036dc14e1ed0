"""Incoming MQTT messages: validated, turned into commands for the agent's
:class:`~edge_agent.control.AgentControl` (called on the asyncio loop), and answered. Every refusal
is answered on ``event/error`` and, when the sender gave one, its MQTT 5 response topic; answers
to bad commands are rationed so a flood of them cannot crowd the agent's own events out."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.control import AgentControl
from edge_agent.events import ErrorEvent, ReplyText
from edge_agent.mqtt.commands import (
    MAX_PAYLOAD_BYTES,
    Command,
    CommandError,
    apply_command,
    parse_command,
    response_payload,
)
from edge_agent.mqtt.outbox import BridgeStats, Publish, to_json
from edge_agent.mqtt.ratelimit import TokenBucket
from edge_agent.mqtt.topics import Topics, is_valid_topic

log = logging.getLogger(__name__)

PENDING_RESPONSES = 256
"""``ask`` requests whose reply is still due on their MQTT 5 response topic."""
ERROR_REPLIES_PER_S = 50.0
ERROR_REPLIES_BURST = 200.0
"""Answers to bad commands are rate-limited, so a flood of them cannot fill paho's bounded queue
and push the agent's own events out; the excess is counted (``errors_suppressed``), not answered."""


class CommandHandler:
    """Commands in, answers out. :meth:`handle_message` runs on the bridge's command worker;
    :meth:`answer` on its event worker; the commands themselves on the agent's loop."""

    def __init__(self, topics: Topics, stats: BridgeStats, publish: Publish, republish: Callable[[], None],
                 clock: Callable[[], float] | None = None) -> None:
        self.topics = topics
        self.stats = stats
        self._publish = publish
        self._republish = republish
        self._clock = clock
        self._control: AgentControl | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._responses: OrderedDict[str, tuple[str, bytes | None]] = OrderedDict()
        self._responses_lock = threading.Lock()  # the worker adds, the worker and the loop remove
        self._tokens = itertools.count(1)
        self._error_replies = TokenBucket(ERROR_REPLIES_PER_S, ERROR_REPLIES_BURST)

    def attach(self, control: AgentControl | None, loop: asyncio.AbstractEventLoop | None) -> None:
        """Where commands go: ``control`` is called on ``loop`` (or inline when ``loop`` is None)."""
        self._control = control
        self._loop = loop

    def handle_message(
        self,
        topic: str,
        payload: bytes,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        size: int | None = None,
    ) -> None:
        """Validate one incoming message and hand a valid command to the agent; nothing here raises."""
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

    def answer(self, reply: ReplyText) -> None:
        """An ``ask``'s reply, on the response topic it came with."""
        with self._responses_lock:
            target = self._responses.pop(reply.reply_to or "", None)
        if target is not None:
            topic, correlation = target
            self._respond(topic, correlation, response_payload(
                "ask", True, reply=reply.text, turn_id=reply.turn_id, truncated=reply.truncated))

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

    def _respond(self, topic: str | None, correlation: bytes | None, body: dict[str, Any]) -> None:
        if not topic:
            return
        props = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            props.CorrelationData = correlation
        self._publish(topic, to_json(body), properties=props)

    def _publish_error(self, command: str, message: str, response: str | None, correlation: bytes | None) -> None:
        if not self._error_replies.take():
            self.stats.errors_suppressed += 1
            if self.stats.errors_suppressed == 1 or self.stats.errors_suppressed % 1000 == 0:
                log.warning("MQTT: a flood of bad commands; answers to %d of them left out so far",
                            self.stats.errors_suppressed)
            return
        wall_t = self._clock() if self._clock is not None else None
        error = ErrorEvent(stage="command", message=message, wall_t=wall_t)
        self._publish(self.topics.event("error"), to_json(error.to_dict()))
        self._respond(response, correlation, response_payload(command, False, error=message))
