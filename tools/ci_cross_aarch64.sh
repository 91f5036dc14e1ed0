#!/usr/bin/env bash
# Cross-compile the C ring buffer for aarch64 (Raspberry Pi 4/5, Jetson) with -Wall -Wextra -Werror
# using Debian's gcc-aarch64-linux-gnu and the host's Python headers, then link it as a shared
# object so a dependency on libatomic would show up.
#
# Usage, from anywhere: tools/ci_cross_aarch64.sh   (PYTHON overrides .venv/bin/python, CC_AARCH64 the compiler)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
python=${PYTHON:-$repo/.venv/bin/python}
cc=${CC_AARCH64:-aarch64-linux-gnu-gcc}

if ! command -v "$cc" >/dev/null; then
    echo "ci_cross_aarch64: $cc not found; install Debian's gcc-aarch64-linux-gnu" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edge-agent-aarch64.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
pyver=$(basename "$include")  # e.g. python3.11
includes=(-I"$include")
# Debian's python3-dev ships a pyconfig.h that picks <TRIPLET/python3.X/pyconfig.h> by target.
# Without libpython3-dev:arm64 there is no aarch64 one; the x86_64 one describes the same LP64
# data model (sizes of int, long, pointers, size_t, wchar_t), which is all this extension uses.
if grep -q 'aarch64-linux-gnu/' "$include/pyconfig.h" && [[ ! -f "/usr/include/aarch64-linux-gnu/$pyver/pyconfig.h" ]]; then
    host_config="/usr/include/x86_64-linux-gnu/$pyver/pyconfig.h"
    mkdir -p "$tmp/include/aarch64-linux-gnu/$pyver"
    printf '#include "%s"\n' "$host_config" >"$tmp/include/aarch64-linux-gnu/$pyver/pyconfig.h"
    includes+=(-I"$tmp/include")
    echo "ci_cross_aarch64: no aarch64 pyconfig.h; using the LP64 host one ($host_config)"
fi

"$cc" -std=c11 -O2 -fPIC -Wall -Wextra -Werror "${includes[@]}" \
    -c edge_agent/audio/_ringbuf.c -o "$tmp/_ringbuf.o"
"$cc" -shared -o "$tmp/_ringbuf.so" "$tmp/_ringbuf.o"

machine=$(LC_ALL=C readelf -h "$tmp/_ringbuf.so" | awk -F: '/Machine:/ {gsub(/^ +/, "", $2); print $2}')
if [[ "$machine" != "AArch64" ]]; then
    echo "ci_cross_aarch64: expected an AArch64 object, got '$machine'" >&2
    exit 1
fi
# 64-bit atomics must be inline (or libgcc's outline helpers), never calls into libatomic.
if nm -D --undefined-only "$tmp/_ringbuf.so" | grep -q '__atomic_'; then
    echo "ci_cross_aarch64: the atomics compiled to libatomic calls:" >&2
    nm -D --undefined-only "$tmp/_ringbuf.so" | grep '__atomic_' >&2
    exit 1
fi
echo "ci_cross_aarch64: ok ($machine, -Wall -Wextra -Werror)"
