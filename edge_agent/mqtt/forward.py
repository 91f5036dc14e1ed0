"""Bus events to MQTT: the retained ``state`` and ``last`` topics, one ``event/<name>`` topic per
forwarded event type, and, on each ``event/turn``, the LLM route that answered the turn."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from paho.mqtt.enums import MQTTErrorCode

from edge_agent.events import (
    AgentState,
    Event,
    EventType,
    LlmRoute,
    ReplyText,
    StateChanged,
    Transcript,
    TurnDone,
)
from edge_agent.mqtt.metrics import Metrics
from edge_agent.mqtt.outbox import BridgeStats, Publish, iso_time, to_json
from edge_agent.mqtt.topics import EVENT_TOPIC_NAMES, Topics

FORWARDED = frozenset({*EVENT_TOPIC_NAMES, EventType.STATE, EventType.LLM_ROUTE})
"""The event types the bridge takes from the bus."""
ROUTES_KEPT = 16
"""Turns whose LLM attempts are remembered until their ``turn`` event."""
ATTEMPTS_KEPT = 8
"""LLM attempts remembered per turn."""


def turn_route(done: TurnDone, attempts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The route that answered a turn: the router's winner as TurnDone reports it (a hedge or a
    failover may launch several attempts, and an earlier, slower one can win), with the reason
    the matching attempt was launched for (None when no ``llm_route`` told it)."""
    if done.backend is None:
        return None
    reason = next((a["reason"] for a in reversed(attempts)
                   if a["backend"] == done.backend and a["region"] == done.region), None)
    return {"backend": done.backend, "region": done.region, "reason": reason}


class EventForwarder:
    """Runs on the bridge's event worker only (no locking of its own)."""

    def __init__(self, topics: Topics, metrics: Metrics, stats: BridgeStats, publish: Publish,
                 set_retained: Callable[[str, bytes], None], answer: Callable[[ReplyText], None]) -> None:
        self.topics = topics
        self.metrics = metrics
        self.stats = stats
        self._publish = publish
        self._set_retained = set_retained
        self._answer = answer
        self._routes: OrderedDict[int | None, list[dict[str, Any]]] = OrderedDict()
        """The LLM attempts (``llm_route``) of recent turns, by turn id (None: the router didn't know it)."""
        self._last: dict[str, Any] = {"transcript": None, "reply": None, "latency_ms": None, "turn_id": None}
        self._turn_id: int | None = None

    def set_state(self, state: AgentState, turn_id: int | None, ts: float) -> None:
        self._set_retained(self.topics.state, to_json({"state": str(state), "since": iso_time(ts), "turn_id": turn_id}))

    def handle(self, ts: float, event: Event) -> None:
        self.metrics.observe(event)
        if event.turn_id is not None:
            self._turn_id = event.turn_id
        if isinstance(event, StateChanged):
            self.set_state(event.state, event.turn_id if event.turn_id is not None else self._turn_id, ts)
            return
        if isinstance(event, LlmRoute):
            attempts = self._routes.setdefault(event.turn_id, [])
            attempts.append({"backend": event.backend, "region": event.region, "reason": event.reason})
            del attempts[:-ATTEMPTS_KEPT]
            while len(self._routes) > ROUTES_KEPT:
                self._routes.popitem(last=False)
            return
        name = EVENT_TOPIC_NAMES.get(event.type)
        if name is None:
            return
        payload = event.to_dict()
        if "turn_id" not in payload and self._turn_id is not None and event.type is EventType.TOOL:
            payload["turn_id"] = self._turn_id  # the tool runner doesn't know the turn; the bridge does
        last_changed = self._update_last(event, payload)
        rc = self._publish(self.topics.event(name), to_json(payload))
        if rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self.stats.events_published += 1  # NO_CONN: kept in paho's queue, sent on reconnect
        if last_changed:
            self._set_retained(self.topics.last, to_json(self._last))

    def _update_last(self, event: Event, payload: dict[str, Any]) -> bool:
        """The ``last`` topic's fields this event changes (and a turn's route into ``payload``)."""
        if isinstance(event, TurnDone):
            # the router's route events may not carry the turn id: then the latest ones are this turn's
            attempts = self._routes.pop(event.turn_id, []) or self._routes.pop(None, [])
            route = turn_route(event, attempts)
            if route is not None:
                payload["route"] = route
            if event.voice_to_voice_ms is not None:
                self._last.update(latency_ms=round(event.voice_to_voice_ms, 1), turn_id=event.turn_id)
                return True
        elif isinstance(event, Transcript) and event.final:
            self._last.update(transcript=event.text, turn_id=event.turn_id)
            return True
        elif isinstance(event, ReplyText):
            self._last.update(reply=event.text, turn_id=event.turn_id)
            if event.reply_to is not None:
                self._answer(event)
            return True
        return False
