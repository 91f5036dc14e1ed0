"""Recipe ``aec3``: builds ``libedge_aec3.so``, WebRTC's AEC3 with its linear output exported
(:file:`edge_agent/audio/aec3_shim.cc`), from the WebRTC sources the ``pywebrtc-audio`` sdist carries.

The wheels of ``pywebrtc-audio`` (which the agent also uses, as the fallback) give only AEC3's
suppressed output with the default config; the shim gives the linear filter's output as well and a
longer filter (docs/design/echo-cancellation.md says why and what it measured). The sdist is
fetched with pip, so the user's index and proxy settings apply, and checked against its sha256;
its ``vendor/webrtc_audio`` tree (BSD-3-Clause WebRTC, with abseil) is compiled with CMake and the
system's C++ compiler, about 1.5 minutes on two cores. The library's sha256 is pinned on first
build (compilers differ, so it cannot be in the manifest).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from edge_agent.errors import ModelError
from edge_agent.models.manager import download_package

SDIST = "pywebrtc-audio==0.2.0"
SDIST_SHA256 = "cdc47c063439b033bdd6110d2e1119fd6e36c6e007ed824bc369c9a5e3cb307a"
VENDOR_DIR = "vendor/webrtc_audio"
OUTPUT_FILE = "libedge_aec3.so"
SHIM = Path(__file__).resolve().parents[2] / "audio" / "aec3_shim.cc"

CMAKE_LISTS = """\
cmake_minimum_required(VERSION 3.15)
project(edge_aec3 LANGUAGES C CXX)
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
add_subdirectory("${WEBRTC_SRC}" webrtc)
add_library(edge_aec3 SHARED "${SHIM_SRC}")
target_link_libraries(edge_aec3 PRIVATE webrtc_audio_static)
target_include_directories(edge_aec3 PRIVATE "${WEBRTC_SRC}")
"""


def _run(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.strip().splitlines()[-15:])
        raise ModelError(f"building the AEC3 library failed ({' '.join(cmd[:2])}):\n{tail}")


def _unpack_vendor(sdist: Path, dest: Path) -> Path:
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise ModelError(f"{sdist.name} has sha256 {digest[:12]}…, expected {SDIST_SHA256[:12]}… (a changed or corrupt sdist)")
    with tarfile.open(sdist) as tar:
        top = tar.getmembers()[0].name.split("/")[0]
        prefix = f"{top}/{VENDOR_DIR}/"
        members = [m for m in tar.getmembers()
                   if m.name.startswith(prefix) and ".." not in m.name.split("/") and (m.isfile() or m.isdir())]
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.10.12
        tar.extractall(dest, members=members, **safe)  # type: ignore[arg-type]
    return dest / top / VENDOR_DIR


def build(inputs: dict[str, Path], out_dir: Path) -> None:
    """The model manager's ``derive`` hook (no inputs: the sources come from the sdist)."""
    build_library(Path(out_dir))


CROSS = {"aarch64": "aarch64-linux-gnu-"}
"""``--cross`` targets: the GNU cross toolchain's prefix (Debian's g++-aarch64-linux-gnu)."""


def build_library(out_dir: Path, cross: str | None = None) -> Path:
    """Compile ``libedge_aec3.so`` into ``out_dir``: natively, or for ``cross`` (a key of CROSS) with
    the cross compiler (the emulated aarch64 check builds the board's library on the host this way)."""
    prefix = CROSS[cross] if cross else ""
    compiler = f"{prefix}g++" if cross else "c++"
    missing = [tool for tool in ("cmake", compiler) if shutil.which(tool) is None]
    if missing:
        raise ModelError(f"building the AEC3 library needs {' and '.join(missing)}: "
                         f"sudo apt-get install cmake {f'g++-{cross}-linux-gnu' if cross else 'g++'} (install.sh does it)")
    toolchain = [] if not cross else [
        "-DCMAKE_SYSTEM_NAME=Linux", f"-DCMAKE_SYSTEM_PROCESSOR={cross}",
        f"-DCMAKE_C_COMPILER={prefix}gcc", f"-DCMAKE_CXX_COMPILER={prefix}g++"]
    with tempfile.TemporaryDirectory(prefix="edge-agent-aec3-") as tmp:
        work = Path(tmp)
        sdist = download_package(SDIST, work / "sdist", progress=False, sdist=True)
        src = _unpack_vendor(sdist, work / "src")
        (work / "CMakeLists.txt").write_text(CMAKE_LISTS)
        _run(["cmake", "-S", str(work), "-B", str(work / "build"), "-DCMAKE_BUILD_TYPE=Release",
              f"-DWEBRTC_SRC={src}", f"-DSHIM_SRC={SHIM}", *toolchain], work)
        _run(["cmake", "--build", str(work / "build"), "--parallel", str(os.cpu_count() or 1)], work)
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(work / "build" / OUTPUT_FILE, out_dir / OUTPUT_FILE)
    return out_dir / OUTPUT_FILE


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Build libedge_aec3.so (edge-agent models pull webrtc-aec3 does it "
                                                 "natively; this also cross-compiles).")
    parser.add_argument("--out", type=Path, required=True, help="directory for the library")
    parser.add_argument("--cross", choices=sorted(CROSS), help="cross-compile for this architecture")
    parser.add_argument("--as-model", action="store_true",
                        help="also write the model manager's pin file, so that --out can be the model's directory")
    args = parser.parse_args(argv)
    library = build_library(args.out, args.cross)
    if args.as_model:
        import json

        from edge_agent.models.manager import BUILD_KEY, PIN_FILE
        from edge_agent.models.manifest import Manifest

        build = Manifest.load().get("webrtc-aec3").build
        pin = {BUILD_KEY: build, OUTPUT_FILE: {"sha256": hashlib.sha256(library.read_bytes()).hexdigest(),
                                               "size": library.stat().st_size}}
        (args.out / PIN_FILE).write_text(json.dumps(pin, indent=1, sort_keys=True))
    print(library)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
