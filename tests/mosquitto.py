"""Fixtures for the ``real_broker`` tests: a real mosquitto (Debian's) on a free loopback port with
persistence on, stopped by pid; the runner itself lives in :mod:`edge_agent.testing.localbroker` so the
benchmark uses the same one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.testing.localbroker import MOSQUITTO, Mosquitto, Observer, free_port

__all__ = ["MOSQUITTO", "Mosquitto", "Observer", "broker", "free_port"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if not Path(MOSQUITTO).exists():
        pytest.fail(f"mosquitto is not installed at {MOSQUITTO}: apt-get install mosquitto")
    m = Mosquitto(tmp_path / "broker")
    m.start()
    try:
        yield m
    finally:
        m.stop()
