"""The demo's light panel: the program the example ``set_light`` tool runs when there is no MQTT
broker (``python -m edge_agent.demo_light ROOM STATE``).

It stands for a kiosk's relay script: it records the room's new state in a small text file anyone
can read (``edge-agent-demo-lights.txt`` in the user's cache directory, one ``room: state`` line a
room), prints what it did, and exits 0 only once the file is written. The agent says "done" only
on that status, so a panel it cannot write is reported as not done."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOMS = ("lobby", "cafe")
STATES = ("ON", "OFF")


def panel_path() -> Path:
    """Where the panel is kept (``$EDGE_AGENT_DEMO_LIGHTS`` overrides it, for tests)."""
    override = os.environ.get("EDGE_AGENT_DEMO_LIGHTS")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "edge-agent" / "edge-agent-demo-lights.txt"


def read_panel(path: Path) -> dict[str, str]:
    """The recorded state of each room (rooms never switched are off)."""
    states = dict.fromkeys(ROOMS, "OFF")
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            room, _, state = line.partition(":")
            if room.strip() in states and state.strip() in STATES:
                states[room.strip()] = state.strip()
    return states


def switch(room: str, state: str, path: Path) -> dict[str, str]:
    states = read_panel(path)
    states[room] = state
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{r}: {s}\n" for r, s in states.items()), encoding="utf-8")
    tmp.replace(path)
    return states


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ROOMS or argv[1] not in STATES:
        print(f"usage: python -m edge_agent.demo_light {{{'|'.join(ROOMS)}}} {{{'|'.join(STATES)}}}", file=sys.stderr)
        return 2
    path = panel_path()
    try:
        switch(argv[0], argv[1], path)
    except OSError as exc:
        print(f"cannot write the demo light panel {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"the {argv[0]} light is {argv[1]} on the demo light panel {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
