"""``edge-agent bench mqtt``: the MQTT bridge's reliability targets against a real local mosquitto.

1. Broker outage: a conversation keeps emitting events while mosquitto is stopped (SIGTERM by pid)
   for ``--outage-s`` seconds (60) and restarted on the same port with its database. Reported: QoS 1
   events lost (target 0), and how long after the bridge's reconnect the broker had availability
   ``online`` and the newest state again (target <= 1 s).
2. Malformed commands: ``--commands`` (10,000) bad payloads published through mosquitto by another
   process at ``--rate`` per second (as a real flood would come), while a stand-in listener loop in
   this process ticks every 10 ms. Reported: crashes, unhandled exceptions (target 0 each) and the
   listener loop's worst delay (target <= 10 ms), next to the same loop's delay in a separate process
   at the same time (what the machine alone costs).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edge_agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("mqtt", help="benchmark: MQTT broker outage and malformed-command fuzz",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--outage-s", type=float, default=60.0, help="how long the broker is down (default 60)")
    p.add_argument("--commands", type=int, default=10_000, help="malformed commands in all (default 10000)")
    p.add_argument("--only", choices=["outage", "fuzz"], help="run one scenario")
    p.add_argument("--no-gc-freeze", dest="gc_freeze", action="store_false",
                   help="skip the daemon's start-up gc.collect() + gc.freeze() (app.lifecycle.settle_heap), to see "
                        "what a full collection of the start-up objects costs the listener loop")
    p.add_argument("--seed", type=int, default=1, help="random seed of the malformed commands")
    p.add_argument("--rate", type=float, default=1000.0,
                   help="commands per second: sent at this rate and mqtt.max_commands_per_s set to it (default 1000)")
    p.set_defaults(func=run)


# --- a stand-in for the listener loop -----------------------------------------------------------


class ListenerProbe:
    """A thread that wakes every ``period`` s, as the listener loop does per hop, and records how late
    each wake-up was: what the GIL and the machine cost the audio path while something else runs."""

    def __init__(self, period: float = 0.010) -> None:
        self.period = period
        self.delays: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listener-probe", daemon=True)

    def _run(self) -> None:
        due = time.perf_counter() + self.period
        while not self._stop.is_set():
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            now = time.perf_counter()
            self.delays.append(max(0.0, now - due))
            due += self.period
            if due < now:  # late by more than a period: re-anchor instead of bursting to catch up
                due = now + self.period

    def __enter__(self) -> ListenerProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)

    def summary(self) -> dict[str, Any]:
        d = sorted(self.delays)
        if not d:
            return {"ticks": 0}
        return {
            "ticks": len(d),
            "max_ms": round(d[-1] * 1000, 2),
            "p99_ms": round(d[min(len(d) - 1, int(len(d) * 0.99))] * 1000, 2),
            "median_ms": round(statistics.median(d) * 1000, 3),
            "over_10ms": sum(1 for x in d if x > 0.010),
        }


# --- malformed commands -------------------------------------------------------------------------

KNOWN = ("say", "ask", "wake", "cancel", "mute", "unmute", "volume", "reload")


def malformed_commands(n: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """``n`` (command name, payload) pairs that are all wrong in some way: random bytes, broken
    JSON, huge strings, wrong types, out-of-range values, unknown fields and unknown commands."""
    rng = random.Random(seed)

    def text(k: int) -> str:
        return "".join(chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x80, 0x2FFF)))) for _ in range(k))

    def valid(name: str) -> bytes:
        return {"say": b'{"text": "hello"}', "ask": b'{"text": "what time is it"}',
                "volume": b'{"level": 0.5}', "mute": b'{"on": true}'}.get(name, b"{}")

    makers = [
        lambda: (rng.choice(KNOWN), rng.randbytes(rng.randrange(1, 300))),
        lambda: (rng.choice(KNOWN), valid(rng.choice(KNOWN))[: rng.randrange(1, 12)] + rng.randbytes(3)),
        lambda: (rng.choice(("say", "ask")), json.dumps({"text": "x" * rng.randrange(2001, 60_000)}).encode()),
        lambda: (rng.choice(KNOWN), b"A" * rng.randrange(16 * 1024 + 1, 300_000)),
        lambda: ("say", json.dumps({"text": rng.choice([5, 1.5, True, None, [], {}, ["hi"]])}).encode()),
        lambda: ("volume", json.dumps({"level": rng.choice(["loud", None, [1], {"v": 1}, True, "0.5"])}).encode()),
        lambda: ("volume", rng.choice([b'{"level": 3}', b'{"level": -0.1}', b'{"level": NaN}', b'{"level": 1e400}',
                                       b'{"level": Infinity}'])),
        lambda: ("mute", json.dumps({"on": rng.choice(["yes", 1, 0, None, "true"])}).encode()),
        lambda: (rng.choice(KNOWN), json.dumps({"text": "hi", text(rng.randrange(1, 20)): 1}).encode()),
        lambda: (rng.choice(("wake", "cancel", "unmute", "reload")), json.dumps({"x": text(5)}).encode()),
        lambda: (rng.choice(KNOWN), rng.choice([b"[]", b'"str"', b"1", b"null", b"true", b"{", b"}", b"{{}}"])),
        lambda: (rng.choice(("say", "ask")), rng.choice([b'{"text": ""}', b'{"text": "   "}', b'{"text": "a\\u0000b"}',
                                                         b'{"text": "\xff\xfe"}', b'{"text": "\\ud800"}'])),
        lambda: (_level(text(rng.randrange(1, 40))), rng.choice([b"{}", rng.randbytes(20)])),
        lambda: (rng.choice(KNOWN) + rng.choice(["x", " ", "\u00e9", "_"]), valid("say")),
    ]
    return [rng.choice(makers)() for _ in range(n)]


def _level(name: str) -> str:
    """A random name made a valid topic level (mosquitto refuses wildcards and control characters)."""
    return "".join("_" if c in "/+#" or ord(c) < 32 or 0x7F <= ord(c) <= 0x9F else c for c in name)


class CountingControl:
    """A stand-in AgentControl: counts calls (a valid command slipping in is allowed, not expected)."""

    def __init__(self) -> None:
        self.calls = 0

    @property
    def state(self) -> Any:
        from edge_agent.events import AgentState

        return AgentState.IDLE

    def _call(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1

    say = ask = wake = cancel = mute = unmute = set_volume = reload = _call


# --- the scenarios ------------------------------------------------------------------------------


def _config(port: int, device_id: str) -> Any:
    from edge_agent.config import MqttConfig

    return MqttConfig(enabled=True, host="127.0.0.1", port=port, device_id=device_id,
                      reconnect_min_s=1, reconnect_max_s=2, metrics_interval=5.0, discovery=True)


def bench_outage(workdir: Path, outage_s: float, log: Any) -> dict[str, Any]:
    from edge_agent.events import AgentState, ReplyText, StateChanged, Transcript, TurnDone, Wake
    from edge_agent.mqtt.bridge import MqttBridge
    from edge_agent.testing.localbroker import Mosquitto, Observer

    broker = Mosquitto(workdir / "outage")
    broker.start()
    base = "edge-agent/bench-outage"
    obs = Observer(broker.port, topics=(f"{base}/event/#",), client_id="bench-observer", session=True)
    bridge = MqttBridge(_config(broker.port, "bench-outage"))
    bridge.attach(CountingControl(), None)
    bridge.start()
    sent: set[tuple[str, int]] = set()
    turn = 0
    newest_state: tuple[str, int] = ("idle", 0)

    def converse(seconds: float, period: float = 0.5) -> None:
        nonlocal turn, newest_state
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            turn += 1
            for ev in (Wake(keyword="okay_nabu", turn_id=turn), Transcript(text=f"question {turn}", turn_id=turn),
                       ReplyText(text=f"answer {turn}", turn_id=turn),
                       TurnDone(voice_to_voice_ms=400.0 + turn % 50, turn_id=turn)):
                bridge.on_event(ev)
                sent.add((str(ev.type), turn))
            for state in (AgentState.LISTENING, AgentState.SPEAKING, AgentState.IDLE):
                bridge.on_event(StateChanged(state=state, turn_id=turn))
            newest_state = ("idle", turn)
            time.sleep(period)

    try:
        deadline = time.monotonic() + 10
        while not (bridge.connected and bridge.stats.last_republish_t) and time.monotonic() < deadline:
            time.sleep(0.01)
        log(f"outage: connected; conversing 5 s, then the broker stops for {outage_s:.0f} s")
        converse(5.0)
        broker.stop()
        stopped_at = time.monotonic()
        before = len(sent)
        converse(max(0.0, outage_s - 0.5))
        during = len(sent) - before
        bridge.on_event(StateChanged(state=AgentState.MUTED, turn_id=turn))
        newest_state = ("muted", turn)
        bridge.flush()
        while time.monotonic() - stopped_at < outage_s:
            time.sleep(0.01)
        broker.start()
        started_at = time.monotonic()
        probe = Observer(broker.port, topics=(f"{base}/availability", f"{base}/state"))
        log("outage: broker back; waiting for the bridge")

        # The bridge may reconnect before or after the probe subscribes: what counts is the first
        # message on each topic received after the reconnect (retained or live), and that it is right.
        def after_connect(m: Any) -> bool:
            t = bridge.stats.last_connect_t
            return t is not None and m[3] >= t

        def right_state(m: Any) -> bool:
            return bool(m[0].endswith("/state") and (json.loads(m[1]).get("state"), json.loads(m[1]).get("turn_id"))
                        == newest_state)

        probe.wait_for(lambda msgs: any(right_state(m) and after_connect(m) for m in msgs), timeout=30)
        connect_t = bridge.stats.last_connect_t or float("nan")
        with probe.cond:
            msgs = list(probe.messages)
        avail = next((m for m in msgs if m[0].endswith("/availability") and after_connect(m)), None)
        state = next((m for m in msgs if right_state(m) and after_connect(m)), None)
        probe.close()
        state_right = state is not None
        converse(5.0)
        expected = {(t, n) for t, n in sent}

        def got() -> set[tuple[str, int]]:
            names = {"wake": "wake", "transcript": "transcript", "reply": "reply_text", "turn": "turn_done"}
            with obs.cond:
                return {(names[m[0].rsplit("/", 1)[1]], json.loads(m[1])["turn_id"]) for m in obs.messages}

        obs.wait_for(lambda msgs: len(msgs) >= len(expected), timeout=60)
        time.sleep(0.5)
        received = got()
        lost = expected - received
        with obs.cond:
            duplicates = len(obs.messages) - len(received)
        return {
            "outage_s": outage_s,
            "events_sent": len(expected),
            "events_during_outage": during,
            "events_lost": len(lost),
            "duplicates": duplicates,
            "events_dropped_by_queue": bridge.stats.events_dropped,
            "reconnect_after_broker_start_s": round(connect_t - started_at, 3),
            "availability_after_reconnect_s": round(avail[3] - connect_t, 3) if avail else None,
            "state_after_reconnect_s": round(state[3] - connect_t, 3) if state else None,
            "availability_payload": avail[1].decode() if avail else None,
            "state_right": state_right,
        }
    finally:
        obs.close()
        bridge.stop()
        broker.stop()


PUBLISHER = """
import sys, paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from edge_agent.bench.mqtt import malformed_commands
import time
port, prefix, n, seed, rate = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
commands = malformed_commands(n, seed)
c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-fuzzer", protocol=mqtt.MQTTv5)
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port)
c.loop_start()
print("ready", flush=True)
sys.stdin.readline()
infos = []
t0 = time.monotonic()
for i, (name, payload) in enumerate(commands):
    infos.append(c.publish(prefix + name, payload, qos=1))
    if i % 50 == 49:  # at the agent's command rate, in bursts of 50
        time.sleep(max(0.0, t0 + (i + 1) / rate - time.monotonic()))
for info in infos:
    info.wait_for_publish(60)
print("done", flush=True)
c.disconnect()
c.loop_stop()
"""


OUTSIDE_PROBE = """
import json, sys
from edge_agent.bench.mqtt import ListenerProbe
with ListenerProbe() as probe:
    print("ready", flush=True)
    sys.stdin.readline()
print(json.dumps(probe.summary()), flush=True)
"""


def bench_fuzz(workdir: Path, n: int, seed: int, log: Any, rate: float = 1000.0) -> dict[str, Any]:
    """``n`` malformed commands published through mosquitto by a separate process (as a real flood
    would come), while a stand-in listener loop in this process ticks every 10 ms."""
    import subprocess

    from edge_agent.mqtt.bridge import MqttBridge
    from edge_agent.testing.localbroker import Mosquitto

    broker = Mosquitto(workdir / "fuzz")
    broker.start()
    control = CountingControl()
    cfg = _config(broker.port, "bench-fuzz")
    cfg.max_commands_per_s = rate
    bridge = MqttBridge(cfg)
    bridge.attach(control, None)
    bridge.start()
    hook_errors: list[str] = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: hook_errors.append(f"{args.thread}: {args.exc_value!r}")
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(broker.port), bridge.topics.cmd_prefix, str(n), str(seed), str(rate)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not (bridge.connected and bridge.stats.last_republish_t) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert publisher.stdin is not None and publisher.stdout is not None
        if publisher.stdout.readline().strip() != "ready":
            raise RuntimeError("the fuzz publisher did not start")
        with ListenerProbe() as baseline:
            time.sleep(3.0)  # what this machine costs the loop with nothing else running
        log(f"fuzz: {n} malformed commands through mosquitto from another process")
        # The same probe in a separate process at the same time: how late this machine alone makes
        # a 10 ms loop (no GIL shared with the bridge), to tell the bridge's cost from the machine's.
        outside = subprocess.Popen([sys.executable, "-c", OUTSIDE_PROBE], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        assert outside.stdout is not None and outside.stdin is not None
        outside.stdout.readline()
        with ListenerProbe() as probe:
            t0 = time.perf_counter()
            publisher.stdin.write("go\n")
            publisher.stdin.flush()
            done = time.monotonic() + 120
            while time.monotonic() < done:
                st = bridge.stats
                if st.commands_rejected + st.commands_ok + st.commands_failed + st.inbox_dropped >= n:
                    break
                time.sleep(0.01)
            bridge.flush()
            elapsed = time.perf_counter() - t0
        outside.stdin.write("stop\n")
        outside.stdin.flush()
        outside_summary = json.loads(outside.stdout.readline() or "{}")
        outside.wait(10)
        publisher.stdout.readline()
        st = bridge.stats
        alive = bridge._worker.is_alive() and bridge.connected
        handled = st.commands_rejected + st.commands_ok + st.commands_failed
        return {
            "commands": n,
            "rejected": st.commands_rejected,
            "accepted": st.commands_ok,
            "not_handled": n - handled,
            "crashes": 0 if alive else 1,
            "unhandled_exceptions": st.handler_errors + len(hook_errors),
            "commands_per_s": round(handled / elapsed) if elapsed else None,
            "dropped_by_flood_guard": st.inbox_dropped,
            "errors_suppressed": st.errors_suppressed,
            "listener_delay": probe.summary(),
            "listener_delay_idle_baseline": baseline.summary(),
            "loop_delay_same_time_other_process": outside_summary,
        }
    finally:
        threading.excepthook = old_hook
        if publisher.poll() is None:
            publisher.kill()
            publisher.wait(5)
        bridge.stop()
        broker.stop()


def run(args: argparse.Namespace) -> int:
    from edge_agent.testing.localbroker import MOSQUITTO

    if not Path(MOSQUITTO).exists():
        raise UsageError(f"mosquitto is not installed ({MOSQUITTO}): apt-get install mosquitto")
    if args.commands < 1 or args.outage_s < 0 or args.rate <= 0:
        raise UsageError("--commands must be >= 1, --outage-s >= 0 and --rate > 0")

    def log(msg: str) -> None:
        print(f"bench mqtt: {msg}", file=sys.stderr, flush=True)

    outage: dict[str, Any] | None = None
    fuzz: dict[str, Any] | None = None
    if args.gc_freeze:  # as the daemon does once it has started
        import edge_agent.mqtt.bridge
        import edge_agent.testing.localbroker  # noqa: F401
        from edge_agent.app.lifecycle import settle_heap

        settle_heap()
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-mqtt-") as tmp:
        if args.only in (None, "fuzz"):
            fuzz = bench_fuzz(Path(tmp), args.commands, args.seed, log, rate=args.rate)
        if args.only in (None, "outage"):
            outage = bench_outage(Path(tmp), args.outage_s, log)
    targets: dict[str, bool] = {}
    if outage is not None:
        targets.update({
            "outage_events_lost_0": outage["events_lost"] == 0,
            "availability_within_1s": (outage["availability_after_reconnect_s"] or 99) <= 1.0,
            "state_within_1s": (outage["state_after_reconnect_s"] or 99) <= 1.0 and outage["state_right"],
        })
    if fuzz is not None:
        targets.update({
            "fuzz_crashes_0": fuzz["crashes"] == 0,
            "fuzz_unhandled_0": fuzz["unhandled_exceptions"] == 0,
            "listener_delay_max_10ms": fuzz["listener_delay"].get("max_ms", 99) <= 10.0,
        })
    result = {"outage": outage, "fuzz": fuzz, "gc_freeze": args.gc_freeze, "targets": targets,
              "ok": all(targets.values())}
    if args.json:
        print(json.dumps(result))
        return 0
    o, f = outage, fuzz
    if o is not None:
        print(f"broker outage {o['outage_s']:.0f} s: {o['events_sent']} QoS 1 events, lost {o['events_lost']}, "
              f"duplicates {o['duplicates']}; reconnect {o['reconnect_after_broker_start_s']} s after the broker "
              f"came back; availability +{o['availability_after_reconnect_s']} s, state "
              f"+{o['state_after_reconnect_s']} s after reconnect (state right: {o['state_right']})")
    if f is not None:
        d, b = f["listener_delay"], f["listener_delay_idle_baseline"]
        print(f"malformed commands: {f['commands']} through mosquitto ({f['commands_per_s']}/s): "
              f"rejected {f['rejected']}, crashes {f['crashes']}, unhandled exceptions {f['unhandled_exceptions']}; "
              f"listener loop delay max {d.get('max_ms')} ms, p99 {d.get('p99_ms')} ms over {d.get('ticks')} ticks "
              f"(idle baseline: max {b.get('max_ms')} ms; a 10 ms loop in another process at the same time: "
              f"max {f['loop_delay_same_time_other_process'].get('max_ms')} ms)")
    print("targets:", ", ".join(f"{k}={'ok' if v else 'MISSED'}" for k, v in targets.items()))
    return 0
