"""The unit file: systemd itself checks it (verify: no output at all) and scores its hardening."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "edge-agent.service"
MAX_EXPOSURE = 2.0

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze missing: apt-get install systemd (tools/apt-packages.txt)")


def _copy(tmp_path: Path, text: str | None = None) -> Path:
    """A copy whose ExecStart points at a program that exists here (verify checks it)."""
    text = UNIT.read_text() if text is None else text
    out = tmp_path / "edge-agent.service"
    out.write_text(text.replace("/opt/edge-agent/bin/edge-agent", shutil.which("true") or "/bin/true"))
    return out


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                          cwd=unit.parent, timeout=60)


def test_verify_is_silent(tmp_path: Path) -> None:
    r = _verify(_copy(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout + r.stderr == ""  # unknown keys and typos only warn: any output is a failure


def test_verify_would_catch_a_typo(tmp_path: Path) -> None:
    # The check above is only worth something if a typo produces output.
    r = _verify(_copy(tmp_path, UNIT.read_text().replace("ProtectClock=", "ProtectClok=")))
    assert "ProtectClok" in r.stdout + r.stderr


def test_security_exposure_at_most_2(tmp_path: Path) -> None:
    unit = _copy(tmp_path)
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(unit)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", r.stdout)
    assert m, r.stdout
    exposure = float(m.group(1))
    print(f"exposure {exposure}")
    assert exposure <= MAX_EXPOSURE, r.stdout


def _service_section() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key}", []).append(value)
    return out


def test_the_settings_the_product_depends_on() -> None:
    s = _service_section()
    expect = {
        "Service.Type": "notify",
        "Service.Restart": "on-failure",
        "Service.RestartPreventExitStatus": "78",
        "Service.User": "edge-agent",
        "Service.SupplementaryGroups": "audio",
        "Service.PrivateDevices": "no",
        "Service.DevicePolicy": "closed",
        "Service.DeviceAllow": "char-alsa rw",
        "Service.CapabilityBoundingSet": "",
        "Service.StateDirectory": "edge-agent",
        "Service.CacheDirectory": "edge-agent",
        "Service.ConfigurationDirectory": "edge-agent",
        "Service.ProtectSystem": "strict",
        "Service.NoNewPrivileges": "yes",
    }
    for key, value in expect.items():
        assert s.get(key, [None])[-1] == value, key
    assert "@system-service" in s["Service.SystemCallFilter"]
    for key in ("Unit.StartLimitIntervalSec", "Unit.StartLimitBurst", "Service.WatchdogSec",
                "Service.TimeoutStopSec", "Service.MemoryMax", "Service.LoadCredential"):
        assert key in s, key
    families = s["Service.RestrictAddressFamilies"][-1].split()
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(families)  # MQTT and the cloud need IP
    assert not any("PASSWORD" in v.upper() or "API_KEY" in v.upper() for v in s["Service.Environment"])
    assert any("EDGE_AGENT_PATHS__MODELS_DIR=/var/lib/edge-agent/models" in v for v in s["Service.Environment"])


def test_drop_in_examples_are_valid(tmp_path: Path) -> None:
    examples = sorted(UNIT.parent.glob("*.conf.example"))
    assert examples
    unit = _copy(tmp_path)
    for ex in examples:
        text = ex.read_text()
        assert "[Service]" in text, ex.name
        d = tmp_path / "edge-agent.service.d"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        (d / ex.name.removesuffix(".example")).write_text(text)
        r = _verify(unit)
        assert r.returncode == 0 and r.stdout + r.stderr == "", f"{ex.name}: {r.stdout}{r.stderr}"


MDWE_PROBE = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
# PR_SET_MDWE with PR_MDWE_REFUSE_EXEC_GAIN: the kernel's form of MemoryDenyWriteExecute=yes.
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(3)
import numpy as np
from edge_agent.config import load_settings
from edge_agent.models import manager_from_settings
from edge_agent.stt.factory import create_stt
settings = load_settings(None)
stt = create_stt(settings, manager_from_settings(settings))
try:
    stt.transcribe(np.zeros(8000, np.int16))
except Exception as exc:
    print(exc)
    sys.exit(1)
"""


@pytest.mark.real_model
@pytest.mark.skipif(platform.machine() != "x86_64", reason="measured on x86_64 (oneDNN JIT)")
def test_memory_deny_write_execute_stays_off_while_whisper_needs_it() -> None:
    """The unit leaves MemoryDenyWriteExecute off because CTranslate2 (faster-whisper) JIT-compiles
    its kernels. If this starts failing, the engine no longer needs it: turn the protection on."""
    r = subprocess.run([sys.executable, "-c", MDWE_PROBE], capture_output=True, text=True, timeout=120)
    if r.returncode == 3:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert r.returncode == 1, f"Whisper now works under W^X: set MemoryDenyWriteExecute=yes ({r.stderr[-500:]})"
    assert "decoding failed" in r.stdout, r.stdout + r.stderr  # the JIT refused, not some other error
    assert _service_section()["Service.MemoryDenyWriteExecute"][-1] == "no"
