"""Pauses cut into a sentence said whole, at a word boundary, so the words before a pause keep the
prosody of a sentence that goes on.

A sentence synthesized in two halves ends its first half with the falling pitch of a finished
sentence; a person who stops to think mid-sentence usually does not. Here the sentence is said
whole and the synthesizer itself says where the words meet: espeak-ng's word and phoneme events
(its library, called as the ``espeak-ng`` program calls it: the same samples) and Piper's phoneme
durations (the word-separating space phoneme). The cut goes to the quietest 10 ms inside that
stretch (widened by 5 ms either side), silence is inserted there, and the room noise is mixed in
afterwards over the whole clip, so it goes on through the pause.

Two ways were tried and dropped: Whisper's forced alignment of the known text (on espeak-ng voices
its word boundaries were off by a syllable: "rice and wa | shing powder"), and the quietest 20 ms
within 40 ms of the boundary (it found the closure of a word-final stop and moved the release to
the other side: "porch ligh | t off").
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.wav import resample
from edge_agent.errors import InputDataError, ModelError
from edge_agent.speechgen.synth import Segment, Voice, models_dir, silence, speech_bounds

VERSION = 3
"""Part of the whole-sentence splits' cache keys: bump when the cut changes."""
WINDOW_S = 0.01
"""The length of the quiet stretch the cut looks for."""
MARGIN_S = 0.005
"""How far outside the synthesizer's stretch between two words the cut may go."""
FADE_S = 0.004
"""A fade either side of the cut, so the inserted silence does not click."""


def part_starts(parts: Sequence[str]) -> list[int]:
    """Where each part after the first begins in ``" ".join(parts)`` (character index)."""
    out, pos = [], 0
    for part in parts[:-1]:
        pos += len(part) + 1
        out.append(pos)
    return out


# --- espeak-ng: its word events ---------------------------------------------------------------------

class _EspeakEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent))
_EVENT_WORD, _EVENT_PHONEME, _EVENT_LIST_END = 1, 7, 0
_SYNCHRONOUS, _POS_CHARACTER, _CHARS_UTF8, _PHONEME_EVENTS = 2, 1, 1, 1
_RATE, _PITCH = 1, 3


class _Espeak:
    """libespeak-ng in synchronous mode: the samples and the word and phoneme events of a text (one
    text per process: see :func:`espeak_events`)."""

    def __init__(self) -> None:
        try:
            self.lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError:
            raise ModelError("libespeak-ng is not installed (apt-get install espeak-ng)") from None
        self.chunks: list[bytes] = []
        self.events: list[tuple[int, int, int]] = []
        self._callback = _CALLBACK(self._collect)  # kept: the library holds only a raw pointer
        self.rate = int(self.lib.espeak_Initialize(_SYNCHRONOUS, 0, None, _PHONEME_EVENTS))
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, n: int, events: Any) -> int:
        if n > 0 and wav:
            self.chunks.append(ctypes.string_at(wav, n * 2))
        i = 0
        while events[i].type != _EVENT_LIST_END:
            if events[i].type in (_EVENT_WORD, _EVENT_PHONEME):  # text_position counts from 1
                self.events.append((events[i].type, events[i].text_position - 1, events[i].sample))
            i += 1
        return 0

    def say(self, text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """Samples at :attr:`rate` and each word and phoneme event: (type, character index, sample)."""
        self.chunks, self.events = [], []
        base, plus, variant = voice.name.partition("+")
        name = ("en" if base == "en-gb" else base) + plus + variant  # the program's alias of the voice "en"
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise InputDataError(f"espeak-ng has no voice {voice.name!r}")
        self.lib.espeak_SetParameter(_RATE, int(voice.speed), 0)
        self.lib.espeak_SetParameter(_PITCH, int(voice.pitch), 0)
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        return np.frombuffer(b"".join(self.chunks), np.int16), list(self.events)


def espeak_events(text: str, voice: Voice) -> tuple[int, np.ndarray, list[tuple[int, int, int]]]:
    """:meth:`_Espeak.say` in a process of its own (this module run as a program): a voice leaves
    state in the library that changes the next text's audio (and a second ``espeak_Initialize``
    hangs), while the ``espeak-ng`` program starts afresh each time. Returns the sample rate too."""
    request = json.dumps({"text": text, "voice": [voice.name, voice.speed, voice.pitch]})
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=request.encode(), capture_output=True,
                              check=True, timeout=120)
    except subprocess.CalledProcessError as exc:
        raise InputDataError(exc.stderr.decode(errors="replace").strip().splitlines()[-1]) from None
    header, _, audio = done.stdout.partition(b"\n")
    found = json.loads(header)
    return found["rate"], np.frombuffer(audio, np.int16), [tuple(e) for e in found["events"]]


def _espeak_program() -> None:
    """One :func:`espeak_events` request from stdin: a JSON line, then the raw samples, on stdout."""
    request = json.loads(sys.stdin.read())
    name, speed, pitch = request["voice"]
    engine = _Espeak()
    audio, events = engine.say(request["text"], Voice("espeak", name, speed, pitch))
    sys.stdout.buffer.write(json.dumps({"rate": engine.rate, "events": events}).encode() + b"\n")
    sys.stdout.buffer.write(np.ascontiguousarray(audio, np.int16).tobytes())


def espeak_boundaries(parts: Sequence[str], voice: Voice) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """``parts`` said as one sentence by an espeak-ng voice (16 kHz) and, before each part after the
    first, the stretch where the words meet (seconds): from the word event at the part's first
    character to its first phoneme."""
    rate, audio, events = espeak_events(" ".join(parts), voice)
    spans = []
    for start in part_starts(parts):
        word = next((s for kind, pos, s in events if kind == _EVENT_WORD and pos == start), None)
        if word is None:  # it joined the part's first word to the word before ("in the")
            raise InputDataError(f"espeak-ng ({voice.name}) has no word starting at character {start} of "
                                 f"{' '.join(parts)!r}: begin the part on a stressed word")
        phoneme = next((s for kind, _, s in events if kind == _EVENT_PHONEME and s >= word), word)
        spans.append((word / rate, phoneme / rate))
    return np.asarray(resample(audio, rate, SAMPLE_RATE), np.int16), spans


# --- Piper: its phoneme durations ----------------------------------------------------------------------

@lru_cache(maxsize=1)
def _piper_aligned() -> Any:
    from piper import PiperVoice

    from edge_agent.models import ModelManager

    path = ModelManager(models_dir()).require("piper-joe-medium", "en_US-joe-medium.onnx")
    return PiperVoice.load(path, include_alignments=True)


def piper_boundaries(parts: Sequence[str], voice: Voice) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """``parts`` said as one sentence by a Piper voice (16 kHz, pitch by resampling as
    :func:`~edge_agent.speechgen.synth.speak` does) and, before each part after the first, the
    stretch where the words meet (seconds): the space phoneme after the part's last word (words
    counted in the phonemes of the parts said alone)."""
    from piper.config import SynthesisConfig

    tts = _piper_aligned()
    cfg = SynthesisConfig(length_scale=voice.speed * voice.pitch, noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(tts.synthesize(" ".join(parts), syn_config=cfg, include_alignments=True))
    if len(chunks) != 1 or not chunks[0].phoneme_alignments:
        raise InputDataError(f"Piper gave no single aligned sentence for {' '.join(parts)!r}")
    spaces, pos = [], 0  # each space phoneme, in Piper's samples
    for a in chunks[0].phoneme_alignments:
        if a.phoneme == " ":
            spaces.append((pos, pos + int(a.num_samples)))
        pos += int(a.num_samples)
    words = np.cumsum([sum(len("".join(s).split()) for s in tts.phonemize(p)) for p in parts])
    rate = tts.config.sample_rate * voice.pitch
    spans = [(spaces[int(n) - 1][0] / rate, spaces[int(n) - 1][1] / rate) for n in words[:-1]]
    audio = resample(chunks[0].audio_int16_array, int(round(rate)), SAMPLE_RATE)
    return np.asarray(audio, np.int16), spans


# --- the cut ------------------------------------------------------------------------------------------

Span = tuple[float, float]


def boundaries(parts: Sequence[str], voice: Voice) -> tuple[np.ndarray, list[Span]]:
    """``parts`` said whole by ``voice``, trimmed of leading and trailing silence, and before each
    part after the first, the stretch where the words meet (seconds into the trimmed audio)."""
    audio, spans = (piper_boundaries if voice.engine == "piper" else espeak_boundaries)(parts, voice)
    start, end = speech_bounds(audio)
    lead = start / SAMPLE_RATE
    return audio[start:end], [(a - lead, b - lead) for a, b in spans]


def quietest_point(audio: np.ndarray, span: Span, margin_s: float = MARGIN_S) -> int:
    """The sample at the middle of the quietest ``WINDOW_S`` stretch centred within ``span``
    (seconds) widened by ``margin_s`` either side (1 ms steps; the one nearest the span's middle
    among equals)."""
    win, hop = int(WINDOW_S * SAMPLE_RATE), SAMPLE_RATE // 1000
    x = audio.astype(np.float64)
    centre = int((span[0] + span[1]) / 2 * SAMPLE_RATE)
    lo = max(win // 2, int((span[0] - margin_s) * SAMPLE_RATE))
    hi = min(len(x) - win // 2, int((span[1] + margin_s) * SAMPLE_RATE))
    best, best_key = centre, (np.inf, 0)
    for c in range(lo, hi + 1, hop):
        stretch = x[c - win // 2: c + win // 2]
        key = (float(np.dot(stretch, stretch)), abs(c - centre))
        if key < best_key:
            best, best_key = c, key
    return best


def _faded(audio: np.ndarray, at_end: bool) -> np.ndarray:
    n = min(len(audio), int(FADE_S * SAMPLE_RATE))
    out = audio.astype(np.float64)
    if at_end:
        out[len(out) - n:] *= np.linspace(1.0, 0.0, n)
    else:
        out[:n] *= np.linspace(0.0, 1.0, n)
    return np.round(out).astype(np.int16)


def insert_pauses(audio: np.ndarray, parts: Sequence[str], cuts: Sequence[int], gaps_s: Sequence[float],
                  lead_s: float, tail_s: float) -> tuple[np.ndarray, tuple[Segment, ...]]:
    """``audio`` with ``gaps_s[k]`` of silence at ``cuts[k]``, ``lead_s`` before and ``tail_s`` after;
    a segment per part, ending where its pause begins."""
    pieces, segs = [silence(lead_s)], []
    pos = len(pieces[0])
    edges = [0, *cuts, len(audio)]
    for k, part in enumerate(parts):
        chunk = audio[edges[k]: edges[k + 1]]
        if k:
            chunk = _faded(chunk, at_end=False)
        if k < len(cuts):
            chunk = _faded(chunk, at_end=True)
        segs.append(Segment(part, pos / SAMPLE_RATE, (pos + len(chunk)) / SAMPLE_RATE))
        gap = silence(gaps_s[k] if k < len(cuts) else tail_s)
        pieces += [chunk, gap]
        pos += len(chunk) + len(gap)
    return np.concatenate(pieces), tuple(segs)


def said_whole(parts: Sequence[str], gaps_s: Sequence[float], voice: Voice, lead_s: float,
               tail_s: float) -> tuple[np.ndarray, tuple[Segment, ...]]:
    """``parts`` said as one sentence by ``voice``, ``gaps_s[k]`` of silence cut in after part ``k``
    at the word boundary, ``lead_s`` before and ``tail_s`` after."""
    audio, spans = boundaries(parts, voice)
    return insert_pauses(audio, parts, [quietest_point(audio, span) for span in spans], gaps_s, lead_s, tail_s)


if __name__ == "__main__":
    _espeak_program()
