"""The real daemon with MQTT on: `edge-agent run --input demo.wav --stay` against a real mosquitto.
Its conversation shows up on the topics, a `say` command is spoken and published, a bad command is
answered on event/error, and SIGTERM leaves `offline` behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mosquitto import Mosquitto, Observer, broker  # noqa: F401  (broker is a fixture)

pytestmark = [pytest.mark.real_broker, pytest.mark.real_model, pytest.mark.slow]

BASE = "edge-agent/e2e"


def test_daemon_conversation_and_commands_over_mqtt(broker: Mosquitto, tmp_path: Path) -> None:  # noqa: F811
    from edge_agent.demo import demo_input

    wav = demo_input()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "e2e"\n')
    obs = Observer(broker.port, topics=(f"{BASE}/#",))
    log = (tmp_path / "daemon.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(cfg), "--input", str(wav),
                             "--output", str(tmp_path / "out.wav"), "--stay"], stderr=log)
    try:
        assert obs.wait_for(lambda msgs: any(m[0] == f"{BASE}/event/turn" for m in msgs), timeout=240), \
            (tmp_path / "daemon.log").read_text()[-2000:]
        transcript = json.loads(obs.on(f"{BASE}/event/transcript")[0])
        assert transcript["text"].strip()
        turn = json.loads(obs.on(f"{BASE}/event/turn")[0])
        assert turn["turn_id"] == transcript["turn_id"] and "stages" in turn
        assert obs.on(f"{BASE}/event/wake") and obs.on(f"{BASE}/event/reply")
        states = {json.loads(p)["state"] for p in obs.on(f"{BASE}/state")}
        assert {"listening", "thinking", "speaking"} <= states

        before = len(obs.messages)
        obs.publish(f"{BASE}/cmd/say", '{"text": "Hello from MQTT"}')
        obs.publish(f"{BASE}/cmd/volume", '{"level": "loud"}')
        assert obs.wait_for(lambda msgs: any(m[0] == f"{BASE}/event/reply" and b"Hello from MQTT" in m[1]
                                             for m in msgs[before:]), timeout=60)
        errors = [json.loads(p)["message"] for p in obs.wait_topic(f"{BASE}/event/error")]
        assert any(e.startswith("cmd/volume: level") for e in errors)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        log.close()
    assert proc.returncode == 0
    assert obs.wait_for(lambda msgs: msgs[-1][0] == f"{BASE}/availability" and msgs[-1][1] == b"offline")
    obs.close()
