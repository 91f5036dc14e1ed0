"""What a daemon service is: something that lives as long as the agent (the MQTT bridge, systemd
notify). Each one implements :class:`Service`; the daemon asks it, through these methods only,
whether it wants the listener's heartbeat and whether it offers tools to the LLM."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol

from edge_agent.bus import EventBus
from edge_agent.control import AgentControl, ToolRunner


class ServiceHost(Protocol):
    """What a service gets at start: the running agent."""

    @property
    def bus(self) -> EventBus:
        """Every event of the agent (subscribe to follow them)."""
        ...

    @property
    def control(self) -> AgentControl | None:
        """Commands to the agent (say, ask, wake, cancel, mute, volume, reload); None where there is
        no agent to command (``edge-agent ask`` runs the MQTT tools alone)."""
        ...


class Service(ABC):
    """Started once the agent is up (models loaded, conversation built), stopped on the way down,
    in reverse order of registration."""

    @abstractmethod
    async def start(self, host: ServiceHost) -> None:
        """Begin serving (on the event loop; must not block it)."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop serving and release what :meth:`start` took."""

    def listener_heartbeat(self) -> Callable[[], None] | None:
        """A function for the listener thread to call after every hop it processed (cheap: it
        runs on the audio path), or None when the service does not want it."""
        return None

    def tool_runner(self) -> ToolRunner | None:
        """Tools this service offers the LLM, or None."""
        return None
