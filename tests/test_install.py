"""install.sh: system mode into a temporary root (twice: idempotent), uninstall keeping the data,
purge leaving nothing; user mode in a scratch copy; the prerequisite checks; shellcheck."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "install.sh"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        script: Path = INSTALL) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd or REPO, timeout=120)


def files(root: Path) -> dict[str, str]:
    """Every file (and symlink) under root with a hash of its content, minus Python's byte code."""
    out = {}
    for p in sorted(root.rglob("*")):
        if "__pycache__" in p.parts or p.is_dir() and not p.is_symlink():
            continue
        rel = str(p.relative_to(root))
        out[rel] = os.readlink(p) if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck missing: apt-get install shellcheck (it is in tools/apt-packages.txt)")
    scripts = [str(INSTALL), *map(str, sorted((REPO / "tools").glob("*.sh")))]
    r = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_system_mode_into_a_temporary_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    seed = tmp_path / "seed"
    (seed / "fake-model").mkdir(parents=True)
    (seed / "fake-model" / "weights.bin").write_bytes(b"\0" * 1024)
    args = ("--root", str(root), "--no-systemctl", "--skip-pip", "--models-from", str(seed))

    first = run(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "not creating the system user" in first.stdout  # no passwd under the root: no accounts touched

    unit = root / "etc/systemd/system/edge-agent.service"
    config = root / "etc/edge-agent/config.toml"
    creds = root / "etc/edge-agent/credentials"
    assert unit.read_text() == (REPO / "systemd/edge-agent.service").read_text()
    assert (root / "opt/edge-agent/bin/python").exists()
    doc = next(line for line in unit.read_text().splitlines() if line.startswith("Documentation=file:"))
    assert (root / doc.removeprefix("Documentation=file:/")).is_file()  # the unit's docs are installed
    assert (root / "var/lib/edge-agent/models/fake-model/weights.bin").exists()
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    assert stat.S_IMODE(config.stat().st_mode) == 0o640

    # The example config is valid as written (every line commented out).
    from edge_agent.config import load_settings

    load_settings(config)

    # Somebody edits the config and adds a secret; a second run upgrades in place and keeps both.
    config.write_text(config.read_text() + '\n[logging]\nlevel = "debug"\n')
    (creds / "mqtt__password").write_text("hunter2")
    before = files(root)
    second = run(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "kept the existing" in second.stdout
    assert files(root) == before
    assert 'level = "debug"' in config.read_text()

    # Uninstall: only the config, the credentials and the models stay.
    un = run("--root", str(root), "--no-systemctl", "--uninstall")
    assert un.returncode == 0, un.stdout + un.stderr
    assert sorted(files(root)) == [
        "etc/edge-agent/config.toml",
        "etc/edge-agent/credentials/mqtt__password",
        "var/lib/edge-agent/models/fake-model/weights.bin",
    ]

    # Purge: nothing at all.
    purge = run("--root", str(root), "--no-systemctl", "--uninstall", "--purge")
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert list(root.rglob("*")) == []


def test_user_mode_in_a_scratch_checkout(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "tools").mkdir(parents=True)
    shutil.copy(INSTALL, checkout / "install.sh")
    shutil.copy(REPO / "tools/apt-packages.txt", checkout / "tools/apt-packages.txt")
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache), "HOME": str(tmp_path)}
    r = run("--user", "--no-apt", "--skip-pip", env=env, script=checkout / "install.sh")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (checkout / ".venv/bin/python").exists()
    assert (cache / "edge-agent/models").is_dir()
    again = run("--user", "--no-apt", "--skip-pip", env=env, script=checkout / "install.sh")
    assert again.returncode == 0 and "upgrading in place" in again.stdout
    (cache / "edge-agent/models/m").write_text("x")
    un = run("--user", "--uninstall", env=env, script=checkout / "install.sh")
    assert un.returncode == 0 and not (checkout / ".venv").exists()
    assert (cache / "edge-agent/models/m").exists()  # models kept
    purge = run("--user", "--uninstall", "--purge", env=env, script=checkout / "install.sh")
    assert purge.returncode == 0 and not (cache / "edge-agent").exists()


def _fake_bin(tmp_path: Path, name: str, body: str) -> Path:
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    p = d / name
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(0o755)
    return d


def test_old_python_is_refused_with_a_fix(tmp_path: Path) -> None:
    py = _fake_bin(tmp_path, "python3.9", 'case "$*" in *platform*) echo 3.9.2;; *) exit 1;; esac') / "python3.9"
    r = run("--root", str(tmp_path / "root"), "--no-systemctl", "--python", str(py))
    assert r.returncode == 1
    assert "needs Python >= 3.10" in r.stderr and "3.9.2" in r.stderr and "Fix:" in r.stderr


def test_missing_apt_package_prints_the_command(tmp_path: Path) -> None:
    if shutil.which("dpkg-query") is None:
        pytest.skip("no dpkg-query: not a Debian system")
    checkout = tmp_path / "checkout"
    (checkout / "tools").mkdir(parents=True)
    shutil.copy(INSTALL, checkout / "install.sh")
    (checkout / "tools/apt-packages.txt").write_text("# test\nbash\nedge-agent-no-such-package\n")
    # Not root and no sudo: the script must not try apt-get itself, but say what to run.
    bindir = _fake_bin(tmp_path, "id", 'if [ "$1" = -u ]; then echo 1000; else exec /usr/bin/id "$@"; fi')
    _fake_bin(tmp_path, "sudo", "exit 1")
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c")}
    r = run("--user", "--dev", "--skip-pip", env=env, script=checkout / "install.sh")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "sudo apt-get install -y edge-agent-no-such-package" in r.stderr
    assert "bash" not in r.stderr.split("missing Debian packages:")[1].split(".")[0]
    # Without --dev a package tagged `dev` is not wanted at all.
    (checkout / "tools/apt-packages.txt").write_text("# test\nbash\nedge-agent-no-such-package  dev\n")
    r = run("--user", "--skip-pip", env=env, script=checkout / "install.sh")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "edge-agent-no-such-package" not in r.stdout + r.stderr


def _apt_rig(tmp_path: Path, arch: str, machine: str = "") -> tuple[Path, dict[str, str], Path]:
    """A scratch checkout with the real package list, on a pretend architecture where nothing is
    installed yet; apt-get only records what it was asked for."""
    checkout = tmp_path / "checkout"
    (checkout / "tools").mkdir(parents=True)
    shutil.copy(INSTALL, checkout / "install.sh")
    shutil.copy(REPO / "tools/apt-packages.txt", checkout / "tools/apt-packages.txt")
    log = tmp_path / "apt.log"
    bindir = _fake_bin(tmp_path, "dpkg", f'[ "$1" = --print-architecture ] && echo {arch}')
    _fake_bin(tmp_path, "dpkg-query", "exit 1")
    _fake_bin(tmp_path, "apt-get", f'echo "$*" >> {log}')
    _fake_bin(tmp_path, "id", 'if [ "$1" = -u ]; then echo 0; else exec /usr/bin/id "$@"; fi')
    if machine:
        _fake_bin(tmp_path, "uname", f'if [ "$1" = -m ]; then echo {machine}; else exec /usr/bin/uname "$@"; fi')
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c")}
    return checkout, env, log


def _installed(log: Path) -> set[str]:
    lines = [line for line in log.read_text().splitlines() if line.startswith("install")]
    return {word for line in lines for word in line.split() if not word.startswith("-") and word != "install"}


def test_apt_packages_follow_the_architecture_and_dev(tmp_path: Path) -> None:
    checkout, env, log = _apt_rig(tmp_path / "arm", "arm64")
    r = run("--user", "--skip-pip", env=env, script=checkout / "install.sh")
    assert r.returncode == 0, r.stdout + r.stderr
    plain = _installed(log)
    assert {"g++", "gcc", "python3-dev", "portaudio19-dev", "espeak-ng"} <= plain
    # a plain install on a board: no broker, no linters, no cross compiler
    assert not plain & {"mosquitto", "shellcheck", "gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross", "sox"}

    checkout, env, log = _apt_rig(tmp_path / "arm-dev", "arm64")
    assert run("--user", "--dev", "--skip-pip", env=env, script=checkout / "install.sh").returncode == 0
    dev_arm = _installed(log)
    assert {"mosquitto", "shellcheck", "sox"} <= dev_arm
    assert "gcc-aarch64-linux-gnu" not in dev_arm  # not a package on arm64: it would be asked for on every run

    checkout, env, log = _apt_rig(tmp_path / "x86-dev", "amd64")
    assert run("--user", "--dev", "--skip-pip", env=env, script=checkout / "install.sh").returncode == 0
    assert {"gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"} <= _installed(log)


def test_32_bit_arm_is_refused_with_a_fix(tmp_path: Path) -> None:
    checkout, env, log = _apt_rig(tmp_path, "armhf", machine="armv7l")
    r = run("--user", "--skip-pip", env=env, script=checkout / "install.sh")
    assert r.returncode == 1
    assert "32-bit ARM (armv7l) is not supported" in r.stderr and "64-bit Raspberry Pi OS" in r.stderr
    assert not log.exists()  # refused before anything was installed


def test_a_second_install_on_a_set_up_machine_installs_nothing(tmp_path: Path) -> None:
    """The checkout's own environment, installed by `./install.sh --user --dev`: the same command again
    asks apt and pip for nothing (both would fail here) and only re-checks the models."""
    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        pytest.skip(f"runs in the checkout's own .venv (set up by ./install.sh --user --dev), not {sys.prefix}")
    bindir = _fake_bin(tmp_path, "apt-get", "echo apt-get was called >&2; exit 1")
    _fake_bin(tmp_path, "sudo", "echo sudo was called >&2; exit 1")
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
           "PIP_NO_INDEX": "1"}
    r = run("--user", "--dev", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "is up to date: nothing to install" in r.stdout
    assert "was called" not in r.stderr and "installing" not in r.stdout


def test_bad_usage() -> None:
    r = run("--frobnicate")
    assert r.returncode == 1 and "unknown option '--frobnicate'" in r.stderr
    r = run("--purge")
    assert r.returncode == 1 and "--purge only goes with --uninstall" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("useradd") is None, reason="useradd --prefix needs root")
def test_service_user_is_created_in_a_root_with_accounts(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        if Path("/etc", name).exists():
            shutil.copy(Path("/etc", name), root / "etc" / name)
    host = {name: Path("/etc", name).read_bytes() for name in ("passwd", "group")}
    args = ("--root", str(root), "--no-systemctl", "--skip-pip")
    for _ in range(2):  # the second run finds the user and changes nothing
        r = run(*args)
        assert r.returncode == 0, r.stdout + r.stderr
    users = [line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("edge-agent:")]
    assert len(users) == 1 and users[0].endswith(":/var/lib/edge-agent:/usr/sbin/nologin")
    audio = next(line for line in (root / "etc/group").read_text().splitlines() if line.startswith("audio:"))
    assert "edge-agent" in audio.split(":")[3].split(",")
    assert run("--root", str(root), "--no-systemctl", "--uninstall").returncode == 0
    assert "edge-agent:" in (root / "etc/passwd").read_text()  # kept without --purge
    assert run("--root", str(root), "--no-systemctl", "--uninstall", "--purge").returncode == 0
    assert "edge-agent:" not in (root / "etc/passwd").read_text()
    assert {name: Path("/etc", name).read_bytes() for name in ("passwd", "group")} == host  # the host untouched


FAKE_VENV_PYTHON = """#!/bin/sh
# A stand-in for the venv's python: records pip calls, answers the checks install.sh asks.
echo "$*" >> "$(dirname "$0")/calls.log"
case "$*" in
    *"sys.version_info"*) exit 0 ;;
    *llama_supports_gpu_offload*) exit 1 ;;
    *"import edge_agent"*) exit 1 ;;
    *) exit 0 ;;
esac
"""


def test_jetson_keeps_cpu_builds_without_nvcc(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "tools").mkdir(parents=True)
    shutil.copy(INSTALL, checkout / "install.sh")
    shutil.copy(REPO / "tools/apt-packages.txt", checkout / "tools/apt-packages.txt")
    venv_bin = checkout / ".venv/bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(FAKE_VENV_PYTHON)
    (venv_bin / "python").chmod(0o755)
    path = ":".join(p for p in os.environ["PATH"].split(":") if not (Path(p) / "nvcc").exists())
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c"), "PATH": path}
    r = run("--user", "--jetson", "--no-apt", "--no-models", env=env, script=checkout / "install.sh")
    assert r.returncode == 0, r.stdout + r.stderr
    calls = (venv_bin / "calls.log").read_text()
    if not Path("/usr/local/cuda/bin/nvcc").exists():
        assert "no CUDA compiler (nvcc) found: keeping the CPU build of llama-cpp-python" in r.stderr
        assert "GGML_CUDA" not in calls
    assert "pip install -q" in calls
    assert "onnxruntime-gpu" not in calls  # PyPI's aarch64 build is for CUDA 13 servers, not JetPack
    assert "run on the CPU" in r.stdout


def test_no_llama_refuses_dev() -> None:
    """--no-llama leaves the local LLM out; the development tools need it, so the two do not mix."""
    r = run("--user", "--dev", "--no-llama", "--skip-pip")
    assert r.returncode == 1
    assert "--no-llama does not go with --dev" in r.stderr


def test_board_packages_of_the_emulated_check() -> None:
    """The emulated aarch64 root gets what a plain install wants on arm64: untagged and `arm64`
    lines, no `dev` and no `amd64` ones."""
    script = (REPO / "tools/ci_emulated_aarch64.sh").read_text()
    body = script[script.index("board_packages() {"):]
    body = body[:body.index("\n}\n") + 3]
    r = subprocess.run(["bash", "-c", f'SRC="{REPO}"\n{body}\nboard_packages'], capture_output=True, text=True,
                       timeout=30)
    wanted = r.stdout.split()
    assert "python3-venv" in wanted and "portaudio19-dev" in wanted and "g++" in wanted
    assert not {"mosquitto", "shellcheck", "gcc-aarch64-linux-gnu", "qemu-user-static", "sox"} & set(wanted)
