"""The daemon's service interface: what a service offers is asked through :class:`Service`'s
methods (listener heartbeat, tools), never probed for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from edge_agent.app.lifecycle import Daemon
from edge_agent.app.sdnotify import Notifier
from edge_agent.app.service import Service, ServiceHost
from edge_agent.app.systemd import SystemdService
from edge_agent.config import Settings


class Plain(Service):
    async def start(self, host: ServiceHost) -> None:
        pass

    async def stop(self) -> None:
        pass


class Tools:
    publishes_events = False

    def specs(self) -> list[dict[str, Any]]:
        return []

    def needs_confirmation(self, name: str) -> bool:
        return False

    async def run(self, name: str, arguments: dict[str, Any]) -> str:
        return "done"


class Offering(Plain):
    def __init__(self) -> None:
        self.beats = 0
        self.tools = Tools()

    def listener_heartbeat(self) -> Callable[[], None]:
        def beat() -> None:
            self.beats += 1
        return beat

    def tool_runner(self) -> Tools:
        return self.tools


def test_a_service_must_implement_start_and_stop() -> None:
    class Half(Service):
        async def stop(self) -> None:
            pass

    with pytest.raises(TypeError):
        Half()  # type: ignore[abstract]


def test_add_service_takes_only_what_a_service_offers() -> None:
    daemon = Daemon(Settings())
    daemon.add_service(Plain())
    assert daemon.heartbeats == [] and daemon.tools is None
    offering, second = Offering(), Offering()
    daemon.add_service(offering)
    daemon.add_service(second)
    assert daemon.tools is offering.tools  # the first service offering tools gives them to the LLM
    daemon.heartbeat()
    assert (offering.beats, second.beats) == (1, 1)


def test_the_systemd_service_takes_the_listener_heartbeat() -> None:
    systemd = SystemdService(Notifier(None), env={})
    daemon = Daemon(Settings())
    daemon.add_service(systemd)
    daemon.heartbeat()
    assert systemd.heartbeat.age() is not None and systemd.tool_runner() is None
