"""The generated audio sets: wake phrases, confusables, ordinary speech, turns, commands, the demo.

Tests and benchmarks (wake word, turn policy, STT, latency) and the wake classifier's recipe need
speech with known words and known timing. Nothing here is recorded: speech comes from the Piper
voice (at several lengths and, by a resampling trick, several pitches) and from several espeak-ng
voices, which are "unusual" on purpose; noise (white, pink, babble) is mixed in at several SNRs.

One function per set; each returns a list of :class:`~edge_agent.speechgen.synth.Utterance` with
the text and timings of what was said. Results are cached under ``~/.cache/edge-agent/testaudio/``
by a hash of the parameters (and :data:`GENERATOR_VERSION`), so the second call costs a file read.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.wav import write_wav
from edge_agent.speechgen.synth import (
    ALL_VOICES,
    Segment,
    Utterance,
    Voice,
    compose,
    mix_noise,
    seeded_rng,
    speak,
)

GENERATOR_VERSION = 4
"""Bump when generation changes, so stale caches are not reused."""
CACHE_DIR = "testaudio"
"""The cache's directory under ``~/.cache/edge-agent`` (its name is part of every existing cache)."""


def cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "edge-agent" / CACHE_DIR


# --- the cache ----------------------------------------------------------------------------------------


def _cached(name: str, params: dict[str, Any], make: Callable[[], list[Utterance]],
            cache_dir: Path | None) -> list[Utterance]:
    key = hashlib.sha256(json.dumps([name, params, GENERATOR_VERSION], sort_keys=True).encode()).hexdigest()[:16]
    root = cache_dir if cache_dir is not None else cache_root()
    path = root / f"{name}-{key}.npz"
    if path.exists():
        try:
            return _load(path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # a damaged cache entry is simply made again
    items = make()
    _save(path, items)
    return items


def _save(path: Path, items: list[Utterance]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = []
    for u in items:
        d = asdict(u)
        d.pop("samples")
        meta.append(d)
    offsets = np.cumsum([0] + [len(u.samples) for u in items])
    audio = np.concatenate([u.samples for u in items]) if items else np.zeros(0, np.int16)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # two generators never share a temp file
    np.savez(tmp, audio=audio, offsets=offsets, meta=np.array(json.dumps(meta)))
    os.replace(tmp, path)


def _load(path: Path) -> list[Utterance]:
    with np.load(path) as z:
        audio, offsets, meta = z["audio"], z["offsets"], json.loads(str(z["meta"]))
    items = []
    for i, d in enumerate(meta):
        d["segments"] = tuple(Segment(**s) for s in d["segments"])
        items.append(Utterance(samples=audio[offsets[i] : offsets[i + 1]].copy(), **d))
    return items


# --- the sets -------------------------------------------------------------------------------------

WAKE_TEXT = {
    "okay_nabu": ("Okay Nabu.", "Okay, Nabu.", "OK Nabu."),
    "hey_jarvis": ("Hey Jarvis.", "Hey, Jarvis."),
    "alexa": ("Alexa.",),
    "hey_mycroft": ("Hey Mycroft.", "Hey, Mycroft."),
}
CONFUSABLE_TEXT = {
    "okay_nabu": ("Okay nah boo.", "Okay now.", "Okay Google.", "Obey Nabu.", "Okay, not now.",
                  "Okay, Naomi.", "Okay, bamboo.", "Hey Nadia."),
    "hey_jarvis": ("Hey Travis.", "Hey jars.", "Hey Marvin.", "Hey Charlie.", "Hey, are we there?",
                   "Hey Davis.", "Harvest."),
    "alexa": ("Alexander.", "A Lexus.", "Electra."),
    "hey_mycroft": ("Hey Microsoft.", "Hey my craft.", "Hey Minecraft."),
}
HOMOPHONES = ("Okay nah boo.",)
"""Confusables that sound the same as a wake phrase (same phonemes, only the stress differs):
reported apart, since no acoustic detector should be expected to tell them apart."""
COMMANDS = (
    "What time is it?",
    "Turn on the kitchen lights.",
    "Set a timer for ten minutes.",
    "What is the weather like tomorrow?",
    "Play some jazz music.",
    "How many days until Christmas?",
    "Turn the volume down a little.",
    "Remind me to call my mother at six.",
    "What is the capital of France?",
    "Switch off the heating in the bedroom.",
    "Add milk and eggs to the shopping list.",
    "Tell me a short joke.",
    "How far away is the moon?",
    "Open the garage door.",
    "What can you do?",
    "Is it going to rain this afternoon?",
)
PAUSE_SENTENCES = (
    ("I would like to order", "a large pizza with mushrooms."),
    ("Can you tell me", "how long it takes to boil an egg?"),
    ("Please remind me to", "water the plants on Sunday."),
    ("My favourite kind of music is", "probably jazz from the fifties."),
    ("I think we should", "leave a little earlier tomorrow."),
    ("Could you turn on", "the lights in the living room?"),
    ("The thing I really need is", "a quiet place to work."),
    ("What I wanted to ask was", "whether the shop is open today."),
    ("Set an alarm for", "seven thirty in the morning."),
    ("I was wondering if", "you could play something relaxing."),
    ("Tell me about", "the history of the Roman empire."),
    ("We need to buy", "bread, cheese and some apples."),
)
COMPLETE_SENTENCES = (
    "I would like to order a large pizza with mushrooms.",
    "Please turn off the lights in the kitchen.",
    "What is the weather going to be like tomorrow?",
    "Remind me to call the dentist on Monday.",
    "Play the latest episode of my favourite podcast.",
    "How long does it take to drive to the airport?",
    "Set a timer for twenty minutes.",
    "Tell me something interesting about octopuses.",
    "Can you add coffee to my shopping list?",
    "I need to be up at six tomorrow morning.",
    "What is the square root of one hundred and forty four?",
    "Lock the front door please.",
)
WHOLE_PAUSE_SENTENCES = (
    ("Please set the hall thermostat to", "twenty degrees tonight."),
    ("I'd like to order some", "fresh flowers for my mother."),
    ("Remind me on Tuesday to", "renew my passport online."),
    ("Can you dim the kitchen lamp", "just a little?"),
    ("What's the best way to", "clean a cast iron pan?"),
    ("Add bread, butter and", "strawberry jam to the list."),
    ("Turn the speaker up to", "level seven please."),
    ("Tell me how long it takes to", "walk to the beach."),
    ("Set an alarm for", "six thirty on Monday."),
    ("Text my sister that", "dinner will be late."),
    ("How many teaspoons are in a", "tablespoon?"),
    ("Move my piano lesson to", "Friday afternoon."),
)
"""Tuning sentences said whole, a 0.7 s pause cut in after the first part (the turn is NOT over)."""
INNER_PAUSE_COMMANDS = (
    ("Set the hall thermostat", "to 20 degrees."),
    ("Dim the kitchen lamp", "to 15%."),
    ("Buy bread,", "butter", "and a jar of honey."),
    ("Remind me on Tuesday", "at nine", "to renew my passport."),
    ("Turn the speaker up", "to level seven."),
    ("Set an alarm", "for six thirty."),
    ("Add rice,", "beans", "and chopped tomatoes to the list."),
    ("Move the meeting", "to Friday morning."),
    ("Set the bedroom light", "to 60%."),
    ("Text my sister", "that I'm on the way."),
    ("Put the washing machine", "on a quick wash."),
    ("Order two pizzas", "for seven o'clock."),
)
"""Tuning commands said whole with 0.2-0.4 s pauses cut in between the parts: complete at the end
only (a value after "set ...", a list, a time and a task)."""

_SUBJECTS = ("My neighbour", "The teacher", "Our dog", "A friend of mine", "The old man next door",
             "My sister", "The manager", "Everyone at work", "The little girl", "Her brother",
             "The bus driver", "Somebody in the office")
_VERBS = ("bought", "forgot", "painted", "found", "repaired", "borrowed", "cooked", "lost",
          "described", "cleaned", "ordered", "remembered")
_OBJECTS = ("a blue bicycle", "the kitchen table", "three loaves of bread", "an umbrella",
            "the garden fence", "a birthday present", "some fresh tomatoes", "the broken window",
            "a book about birds", "the car keys", "a cup of strong coffee", "the weekly report")
_TAILS = ("last Tuesday.", "before lunch.", "in the rain.", "without telling anyone.",
          "near the station.", "for the second time this month.", "on the way home.",
          "while we were on holiday.", "yesterday evening.", "at the market.")
_CHATTER = (
    "Okay, so what are we doing this weekend?",
    "Hey, did you see the game last night?",
    "I'm not sure, maybe we could go to the beach if the weather holds.",
    "Honestly I think the movie was a bit too long.",
    "Can you pass me the salt please?",
    "We really need to fix the leaking tap in the bathroom.",
    "The meeting has been moved to Thursday afternoon.",
    "Okay, fine, I'll call them tomorrow morning.",
    "My phone battery keeps dying before lunch.",
    "Hey, have you got a minute to look at this?",
    "I'll have a coffee with a little milk, thanks.",
    "There was a huge queue at the post office today.",
    "Don't forget to take the rubbish out tonight.",
    "The new bakery on the corner is actually pretty good.",
    "Is it me, or is it getting colder every evening?",
    "Jarvis Cocker was the singer of Pulp, wasn't he?",
    "We visited an old temple dedicated to the god Nabu in Babylon.",
    "Okay, now let's try that again from the top.",
)


def _noise_plan(i: int) -> tuple[str, float | None]:
    """Cycle through clean and white/pink/babble at 20 and 10 dB SNR."""
    plan: tuple[tuple[str, float | None], ...] = (
        ("none", None), ("pink", 20.0), ("babble", 20.0), ("white", 20.0),
        ("none", None), ("pink", 10.0), ("babble", 10.0), ("white", 10.0),
    )
    return plan[i % len(plan)]


def _finish(audio: np.ndarray, noise_kind: str, snr: float | None, rng: np.random.Generator) -> np.ndarray:
    return mix_noise(audio, noise_kind, snr, rng)


def wake_set(keyword: str = "okay_nabu", n: int = 48, with_command: bool = True,
             voices: Sequence[Voice] = ALL_VOICES, cache_dir: Path | None = None) -> list[Utterance]:
    """``n`` clips of the wake phrase between silences, in noise; every other one followed by a command.

    ``segments[0]`` is the wake phrase; ``last_word_t`` is the end of the last word of the clip."""
    if keyword not in WAKE_TEXT:
        raise ValueError(f"no wake text for {keyword!r}; known: {', '.join(WAKE_TEXT)}")
    params = {"keyword": keyword, "n": n, "cmd": with_command, "voices": [v.label for v in voices]}

    def make() -> list[Utterance]:
        out = []
        for i in range(n):
            rng = seeded_rng("wake", keyword, i)
            voice = voices[i % len(voices)]
            text = WAKE_TEXT[keyword][i % len(WAKE_TEXT[keyword])]
            pieces: list[tuple[str, np.ndarray] | float] = [float(rng.uniform(0.6, 1.2)), (text, speak(text, voice))]
            reference = ""
            if with_command and i % 2 == 1:
                reference = COMMANDS[i % len(COMMANDS)]
                pieces += [float(rng.uniform(0.3, 0.8)), (reference, speak(reference, voice))]
            pieces.append(1.2)
            audio, segs = compose(pieces)
            kind, snr = _noise_plan(i)
            out.append(Utterance(_finish(audio, kind, snr, rng), " ".join(s.text for s in segs), "wake",
                                 voice.label, kind, snr, keyword, segs, segs[-1].end_t, None, reference))
        return out

    return _cached("wake", params, make, cache_dir)


def confusable_set(keywords: Sequence[str] | None = None, voices_per_phrase: int = 4,
                   cache_dir: Path | None = None) -> list[Utterance]:
    """Phrases that sound like a wake phrase but are not one, each said by several voices, in noise."""
    keys = list(keywords) if keywords is not None else list(CONFUSABLE_TEXT)
    params = {"keywords": keys, "vpp": voices_per_phrase}

    def make() -> list[Utterance]:
        out = []
        j = 0
        for kw in keys:
            for text in CONFUSABLE_TEXT[kw]:
                for k in range(voices_per_phrase):
                    rng = seeded_rng("confusable", kw, text, k)
                    voice = ALL_VOICES[(j * 5 + k * 3) % len(ALL_VOICES)]
                    audio, segs = compose([float(rng.uniform(0.5, 1.0)), (text, speak(text, voice)), 1.2])
                    kind, snr = _noise_plan(j + k)
                    out.append(Utterance(_finish(audio, kind, snr, rng), text, "confusable", voice.label, kind,
                                         snr, kw, segs, segs[-1].end_t))
                j += 1
        return out

    return _cached("confusable", params, make, cache_dir)


DRAW_VOICES = (Voice("piper", speed=1.25, pitch=1.0), Voice("espeak", "en-us", 150, 50))
"""Two of the bench's voices (Piper slow, espeak-ng's plain en-us) for :func:`noise_draws`."""


def noise_draws(keyword: str = "okay_nabu", draws: int = 10, noise_kind: str = "babble", snr_db: float = 20.0,
                voices: Sequence[Voice] = DRAW_VOICES, cache_dir: Path | None = None) -> list[Utterance]:
    """The wake phrase and each confusable, each said once per voice and heard in ``draws`` different
    draws of the same noise: rates per phrase, where the confusable set has one draw per clip (one
    draw can say 0 for a phrase the detector accepts on half of them)."""
    texts = (WAKE_TEXT[keyword][0], *CONFUSABLE_TEXT[keyword])
    params = {"keyword": keyword, "draws": draws, "noise": noise_kind, "snr": snr_db, "voices": [v.label for v in voices]}

    def make() -> list[Utterance]:
        out = []
        for text in texts:
            kind = "wake" if text == texts[0] else "confusable"
            for voice in voices:
                speech = speak(text, voice)
                for k in range(draws):
                    rng = seeded_rng("draw", keyword, text, voice.label, k)
                    audio, segs = compose([float(rng.uniform(0.5, 1.0)), (text, speech), 1.2])
                    out.append(Utterance(_finish(audio, noise_kind, snr_db, rng), text, kind, voice.label,
                                         noise_kind, snr_db, keyword, segs, segs[-1].end_t))
        return out

    return _cached("draws", params, make, cache_dir)


def ordinary_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` different everyday sentences (chatter first, then made from parts)."""
    rng = seeded_rng("sentences", seed)
    out = list(_CHATTER)
    seen = set(out)
    while len(out) < count:
        s = (f"{_SUBJECTS[rng.integers(len(_SUBJECTS))]} {_VERBS[rng.integers(len(_VERBS))]} "
             f"{_OBJECTS[rng.integers(len(_OBJECTS))]} {_TAILS[rng.integers(len(_TAILS))]}")
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out[:count]


def ordinary_speech(minutes: float = 10.0, segment_s: float = 60.0,
                    cache_dir: Path | None = None) -> list[Utterance]:
    """About ``minutes`` of ordinary speech (no wake phrase) by all voices, in segments of about
    ``segment_s`` seconds of sentences with short gaps, for false accepts per hour."""
    params = {"minutes": minutes, "segment_s": segment_s}

    def make() -> list[Utterance]:
        target = minutes * 60.0
        sentences = ordinary_sentences(int(target / 2.0) + 50)
        out: list[Utterance] = []
        total = 0.0
        i = 0
        seg_idx = 0
        while total < target:
            rng = seeded_rng("ordinary", seg_idx)
            pieces: list[tuple[str, np.ndarray] | float] = [0.3]
            length = 0.3
            while length < segment_s and total + length < target:
                text = sentences[i % len(sentences)]
                voice = ALL_VOICES[(i * 7) % len(ALL_VOICES)]
                audio = speak(text, voice)
                gap = float(rng.uniform(0.2, 0.9))
                pieces += [(text, audio), gap]
                length += len(audio) / SAMPLE_RATE + gap
                i += 1
            audio, segs = compose(pieces)
            kind, snr = _noise_plan(seg_idx)
            out.append(Utterance(_finish(audio, kind, snr, rng), " ".join(s.text for s in segs), "ordinary",
                                 "mixed", kind, snr, None, segs, segs[-1].end_t))
            total += len(audio) / SAMPLE_RATE
            seg_idx += 1
        return out

    return _cached("ordinary", params, make, cache_dir)


def pause_sentences(n: int = 24, pause_s: float = 0.7, tail_s: float = 2.5,
                    cache_dir: Path | None = None) -> list[Utterance]:
    """Sentences with a ``pause_s`` pause in the middle (the turn is NOT complete at the pause),
    then ``tail_s`` of silence. ``pause_at`` = end of the first half, ``last_word_t`` = end of the sentence."""
    params = {"n": n, "pause": pause_s, "tail": tail_s}

    def make() -> list[Utterance]:
        out = []
        for i in range(n):
            rng = seeded_rng("pause", i)
            first, second = PAUSE_SENTENCES[i % len(PAUSE_SENTENCES)]
            voice = ALL_VOICES[(i * 5) % len(ALL_VOICES)]
            audio, segs = compose([0.5, (first, speak(first, voice)), pause_s, (second, speak(second, voice)), tail_s])
            kind, snr = _noise_plan(i)
            kind, snr = (kind, snr if snr is None else max(snr, 20.0))  # a turn test, not a noise test
            out.append(Utterance(_finish(audio, kind, snr, rng), f"{first} {second}", "pause", voice.label, kind,
                                 snr, None, segs, segs[-1].end_t, segs[0].end_t, f"{first} {second}"))
        return out

    return _cached("pause", params, make, cache_dir)


def complete_sentences(n: int = 24, tail_s: float = 2.5, cache_dir: Path | None = None) -> list[Utterance]:
    """Complete sentences followed by ``tail_s`` of silence; ``last_word_t`` is the end of speech."""
    params = {"n": n, "tail": tail_s}

    def make() -> list[Utterance]:
        out = []
        for i in range(n):
            rng = seeded_rng("complete", i)
            text = COMPLETE_SENTENCES[i % len(COMPLETE_SENTENCES)]
            voice = ALL_VOICES[(i * 5 + 2) % len(ALL_VOICES)]
            audio, segs = compose([0.5, (text, speak(text, voice)), tail_s])
            kind, snr = _noise_plan(i)
            kind, snr = (kind, snr if snr is None else max(snr, 20.0))
            out.append(Utterance(_finish(audio, kind, snr, rng), text, "complete", voice.label, kind, snr,
                                 None, segs, segs[-1].end_t, None, text))
        return out

    return _cached("complete", params, make, cache_dir)


def whole_pause_sentences(n: int = 24, pause_s: float = 0.7, tail_s: float = 2.5,
                          cache_dir: Path | None = None) -> list[Utterance]:
    """:data:`WHOLE_PAUSE_SENTENCES` said whole by the tuning voices, the ``pause_s`` pause cut in at
    the word boundary (:mod:`~edge_agent.speechgen.wordcut`), in the tuning noises (at most 20 dB);
    fields as in :func:`pause_sentences`."""
    import edge_agent.speechgen.wordcut as wordcut

    params = {"n": n, "pause": pause_s, "tail": tail_s, "cut": wordcut.VERSION}

    def make() -> list[Utterance]:
        out = []
        for i in range(n):
            rng = seeded_rng("whole-pause", i)
            first, second = WHOLE_PAUSE_SENTENCES[i % len(WHOLE_PAUSE_SENTENCES)]
            voice = ALL_VOICES[(i * 7 + 3) % len(ALL_VOICES)]
            audio, segs = wordcut.said_whole((first, second), [pause_s], voice, 0.5, tail_s)
            kind, snr = _noise_plan(i + 1)
            snr = snr if snr is None else max(snr, 20.0)
            out.append(Utterance(_finish(audio, kind, snr, rng), f"{first} {second}", "pause", voice.label, kind,
                                 snr, None, segs, segs[-1].end_t, segs[0].end_t, f"{first} {second}"))
        return out

    return _cached("whole-pause", params, make, cache_dir)


def inner_pause_commands(n: int = 24, tail_s: float = 2.5, cache_dir: Path | None = None) -> list[Utterance]:
    """:data:`INNER_PAUSE_COMMANDS` said whole by the tuning voices with 0.2-0.4 s pauses cut in
    between the parts, then ``tail_s`` of silence: complete sentences whose turn must not end inside."""
    import edge_agent.speechgen.wordcut as wordcut

    params = {"n": n, "tail": tail_s, "cut": wordcut.VERSION}

    def make() -> list[Utterance]:
        out = []
        for i in range(n):
            rng = seeded_rng("inner-pause", i)
            parts = INNER_PAUSE_COMMANDS[i % len(INNER_PAUSE_COMMANDS)]
            voice = ALL_VOICES[(i * 7) % len(ALL_VOICES)]
            gaps = [float(rng.uniform(0.2, 0.4)) for _ in parts[1:]]
            audio, segs = wordcut.said_whole(parts, gaps, voice, 0.5, tail_s)
            kind, snr = _noise_plan(i + 2)
            snr = snr if snr is None else max(snr, 20.0)
            text = " ".join(parts)
            out.append(Utterance(_finish(audio, kind, snr, rng), text, "complete", voice.label, kind, snr,
                                 None, segs, segs[-1].end_t, None, text))
        return out

    return _cached("inner-pause", params, make, cache_dir)


def commands(n: int = 16, voices: Sequence[Voice] = ALL_VOICES, noisy: bool = False,
             tail_s: float = 1.0, cache_dir: Path | None = None) -> list[Utterance]:
    """Spoken commands with their reference text (``reference``), for STT accuracy and latency.

    Piper voices come first (they are the most intelligible); ``noisy`` adds pink/babble at 20 dB."""
    params = {"n": n, "voices": [v.label for v in voices], "noisy": noisy, "tail": tail_s}

    def make() -> list[Utterance]:
        out = []
        for i in range(n):
            rng = seeded_rng("command", i)
            text = COMMANDS[i % len(COMMANDS)]
            voice = voices[i % len(voices)]
            audio, segs = compose([0.3, (text, speak(text, voice)), tail_s])
            kind, snr = (("pink", 20.0) if i % 2 else ("babble", 20.0)) if noisy else ("none", None)
            out.append(Utterance(_finish(audio, kind, snr, rng), text, "command", voice.label, kind, snr,
                                 None, segs, segs[-1].end_t, None, text))
        return out

    return _cached("commands", params, make, cache_dir)


def demo_conversation(keyword: str = "okay_nabu", question: str | tuple[str, ...] = "What can you do?",
                      cache_dir: Path | None = None, pause_s: float = 0.7) -> Utterance:
    """A wake phrase, a short pause, a question, then silence: for the built-in demo.

    ``question`` as a tuple of parts is spoken with a ``pause_s`` pause between them (a user who
    stops mid-sentence). ``segments`` holds the wake phrase and each part with their timings;
    ``reference`` is the question."""
    parts = (question,) if isinstance(question, str) else tuple(question)
    text = " ".join(parts)
    params: dict[str, Any] = {"keyword": keyword, "question": question if isinstance(question, str) else list(parts)}
    if len(parts) > 1:
        params["pause_s"] = pause_s

    def make() -> list[Utterance]:
        voice = Voice("piper")
        wake = WAKE_TEXT[keyword][0]
        pieces: list[tuple[str, np.ndarray] | float] = [0.5, (wake, speak(wake, voice)), 0.6]
        for i, part in enumerate(parts):
            pieces += ([pause_s] if i else []) + [(part, speak(part, voice))]
        audio, segs = compose([*pieces, 2.0])
        pause_at = segs[1].end_t if len(parts) > 1 else None
        return [Utterance(mix_noise(audio, "none", None, seeded_rng("demo")), f"{wake} {text}", "demo",
                          voice.label, "none", None, keyword, segs, segs[-1].end_t, pause_at, text)]

    return _cached("demo", params, make, cache_dir)[0]


def write_set(items: Sequence[Utterance], out_dir: Path) -> Path:
    """Write each item as a WAV plus one ``index.jsonl`` describing them; returns the index path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.jsonl"
    with index.open("w", encoding="utf-8") as f:
        for i, u in enumerate(items):
            name = f"{u.kind}-{i:04d}.wav"
            write_wav(out_dir / name, u.samples, SAMPLE_RATE)
            d = asdict(u)
            d.pop("samples")
            d["file"] = name
            d["duration"] = u.duration
            f.write(json.dumps(d) + "\n")
    return index
