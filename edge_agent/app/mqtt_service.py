"""The MQTT bridge as a daemon service (added when ``mqtt.enabled``): it follows the bus, hands
commands to the agent's control, and offers the declared MQTT tools to the LLM."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from edge_agent.app.service import Service, ServiceHost
from edge_agent.bus import EventBus
from edge_agent.config import MqttConfig
from edge_agent.control import ToolRunner
from edge_agent.events import Event
from edge_agent.mqtt.bridge import MqttBridge
from edge_agent.mqtt.tools import MqttToolRunner


class MqttService(Service):
    def __init__(self, cfg: MqttConfig, bus: EventBus) -> None:
        self.bus = bus
        self.bridge = MqttBridge(cfg, clock=bus.now)
        self.tools = MqttToolRunner(
            cfg.tools,
            self.bridge.publish_tool,
            emit=self._emit,
            reserved_prefixes=(f"{self.bridge.topics.base}/",),
        )
        self._unsubscribe: Callable[[], None] | None = None

    def _emit(self, event: Event) -> None:
        """Tool calls go on the bus (logs, ``--events``, and back to the bridge as ``event/tool``)."""
        self.bus.publish(event)

    def tool_runner(self) -> ToolRunner:
        return self.tools

    async def start(self, host: ServiceHost) -> None:
        self.bridge.attach(host.control, asyncio.get_running_loop())
        self._unsubscribe = self.bus.subscribe(self.bridge.on_event)
        await asyncio.to_thread(self.bridge.start)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await asyncio.to_thread(self.bridge.stop)
