"""sd_notify without a dependency: one datagram per message to ``$NOTIFY_SOCKET``.

systemd (``Type=notify``) gives the service a datagram socket path in ``$NOTIFY_SOCKET`` (a leading
``@`` means Linux's abstract namespace) and, with ``WatchdogSec=``, the interval in
``$WATCHDOG_USEC`` and the pid it applies to in ``$WATCHDOG_PID``. Messages are ``KEY=value`` lines.

Outside systemd (no ``$NOTIFY_SOCKET``) every call is a cheap no-op, so callers never need to check.
Sending never raises: a lost notification must not take the agent down.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(path: str) -> str | bytes:
    # "@name" is the abstract namespace: the kernel wants a leading NUL byte instead of "@".
    if path.startswith("@"):
        return b"\0" + path[1:].encode()
    return path


class Notifier:
    """Talks to the service manager. ``Notifier.from_env()`` reads the environment once."""

    def __init__(self, socket_path: str | None, watchdog_usec: int | None = None) -> None:
        self.socket_path = socket_path or None
        self._watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        raw = env.get("WATCHDOG_USEC")
        if raw:
            try:
                usec = int(raw)
            except ValueError:
                log.warning("ignoring WATCHDOG_USEC=%r: not an integer", raw)
            pid = env.get("WATCHDOG_PID")
            # The watchdog is meant for one pid: if it names another process, it is not ours.
            if pid and pid.strip() != str(os.getpid()):
                usec = None
        return cls(path, usec)

    @property
    def enabled(self) -> bool:
        return self.socket_path is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half of ``WatchdogSec=`` (None when there is no watchdog)."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 1e6 / 2

    def watchdog_timeout(self) -> float | None:
        """Seconds after which systemd kills a service that stopped pinging."""
        return None if self._watchdog_usec is None else self._watchdog_usec / 1e6

    def notify(self, message: str) -> bool:
        """Send raw ``KEY=value`` lines; True if the datagram was sent."""
        if self.socket_path is None:
            return False
        try:
            with self._lock:
                if self._sock is None:
                    # Non-blocking: callers include event-bus subscribers, which must never block.
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                                               | socket.SOCK_NONBLOCK)
                self._sock.sendto(message.encode("utf-8", "replace"), _address(self.socket_path))
            return True
        except OSError as exc:
            log.debug("sd_notify %r failed: %s", message, exc)
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def reloading(self) -> bool:
        return self.notify("RELOADING=1")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _one_line(text: str) -> str:
    return " ".join(text.split())
