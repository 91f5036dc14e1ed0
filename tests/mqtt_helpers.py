"""Shared pieces of the MQTT tests: a fake AgentControl and a bridge factory."""

from __future__ import annotations

import threading
import time
from typing import Any

from edge_agent.config import MqttConfig, ToolConfig
from edge_agent.events import AgentState
from edge_agent.mqtt.bridge import MqttBridge


class FakeControl:
    """Records every call; ``fail_on`` names methods that raise (an agent refusing a command)."""

    def __init__(self, fail_on: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()
        self.threads: set[str] = set()

    @property
    def state(self) -> AgentState:
        return AgentState.IDLE

    def _record(self, name: str, *args: Any, **kwargs: Any) -> None:
        with self.lock:
            self.calls.append((name, args, kwargs))
            self.threads.add(threading.current_thread().name)
        if name in self.fail_on:
            raise RuntimeError(f"{name} is broken in this test")

    def say(self, text: str) -> None:
        self._record("say", text)

    def ask(self, text: str, reply_to: Any = None) -> None:
        self._record("ask", text, reply_to=reply_to)

    def wake(self) -> None:
        self._record("wake")

    def cancel(self) -> None:
        self._record("cancel")

    def mute(self) -> None:
        self._record("mute")

    def unmute(self) -> None:
        self._record("unmute")

    def set_volume(self, level: float) -> None:
        self._record("set_volume", level)

    def reload(self) -> None:
        self._record("reload")

    def names(self) -> list[str]:
        with self.lock:
            return [c[0] for c in self.calls]

    def wait_calls(self, n: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.calls) >= n:
                    return True
            time.sleep(0.01)
        return False


def mqtt_config(port: int, device_id: str = "test1", tools: list[ToolConfig] | None = None, **extra: Any) -> MqttConfig:
    return MqttConfig(
        enabled=True, host="127.0.0.1", port=port, device_id=device_id, reconnect_min_s=1,
        reconnect_max_s=1, metrics_interval=extra.pop("metrics_interval", 60.0), tools=tools or [],
        max_commands_per_s=extra.pop("max_commands_per_s", 5000.0), **extra,
    )


def wait_connected(bridge: MqttBridge, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bridge.connected and bridge.stats.last_republish_t is not None:
            return
        time.sleep(0.01)
    raise AssertionError("the bridge did not connect")


def wait_idle(bridge: MqttBridge, timeout: float = 30.0) -> None:
    """Until the worker has handled everything queued so far."""
    assert bridge.flush(timeout), "the bridge's worker did not drain its queue"
