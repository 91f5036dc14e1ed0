"""`edge-agent run --input WAV --output WAV --stay` whose listener thread stalls: the systemd
service gets a heartbeat that blocks the listener ``STALL_AFTER_S`` after its first beat (until the
service stops), to show that a stalled pipeline stops the watchdog pings. ``tests/test_sdnotify.py``
runs it as a subprocess under a fake service manager:

    python tests/stalling_daemon.py CONFIG INPUT_WAV OUTPUT_WAV STALL_AFTER_S
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

from edge_agent.app.lifecycle import RunOptions, run_daemon
from edge_agent.app.systemd import Heartbeat, SystemdService
from edge_agent.config import load_settings
from edge_agent.logs import apply_settings

log = logging.getLogger("stalling_daemon")

STALL_MESSAGE = "stalling the listener thread"


class StallingHeartbeat(Heartbeat):
    """Beats normally, then ``after_s`` after the first beat blocks its caller (the listener
    thread) until :meth:`close`."""

    def __init__(self, after_s: float) -> None:
        super().__init__()
        self.after_s = after_s
        self.first: float | None = None
        self.released = threading.Event()

    def beat(self) -> None:
        super().beat()
        assert self.last is not None
        if self.first is None:
            self.first = self.last
        elif not self.released.is_set() and self.last - self.first >= self.after_s:
            log.warning(STALL_MESSAGE)
            self.released.wait()

    def close(self) -> None:
        self.released.set()


def main(argv: list[str]) -> int:
    config, input_wav, output_wav, stall_after_s = argv
    settings = load_settings(config)
    apply_settings(settings)
    options = RunOptions(input_wav=Path(input_wav), output_wav=Path(output_wav), stay=True, config_path=config)
    systemd = SystemdService(heartbeat=StallingHeartbeat(float(stall_after_s)))
    status, _ = run_daemon(settings, options, services=[systemd])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
