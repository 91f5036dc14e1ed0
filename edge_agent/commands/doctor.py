"""``edge-agent doctor``: is this machine ready to run the agent? One line per check, one fix per problem.

Checks: the config, the board (its model and memory, and whether the default models fit), audio devices (and whether the configured ones exist), models (present with the
right sizes; ``--full`` hashes them), the MQTT broker (a TCP connect), the cloud regions (a probe each,
with its round-trip time), CPU, memory, temperature, and the systemd unit. Exit status 1 when any
check failed; warnings alone exit 0. ``--json`` prints one object for scripts and kiosk dashboards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from edge_agent.config import Settings

Status = Literal["ok", "warn", "fail", "skip"]

MIN_FREE_MEMORY_MB = 400
# The agent's peak resident memory with the default models (`edge-agent bench latency` reports it),
# and what the OS and the desktop-less system around it take on a board.
DEFAULT_MODELS_PEAK_RSS_MB = 760
SYSTEM_RESERVE_MB = 300
HOT_CELSIUS = 80.0  # a Raspberry Pi starts throttling at 80-85 °C
BROKER_TIMEOUT_S = 2.0


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "doctor",
        help="check audio devices, models, broker, cloud regions and the service; one fix per problem",
        description="Check audio devices, models, broker, cloud regions, CPU, memory, temperature and the "
                    "systemd service. Exits 1 if a check failed, printing one fix per problem.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--full", action="store_true", help="hash every model file (slow) instead of checking sizes")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks = run_checks(getattr(args, "config", None), full=args.full)
    failed = [c for c in checks if c.status == "fail"]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}, ensure_ascii=False))
    else:
        print(render(checks))
    return 1 if failed else 0


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status:<4}  {c.name:<{width}}  {c.detail}" for c in checks]
    problems = [c for c in checks if c.status in ("fail", "warn") and c.fix]
    if problems:
        lines.append("")
        lines.extend(f"fix ({c.name}): {c.fix}" for c in problems)
    failed = sum(c.status == "fail" for c in checks)
    lines.append("")
    lines.append(f"{failed} problem(s) found" if failed else "all checks passed")
    return "\n".join(lines)


def run_checks(config: str | None = None, full: bool = False) -> list[Check]:
    from edge_agent.config import Settings, config_path, load_settings
    from edge_agent.errors import ConfigError

    checks: list[Check] = []
    try:
        settings = load_settings(config)
        where = config_path(config)
        checks.append(Check("config", "ok", f"{where}" if where else "defaults (no config file)"))
    except ConfigError as exc:
        first = exc.message.splitlines()[0]
        checks.append(Check("config", "fail", first,
                            fix="correct the setting named above; `edge-agent config check` shows every problem"))
        settings = Settings()
    probes: list[tuple[str, Callable[[Settings], list[Check]]]] = [
        ("board", check_board), ("audio", check_audio), ("models", lambda s: check_models(s, full)), ("mqtt broker", check_broker),
        ("cloud", check_cloud), ("cpu", check_cpu), ("memory", check_memory),
        ("temperature", check_temperature), ("service", check_service),
        ("echo cancellation", check_echo),  # issue 17 (aec)
    ]
    for name, probe in probes:
        checks.extend(_guarded(name, probe, settings))
    return checks


def _guarded(name: str, probe: Callable[[Settings], list[Check]], settings: Settings) -> list[Check]:
    """A check that crashes is a failed check with its reason, never a traceback."""
    try:
        return probe(settings)
    except Exception as exc:
        return [Check(name, "fail", f"the check itself failed: {type(exc).__name__}: {exc}",
                      fix="report this with `edge-agent doctor --json` attached")]


# --- audio ---------------------------------------------------------------------------------------


def list_audio_devices() -> list[dict[str, Any]]:
    from edge_agent.audio.pa import available_devices

    return available_devices()  # quietly: PortAudio's ALSA/JACK probing would clutter the report


def _find(devices: list[dict[str, Any]], wanted: str | int | None, channels_key: str) -> dict[str, Any] | None:
    usable = [d for d in devices if int(d.get(channels_key, 0)) > 0]
    if wanted is None:
        return usable[0] if usable else None
    if isinstance(wanted, int):
        return next((d for d in usable if d.get("index") == wanted), None)
    return next((d for d in usable if wanted.lower() in str(d.get("name", "")).lower()), None)


def check_audio(settings: Settings, devices: list[dict[str, Any]] | None = None) -> list[Check]:
    devices = list_audio_devices() if devices is None else devices
    out = []
    for role, key, wanted, lister in (
        ("microphone", "maxInputChannels", settings.audio.input_device, "arecord -l"),
        ("speaker", "maxOutputChannels", settings.audio.output_device, "aplay -l"),
    ):
        setting = "audio.input_device" if role == "microphone" else "audio.output_device"
        names = [str(d.get("name")) for d in devices if int(d.get(key, 0)) > 0]
        found = _find(devices, wanted, key)
        data = {"configured": wanted, "available": names}
        if found is not None:
            out.append(Check(f"audio {role}", "ok", f"{found['name']!s} (index {found.get('index')}); "
                             f"{len(names)} available", data=data))
        elif wanted is not None:
            out.append(Check(f"audio {role}", "fail",
                             f"the configured {setting} = {wanted!r} is not among: {', '.join(names) or 'none'}",
                             fix=f"set {setting} to one of the names above (or remove it for the default); "
                                 f"`{lister}` lists the hardware", data=data))
        elif role == "microphone":
            out.append(Check(f"audio {role}", "fail", "no capture device: the agent can only play its demo",
                             fix=f"plug in a microphone (`{lister}` lists capture devices; the service user "
                                 "must be in the 'audio' group)", data=data))
        else:
            out.append(Check(f"audio {role}", "warn", "no playback device: replies can only go to WAV files",
                             fix=f"connect a speaker (`{lister}` lists playback devices)", data=data))
    return out


# --- models --------------------------------------------------------------------------------------


def check_echo(settings: Settings) -> list[Check]:  # issue 17 (aec)
    """Full duplex needs the AEC library; without it the agent runs half duplex."""
    from edge_agent.audio.echo import LIBRARY, echo_library_status

    if not settings.audio.echo_cancellation:
        return [Check("echo cancellation", "skip", "audio.echo_cancellation = false (barge-in by the VAD's "
                                                   "playback threshold alone)")]
    from edge_agent.audio.echo_path import linear_library

    linear = linear_library(settings)
    ok, detail = echo_library_status(linear)
    if ok and linear is None:
        return [Check("echo cancellation", "warn", detail + ", without the linear output the wake word and the STT "
                      "use over a reply", fix="edge-agent models pull webrtc-aec3 (needs cmake and g++)")]
    if ok:
        return [Check("echo cancellation", "ok", detail)]
    return [Check("echo cancellation", "warn", detail + ": half duplex (no barge-in while the agent speaks)",
                  fix=f"pip install '{LIBRARY}>=0.2,<0.3' into the agent's environment (sudo ./install.sh does)")]


def check_models(settings: Settings, full: bool = False) -> list[Check]:
    from edge_agent.errors import ModelError
    from edge_agent.models import ModelManager

    mm = ModelManager(settings.paths.models_dir)
    names = [m.name for m in mm.manifest.defaults()]
    for configured in (settings.stt.model, settings.llm.local.model, settings.tts.voice):
        if configured in mm.manifest.models and configured not in names:
            names.append(configured)
    problems: dict[str, str] = {}
    if full:
        for p in mm.verify(names):
            problems.setdefault(p.model, f"{Path(p.path).name}: {p.reason}")
    else:
        for name in names:
            try:
                mm.require(name)
            except ModelError as exc:
                problems[name] = exc.message.split(": ", 1)[-1].split(" in ")[0]
    how = "sha256 verified" if full else "present, sizes right (--full hashes them)"
    data = {"dir": str(mm.root), "models": names, "problems": problems}
    if not problems:
        return [Check("models", "ok", f"{len(names)} in {mm.root}: {how}", data=data)]
    bad = ", ".join(f"{n} ({why})" for n, why in problems.items())
    return [Check("models", "fail", f"{len(problems)} of {len(names)} not usable in {mm.root}: {bad}",
                  fix=f"edge-agent models pull {' '.join(problems)}", data=data)]


# --- network -------------------------------------------------------------------------------------


def check_broker(settings: Settings) -> list[Check]:
    mqtt = settings.mqtt
    if not mqtt.enabled:
        return [Check("mqtt broker", "skip", "mqtt.enabled = false")]
    t0 = time.monotonic()
    try:
        with socket.create_connection((mqtt.host, mqtt.port), timeout=BROKER_TIMEOUT_S):
            ms = (time.monotonic() - t0) * 1000
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return [Check("mqtt broker", "fail", f"{mqtt.host}:{mqtt.port} not reachable: {reason}",
                      fix="start the broker (`sudo systemctl start mosquitto`, or `sudo ./install.sh --with-broker`) "
                          "or correct mqtt.host/mqtt.port", data={"host": mqtt.host, "port": mqtt.port})]
    return [Check("mqtt broker", "ok", f"{mqtt.host}:{mqtt.port} reachable ({ms:.0f} ms)",
                  data={"host": mqtt.host, "port": mqtt.port, "connect_ms": round(ms, 1)})]


def check_cloud(settings: Settings) -> list[Check]:
    import asyncio

    from edge_agent.llm.regions import probe_regions_async

    cloud = settings.llm.cloud
    if not cloud.regions:
        return [Check("cloud", "skip", "no llm.cloud.regions configured")]

    out = []
    for st in asyncio.run(probe_regions_async(settings)):  # every region in parallel, best of 5 probes
        if st.rtt_ms is not None:
            out.append(Check(f"cloud {st.name}", "ok", f"{st.base_url} {st.rtt_ms:.0f} ms, breaker {st.breaker}",
                             data=st.to_dict()))
        else:
            out.append(Check(f"cloud {st.name}", "fail",
                             f"{st.base_url} not reachable (breaker {st.breaker}): {st.last_error}",
                             fix="check the network, the region's base_url and the API key "
                                 "(/etc/edge-agent/credentials/llm__cloud__api_key)", data=st.to_dict()))
    return out


# --- the machine ---------------------------------------------------------------------------------


def read_board_model(root: Path = Path("/")) -> str | None:
    """The board's name: the device tree's model on a Raspberry Pi or a Jetson, else the DMI product name."""
    for rel in ("proc/device-tree/model", "sys/firmware/devicetree/base/model", "sys/class/dmi/id/product_name"):
        with contextlib.suppress(OSError):
            text = (root / rel).read_bytes().rstrip(b"\0\n").decode("utf-8", "replace").strip()
            if text:
                return text
    return None


def check_board(settings: Settings, root: Path = Path("/")) -> list[Check]:
    """Which board this is, its memory, and whether the default models fit in it."""
    import platform

    import psutil

    total_mb = psutil.virtual_memory().total / 2**20
    model = read_board_model(root) or "unknown board"
    need_mb = DEFAULT_MODELS_PEAK_RSS_MB + SYSTEM_RESERVE_MB
    data = {"model": model, "machine": platform.machine(), "memory_mb": round(total_mb),
            "default_models_peak_rss_mb": DEFAULT_MODELS_PEAK_RSS_MB, "fits": total_mb >= need_mb}
    detail = (f"{model} ({platform.machine()}), {total_mb:.0f} MB; the default models peak at "
              f"{DEFAULT_MODELS_PEAK_RSS_MB} MB")
    if total_mb < need_mb:
        return [Check("board", "warn", detail + f": less than the {need_mb} MB they need with the system",
                      fix="use a board with 2 GB or more, or smaller models (stt.model, llm.local.model)", data=data)]
    return [Check("board", "ok", detail + ": they fit", data=data)]


def check_cpu(settings: Settings) -> list[Check]:
    import psutil

    count = os.cpu_count() or 1
    load1 = os.getloadavg()[0]
    percent = psutil.cpu_percent(interval=0.2)
    data = {"cores": count, "load1": round(load1, 2), "percent": percent}
    detail = f"{count} cores, load {load1:.2f}, {percent:.0f}% busy"
    if load1 > count * 1.5:
        return [Check("cpu", "warn", detail + " (overloaded: replies will be slow)",
                      fix="stop other heavy processes (`top`)", data=data)]
    return [Check("cpu", "ok", detail, data=data)]


def check_memory(settings: Settings) -> list[Check]:
    import psutil

    vm = psutil.virtual_memory()
    avail_mb = vm.available / 2**20
    data = {"total_mb": round(vm.total / 2**20), "available_mb": round(avail_mb)}
    detail = f"{avail_mb:.0f} MB available of {vm.total / 2**20:.0f} MB"
    if avail_mb < MIN_FREE_MEMORY_MB:
        return [Check("memory", "warn", detail + " (the models need about 400 MB)",
                      fix="stop other processes, or use smaller models (stt.model, llm.local.model)", data=data)]
    return [Check("memory", "ok", detail, data=data)]


def read_temperatures() -> dict[str, float]:
    """Celsius per sensor: the kernel's thermal zones (Raspberry Pi, Jetson), else psutil's sensors."""
    out: dict[str, float] = {}
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        try:
            kind = (zone / "type").read_text().strip()
            out[kind or zone.name] = int((zone / "temp").read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
    if not out:
        import psutil

        with contextlib.suppress(AttributeError, OSError):
            for chip, entries in psutil.sensors_temperatures().items():
                for e in entries:
                    out[f"{chip}/{e.label or 'temp'}"] = float(e.current)
    return out


def check_temperature(settings: Settings) -> list[Check]:
    temps = read_temperatures()
    if not temps:
        return [Check("temperature", "skip", "no temperature sensor readable")]
    name, hottest = max(temps.items(), key=lambda kv: kv[1])
    detail = f"{hottest:.1f} °C ({name})"
    if hottest >= HOT_CELSIUS:
        return [Check("temperature", "warn", detail + ": hot enough to throttle the CPU",
                      fix="add a heatsink or fan, or improve the enclosure's airflow", data=temps)]
    return [Check("temperature", "ok", detail, data=temps)]


def check_service(settings: Settings) -> list[Check]:
    systemctl = shutil.which("systemctl")
    if systemctl is None or not Path("/run/systemd/system").is_dir():
        return [Check("service", "skip", "systemd is not running here")]
    state = subprocess.run([systemctl, "is-active", "edge-agent.service"], capture_output=True, text=True,
                           timeout=10).stdout.strip()
    enabled = subprocess.run([systemctl, "is-enabled", "edge-agent.service"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    data = {"active": state, "enabled": enabled}
    if enabled in ("", "not-found") or state == "unknown" and enabled not in ("enabled", "disabled"):
        return [Check("service", "skip", "edge-agent.service is not installed (sudo ./install.sh installs it)",
                      data=data)]
    if state == "active":
        return [Check("service", "ok", f"edge-agent.service active, {enabled}", data=data)]
    return [Check("service", "fail", f"edge-agent.service is {state or 'unknown'} ({enabled})",
                  fix="see why: `journalctl -u edge-agent -n 50`; then `sudo systemctl restart edge-agent`",
                  data=data)]
