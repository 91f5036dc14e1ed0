"""sd_notify against a real datagram socket: the notifier, the service's watchdog logic, and the
real daemon under a fake service manager (READY, WATCHDOG cadence, STOPPING, a stalled listener)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.bus import EventBus
from edge_agent.events import AgentState, StateChanged
from edge_agent.sdnotify import Notifier
from edge_agent.service import STALL_ENV, Heartbeat, SystemdService


class NotifySocket:
    """What systemd does for Type=notify: a datagram socket; a thread stamps each message on arrival."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        addr: str | bytes = b"\0" + path[1:].encode() if path.startswith("@") else path
        self.sock.bind(addr)
        self.sock.settimeout(0.05)
        self.path = path
        self.messages: list[tuple[float, str]] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def drain(self, seconds: float = 0.0) -> list[tuple[float, str]]:
        time.sleep(seconds)
        return list(self.messages)

    def wait_for(self, key: str, timeout: float) -> float:
        """Monotonic time the first message holding ``key`` (e.g. ``READY=1``) arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, msg in list(self.messages):
                if key in msg.splitlines():
                    return t
            time.sleep(0.05)
        raise AssertionError(f"no {key} within {timeout} s; got {[m for _, m in self.messages]}")

    def times(self, key: str) -> list[float]:
        return [t for t, msg in list(self.messages) if key in msg.splitlines()]

    def close(self) -> None:
        self._closed.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    s = NotifySocket(str(tmp_path / "notify"))
    yield s
    s.close()


# --- the notifier ---------------------------------------------------------------------------------


def test_messages_reach_a_path_socket(notify_socket: NotifySocket) -> None:
    n = Notifier(notify_socket.path, watchdog_usec=2_000_000)
    assert n.ready("loading done") and n.status("state: idle\nwith a newline") and n.watchdog() and n.stopping()
    msgs = [m for _, m in notify_socket.drain(0.1)]
    assert msgs == ["READY=1\nSTATUS=loading done", "STATUS=state: idle with a newline", "WATCHDOG=1", "STOPPING=1"]
    n.close()


def test_abstract_namespace_socket() -> None:
    s = NotifySocket(f"@edge-agent-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        assert Notifier(s.path).ready()
        assert [m for _, m in s.drain(0.1)] == ["READY=1"]
    finally:
        s.close()


def test_no_socket_is_a_quiet_no_op() -> None:
    n = Notifier.from_env({})
    assert not n.enabled and not n.ready() and n.watchdog_interval() is None


def test_send_to_a_missing_socket_does_not_raise(tmp_path: Path) -> None:
    assert Notifier(str(tmp_path / "gone")).ready() is False


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_pid() -> None:
    n = Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())})
    assert n.watchdog_interval() == 15.0 and n.watchdog_timeout() == 30.0
    other = Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval() is None  # the watchdog belongs to another process
    assert Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "soon"}).watchdog_interval() is None


# --- the service with a fake heartbeat and a real socket ------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_watchdog_pings_only_while_the_heartbeat_is_fresh(notify_socket: NotifySocket) -> None:
    clock = FakeClock()
    svc = SystemdService(Notifier(notify_socket.path, watchdog_usec=2_000_000), Heartbeat(clock), env={})
    assert not svc.tick()  # no heartbeat yet: neither READY nor WATCHDOG
    assert notify_socket.drain(0.05) == []
    svc.heartbeat.beat()
    assert svc.tick() and svc.is_ready  # first heartbeat: READY=1, then a ping
    clock.t += 0.9
    svc.heartbeat.beat()
    clock.t += 0.5
    assert svc.tick()  # 0.5 s old: fresh
    clock.t += 1.0
    assert not svc.tick()  # 1.5 s old > interval (1 s): the listener is stalled, no ping
    svc.heartbeat.beat()
    assert svc.tick()  # it recovered
    msgs = [m for _, m in notify_socket.drain(0.1)]
    assert msgs == ["READY=1\nSTATUS=listening", "WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"]


def test_service_lifecycle_status_and_stopping(notify_socket: NotifySocket) -> None:
    async def scenario() -> None:
        bus = EventBus()

        class FakeDaemon:
            pass

        daemon = FakeDaemon()
        daemon.bus = bus  # type: ignore[attr-defined]
        svc = SystemdService(Notifier(notify_socket.path, watchdog_usec=400_000), env={})
        await svc.start(daemon)
        bus.publish(StateChanged(state=AgentState.THINKING, previous=AgentState.IDLE))
        for _ in range(20):  # a live listener: 50 ms hops for 1 s
            svc.heartbeat.beat()
            await asyncio.sleep(0.05)
        last_beat.append(time.monotonic())
        await asyncio.sleep(0.6)  # stalled for > 1 interval (0.2 s)
        await svc.stop()

    last_beat: list[float] = []
    asyncio.run(scenario())
    msgs = notify_socket.drain(0.1)
    texts = [m for _, m in msgs]
    assert texts[0] == "STATUS=loading models"
    assert "STATUS=state: thinking" in texts
    assert any(m.startswith("READY=1") for m in texts)
    assert texts[-1].startswith("STOPPING=1")
    pings = notify_socket.times("WATCHDOG=1")
    assert len(pings) >= 3
    # pings stop within one interval (0.2 s) of the last heartbeat (+ scheduling slack)
    assert pings[-1] - last_beat[0] < 0.2 + 0.1


# --- the real daemon ----------------------------------------------------------------------------


def test_stall_hook_blocks_the_beating_thread_until_released() -> None:
    hb = Heartbeat()
    hb.stall_after(0.0)
    done = threading.Event()
    t = threading.Thread(target=lambda: (hb.beat(), done.set()), daemon=True)
    t.start()
    assert not done.wait(0.2)
    hb.release()
    assert done.wait(2.0)


_ = STALL_ENV
