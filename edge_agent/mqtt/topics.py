"""The topic layout under ``<topic_prefix>/<device_id>`` (one place, so the bridge, discovery,
the docs and the tests agree)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edge_agent.events import EventType

# Which bus events go out on ``event/<name>``, and under which name.
EVENT_TOPIC_NAMES: dict[EventType, str] = {
    EventType.WAKE: "wake",
    EventType.TRANSCRIPT: "transcript",
    EventType.REPLY_TEXT: "reply",
    EventType.TURN_DONE: "turn",
    EventType.ERROR: "error",
    EventType.TOOL: "tool",
    EventType.TIMER: "timer",
}

COMMANDS = ("say", "ask", "wake", "cancel", "mute", "unmute", "volume", "reload")

FORBIDDEN_IN_LEVEL = ("/", "+", "#", "\0")


def node_id(device_id: str) -> str:
    """The device id as Home Assistant wants a discovery topic level: ``[a-zA-Z0-9_-]``."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", device_id)


def _char_ok(c: str) -> bool:
    """What brokers accept in a topic (mosquitto closes the connection otherwise): no control
    characters, surrogates or Unicode non-characters."""
    o = ord(c)
    return not (o < 0x20 or 0x7F <= o <= 0x9F or 0xD800 <= o <= 0xDFFF or 0xFDD0 <= o <= 0xFDEF
                or (o & 0xFFFE) == 0xFFFE)


def is_valid_topic(topic: str, max_bytes: int = 1024) -> bool:
    """A topic this client may publish to: non-empty, no wildcards, only characters brokers accept."""
    return (bool(topic) and "+" not in topic and "#" not in topic and len(topic.encode("utf-8", "replace")) <= max_bytes
            and all(_char_ok(c) for c in topic))


def is_safe_level(value: str) -> bool:
    """A value that may be put into one topic level: non-empty, no separators, wildcards, NUL or
    other characters brokers refuse."""
    return bool(value) and not any(c in value for c in FORBIDDEN_IN_LEVEL) and all(_char_ok(c) for c in value)


@dataclass(frozen=True)
class Topics:
    prefix: str
    device_id: str
    discovery_prefix: str = "homeassistant"

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def metrics(self) -> str:
        return f"{self.base}/metrics"

    @property
    def last(self) -> str:
        """Retained: the last transcript, reply and latency (what Home Assistant's sensors show)."""
        return f"{self.base}/last"

    def event(self, name: str) -> str:
        return f"{self.base}/event/{name}"

    def cmd(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    @property
    def cmd_filter(self) -> str:
        return f"{self.base}/cmd/+"

    @property
    def cmd_prefix(self) -> str:
        return f"{self.base}/cmd/"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def discovery(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{node_id(self.device_id)}/{object_id}/config"
