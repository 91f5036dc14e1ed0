"""The declared tools with MQTT off (a daemon service): ``command`` tools run as local programs,
and an MQTT tool is reported as not done (there is no broker to publish to), so the agent says so
instead of pretending."""

from __future__ import annotations

from edge_agent.app.service import Service, ServiceHost
from edge_agent.bus import EventBus
from edge_agent.config import ToolConfig
from edge_agent.control import ToolRunner
from edge_agent.mqtt.tools import MqttToolRunner


def _no_broker(topic: str, payload: bytes, qos: int, retain: bool) -> bool:
    return False


def local_tool_runner(tools: list[ToolConfig], bus: EventBus) -> MqttToolRunner:
    """A runner over ``tools`` with no broker; its tool calls go on ``bus``."""
    return MqttToolRunner(tools, _no_broker, emit=bus.publish)


class LocalToolService(Service):
    """Offers the declared tools to the answer router and the LLM when ``mqtt.enabled`` is off."""

    def __init__(self, tools: list[ToolConfig], bus: EventBus) -> None:
        self.tools = local_tool_runner(tools, bus)

    def tool_runner(self) -> ToolRunner:
        return self.tools

    async def start(self, host: ServiceHost) -> None:
        return None

    async def stop(self) -> None:
        return None
