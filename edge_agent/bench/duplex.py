"""``edge-agent bench duplex [--json]``: full duplex in a simulated room, AEC on and off.

The agent's replies (the Piper voice) play through :class:`edge_agent.audio.room.RoomSimulator`
(3 rooms, the echo at -6, 0, +6 and +10 dB relative to the user's speech) back into the real
listener (wake word, VAD, turn policy) with the real echo canceller, closed loop: a barge-in or a
wake word stops the reply, and from then on the room hears silence. Users are espeak-ng voices
the agent never uses. For each room and level, ``--replies`` of each of three trials:

  - reply alone: the reply cut off by its own echo (any barge-in or wake while nobody speaks);
    ERLE (microphone / cleaned energy) on these reference-only stretches, after the first reply
    and 1 s into each (convergence);
  - double talk: the user says a command 1 s into the reply; heard (a barge-in after the first
    word), how soon after the first word the reply stopped, and the WER of the STT on the cleaned
    audio of the command against the STT on the clean clip;
  - the wake word over the reply, 1 s in: detected.

Plus the AEC's CPU per second of playback (thread time of its ``process`` calls). Runs faster
than real time (the loop is the hop clock, not the wall clock); ``--drift-ppm`` gives the
speaker's clock an offset against the microphone's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.drift import ClockDriftCorrector
from edge_agent.audio.echo import EchoCanceller
from edge_agent.audio.echo_reference import EchoReference

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.listen.listener import ListenerCore
    from edge_agent.models import ModelManager

LEVELS_DB = (-6.0, 0.0, 6.0, 10.0)
ROOMS = ("kiosk", "living_room", "hall")
USER_AT_S = 1.0
"""The user starts speaking this far into the reply."""
ERLE_SKIP_S = 1.0
WAKE_CONTEXT_S = 0.5
"""The cleaned audio kept for the wake and WER checks starts this long before the user does."""
USER_RMS = 1500.0
REPLY_RMS = 3000.0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("duplex", help="benchmark: full duplex in a simulated room (self cut-offs, ERLE, "
                       "barge-in, wake over a reply, WER), AEC on and off",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--replies", type=int, default=20, help="replies per trial kind, room and level (default 20)")
    p.add_argument("--split", choices=("tuning", "heldout", "heldout2", "heldout3", "heldout4", "heldout5"),
                   default="tuning", help="tuning: the rooms and replies settings are chosen on; heldout..heldout5: "
                   "rooms and replies (heldout4, heldout5: and users) never tuned on (judge a change on the newest)")
    p.add_argument("--rooms", default=None, help=f"comma-separated presets (default: the split's; tuning "
                   f"{','.join(ROOMS)})")
    p.add_argument("--levels", default=",".join(f"{x:g}" for x in LEVELS_DB), help="echo levels in dB vs the user")
    p.add_argument("--drift-ppm", type=float, default=0.0, help="speaker clock offset vs the microphone's")
    p.add_argument("--no-wer", action="store_true", help="skip the STT (WER) part")
    p.add_argument("--aec", choices=("both", "on", "off"), default="both")
    p.set_defaults(func=run)


class TimedEcho:
    """An echo canceller whose ``process`` thread time is summed (the bench's CPU figure)."""

    def __init__(self, inner: EchoCanceller) -> None:
        self.inner = inner
        self.cpu_s = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        t = time.thread_time()
        out = self.inner.process(mic, ref)
        self.cpu_s += time.thread_time() - t
        return out


@dataclass
class Trial:
    """One reply and what the user does over it."""

    reply: np.ndarray
    user: np.ndarray | None = None
    user_text: str = ""
    kind: str = "alone"


@dataclass
class Outcome:
    stopped_at_s: float | None = None
    stop_event: str = ""
    woke: bool = False
    """A wake word was detected after the user began (whether or not a barge-in came first)."""
    mic_energy: float = 0.0
    out_energy: float = 0.0
    cleaned: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))


def at_rms(x: np.ndarray, rms: float) -> np.ndarray:
    """``x`` scaled to RMS ``rms`` (int16, clipped)."""
    r = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) or 1.0
    return np.clip(x.astype(np.float64) * (rms / r), -32768, 32767).astype(np.int16)


def play(core: ListenerCore, room: Any, trial: Trial, hop: int, reader: ClockDriftCorrector) -> Outcome:
    """Play one reply through the room into the listener, closed loop (see the module docstring). The
    speaker plays on the room's clock and writes what it plays into the reference ring, which the
    listener reads through ``reader``, as in the daemon."""
    from edge_agent.events import BargeIn, Event, Wake

    events: list[Event] = []
    core.on_event = events.append
    core.set_playback_active(True)
    out = Outcome()
    n = len(trial.reply) + int(2.5 * SAMPLE_RATE)
    user_track = np.zeros(n, np.int16)
    start = int(USER_AT_S * SAMPLE_RATE)
    if trial.user is not None:
        u = trial.user[: n - start]
        user_track[start : start + len(u)] = u
    played = np.zeros(2 * hop, np.int16)
    ref = np.zeros(hop, np.int16)
    cleaned = []
    playing = True
    spoken = 0  # reply samples the speaker has played
    t0 = core.samples
    for pos in range(0, n - hop + 1, hop):
        k = room.speaker_samples(hop)
        if playing and spoken < len(trial.reply):
            seg = trial.reply[spoken : spoken + k]
            played[: len(seg)] = seg
            played[len(seg) : k] = 0
        else:
            played[:k] = 0
        spoken += k
        if playing and spoken - k >= len(trial.reply):
            playing = False
            core.set_playback_active(False)
        reader.reference.append(played[:k])
        mic = room.mix(played[:k], user_track[pos : pos + hop])
        if core.echo is not None:
            reader.read_hop_into(ref, core.samples)
            core.process_hop(mic, ref)
            reader.observe(mic, ref)
        else:
            core.process_hop(mic, None)
        echo = core.echo
        if echo is not None and playing and trial.user is None and pos >= ERLE_SKIP_S * SAMPLE_RATE:
            out.mic_energy += echo.mic_power
            out.out_energy += echo.out_power
        if trial.user is not None and pos >= start - WAKE_CONTEXT_S * SAMPLE_RATE:
            cleaned.append(core.audio_between((core.samples - hop) / SAMPLE_RATE))
        for event in events:
            if isinstance(event, Wake) and pos >= start:
                out.woke = True
            if playing and isinstance(event, (BargeIn, Wake)):
                playing = False
                out.stopped_at_s = (core.samples - t0) / SAMPLE_RATE
                out.stop_event = type(event).__name__
                core.set_playback_active(False)
        events.clear()
    if playing:
        core.set_playback_active(False)
    core.stop_listening()
    core.end_turn()
    events.clear()
    out.cleaned = np.concatenate(cleaned) if cleaned else np.zeros(0, np.int16)
    return out


def _wake_in(core: ListenerCore, audio: np.ndarray, hop: int) -> bool:
    """The wake word in the cleaned audio the listener heard from the user's first word on (a barge-in
    that came first turns the wake detector off for that turn; this asks it what it would have said)."""
    if core.wake is None:
        return False
    core.wake.reset()
    found = any(core.wake.process(audio[i : i + hop]) is not None for i in range(0, len(audio) - hop + 1, hop))
    core.wake.reset()
    return found


def _trials(replies: list[np.ndarray], commands: list[tuple[str, np.ndarray]],
            wakes: list[np.ndarray]) -> dict[str, list[Trial]]:
    return {
        "alone": [Trial(r) for r in replies],
        "double_talk": [Trial(r, c, text, "double_talk") for r, (text, c) in zip(replies, commands, strict=False)],
        "wake": [Trial(r, w, "", "wake") for r, w in zip(replies, wakes, strict=False)],
    }


def condition(settings: Settings, models: ModelManager, room_name: str, level_db: float, aec: bool,
              trials: dict[str, list[Trial]], stt: Any, drift_ppm: float) -> dict[str, Any]:
    """Every trial in one room at one level, AEC on or off."""
    from edge_agent.audio.echo_path import build_echo_path
    from edge_agent.audio.room import RoomSimulator, room_spec
    from edge_agent.bench.latency import word_error_rate
    from edge_agent.listen.listener import HOP, build_listener_core

    path = build_echo_path(settings) if aec else None  # the daemon's canceller and reference, with its settings
    echo = path.echo if path is not None else None
    reader = path.reader if path is not None else ClockDriftCorrector(EchoReference(), HOP)
    timed = TimedEcho(echo) if echo is not None else None
    core = build_listener_core(settings, models, lambda e: None, echo=timed)  # type: ignore[arg-type]
    room = RoomSimulator(room_spec(room_name, echo_db=level_db, drift_ppm=drift_ppm), echo_rms=REPLY_RMS)
    cut_offs = 0
    mic_e = out_e = 0.0
    played_s = 0.0
    for i, trial in enumerate(trials["alone"]):
        o = play(core, room, trial, HOP, reader)
        played_s += (o.stopped_at_s or len(trial.reply) / SAMPLE_RATE)
        cut_offs += o.stopped_at_s is not None
        if i > 0:
            mic_e, out_e = mic_e + o.mic_energy, out_e + o.out_energy
    heard, stop_ms = 0, []
    errors = {"over_reply": 0, "without_echo": 0, "clean": 0}
    words = 0
    for trial in trials["double_talk"]:
        o = play(core, room, trial, HOP, reader)
        played_s += (o.stopped_at_s or len(trial.reply) / SAMPLE_RATE)
        if o.stopped_at_s is not None and o.stopped_at_s >= USER_AT_S:
            heard += 1
            stop_ms.append(1000 * (o.stopped_at_s - USER_AT_S))
        if stt is not None and trial.user is not None:
            # "the same clip without echo": the user in the same room (its noise), nobody else talking
            in_room = np.clip(trial.user + room.noise(len(trial.user)), -32768, 32767).astype(np.int16)
            heard_as = {"over_reply": o.cleaned[: len(trial.user) + 12000], "without_echo": in_room,
                        "clean": trial.user}
            for name, audio in heard_as.items():
                e, n_words = word_error_rate(trial.user_text, stt.transcribe(audio))
                errors[name] += e
            words += n_words
    woke = wake_stopped = 0
    for trial in trials["wake"]:
        o = play(core, room, trial, HOP, reader)
        played_s += (o.stopped_at_s or len(trial.reply) / SAMPLE_RATE)
        woke += o.woke or _wake_in(core, o.cleaned, HOP)
        wake_stopped += (o.stopped_at_s or 0) >= USER_AT_S
    n_dt, n_w = len(trials["double_talk"]), len(trials["wake"])
    return {
        "room": room_name, "echo_db": level_db, "aec": aec,
        "replies": len(trials["alone"]),
        "self_cut_offs": cut_offs,
        "erle_db": round(10 * float(np.log10(mic_e / out_e)), 1) if aec and out_e > 0 else None,
        "interruptions_heard": f"{heard}/{n_dt}",
        "interruptions_heard_pct": round(100 * heard / max(1, n_dt), 1),
        "stop_after_first_word_ms_median": round(statistics.median(stop_ms)) if stop_ms else None,
        "stop_after_first_word_ms_max": round(max(stop_ms)) if stop_ms else None,
        "wake_over_reply": f"{woke}/{n_w}",
        "wake_over_reply_pct": round(100 * woke / max(1, n_w), 1),
        "wake_phrase_stopped_reply": f"{wake_stopped}/{n_w}",
        # corpus WER (errors over all words); the gap is against the same clips in the room without echo
        "wer_vs_clean_clip": round((errors["over_reply"] - errors["without_echo"]) / words, 3) if words else None,
        "wer_over_reply": round(errors["over_reply"] / words, 3) if words else None,
        "wer_without_echo": round(errors["without_echo"] / words, 3) if words else None,
        "wer_clean_clip": round(errors["clean"] / words, 3) if words else None,
        "aec_cpu_pct_of_playback": round(100 * timed.cpu_s / played_s, 2) if timed is not None and played_s else None,
        "aec_cpu_pct_of_audio": round(100 * timed.cpu_s / (core.samples / SAMPLE_RATE), 2) if timed is not None else None,
        "drift_ppm_found": round(reader.drift_ppm, 1),
    }


HELDOUT_SEEDS = {"heldout": 4017, "heldout2": 5017, "heldout3": 6017, "heldout4": 7017, "heldout5": 8017}
"""The held-out splits' replies: sentences drawn past the tuning split's (other seeds)."""

HELDOUT4_COMMANDS = (
    "Wait, what are your opening hours?",
    "Hold on. Where is the gift shop?",
    "Cancel that and turn off the hallway light.",
    "No, stop. Tell me the time instead.",
    "Excuse me, how much is a ticket for children?",
    "Pause the music, please.",
    "Sorry, can you say the last part again?",
    "Actually, set an alarm for seven thirty.",
    "Okay, enough. What is the date today?",
    "Quiet please, I have a question.",
)
"""What ``heldout4``'s users say over a reply: interruptions worded as people word them, not "Stop."."""


HELDOUT5_COMMANDS = (
    "Hey, hang on a second.",
    "One moment, where are the toilets?",
    "That's not what I asked.",
    "Stop talking, please.",
    "Let me ask something else.",
    "Never mind, switch off the fan.",
    "Hmm, how long does the tour take?",
    "Right, and what about parking?",
    "Could you speak more slowly?",
    "Enough, thanks.",
)
"""What ``heldout5``'s users say over a reply."""


HELDOUT_USERS: dict[str, tuple[tuple[tuple[str, str | float, int, float], ...], tuple[str, ...]]] = {
    "heldout4": ((("espeak", "en-us+aunty", 150, 55), ("espeak", "en-gb-x-rp+grandpa", 145, 45),
                  ("espeak", "en-029+zac", 160, 50), ("piper", 0.95, 350, 1.05),
                  ("espeak", "en-gb-scotland+m5", 150, 50), ("espeak", "en-us-nyc+gustave", 155, 45),
                  ("espeak", "en+iven2", 150, 50)), HELDOUT4_COMMANDS),
    "heldout5": ((("espeak", "en-us+grandma", 150, 60), ("espeak", "en-gb-x-rp+Storm", 150, 45),
                  ("espeak", "en-us-nyc+boris", 150, 45), ("piper", 1.05, -400, 0.97),
                  ("espeak", "en-029+michel", 155, 50), ("espeak", "en-gb-scotland+antonio", 150, 50),
                  ("espeak", "en+steph3", 150, 55)), HELDOUT5_COMMANDS),
}
"""The held-out splits with users of their own: espeak-ng variants and a shifted Piper voice no other split
or training set uses (``("espeak", variant, speed, pitch)``, ``("piper", speed, cents, tempo)``), and what
they say over a reply."""


def _user(spec: tuple[str, str | float, int, float]) -> Any:
    from edge_agent.speechgen import Voice
    from edge_agent.speechgen.heldout import ShiftedVoice

    engine, a, b, c = spec
    if engine == "espeak":
        return Voice("espeak", str(a), b, int(c))
    return ShiftedVoice(Voice("piper", speed=float(a)), cents=b, tempo=c)


def material(n: int, keyword: str, split: str = "tuning",
             ) -> tuple[list[np.ndarray], list[tuple[str, np.ndarray]], list[np.ndarray]]:
    """Replies (Piper), user commands and wake phrases (espeak voices), at bench levels."""
    from edge_agent import speechgen

    sentences = speechgen.ordinary_sentences(n, seed=17)
    if split != "tuning":  # none of the tuning split's replies (its first sentences are fixed chatter)
        seen = set(speechgen.ordinary_sentences(n + 100, seed=17))
        sentences = [s for s in speechgen.ordinary_sentences(2 * n + 200, seed=HELDOUT_SEEDS[split]) if s not in seen][:n]
    replies = [at_rms(speechgen.speak(s + " " + s, speechgen.Voice("piper")), REPLY_RMS) for s in sentences]
    phrases = speechgen.WAKE_TEXT.get(keyword, ("Okay Nabu.",))
    if split in HELDOUT_USERS:  # its own users and words too, not only its own rooms
        from edge_agent.speechgen.heldout import say

        specs, lines = HELDOUT_USERS[split]
        users = tuple(_user(spec) for spec in specs)
        said = [(lines[i % len(lines)], users[i % len(users)]) for i in range(n)]
        return (replies, [(text, at_rms(say(text, v), USER_RMS)) for text, v in said],
                [at_rms(say(phrases[i % len(phrases)], users[(i + 3) % len(users)]), USER_RMS) for i in range(n)])
    voices = speechgen.ESPEAK_VOICES
    commands = [(("Stop. " if i % 2 == 0 else "") + speechgen.COMMANDS[i % len(speechgen.COMMANDS)], voices[i % len(voices)])
                for i in range(n)]
    said = [(text, at_rms(speechgen.speak(text, v), USER_RMS)) for text, v in commands]
    wakes = [at_rms(speechgen.speak(phrases[i % len(phrases)], voices[(i + 3) % len(voices)]), USER_RMS)
             for i in range(n)]
    return replies, said, wakes


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from edge_agent.config import load_settings
    from edge_agent.models import manager_from_settings

    settings = load_settings(getattr(args, "config", None))
    # no end-of-turn model: the bench measures barge-in and the audio, not where turns end
    settings = settings.model_copy(update={"turn": settings.turn.model_copy(update={"enabled": False})})
    models = manager_from_settings(settings)
    log(f"making {args.replies} replies, commands and wake phrases...")
    replies, commands, wakes = material(args.replies, settings.wake.keywords[0], args.split)
    trials = _trials(replies, commands, wakes)
    stt = None
    if not args.no_wer:
        from edge_agent.stt.factory import create_stt

        stt = create_stt(settings, models)
    rows = []
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.aec]
    from edge_agent.audio.room import HELDOUT_SPLITS

    rooms = args.rooms or ",".join(ROOMS if args.split == "tuning" else HELDOUT_SPLITS[args.split])
    for room_name in rooms.split(","):
        for level in (float(x) for x in args.levels.split(",")):
            for aec in modes:
                t = time.monotonic()
                row = condition(settings, models, room_name, level, aec, trials, stt, args.drift_ppm)
                log(f"{room_name} {level:+g} dB AEC {'on' if aec else 'off'}: {row} ({time.monotonic() - t:.0f} s)")
                rows.append(row)
    result = {"split": args.split, "replies": args.replies, "drift_ppm": args.drift_ppm, "rows": rows}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        keys = ("room", "echo_db", "aec", "self_cut_offs", "erle_db", "interruptions_heard",
                "stop_after_first_word_ms_median", "wake_over_reply", "wer_vs_clean_clip", "aec_cpu_pct_of_playback")
        print("\t".join(keys))
        for row in rows:
            print("\t".join(str(row[k]) for k in keys))
    return 0
