"""A declared tool that runs a local program instead of publishing on MQTT (``command`` in
``[[mqtt.tools]]``): a relay script, ``gpioset``, a kiosk's own helper, with no broker.

The program's exit status is the tool's real result: status 0 within the timeout is "done", and
anything else (another status, no such program, still running at the timeout) is "not done" with
the reason, so the agent never says it did what it could not. Arguments are passed as separate
argv elements, never through a shell."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

OUTPUT_LIMIT = 4096
"""Bytes of the program's output kept (its last line says what happened)."""


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data[-OUTPUT_LIMIT:].decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


async def _stop(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: whatever it started goes too
    await proc.wait()


async def run_command(argv: list[str], timeout_s: float) -> tuple[bool, str]:
    """Run ``argv``; (done, what happened) for the tool's result."""
    name = argv[2] if argv[1:2] == ["-m"] and len(argv) > 2 else Path(argv[0]).name  # python -m module
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        return False, f"could not start {name}: {exc.strerror or exc}"
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except asyncio.TimeoutError:
        await _stop(proc)
        return False, f"{name} did not finish within {timeout_s:g} s and was stopped"
    except asyncio.CancelledError:  # the turn was cancelled: leave nothing running
        await asyncio.shield(_stop(proc))
        raise
    if proc.returncode == 0:
        said = _last_line(out)
        return True, f"{name} exited with status 0" + (f": {said}" if said else "")
    said = _last_line(err) or _last_line(out)
    return False, f"{name} failed (exit status {proc.returncode})" + (f": {said}" if said else "")
