#!/usr/bin/env bash
# Build the C ring buffer with AddressSanitizer + UndefinedBehaviorSanitizer (and -Werror) into a
# temporary directory and run tests/test_ringbuf.py against that build. Any sanitizer report
# aborts the test process, so the script exits non-zero.
#
# Usage, from anywhere: tools/ci_sanitize.sh [extra pytest args]   (PYTHON overrides .venv/bin/python)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
python=${PYTHON:-$repo/.venv/bin/python}
cc=${CC:-gcc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edge-agent-asan.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
echo "ci_sanitize: building _ringbuf with $sanitize"
CC=$cc CFLAGS="$sanitize -g -O1 -Wall -Wextra -Werror" LDFLAGS="-fsanitize=address,undefined" \
    "$python" setup.py -q build_ext --build-temp "$tmp/build" --build-lib "$tmp/lib" >"$tmp/build.log" 2>&1 \
    || { cat "$tmp/build.log" >&2; echo "ci_sanitize: build failed" >&2; exit 1; }

so=$(find "$tmp/lib" -name '_ringbuf*.so' -print -quit)
if [[ -z "$so" ]]; then
    echo "ci_sanitize: the build produced no _ringbuf*.so" >&2
    exit 1
fi
if ! nm -D "$so" | grep -q '__asan_'; then
    echo "ci_sanitize: $so is not instrumented with AddressSanitizer" >&2
    exit 1
fi

libasan=$("$cc" -print-file-name=libasan.so)
if [[ ! -e "$libasan" ]]; then
    echo "ci_sanitize: libasan not found ($cc -print-file-name=libasan.so gave $libasan)" >&2
    exit 1
fi

echo "ci_sanitize: running tests/test_ringbuf.py against $so"
# Python itself leaks by design at exit, hence detect_leaks=0. PYTHONMALLOC=malloc lets ASan see
# every Python allocation too (pymalloc arenas would hide overflows of small objects). The test
# module loads the .so named by EDGE_AGENT_RINGBUF_SO instead of the installed extension.
# --capture=sys: pytest must not swallow fd 2, where a report is written just before the abort.
EDGE_AGENT_RINGBUF_SO=$so \
LD_PRELOAD=$libasan \
PYTHONMALLOC=malloc \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=99 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=98 \
    "$python" -m pytest -q -p no:cacheprovider --capture=sys tests/test_ringbuf.py "$@"
echo "ci_sanitize: ok (no AddressSanitizer/UBSan reports)"
