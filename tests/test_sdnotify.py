"""sd_notify against a real datagram socket: the notifier, the service's watchdog logic, and the
real daemon under a fake service manager (READY, WATCHDOG cadence, STOPPING, a stalled listener)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stalling_daemon import STALL_MESSAGE, StallingHeartbeat

from edge_agent.app.sdnotify import Notifier
from edge_agent.app.systemd import Heartbeat, SystemdService
from edge_agent.bus import EventBus
from edge_agent.events import AgentState, StateChanged


class NotifySocket:
    """What systemd does for Type=notify: a datagram socket; a thread stamps each message on arrival."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        addr: str | bytes = b"\0" + path[1:].encode() if path.startswith("@") else path
        self.sock.bind(addr)
        self.sock.settimeout(0.05)
        self.path = path
        self.messages: list[tuple[float, str]] = []
        self.walls: list[float] = []
        """Wall-clock arrival times, aligned with ``messages`` (to compare with log timestamps)."""
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
            self.walls.append(time.time())
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

    def wall_times(self, key: str) -> list[float]:
        return [w for w, (_, msg) in zip(list(self.walls), list(self.messages), strict=False)
                if key in msg.splitlines()]

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
    assert not svc.tick()  # 1.5 s old > half the interval (1 s): the listener is stalled, no ping
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
    assert texts[0] == "STATUS=starting the listener"
    assert "STATUS=state: thinking" in texts
    assert any(m.startswith("READY=1") for m in texts)
    assert texts[-1].startswith("STOPPING=1")
    pings = notify_socket.times("WATCHDOG=1")
    assert len(pings) >= 3
    # pings stop within one interval (0.2 s) of the last heartbeat (+ scheduling slack)
    assert pings[-1] - last_beat[0] < 0.2 + 0.1


def test_stalling_heartbeat_blocks_the_beating_thread_until_closed() -> None:
    hb = StallingHeartbeat(0.0)
    hb.beat()  # the first beat starts the count
    done = threading.Event()
    t = threading.Thread(target=lambda: (hb.beat(), done.set()), daemon=True)
    t.start()
    assert not done.wait(0.2)
    hb.close()  # what SystemdService.stop does
    assert done.wait(2.0)


def test_a_long_watchdog_still_catches_a_stall_within_seconds(notify_socket: NotifySocket) -> None:
    clock = FakeClock()
    svc = SystemdService(Notifier(notify_socket.path, watchdog_usec=30_000_000), Heartbeat(clock), env={})
    svc.heartbeat.beat()
    assert svc.tick()
    clock.t += 4.9
    assert svc.tick()
    clock.t += 0.2  # 5.1 s without a processed hop: stuck, though the interval is 15 s
    assert not svc.tick()


def test_reload_keeps_the_running_config_when_the_new_one_is_bad(notify_socket: NotifySocket,
                                                                  tmp_path: Path) -> None:
    from edge_agent.app.systemd import reload_settings
    from edge_agent.config import load_settings
    from edge_agent.events import ErrorEvent

    cfg = tmp_path / "config.toml"
    cfg.write_text("[llm]\npersona = \"Ada\"\n")
    current = load_settings(cfg)
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append)
    svc = SystemdService(Notifier(notify_socket.path), env={})
    svc.heartbeat.beat()
    svc.tick()  # READY

    cfg.write_text("[llm]\npersona = \"Bea\"\n")
    assert reload_settings(cfg, current, bus, svc).llm.persona == "Bea"

    cfg.write_text("[audio]\nsample_rate = \"fast\"\n")
    kept = reload_settings(cfg, current, bus, svc)
    assert kept is current and kept.llm.persona == "Ada"
    errors = [e for e in seen if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and errors[0].stage == "config" and "sample_rate" in errors[0].message
    texts = [m for _, m in notify_socket.drain(0.1)]
    assert texts.count("RELOADING=1") == 2 and texts[-1] == "READY=1"


# --- helpers for the real daemon ------------------------------------------------------------------


def _stall_time(stderr: str) -> float:
    """Wall-clock time the listener thread was stalled, from the service's log line."""
    import datetime

    for line in stderr.splitlines():
        if STALL_MESSAGE in line:
            stamp = line.split(" ", 1)[0].rstrip("Z")
            return datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.timezone.utc).timestamp()
    raise AssertionError(f"the stall hook never fired: {stderr}")


def _assert_pings_stop(sock: NotifySocket, stderr: str, interval: float) -> None:
    """Pings flowed before the stall; after it at most one, and none later than one interval."""
    stalled_at = _stall_time(stderr)
    pings = sock.wall_times("WATCHDOG=1")
    before = [t - stalled_at for t in pings if t < stalled_at]
    after = [t - stalled_at for t in pings if t >= stalled_at]
    print(f"watchdog: {len(before)} pings before the stall, after it: {[round(dt, 3) for dt in after]} s")
    assert len(before) >= 2, sock.messages  # it was pinging while frames flowed
    assert len(after) <= 1 and all(dt <= interval for dt in after), f"pings after the stall at +{after} s"
    assert "withholding WATCHDOG=1" in stderr


def _wait_ready(sock: NotifySocket, proc: subprocess.Popen[str], timeout: float = 60) -> float:
    """READY=1's arrival time; if it does not come, fail with what the process said. (The wait is
    generous so a loaded machine gives a diagnosis; the 20 s bound is asserted where it belongs.)"""
    try:
        return sock.wait_for("READY=1", timeout=timeout)
    except AssertionError:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"no READY=1 within {timeout} s (exit {proc.returncode}): {err[-3000:]}") from None


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"did not stop within 20 s of SIGTERM: {err}") from None
    return proc.returncode, err


# --- the real daemon: `edge-agent run --input WAV --stay` under a fake service manager --------------


@pytest.fixture(scope="module")
def noise_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of quiet noise: audio frames flow through the whole daemon, nobody says the wake word."""
    import numpy as np

    from edge_agent.audio.wav import write_wav

    path = tmp_path_factory.mktemp("daemon") / "noise.wav"
    rng = np.random.default_rng(0)
    write_wav(path, (rng.standard_normal(16000 * 12) * 30).astype(np.int16), 16000)
    return path


def _start_daemon(sock: NotifySocket, tmp_path: Path, wav: Path, watchdog_usec: int,
                  stall_after_s: float | None = None) -> subprocess.Popen[str]:
    """``edge-agent run --input WAV --stay`` under the fake service manager; with ``stall_after_s``,
    the variant whose listener thread stalls (``tests/stalling_daemon.py``)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text("# defaults\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_AGENT_", "WATCHDOG_"))}
    if "EDGE_AGENT_PATHS__MODELS_DIR" in os.environ:
        env["EDGE_AGENT_PATHS__MODELS_DIR"] = os.environ["EDGE_AGENT_PATHS__MODELS_DIR"]
    env.update(NOTIFY_SOCKET=sock.path, WATCHDOG_USEC=str(watchdog_usec))
    env.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI sets it
    output = tmp_path / "reply.wav"
    if stall_after_s is None:
        cmd = ["-m", "edge_agent", "run", "--config", str(cfg), "--input", str(wav), "--output", str(output),
               "--stay", "--events", str(tmp_path / "events.jsonl")]
    else:
        cmd = [str(Path(__file__).with_name("stalling_daemon.py")), str(cfg), str(wav), str(output), str(stall_after_s)]
    return subprocess.Popen([sys.executable, *cmd], env=env, text=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


@pytest.mark.real_model
@pytest.mark.slow
def test_daemon_ready_watchdog_and_stopping(notify_socket: NotifySocket, tmp_path: Path, noise_wav: Path) -> None:
    interval = 0.5
    t0 = time.monotonic()
    proc = _start_daemon(notify_socket, tmp_path, noise_wav, int(interval * 2e6))
    try:
        ready = _wait_ready(notify_socket, proc)
        time.sleep(3 * interval)
        # SIGHUP with a broken config: refused, reported, and the agent goes on (and keeps pinging).
        (tmp_path / "config.toml").write_text('[audio]\nsample_rate = "fast"\n')
        proc.send_signal(signal.SIGHUP)
        notify_socket.wait_for("RELOADING=1", timeout=5)
        time.sleep(3 * interval)
        assert proc.poll() is None, "SIGHUP with a bad config must not stop the agent"
        sigterm_t = time.monotonic()
    finally:
        rc, err = _stop(proc)
    stopped_in = time.monotonic() - sigterm_t
    assert rc == 0, err
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    errors = [e for e in events if e["type"] == "error"]
    assert errors and errors[0]["stage"] == "config" and "sample_rate" in errors[0]["message"], events
    assert "keeping the running config" in err
    reload_t = notify_socket.times("RELOADING=1")[0]
    assert [t for t in notify_socket.times("WATCHDOG=1") if t > reload_t + interval], "pings went on"
    # The bound: models loaded and listening within 20 s of start (~5 s on an idle 2-core box).
    assert ready - t0 < 20, f"READY after {ready - t0:.1f} s"
    assert stopped_in < 20, stopped_in  # within the unit's TimeoutStopSec
    pings = notify_socket.times("WATCHDOG=1")
    assert len(pings) >= 5, notify_socket.messages
    gaps = sorted(b - a for a, b in zip(pings, pings[1:], strict=False))
    print(f"watchdog: READY after {ready - t0:.1f} s, {len(pings)} pings, median gap {gaps[len(gaps) // 2]:.3f} s "
          f"(interval {interval} s), stopped {stopped_in:.2f} s after SIGTERM")
    assert 0.8 * interval <= gaps[len(gaps) // 2] <= 1.5 * interval, gaps
    texts = [m for _, m in notify_socket.messages]
    assert any(m.startswith("STATUS=state: idle") or "STATUS=state: idle" in m for m in texts), texts
    assert texts[-1].startswith("STOPPING=1"), texts
    assert "Traceback" not in err


@pytest.mark.real_model
@pytest.mark.slow
def test_daemon_stalled_listener_stops_the_pings(notify_socket: NotifySocket, tmp_path: Path,
                                                 noise_wav: Path) -> None:
    interval = 0.5
    stall_after = 3 * interval
    proc = _start_daemon(notify_socket, tmp_path, noise_wav, int(interval * 2e6), stall_after)
    try:
        _wait_ready(notify_socket, proc)
        time.sleep(stall_after + 5 * interval)
    finally:
        rc, err = _stop(proc)
    assert rc == 0, err  # the stalled daemon still stops cleanly on SIGTERM
    _assert_pings_stop(notify_socket, err, interval)
