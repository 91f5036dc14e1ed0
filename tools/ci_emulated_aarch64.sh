#!/usr/bin/env bash
# The aarch64 check under emulation: a Debian bookworm arm64 root (Raspberry Pi OS bookworm's base),
# run through qemu-user and binfmt_misc, in which the project installs from its own files with the
# aarch64 wheels from PyPI, then:
#   - the C ring buffer's tests (built by pip inside the root, run by pytest),
#   - the derived int8 VAD built there and matching the sha256 the manifest pins (x86_64 builds it
#     too: one recipe must give one file everywhere),
#   - each engine loaded and run (onnxruntime, microWakeWord, openWakeWord, CTranslate2, Piper),
#   - `edge-agent listen` and `edge-agent transcribe` on the demo clip, which Piper speaks there.
# Each step prints its time. What it leaves out, and why, is in docs/design/boards.md: the local
# LLM (llama-cpp-python builds from source, hours under emulation: --no-llama) and the wake word's
# classifier, which is trained (minutes natively, far longer emulated), so the host's is copied in
# with its pin and checked.
#
# The root and pip's cache inside it are kept in $EDGE_AGENT_AARCH64_DIR (default
# ~/.cache/edge-agent/aarch64), like the host's models and pip cache, and made again when the
# package list changes. Needs root (chroot, mounts), debootstrap-style tools (mmdebstrap) and
# qemu-user-static: `./install.sh --user --dev` installs them on x86_64.
#
# Usage: tools/ci_emulated_aarch64.sh [--fresh] [--prepare]
#   --fresh    make the root again
#   --prepare  only make the root and install the project in it (`./install.sh --dev` runs this in the
#              background while the host builds llama.cpp, so that the check itself finds them ready)
# shellcheck disable=SC2317  # main ends in exit; the steps are called through timed and trap
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROG=ci_emulated_aarch64
WORK="${EDGE_AGENT_AARCH64_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-agent/aarch64}"
ROOTFS="$WORK/root"
HOST_MODELS="${EDGE_AGENT_PATHS__MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-agent/models}"
MIRROR="${EDGE_AGENT_AARCH64_MIRROR:-http://deb.debian.org/debian}"
# The CPU qemu emulates: a Raspberry Pi 4's Cortex-A72 (the smallest board), not qemu's default `max`,
# whose newer features (i8mm, SME, SVE2) no supported board has. The int8 VAD is also checked on `max`.
CPU="${EDGE_AGENT_AARCH64_CPU:-cortex-a72}"
SUITE=bookworm
# The models the check runs; the int8 VAD is left out of the seed so that it is built in the root.
SEEDED_MODELS=(silero-vad smart-turn-v3.2 microwakeword openwakeword whisper-tiny-en piper-joe-medium
    wake-classifier-okay-nabu)
DERIVED_MODELS=(silero-vad-int8)
# Built natively on a board by `models pull` (about 1.5 min on 2 cores, far longer under emulation):
# here the host cross-compiles the same recipe for aarch64 and the root verifies its pin and runs it
# (never pulls it: a stale pin would start the emulated build; the engines check fails on it instead).
CROSS_MODELS=(webrtc-aec3)
FRESH=0
PREPARE_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --fresh) FRESH=1 ;;
        --prepare) PREPARE_ONLY=1 ;;
        *)
            printf '%s: error: unknown option %s (usage: %s [--fresh] [--prepare])\n' "$PROG" "$arg" "$0" >&2
            exit 2
            ;;
    esac
done

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

declare -a TIMES=()
timed() {
    # timed NAME CMD...: runs CMD, prints and records how long it took
    local name="$1" t0 rc=0
    shift
    say "--- $name"
    t0=$(date +%s)
    "$@" || rc=$?
    local dt=$(($(date +%s) - t0))
    TIMES+=("$(printf '%-44s %5d s' "$name" "$dt")")
    [ "$rc" = 0 ] || die "$name failed (exit $rc) after $dt s"
    say "$name: ok in $dt s"
}

[ "$(id -u)" -eq 0 ] || die "needs root (chroot and mounts); run it as root or with sudo"
[ "$(uname -m)" = x86_64 ] || die "runs on x86_64 hosts (on an aarch64 board, ./install.sh runs natively)"
for tool in mmdebstrap arch-test chroot; do
    command -v "$tool" >/dev/null || die "$tool not found. Fix: ./install.sh --user --dev (or apt-get install mmdebstrap arch-test qemu-user-static)"
done
[ -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || [ -x /usr/bin/qemu-aarch64-static ] ||
    die "qemu-user-static is not installed. Fix: apt-get install qemu-user-static"

# --- binfmt_misc: aarch64 binaries run through qemu ------------------------------------------------
binfmt() {
    local dir=/proc/sys/fs/binfmt_misc
    if [ ! -e "$dir/register" ]; then
        mount -t binfmt_misc binfmt_misc "$dir" || die "cannot mount binfmt_misc on $dir"
    fi
    if [ ! -e "$dir/qemu-aarch64" ]; then
        if command -v update-binfmts >/dev/null; then
            update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
        fi
    fi
    if [ ! -e "$dir/qemu-aarch64" ]; then
        # F: the interpreter is opened now, so it works inside a chroot that lacks it
        printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:FP' \
            >"$dir/register" || die "cannot register qemu-aarch64 with binfmt_misc"
    fi
    grep -q enabled "$dir/qemu-aarch64" || die "binfmt_misc's qemu-aarch64 entry is disabled"
}

# --- the root: Debian bookworm arm64 with the packages of tools/apt-packages.txt --------------------
# The lines with no tag or the arm64 tag: what ./install.sh --user installs on a board.
board_packages() {
    awk '{ sub(/#.*/, "") } NF == 0 { next } { ok = 1; for (i = 2; i <= NF; i++) if ($i != "arm64") ok = 0; if (ok) print $1 }' \
        "$SRC/tools/apt-packages.txt"
}

make_root() {
    local packages key
    packages="$(board_packages | LC_ALL=C sort | paste -sd, -),ca-certificates"
    key="$(printf '%s %s %s\n' "$SUITE" "$MIRROR" "$packages" | sha256sum | cut -d' ' -f1)"
    if [ "$FRESH" = 0 ] && [ -f "$ROOTFS/.edge-agent-root" ] && [ "$(cat "$ROOTFS/.edge-agent-root")" = "$key" ]; then
        say "arm64 root $ROOTFS is up to date"
        return 0
    fi
    say "making the arm64 root ($SUITE, $packages) in $ROOTFS"
    # each step returns on failure by hand: `timed` calls this behind `||`, where set -e does not act
    rm -rf "$ROOTFS.new" && mkdir -p "$WORK" || return 1
    # no manuals, docs or translations: they cost unpacking time under emulation and are never read
    mmdebstrap --variant=apt --arch=arm64 --include="$packages" \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        "$SUITE" "$ROOTFS.new" "$MIRROR" || return 1
    echo "$key" >"$ROOTFS.new/.edge-agent-root" && rm -rf "$ROOTFS" && mv "$ROOTFS.new" "$ROOTFS"
}

# --- running inside ----------------------------------------------------------------------------------
MOUNTED=()
unmount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
}
trap unmount_all EXIT

mount_root() {
    local m
    for m in proc sys dev dev/pts; do
        mkdir -p "$ROOTFS/$m"
        if ! mountpoint -q "$ROOTFS/$m"; then
            case "$m" in
                proc) mount -t proc proc "$ROOTFS/proc" ;;
                *) mount --rbind "/$m" "$ROOTFS/$m" ;;
            esac
            MOUNTED+=("$ROOTFS/$m")
        fi
    done
    # qemu-user passes the host's /proc/cpuinfo through, and onnxruntime's CPU probe (cpuinfo) crashes
    # on x86 lines when it runs as aarch64 (SIGSEGV at import). A board shows its own: give the root
    # Cortex-A72 lines like a Raspberry Pi 4's (NEON, no SVE), one per host core, so that kernels are
    # chosen as on the Pi.
    local cores i
    cores="$(nproc)"
    for ((i = 0; i < cores; i++)); do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$i"
    done >"$WORK/cpuinfo"
    mount --bind "$WORK/cpuinfo" "$ROOTFS/proc/cpuinfo"
    MOUNTED+=("$ROOTFS/proc/cpuinfo")
    cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
    # pip inside reaches PyPI through the same TLS as the host (which may add its own authority)
    cp -L "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$ROOTFS/etc/ssl/certs/host-ca.crt"
}

inside() {
    # inside 'SHELL CODE': run in the root, in the copied checkout, with a clean environment
    chroot "$ROOTFS" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb QEMU_CPU="${QEMU_CPU:-$CPU}" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        PIP_CERT=/etc/ssl/certs/host-ca.crt SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 PYTHONDONTWRITEBYTECODE=1 PIP_NO_COMPILE=1 \
        /bin/bash -euo pipefail -c "cd /src && $1"
}

on_max_cpu() {
    # on_max_cpu 'SHELL CODE': inside, on qemu's `max` CPU (every feature qemu has: i8mm, SME, SVE2)
    QEMU_CPU=max inside "$1"
}

copy_checkout() {
    # the project's own files (what git tracks) in place of the last run's; the venv and what the
    # editable install built in the tree (the ring buffer's .so, the egg-info) are kept, so that a
    # second run with the same build inputs installs nothing
    mkdir -p "$ROOTFS/src"
    find "$ROOTFS/src" -mindepth 1 \( -name .venv -o -name '*.so' -o -name '*.egg-info' \) -prune -o -type f -print0 |
        xargs -0 -r rm -f
    (cd "$SRC" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) |
        tar -xf - -C "$ROOTFS/src"
}

demo_clip() {
    # The demo's first turn (Piper's voice: "Okay Nabu." then "What are your opening hours?", 6 s),
    # made natively: Piper itself runs inside in the engines check, and every second of audio costs
    # about 15 s of emulated listening.
    "$SRC/.venv/bin/python" - "$ROOTFS/tmp/demo.wav" <<'EOF' ||
import sys
from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.wav import read_wav, write_wav
from edge_agent.demo import demo_input
audio, _ = read_wav(demo_input(), rate=SAMPLE_RATE)
write_wav(sys.argv[1], audio[:6 * SAMPLE_RATE], SAMPLE_RATE)
EOF
        die "cannot make the demo clip with $SRC/.venv (run ./install.sh --user --dev first)"
}

seed_models() {
    local dest="$ROOTFS/root/.cache/edge-agent/models" name
    mkdir -p "$dest"
    rm -rf "${DERIVED_MODELS[@]/#/$dest/}"
    for name in "${SEEDED_MODELS[@]}"; do
        [ -d "$HOST_MODELS/$name" ] || die "model $name is not in $HOST_MODELS. Fix: .venv/bin/edge-agent models pull"
        rm -rf "${dest:?}/$name"
        cp -a "$HOST_MODELS/$name" "$dest/$name"
    done
    rm -rf "${dest:?}/webrtc-aec3"
    cp -a "$(aec3_arm64_dir)" "$dest/webrtc-aec3"
}

aec3_arm64_dir() {
    # keyed by the sources that make it: a changed shim or recipe is built again
    printf '%s/aec3-arm64/%s\n' "$WORK" "$(cat "$SRC/edge_agent/audio/aec3_shim.cc" "$SRC/edge_agent/models/recipes/aec3.py" \
        "$SRC/edge_agent/data/manifest.toml" |
        sha256sum | cut -c1-16)"
}

cross_compile_aec3() {
    local dir
    dir="$(aec3_arm64_dir)"
    if [ -f "$dir/libedge_aec3.so" ]; then
        say "libedge_aec3.so for aarch64 already built in $dir"
        return 0
    fi
    rm -rf "$WORK/aec3-arm64"
    "$SRC/.venv/bin/python" -c 'import sys; from edge_agent.models.recipes.aec3 import main; sys.exit(main())' \
        --cross aarch64 --as-model --out "$dir"
}

# The steps, in one function: bash reads a script as it runs it, and a function is read whole
# before it starts, so editing this file during a run cannot change the run.
prepare() {
    binfmt
    timed "make the arm64 root (mmdebstrap, packages)" make_root
    copy_checkout
    mount_root
    # shellcheck disable=SC2016  # expanded inside the root
    inside 'test "$(uname -m)" = aarch64 && echo "arm64 root: $(uname -m), $(python3 --version), Debian $(cat /etc/debian_version)"'
    timed "install.sh --user --no-llama (venv, wheels)" inside './install.sh --user --no-llama --no-models'
    timed "pip install pytest hypothesis" inside '.venv/bin/python -c "import pytest, pytest_timeout, hypothesis" 2>/dev/null ||
        .venv/bin/python -m pip install -q --root-user-action=ignore pytest pytest-timeout hypothesis'
}

listen_on_the_clip() {
    # the listening front end must wake, hear the question and end the turn on its own (not by the
    # listener's timeout): a VAD that hears nothing still wakes, then times out
    inside '.venv/bin/edge-agent listen /tmp/demo.wav --events /tmp/listen.jsonl && cat /tmp/listen.jsonl &&
        grep -q "\"type\": \"wake\"" /tmp/listen.jsonl && grep -q "\"type\": \"speech_start\"" /tmp/listen.jsonl &&
        grep "\"type\": \"turn_end\"" /tmp/listen.jsonl | grep -qv "\"reason\": \"timeout\""'
}

main() {
    local t0
    t0=$(date +%s)
    # one run at a time per root: ./install.sh --dev may still be preparing it in the background
    mkdir -p "$WORK"
    exec 9>"$WORK/.lock"
    flock 9
    prepare
    if [ "$PREPARE_ONLY" = 1 ]; then
        say "arm64 root and its venv ready in $(($(date +%s) - t0)) s"
        exit 0
    fi
    # the cross compiler works on the host while the root runs the ring buffer's tests
    local aec3_log="$WORK/aec3-arm64.log" aec3_pid
    (timed "AEC3 shim cross-compiled for aarch64 (on the host, beside the next step)" cross_compile_aec3) >"$aec3_log" 2>&1 &
    aec3_pid=$!
    timed "C ring buffer tests" inside '.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_ringbuf.py'
    wait "$aec3_pid" || { cat "$aec3_log"; die "cross-compiling the AEC3 shim failed"; }
    cat "$aec3_log"
    seed_models
    timed "models pull: the int8 VAD built, pins checked" inside ".venv/bin/edge-agent models pull ${DERIVED_MODELS[*]} ${SEEDED_MODELS[*]} && .venv/bin/edge-agent models verify ${DERIVED_MODELS[*]} ${SEEDED_MODELS[*]} ${CROSS_MODELS[*]}"
    timed "demo clip, made on the host" demo_clip
    # the listener runs beside the engine checks: each is mostly one emulated thread, and the two
    # together take 221 s against 322 s one after the other (2 cores)
    local listen_log="$WORK/listen.log" listen_rc=0 listen_pid
    (timed "edge-agent listen on the clip (beside the next steps)" listen_on_the_clip) >"$listen_log" 2>&1 &
    listen_pid=$!
    timed "engines loaded and run ($CPU)" inside ".venv/bin/python tools/engines_check.py --speech /tmp/demo.wav"
    timed "int8 VAD against fp32 on qemu's max CPU" on_max_cpu \
        '.venv/bin/python tools/engines_check.py --speech /tmp/demo.wav --only "VAD agreement"'
    timed "edge-agent transcribe on the clip" inside '.venv/bin/edge-agent transcribe /tmp/demo.wav | tee /tmp/transcript.txt && grep -qi "opening hours" /tmp/transcript.txt'
    wait "$listen_pid" || listen_rc=$?
    cat "$listen_log"
    [ "$listen_rc" = 0 ] || die "edge-agent listen on the clip failed (exit $listen_rc)"

    say "times per step (the listener ran beside the engine checks):"
    printf '  %s\n' "${TIMES[@]}"
    say "ok in $(($(date +%s) - t0)) s"
    exit 0 # from inside main: nothing after its call is read, even if this file changed during the run
}

main "$@"
