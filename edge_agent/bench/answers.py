"""``edge-agent bench answers``: are the agent's answers right, and how fast is the first audio?

The questions are ours (``edge_agent/data/answers_{tuning,heldout,...,heldout10}.toml``), in
four groups, graded so:
  intents       the expected intent and slots (a subset: what the question names), and the words
                ``reply_contains`` asks for;
  knowledge     every expected fact of the example museum file appears in the reply;
  chitchat      answered as small talk, short (at most 2 sentences, 30 words) and speakable (no
                markdown, emoji, digits);
  out_of_scope  declined (or escalated, when a cloud is configured), and no number, time or
                price in the reply (a reply with one is an invented fact).
Each question goes through :class:`~edge_agent.app.ask_session.AskSession`, the path of
``edge-agent ask``, with the demo configuration (the museum file, the example ``set_light`` tool,
published on a local mosquitto when one is installed). Small talk is cut as the daemon cuts it
(:data:`~edge_agent.answers.router.CHITCHAT_BOUND`), so its length is graded as it is spoken. Time
to first audio is from the text of the turn to the first chunk Piper synthesises of the reply's
first clause (``first_clause_text_ms`` is the part before Piper). The tuning split is the one
thresholds and word lists were chosen on; the held-out splits are reported apart and never tuned on
(``heldout2`` measures the changes made after ``heldout`` had been run once, ``heldout3`` those made
after ``heldout2`` had been, ``heldout4`` those made after ``heldout3`` had been, ``heldout5``
those made after ``heldout4`` had been, ``heldout6`` those made after ``heldout5`` had been,
``heldout7`` those made after ``heldout6`` had been, ``heldout8`` those made after ``heldout7`` had been,
``heldout9`` those made after ``heldout8`` had been, and ``heldout10`` those made after ``heldout9`` had
been).
Without mosquitto (or with ``--no-broker``) the example tool is the demo's light panel program.
``--startup`` instead measures what a 200-section knowledge file adds to the router's start-up time
and memory."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from edge_agent.compat import tomllib
from edge_agent.errors import UsageError

SPLITS = ("tuning", "heldout", "heldout2", "heldout3", "heldout4", "heldout5", "heldout6", "heldout7",
          "heldout8", "heldout9", "heldout10")
GROUPS = ("intents", "knowledge", "chitchat", "out_of_scope")
TARGETS = {"intents": 0.95, "knowledge": 0.90, "out_of_scope": 0.95}
TTFA_TARGET_MS = {"intents": 300, "knowledge": 600}
MAX_CHITCHAT_WORDS = 30
MAX_CHITCHAT_SENTENCES = 2
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
                     r"hundred|thousand|million|o'clock|noon|midnight|percent|euros?|dollars?|pounds?)\b", re.I)
_UNSPEAKABLE = re.compile(r"[*#`_\[\]{}<>|~^]|[\U0001F300-\U0001FAFF\u2600-\u27BF]")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("answers", help="benchmark: right answers (intents, knowledge, chit-chat, out of scope)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--split", choices=[*SPLITS, "all"], default="all", help="which questions (default all)")
    p.add_argument("--no-tts", dest="tts", action="store_false", help="skip the time to first audio")
    p.add_argument("--rephrase", action="store_true",
                   help="also measure whether the local model keeps the facts when it rephrases a knowledge "
                        "reply (with only the passage in its prompt)")
    p.add_argument("--startup", action="store_true",
                   help="instead: start-up time and memory of the answer router with a generated 200-section "
                        "knowledge file against none (and with the intents against without)")
    p.add_argument("--no-broker", dest="broker", action="store_false",
                   help="do not start a local mosquitto: the example tool is then the demo's light panel program")
    p.set_defaults(func=run)


def load_questions(split: str) -> dict[str, list[dict[str, Any]]]:
    path = resources.files("edge_agent") / "data" / f"answers_{split}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {group: list(data.get(group, [])) for group in GROUPS}


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


def grade(group: str, question: dict[str, Any], answer: Any, reply: str, cloud: bool) -> tuple[bool, str]:
    """(right, why not) for one question."""
    source = str(answer.source)
    if group == "intents":
        if source != "intent" or answer.intent != question["intent"]:
            return False, f"got {source} {answer.intent}"
        wrong = {k: answer.slots.get(k) for k, v in question.get("slots", {}).items() if answer.slots.get(k) != v}
        if wrong:
            return False, f"slots {wrong}"
        want = question.get("reply_contains")
        if want and _norm(want) not in _norm(reply):
            return False, f"reply lacks {want!r}"
        return True, ""
    if group == "knowledge":
        missing = [f for f in question["facts"] if _norm(f) not in _norm(reply)]
        return (not missing, f"{source}: missing {missing}" if missing else "")
    if group == "chitchat":
        sentences = [s for s in re.split(r"[.!?]+", reply) if s.strip()]
        if source != "chitchat":
            return False, f"routed to {source}"
        if not reply.strip():
            return False, "empty reply"
        if len(reply.split()) > MAX_CHITCHAT_WORDS or len(sentences) > MAX_CHITCHAT_SENTENCES:
            return False, "too long"
        if _UNSPEAKABLE.search(reply) or re.search(r"\d", reply):
            return False, "not speakable (markdown, emoji or digits)"
        return True, ""
    allowed = ("decline", "cloud") if cloud else ("decline",)
    if source not in allowed:
        return False, f"answered by {source}"
    if source == "decline" and _NUMBER.search(reply):
        return False, "invented a number, time or price"
    return True, ""


def invented(answer: Any, reply: str) -> bool:
    """A reply of the local model that states a number, time or price: it had no source for one."""
    return str(answer.source) == "chitchat" and bool(_NUMBER.search(reply))


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class FirstAudio:
    """Feeds a reply's text, as it streams, through the clause splitter; times the first chunk
    Piper synthesises of the first clause."""

    def __init__(self, tts: Any) -> None:
        from edge_agent.tts.text import ClauseSplitter

        self.tts = tts
        self.splitter = ClauseSplitter()
        self.t0 = 0.0
        self.ms: float | None = None
        self.text_ms: float | None = None
        """When the first clause's text was ready (the rest of ``ms`` is Piper's)."""

    def start(self) -> None:
        self.splitter.reset()
        self.t0 = time.perf_counter()
        self.ms = None
        self.text_ms = None

    def feed(self, piece: str) -> None:
        if self.ms is None:
            self._speak(self.splitter.feed(piece))

    def finish(self) -> None:
        if self.ms is None:
            self._speak(self.splitter.flush())

    def _speak(self, clauses: list[str]) -> None:
        if not clauses:
            return
        self.text_ms = (time.perf_counter() - self.t0) * 1000
        if self.tts is not None:
            next(iter(self.tts.synthesize(clauses[0])), None)
        self.ms = (time.perf_counter() - self.t0) * 1000


def demo_settings(args: argparse.Namespace, port: int | None) -> Any:
    from edge_agent.config import load_settings

    settings = load_settings(getattr(args, "config", None))
    settings.knowledge.files = None
    settings.answers.demo_tool = True
    settings.mqtt.tools = []
    if port is not None:
        settings.mqtt.enabled = True
        settings.mqtt.host = "127.0.0.1"
        settings.mqtt.port = port
        settings.mqtt.device_id = "bench-answers"
        settings.mqtt.discovery = False
    else:
        settings.mqtt.enabled = False
    return settings


REPHRASE_PROMPT = (
    "Answer the visitor's question in one short spoken sentence, using only the facts in this passage. "
    "Keep every number, time, price and name exactly as written.\nPassage: {passage}"
)


async def _rephrase_kept(session: Any, question: dict[str, Any], answer: Any) -> dict[str, Any] | None:
    """Does the local model keep the facts when it rephrases the passage that answered?"""
    if answer.passage is None:
        return None
    passage = next(p for p in session.router.knowledge.passages if p.label == answer.passage)
    messages = [{"role": "system", "content": REPHRASE_PROMPT.format(passage=" ".join(passage.body.split()))},
                {"role": "user", "content": question["text"]}]
    said = await session.complete(messages, "local_only", lambda piece: None)
    source = _norm(passage.body)
    numbers = [n for n in re.findall(r"\d+", said) if n not in source.split()]
    return {"kept": all(_norm(f) in _norm(said) for f in question["facts"]), "new_numbers": bool(numbers),
            "said": said}


async def _run_split(settings: Any, split: str, tts: Any, log: Any, rephrase: bool = False) -> dict[str, Any]:
    from edge_agent.answers.router import cloud_configured
    from edge_agent.app.ask_session import AskSession

    questions = load_questions(split)
    cloud = cloud_configured(settings) and str(settings.llm.policy) != "local_only"
    out: dict[str, Any] = {}
    rephrasings: list[dict[str, Any]] = []
    audio = FirstAudio(tts)
    async with AskSession(settings) as session:
        for group in GROUPS:
            rows = []
            for q in questions[group]:
                audio.start()
                answer, reply = await session.ask(q["text"], audio.feed)
                audio.finish()
                session.router.timers.cancel(everything=True)  # type: ignore[union-attr]
                right, why = grade(group, q, answer, reply, cloud)
                if rephrase and group == "knowledge":
                    rephrased = await _rephrase_kept(session, q, answer)
                    if rephrased is not None:
                        rephrasings.append(rephrased)
                        log(f"  rephrased: {rephrased['said'][:90]!r} kept={rephrased['kept']}")
                rows.append({"text": q["text"], "right": right, "why": why, "source": str(answer.source),
                             "reason": answer.reason, "reply": reply, "first_audio_ms": audio.ms,
                             "first_clause_ms": audio.text_ms, "invented": invented(answer, reply)})
                log(f"{split}/{group}: {'ok ' if right else 'BAD'} {q['text']!r} -> {reply[:70]!r} {why}")
            ttfa = [r["first_audio_ms"] for r in rows if r["first_audio_ms"] is not None]
            text = [r["first_clause_ms"] for r in rows if r["first_clause_ms"] is not None]
            out[group] = {
                "questions": len(rows),
                "right": sum(r["right"] for r in rows),
                "accuracy": round(sum(r["right"] for r in rows) / len(rows), 3) if rows else None,
                "invented_facts": sum(r["invented"] for r in rows),
                "first_audio_ms": {"p50": _round(_percentile(ttfa, 50)), "p90": _round(_percentile(ttfa, 90))},
                "first_clause_text_ms": {"p50": _round(_percentile(text, 50)), "p90": _round(_percentile(text, 90))},
                "wrong": [{k: r[k] for k in ("text", "why", "reply")} for r in rows if not r["right"]],
            }
    if rephrasings:
        out["knowledge"]["rephrased_by_local_model"] = {
            "replies": len(rephrasings),
            "facts_kept": round(sum(r["kept"] for r in rephrasings) / len(rephrasings), 3),
            "with_a_number_not_in_the_passage": sum(r["new_numbers"] for r in rephrasings),
        }
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _voice(settings: Any) -> Any:
    from edge_agent.app.wiring import voice_path
    from edge_agent.models import ModelManager
    from edge_agent.tts.piper_tts import PiperTts

    tts = PiperTts(voice_path(settings, ModelManager(settings.paths.models_dir)), threads=settings.tts.threads)
    tts.warm_up()
    return tts


STARTUP_SECTIONS = 200
STARTUP_RUNS = 3
_STARTUP_PROBE = """
import json, sys, time, psutil
from edge_agent.config import Settings
from edge_agent.answers.router import AnswerRouter
settings = Settings(knowledge={"files": json.loads(sys.argv[1])}, answers={"intents": sys.argv[2] == "1"})
proc = psutil.Process()
rss = proc.memory_info().rss
t = time.perf_counter()
router = AnswerRouter(settings)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "rss_mb": (proc.memory_info().rss - rss) / 2**20,
                  "passages": len(router.knowledge.passages)}))
"""


def synthetic_knowledge(sections: int = STARTUP_SECTIONS) -> str:
    """A knowledge file of ``sections`` topics, each a few sentences with numbers and names, the
    size of a large venue's (the museum file is ~25)."""
    rooms = ("gallery", "hall", "studio", "workshop", "library", "archive", "garden", "terrace")
    things = ("maps", "ship models", "paintings", "tools", "letters", "photographs", "instruments", "coins")
    out = ["# A large venue", ""]
    for i in range(sections):
        room, thing = rooms[i % len(rooms)], things[(i // len(rooms)) % len(things)]
        out += [f"## Room {i + 1}: the {thing} {room}",
                f"The {thing} {room} is room {i + 1}, on floor {i % 4}. It shows {10 + i} {thing} from the years "
                f"{1700 + i} to {1750 + i}. Guided visits of the {room} start at {9 + i % 8} am and last "
                f"{20 + i % 40} minutes. Ask for curator number {100 + i} at the desk for more.", ""]
    return "\n".join(out)


def _startup(log: Any) -> dict[str, Any]:
    import statistics
    import subprocess

    def probe(files: list[str], intents: bool) -> dict[str, float]:
        runs = []
        for _ in range(STARTUP_RUNS):
            done = subprocess.run([sys.executable, "-c", _STARTUP_PROBE, json.dumps(files), "1" if intents else "0"],
                                  capture_output=True, text=True, timeout=120, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        return {k: round(statistics.median(r[k] for r in runs), 3) for k in ("seconds", "rss_mb", "passages")}

    with tempfile.TemporaryDirectory(prefix="bench-answers-") as workdir:
        big = Path(workdir) / "large.md"
        big.write_text(synthetic_knowledge(), encoding="utf-8")
        rows = {
            "no_knowledge_no_intents": probe([], False),
            "knowledge_200_no_intents": probe([str(big)], False),
            "no_knowledge_intents": probe([], True),
            "knowledge_200_intents": probe([str(big)], True),
        }
    for name, row in rows.items():
        log(f"startup {name}: {row}")
    extra = {"seconds": round(rows["knowledge_200_intents"]["seconds"] - rows["no_knowledge_intents"]["seconds"], 3),
             "rss_mb": round(rows["knowledge_200_intents"]["rss_mb"] - rows["no_knowledge_intents"]["rss_mb"], 1)}
    return {"runs": rows, "knowledge_200_sections_more_than_none": extra,
            "targets": {"seconds": 1.0, "rss_mb": 50.0}}


def run(args: argparse.Namespace) -> int:
    def log(msg: str) -> None:
        print(f"bench answers: {msg}", file=sys.stderr, flush=True)

    if args.startup:
        startup = _startup(log)
        print(json.dumps(startup, indent=2) if args.json else
              f"200-section knowledge file: +{startup['knowledge_200_sections_more_than_none']['seconds']} s, "
              f"+{startup['knowledge_200_sections_more_than_none']['rss_mb']} MB against none")
        return 0

    splits = SPLITS if args.split == "all" else (args.split,)
    broker = None
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as workdir:
        if args.broker:
            try:
                from edge_agent.testing.localbroker import MOSQUITTO, Mosquitto
            except ImportError:
                MOSQUITTO = ""
            if MOSQUITTO and Path(MOSQUITTO).exists():
                broker = Mosquitto(Path(workdir))
                broker.start()
            else:
                log("mosquitto is not installed: the example tool runs the demo's light panel program "
                    "(apt-get install mosquitto for the MQTT path)")
        if broker is None:  # the demo light panel is written here, not in the user's cache
            os.environ["EDGE_AGENT_DEMO_LIGHTS"] = str(Path(workdir) / "demo-lights.txt")
        try:
            settings = demo_settings(args, broker.port if broker is not None else None)
            tts = _voice(settings) if args.tts else None
            results = {split: asyncio.run(_run_split(settings, split, tts, log, args.rephrase)) for split in splits}
        finally:
            if broker is not None:
                broker.stop()
    report = {"splits": results, "targets": {"accuracy": TARGETS, "first_audio_p50_ms": TTFA_TARGET_MS},
              "broker": broker is not None, "tts": bool(args.tts), "load_average": os.getloadavg()[0],
              "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if not results:
        raise UsageError("no split chosen")
    for split, groups in results.items():
        print(f"{split}:")
        for group, r in groups.items():
            ttfa = r["first_audio_ms"]
            print(f"  {group:13s} {r['right']:3d}/{r['questions']:<3d} {100 * (r['accuracy'] or 0):5.1f}%  "
                  f"first audio p50 {ttfa['p50']} ms, p90 {ttfa['p90']} ms  invented {r['invented_facts']}")
    return 0
