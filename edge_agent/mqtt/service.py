"""The bridge as a daemon service: ``daemon.add_service(MqttService(settings.mqtt, bus))`` when
``mqtt.enabled``; hand ``service.tools`` to the conversation as its :class:`ToolRunner`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from edge_agent.bus import EventBus
from edge_agent.config import MqttConfig
from edge_agent.events import Event
from edge_agent.mqtt.bridge import MqttBridge
from edge_agent.mqtt.tools import MqttToolRunner


class MqttService:
    def __init__(self, cfg: MqttConfig, bus: EventBus | None = None) -> None:
        self.bus = bus
        self.bridge = MqttBridge(cfg, clock=bus.now if bus is not None else None)
        self.tools = MqttToolRunner(
            cfg.tools,
            self.bridge.publish_tool,
            emit=self._emit,
            reserved_prefixes=(f"{self.bridge.topics.base}/",),
        )
        self._unsubscribe: Callable[[], None] | None = None

    def _emit(self, event: Event) -> None:
        """Tool calls go on the bus (logs, ``--events``, and back to the bridge as ``event/tool``)."""
        if self.bus is not None:
            self.bus.publish(event)
        else:
            self.bridge.on_event(event)

    async def start(self, daemon: Any) -> None:
        """``daemon`` is the :class:`AgentControl` (or has one as ``.control``) and may carry ``.bus``."""
        if self.bus is None:
            self.bus = getattr(daemon, "bus", None)
        control = getattr(daemon, "control", daemon)
        self.bridge.attach(control, asyncio.get_running_loop())
        if self.bus is not None:
            self._unsubscribe = self.bus.subscribe(self.bridge.on_event)
        await asyncio.to_thread(self.bridge.start)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await asyncio.to_thread(self.bridge.stop)
