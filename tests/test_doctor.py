"""``edge-agent doctor`` against real parts: PortAudio through ALSA's file/null plugins, a real
mosquitto, a real HTTP server on loopback for a cloud region, real model files."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

EDGE_AGENT = [sys.executable, "-m", "edge_agent"]

ASOUNDRC = """
pcm.edgemic {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{infile}"
    format "raw"
    hint {{ show on description "Edge Test Mic" }}
}}
pcm.edgespk {{
    type plug
    slave.pcm "null"
    hint {{ show on description "Edge Test Speaker" }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def alsa_home(tmp_path: Path) -> Path:
    """A HOME whose ~/.asoundrc gives PortAudio one capture and one playback device."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "in.raw").write_bytes(b"\0" * 32000)
    (home / ".asoundrc").write_text(ASOUNDRC.format(infile=home / "in.raw"))
    return home


def doctor(tmp_path: Path, config: str, home: Path, *extra: str, models_dir: str | None = None,
           text_output: bool = False) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    """Run ``edge-agent doctor --json``; the text report is the real command's (``text_output``)
    or rendered here from the same checks."""
    from edge_agent.commands.doctor import Check, render

    cfg = tmp_path / "config.toml"
    cfg.write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_AGENT_")}
    env.update(HOME=str(home), EDGE_AGENT_PATHS__MODELS_DIR=models_dir or str(_real_models_dir()))
    r = subprocess.run([*EDGE_AGENT, "doctor", "--config", str(cfg), "--json", *extra], capture_output=True,
                       text=True, env=env, timeout=120)
    out = json.loads(r.stdout)
    assert out["ok"] == (r.returncode == 0)
    if text_output:
        t = subprocess.run([*EDGE_AGENT, "doctor", "--config", str(cfg), *extra], capture_output=True, text=True,
                           env=env, timeout=120)
        assert t.returncode == r.returncode
        text = t.stdout
    else:
        text = render([Check(**c) for c in out["checks"]])
    return r.returncode, {c["name"]: c for c in out["checks"]}, text


def _real_models_dir() -> Path:
    from edge_agent.config import default_models_dir

    return Path(os.environ.get("EDGE_AGENT_PATHS__MODELS_DIR") or default_models_dir())


class _Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"object": "list", "data": [{"id": "m"}]}'
        self.send_response(200 if self.path.endswith("/models") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def region_server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        pytest.fail("mosquitto missing: apt-get install mosquitto (tools/apt-packages.txt)")
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(5)


@pytest.mark.real_broker
@pytest.mark.real_model
def test_everything_reachable_passes(tmp_path: Path, alsa_home: Path, broker: int, region_server: str) -> None:
    config = f"""
[audio]
input_device = "edgemic"
output_device = "edgespk"
[mqtt]
enabled = true
host = "127.0.0.1"
port = {broker}
[[llm.cloud.regions]]
name = "local-test"
base_url = "{region_server}"
model = "m"
"""
    rc, checks, text = doctor(tmp_path, config, alsa_home)
    assert checks["audio microphone"]["status"] == "ok", checks["audio microphone"]
    assert "edgemic" in checks["audio microphone"]["detail"]
    assert checks["audio speaker"]["status"] == "ok"
    assert checks["models"]["status"] == "ok", checks["models"]
    assert checks["mqtt broker"]["status"] == "ok"
    region = checks["cloud local-test"]
    assert region["status"] == "ok" and region["data"]["rtt_ms"] > 0
    for name in ("cpu", "memory", "temperature", "service"):
        assert checks[name]["status"] in ("ok", "warn", "skip"), checks[name]
    assert rc == 0, text
    assert text.rstrip().endswith("all checks passed")


def test_each_problem_fails_with_one_fix(tmp_path: Path, alsa_home: Path) -> None:
    dead = free_port()
    config = f"""
[audio]
input_device = "USB Mic That Is Not Here"
[mqtt]
enabled = true
host = "127.0.0.1"
port = {dead}
password = "hunter2-secret"
[[llm.cloud.regions]]
name = "gone"
base_url = "http://127.0.0.1:{dead}/v1"
model = "m"
"""
    rc, checks, text = doctor(tmp_path, config, alsa_home, models_dir=str(tmp_path / "no-models"), text_output=True)
    assert rc == 1
    failed = {n for n, c in checks.items() if c["status"] == "fail"}
    assert failed == {"audio microphone", "models", "mqtt broker", "cloud gone"}, checks
    assert "edgemic" in checks["audio microphone"]["detail"]  # it lists what is there
    assert checks["models"]["fix"].startswith("edge-agent models pull ")
    for name in failed:
        assert text.count(f"fix ({name}):") == 1, text
    assert "hunter2" not in text and "hunter2" not in json.dumps(checks)
    assert text.rstrip().endswith("4 problem(s) found")


def test_a_bad_config_is_a_failed_check_not_a_crash(tmp_path: Path, alsa_home: Path) -> None:
    rc, checks, text = doctor(tmp_path, "[audio]\nsample_rate = \"fast\"\n", alsa_home)
    assert rc == 1
    assert checks["config"]["status"] == "fail" and "sample_rate" in checks["config"]["detail"]
    assert "models" in checks  # the other checks still ran (with the defaults)
    assert "Traceback" not in text


def test_no_capture_device_is_reported(tmp_path: Path) -> None:
    from edge_agent.commands.doctor import check_audio
    from edge_agent.config import Settings

    checks = check_audio(Settings(), devices=[])
    assert checks[0].status == "fail" and checks[0].fix and "arecord -l" in checks[0].fix
    assert checks[1].status == "warn"
    by_index = check_audio(Settings(audio={"input_device": 3}), devices=[
        {"index": 3, "name": "hw mic", "maxInputChannels": 1, "maxOutputChannels": 0}])
    assert by_index[0].status == "ok"


def test_full_hashes_the_models(tmp_path: Path, alsa_home: Path) -> None:
    # Copy one small model, corrupt one byte keeping its size: sizes pass, --full catches it.
    from edge_agent.models import ModelManager

    src = ModelManager(_real_models_dir())
    spec = min((m for m in src.manifest.defaults() if m.files), key=lambda m: sum(f.size for f in m.files))
    dst = tmp_path / "models"
    shutil.copytree(src.dir(spec.name), dst / spec.name)
    f = dst / spec.name / spec.files[0].path
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    from edge_agent.commands.doctor import check_models
    from edge_agent.config import Settings

    settings = Settings(paths={"models_dir": dst})
    fast = check_models(settings)[0]
    assert spec.name not in fast.data["problems"]  # the size is right
    full = check_models(settings, full=True)[0]
    assert spec.name in full.data["problems"] and "sha256" in full.data["problems"][spec.name]


def test_board_is_named_and_the_default_models_fit_or_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    from edge_agent.commands import doctor
    from edge_agent.config import Settings

    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.5\0")
    assert doctor.read_board_model(tmp_path) == "Raspberry Pi 4 Model B Rev 1.5"

    class Memory:
        def __init__(self, mb: int) -> None:
            self.total = mb * 2**20

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory(1024))
    [small] = doctor.check_board(Settings(), root=tmp_path)
    assert small.status == "warn" and "Raspberry Pi 4" in small.detail and not small.data["fits"]
    assert small.fix and "2 GB" in small.fix
    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory(4096))
    [big] = doctor.check_board(Settings(), root=tmp_path)
    assert big.status == "ok" and big.data["fits"] and big.data["memory_mb"] == 4096
