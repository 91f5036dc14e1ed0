"""The unit file: systemd itself checks it (verify: no output at all) and scores its hardening; the
agent runs under the unit's seccomp filter on a read-only, capability-free system."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "edge-agent.service"
MAX_EXPOSURE = 2.0


@pytest.fixture(autouse=True)
def _systemd_analyze() -> None:
    # CI must run these: a missing tool fails (with the fix), it does not skip.
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze missing: apt-get install systemd (it is in tools/apt-packages.txt)")


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
    # The agent's own restarts must never reach the start limit: a kiosk must not end up "failed".
    interval, burst = int(s["Unit.StartLimitIntervalSec"][-1]), int(s["Unit.StartLimitBurst"][-1])
    assert int(s["Service.RestartSec"][-1]) * burst > interval
    families = s["Service.RestrictAddressFamilies"][-1].split()
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(families)  # MQTT and the cloud need IP
    assert not any("PASSWORD" in v.upper() or "API_KEY" in v.upper() for v in s["Service.Environment"])
    assert any("EDGE_AGENT_PATHS__MODELS_DIR=/var/lib/edge-agent/models" in v for v in s["Service.Environment"])
    assert "OPENBLAS_NUM_THREADS=1" in s["Service.Environment"]  # no BLAS threads spinning beside the models


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


# The unit's SystemCallFilter= (and NoNewPrivileges=, RestrictAddressFamilies=) rebuilt with
# libseccomp from the same groups `systemd-analyze syscall-filter` expands, then the real agent
# exec'd under it: the whole pipeline must run with what the unit allows.
SECCOMP_EXEC = r"""
import ctypes, errno, os, socket, subprocess, sys

def expand(group, seen):
    out = set()
    text = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True,
                          check=True).stdout
    for line in text.splitlines()[1:]:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if name.startswith("@"):
            if name not in seen:
                seen.add(name)
                out |= expand(name, seen)
        else:
            out.add(name)
    return out

allow, deny, families = (a.split() for a in sys.argv[1:4])
allowed = set().union(*(expand(g, set()) if g.startswith("@") else {g} for g in allow + ["@default"]))
for g in deny:
    allowed -= expand(g, set()) if g.startswith("@") else {g}

class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]

lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                       ctypes.POINTER(ArgCmp)]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
ALLOW, EQ = 0x7FFF0000, 4
ctx = lib.seccomp_init(0x00050000 | errno.EPERM)  # SystemCallErrorNumber=EPERM
for name in sorted(allowed - {"socket"}):
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr >= 0:
        assert lib.seccomp_rule_add_array(ctx, ALLOW, nr, 0, None) == 0, name
sock_nr = lib.seccomp_syscall_resolve_name(b"socket")
for fam in families:  # RestrictAddressFamilies=
    cmp = (ArgCmp * 1)(ArgCmp(0, EQ, getattr(socket, fam), 0))
    assert lib.seccomp_rule_add_array(ctx, ALLOW, sock_nr, 1, cmp) == 0, fam
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS: NoNewPrivileges=yes
assert lib.seccomp_load(ctx) == 0
os.execv(sys.argv[4], sys.argv[4:])
"""


def _unit_filter() -> tuple[str, str, str]:
    s = _service_section()
    allow, deny = [], []
    for value in s["Service.SystemCallFilter"]:
        (deny if value.startswith("~") else allow).extend(value.lstrip("~").split())
    return " ".join(allow), " ".join(deny), s["Service.RestrictAddressFamilies"][-1]


def _require_libseccomp() -> None:
    import ctypes.util

    if ctypes.util.find_library("seccomp") is None:
        pytest.fail("libseccomp missing: apt-get install libseccomp2 (systemd depends on it)")


def test_the_filter_really_refuses(tmp_path: Path) -> None:
    _require_libseccomp()
    allow, deny, families = _unit_filter()
    probe = ("import os, socket\n"
             "try:\n    os.sched_setaffinity(0, {0})\n    print('affinity allowed')\n"
             "except PermissionError:\n    print('affinity refused')\n"
             "try:\n    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n    print('packet allowed')\n"
             "except PermissionError:\n    print('packet refused')\n"
             "socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()\nprint('inet ok')\n")
    r = subprocess.run([sys.executable, "-c", SECCOMP_EXEC, allow, deny, families, sys.executable, "-c", probe],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["affinity", "refused", "packet", "refused", "inet", "ok"], r.stdout + r.stderr


# ProtectSystem=strict (everything read-only but the output directory), CapabilityBoundingSet= (no
# capabilities, even as uid 0) and NoNewPrivileges=, in a private mount namespace: root only.
SANDBOX = r"""
set -e
out="$1"; shift
mount --make-rprivate /
mount --bind "$out" "$out"
awk '{print $5}' /proc/self/mountinfo | while read -r mp; do
    case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$out") continue ;; esac
    mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
if touch "$HOME/.edge-agent-sandbox-probe" 2>/dev/null; then
    rm -f "$HOME/.edge-agent-sandbox-probe"
    echo "sandbox: the system is still writable" >&2
    exit 99
fi
exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs "$@"
"""


def _sandbox(out: Path) -> list[str]:
    """The command prefix for the read-only, capability-free sandbox, or [] where it cannot be made."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")):
        return []
    probe = subprocess.run(["unshare", "-m", "--", "true"], capture_output=True, timeout=30)
    return ["unshare", "-m", "--", "sh", "-c", SANDBOX, "sandbox", str(out)] if probe.returncode == 0 else []


@pytest.mark.real_model
@pytest.mark.slow
def test_the_whole_pipeline_runs_under_the_units_sandbox(tmp_path: Path) -> None:
    import json

    from edge_agent.demo import demo_input

    _require_libseccomp()
    wav = demo_input()  # "Okay Nabu. ... What are your opening hours?": wake, VAD, turn, STT, answers, TTS
    allow, deny, families = _unit_filter()
    edge_agent = str(Path(sys.executable).parent / "edge-agent")
    cfg = tmp_path / "config.toml"
    cfg.write_text("# defaults\n")
    out = tmp_path / "out"
    out.mkdir()
    events = out / "events.jsonl"
    sandbox = _sandbox(out)
    print("sandbox:", "read-only system, no capabilities" if sandbox else "none (needs root and unshare)")
    r = subprocess.run(
        [*sandbox, sys.executable, "-c", SECCOMP_EXEC, allow, deny, families, edge_agent, "run", "--config", str(cfg),
         "--input", str(wav), "--output", str(out / "reply.wav"), "--fast", "--events", str(events)],
        capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    kinds = [json.loads(line)["type"] for line in events.read_text().splitlines()]
    for kind in ("wake", "turn_end", "transcript", "reply_text", "audio_out_start", "turn_done"):
        assert kind in kinds, (kind, kinds, r.stderr[-2000:])
    assert (out / "reply.wav").stat().st_size > 10_000
