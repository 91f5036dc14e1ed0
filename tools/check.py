#!/usr/bin/env python3
"""The whole test suite, as the README's second command and CI run it.

Static checks first (ruff, mypy, shellcheck), then the ring buffer under AddressSanitizer and
UndefinedBehaviorSanitizer, the aarch64 cross-compile, the emulated aarch64 install and engine
check (a Debian arm64 root under qemu-user), and last pytest with every marker (fast
unit tests with fakes, then real models, a real broker and real servers), so that pytest's own
summary line is the last thing printed. Exits non-zero if any step fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def step(name: str, cmd: list[str], report: bool = True) -> bool:
    print(f"\n=== {name}: {' '.join(cmd)}", flush=True)
    t0 = time.monotonic()
    rc = subprocess.run(cmd, cwd=ROOT, check=False).returncode
    if report:
        print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.monotonic() - t0:.0f} s", flush=True)
    return rc == 0


def main() -> int:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    failed: list[str] = []
    checks: list[tuple[str, list[str]]] = [
        ("ruff", [str(BIN / "ruff"), "check", "."]),
        # pyproject's mypy settings check for the oldest Python (3.10); this checks the running one too
        ("mypy (3.10)", [str(BIN / "mypy")]),
        (f"mypy ({sys.version_info.major}.{sys.version_info.minor})",
         [str(BIN / "mypy"), "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}"]),
    ]
    shell_scripts = [str(p.relative_to(ROOT)) for p in [ROOT / "install.sh", *sorted((ROOT / "tools").glob("*.sh"))]
                     if p.exists()]
    if shutil.which("shellcheck") and shell_scripts:
        checks.append(("shellcheck", ["shellcheck", *shell_scripts]))
    for script in ("tools/ci_sanitize.sh", "tools/ci_cross_aarch64.sh", "tools/ci_emulated_aarch64.sh"):
        if (ROOT / script).exists():
            checks.append((Path(script).stem, ["bash", script]))
    for name, cmd in checks:
        if not step(name, cmd):
            failed.append(name)
    if failed:
        print(f"\nFAILED before pytest: {', '.join(failed)}", flush=True)
    # pytest last, and nothing printed after it: its summary is the suite's closing line.
    ok = step("pytest", [str(BIN / "python"), "-m", "pytest", *(sys.argv[1:] or ["-q"])], report=False)
    return 0 if ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
