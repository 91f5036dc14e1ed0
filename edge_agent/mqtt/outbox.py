"""What the bridge's parts share: the signature of a publish, how payloads are encoded, and the
counters they keep (published as ``metrics.mqtt``)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Protocol

from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties


class Publish(Protocol):
    def __call__(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                 properties: Properties | None = None) -> MQTTErrorCode: ...


def to_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as every payload goes out."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def iso_time(ts: float) -> str:
    """A wall-clock timestamp as ISO 8601 UTC with milliseconds (``...T12:00:00.000Z``)."""
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
