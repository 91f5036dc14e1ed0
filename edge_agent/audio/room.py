"""A simulated room: what the agent plays comes back into what it hears.

A kiosk's speaker sits a few centimetres from its microphone, so the microphone hears the
agent's own reply, delayed, reverberant, a little distorted by the speaker, over room noise.
:class:`RoomSimulator` does that to a stream of 10 ms-or-longer blocks: ``mix(played, user)``
returns what the microphone hears when the speaker plays ``played`` while the user says ``user``
(both 16 kHz int16, same length). It is stateful and streaming (the reverberation tail and the
delay line carry over between blocks), so it runs closed loop in real time: the daemon's reply
goes out, through the room, and back into the listener.

The room is described by a :class:`RoomSpec`: an impulse response (a built-in synthetic preset
that needs only numpy, an image-source room from ``pyroomacoustics`` when it is installed, or a
WAV file), the echo's level relative to the user's speech, delay and jitter, soft clipping,
noise, and an optional clock drift between the speaker and the microphone (separate USB
devices drift by up to ~100 ppm).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.drift import FractionalReader
from edge_agent.audio.echo_reference import EchoReference
from edge_agent.audio.files import PacedInput, WavInput
from edge_agent.errors import InputDataError

SPEECH_REF_RMS = 1500.0
"""The user's speech level the echo level is relative to: int16 RMS of speech at the microphone
(about -27 dBFS: a voice at a metre or two from a kiosk microphone, with headroom for the echo)."""


@dataclass(frozen=True)
class RoomSpec:
    """How the room treats what the speaker plays."""

    name: str = "kiosk"
    rt60_s: float = 0.35
    """Reverberation time (synthetic presets and pyroomacoustics rooms)."""
    size_m: tuple[float, float, float] = (4.0, 3.5, 2.6)
    """Room dimensions for the image-source model."""
    direct_m: float = 0.08
    """Speaker to microphone distance."""
    delay_ms: float = 60.0
    """Extra delay of the echo path (the device's buffers and the acoustic path together)."""
    jitter_ms: float = 0.0
    """Random extra delay, changed once per second (a device whose latency wanders)."""
    echo_db: float = 0.0
    """The echo's level at the microphone relative to ``SPEECH_REF_RMS`` (0 = as loud as the user)."""
    clip: float = 0.6
    """Soft-clipping knee of the speaker, as a fraction of full scale (0: off)."""
    noise_db: float = -45.0
    """Room noise (pink-ish), dB relative to ``SPEECH_REF_RMS`` (None-like: -inf for none)."""
    drift_ppm: float = 0.0
    """The speaker's clock runs this much faster than the microphone's."""
    ir_file: str | None = None
    """A measured impulse response (WAV) instead of a generated one."""
    seed: int = 0


PRESETS: dict[str, RoomSpec] = {
    "kiosk": RoomSpec("kiosk", rt60_s=0.35, size_m=(4.0, 3.5, 2.6), direct_m=0.08),
    "living_room": RoomSpec("living_room", rt60_s=0.5, size_m=(5.5, 4.5, 2.5), direct_m=0.15),
    "hall": RoomSpec("hall", rt60_s=0.8, size_m=(9.0, 7.0, 3.5), direct_m=0.25),
}
"""The built-in rooms (3, as the duplex bench uses): a small kiosk booth, a living room, a hall."""

HELDOUT_ROOMS: dict[str, RoomSpec] = {
    "garage": RoomSpec("garage", rt60_s=0.9, size_m=(6.0, 5.0, 3.0), direct_m=0.2, delay_ms=70.0, seed=41),
    "washroom": RoomSpec("washroom", rt60_s=1.0, size_m=(2.5, 2.0, 2.5), direct_m=0.1, delay_ms=50.0, seed=42),
    "cafe": RoomSpec("cafe", rt60_s=0.55, size_m=(10.0, 8.0, 3.2), direct_m=0.12, delay_ms=45.0, seed=43),
}
"""Rooms the duplex bench's settings are never tuned on (``bench duplex --split heldout``)."""

HELDOUT2_ROOMS: dict[str, RoomSpec] = {
    "atrium": RoomSpec("atrium", rt60_s=1.4, size_m=(15.0, 12.0, 8.0), direct_m=0.3, delay_ms=60.0, seed=51),
    "corridor": RoomSpec("corridor", rt60_s=0.9, size_m=(20.0, 2.5, 3.0), direct_m=0.15, delay_ms=55.0, seed=52),
    "bedroom": RoomSpec("bedroom", rt60_s=0.3, size_m=(4.0, 3.5, 2.5), direct_m=0.1, delay_ms=70.0, seed=53),
}
"""A second held-out set (``--split heldout2``), for the change after the one ``heldout`` judged."""
HELDOUT3_ROOMS: dict[str, RoomSpec] = {
    "museum": RoomSpec("museum", rt60_s=1.1, size_m=(12.0, 9.0, 5.0), direct_m=0.2, delay_ms=65.0, seed=61),
    "office": RoomSpec("office", rt60_s=0.6, size_m=(6.0, 5.0, 2.7), direct_m=0.07, delay_ms=50.0, seed=62),
    "car_showroom": RoomSpec("car_showroom", rt60_s=0.8, size_m=(14.0, 10.0, 4.0), direct_m=0.35, delay_ms=80.0,
                             seed=63),
}
"""A third held-out set (``--split heldout3``), for the change after the one ``heldout2`` judged."""
HELDOUT4_ROOMS: dict[str, RoomSpec] = {
    "lobby": RoomSpec("lobby", rt60_s=0.75, size_m=(11.0, 8.0, 4.5), direct_m=0.18, delay_ms=55.0, noise_db=-40.0,
                      seed=71),
    "kitchen": RoomSpec("kitchen", rt60_s=0.45, size_m=(4.5, 3.5, 2.5), direct_m=0.06, delay_ms=40.0, clip=0.5,
                        seed=72),
    "library": RoomSpec("library", rt60_s=1.2, size_m=(16.0, 11.0, 5.0), direct_m=0.28, delay_ms=90.0, seed=73),
}
"""A fourth held-out set (``--split heldout4``): with its own users' voices and words (see
:data:`edge_agent.bench.duplex.HELDOUT4_USERS`), for the change after the one ``heldout3`` judged."""
HELDOUT5_ROOMS: dict[str, RoomSpec] = {
    "foyer": RoomSpec("foyer", rt60_s=0.65, size_m=(8.0, 6.0, 3.5), direct_m=0.15, delay_ms=60.0, seed=81),
    "shop": RoomSpec("shop", rt60_s=0.4, size_m=(6.0, 4.0, 2.8), direct_m=0.09, delay_ms=45.0, noise_db=-38.0,
                     seed=82),
    "chapel": RoomSpec("chapel", rt60_s=1.6, size_m=(18.0, 9.0, 9.0), direct_m=0.3, delay_ms=75.0, seed=83),
}
"""A fifth held-out set (``--split heldout5``), with its own users too, for the change after ``heldout4``'s."""
HELDOUT_SPLITS = {"heldout": HELDOUT_ROOMS, "heldout2": HELDOUT2_ROOMS, "heldout3": HELDOUT3_ROOMS,
                  "heldout4": HELDOUT4_ROOMS, "heldout5": HELDOUT5_ROOMS}


def room_spec(spec: str, **overrides: float | str | None) -> RoomSpec:
    """A preset by name, or a WAV impulse response by path, with field ``overrides``."""
    held_out = {name: room for rooms in HELDOUT_SPLITS.values() for name, room in rooms.items()}
    if spec in PRESETS or spec in held_out:
        base = PRESETS.get(spec) or held_out[spec]
    elif Path(spec).suffix.lower() == ".wav":
        if not Path(spec).is_file():
            raise InputDataError(f"room impulse response {spec} does not exist")
        base = RoomSpec(name=Path(spec).stem, ir_file=spec)
    else:
        raise InputDataError(f"unknown room {spec!r}: use one of {', '.join(PRESETS)} or a WAV impulse response")
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


# --- impulse responses ------------------------------------------------------------------------------


def synthetic_ir(spec: RoomSpec, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A measured-style impulse response from numpy alone: a direct path, a few early reflections
    and an exponentially decaying, low-passed noise tail reaching -60 dB at ``rt60_s``."""
    rng = np.random.default_rng(spec.seed + 17)
    length = int(min(spec.rt60_s, 1.0) * rate)
    ir = np.zeros(length, np.float64)
    sound_speed = 343.0
    direct = int(spec.direct_m / sound_speed * rate)
    ir[direct] = 1.0
    for k in range(6):  # early reflections off nearby surfaces
        d = direct + int(rng.uniform(0.002, 0.02) * rate * (1 + k / 3))
        if d < length:
            ir[d] += rng.uniform(0.15, 0.45) * rng.choice((-1.0, 1.0))
    t = np.arange(length) / rate
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / spec.rt60_s)
    tail = np.convolve(tail, np.ones(4) / 4, mode="same")  # walls absorb highs
    start = direct + int(0.003 * rate)
    tail[:start] = 0.0
    ir += tail * 0.35 * math.sqrt(0.1 / spec.rt60_s)
    return (ir / np.sqrt(np.sum(ir**2))).astype(np.float32)


def pyroomacoustics_ir(spec: RoomSpec, rate: int = SAMPLE_RATE) -> np.ndarray | None:
    """An image-source impulse response (``pyroomacoustics``), or None when it is not installed."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        return None
    absorption, max_order = pra.inverse_sabine(spec.rt60_s, list(spec.size_m))
    room = pra.ShoeBox(list(spec.size_m), fs=rate, materials=pra.Material(absorption), max_order=min(max_order, 12))
    mic = np.array([spec.size_m[0] / 2, 0.4, 1.2])
    room.add_source(list(mic + np.array([spec.direct_m, 0.0, 0.0])))
    room.add_microphone(mic)
    room.compute_rir()
    ir = np.asarray(room.rir[0][0], np.float64)[: int(min(spec.rt60_s, 1.0) * rate)]
    return (ir / np.sqrt(np.sum(ir**2))).astype(np.float32)


def impulse_response(spec: RoomSpec, rate: int = SAMPLE_RATE, image_source: bool = True) -> np.ndarray:
    """The room's impulse response: the file's, else pyroomacoustics' (if installed and wanted),
    else the synthetic one. Unit energy, so ``echo_db`` alone sets the level."""
    if spec.ir_file is not None:
        from edge_agent.audio.wav import read_wav

        audio, _ = read_wav(spec.ir_file, rate)
        ir = audio.astype(np.float64)
        norm = np.sqrt(np.sum(ir**2))
        if norm == 0:
            raise InputDataError(f"room impulse response {spec.ir_file} is silent")
        return (ir / norm).astype(np.float32)
    measured = pyroomacoustics_ir(spec, rate) if image_source else None
    return measured if measured is not None else synthetic_ir(spec, rate)


# --- the streaming room -----------------------------------------------------------------------------


class RoomSimulator:
    """Streams the speaker's output through the room into the microphone (see the module docstring).

    ``mix(played, user)`` takes equal-length int16 blocks at ``rate`` and returns what the
    microphone hears. ``echo_only(played)`` is the echo part alone (the bench measures with it)."""

    def __init__(self, spec: RoomSpec, rate: int = SAMPLE_RATE, reference_rms: float = SPEECH_REF_RMS,
                 image_source: bool = True, echo_rms: float | None = None) -> None:
        self.spec = spec
        self.rate = rate
        self.ir = impulse_response(spec, rate, image_source)
        self._rng = np.random.default_rng(spec.seed)
        # The speaker's level: a reply whose RMS is ``echo_rms`` (default: typical TTS, 3000)
        # arrives at ``echo_db`` relative to the user's speech.
        level = reference_rms * 10 ** (spec.echo_db / 20)
        self._gain = level / (echo_rms or SPEECH_REF_RMS)
        self._noise_rms = reference_rms * 10 ** (spec.noise_db / 20) if math.isfinite(spec.noise_db) else 0.0
        self._noise_state = 0.0
        base = int(spec.delay_ms * rate / 1000)
        self._max_jitter = int(spec.jitter_ms * rate / 1000)
        self._delay = base
        self._line = np.zeros(base + 2 * self._max_jitter + 1, np.float32)  # delayed speaker samples
        self._tail = np.zeros(len(self.ir) - 1, np.float32)  # reverberation still ringing
        self._since_jitter = 0
        self._speaker_clock = FractionalReader() if spec.drift_ppm else None
        self._mic_samples = 0
        self._speaker_samples = 0

    def speaker_samples(self, n: int) -> int:
        """How many samples the speaker plays while the microphone records ``n``: ``n`` on one clock,
        more or fewer by ``drift_ppm`` on two (the caller feeds ``mix`` that many, and the reference
        as many: the speaker's callback writes what it plays)."""
        if self._speaker_clock is None:
            return n
        self._mic_samples += n
        k = math.floor(self._mic_samples * (1.0 + self.spec.drift_ppm * 1e-6)) - self._speaker_samples
        self._speaker_samples += k
        return k

    def _speaker(self, played: np.ndarray, n: int) -> np.ndarray:
        """The speaker's output over ``n`` microphone samples: level, soft clipping, its clock."""
        x = played.astype(np.float32) / 32768.0
        if self.spec.clip > 0:
            knee = self.spec.clip
            x = knee * np.tanh(x / knee)
        if self._speaker_clock is not None:
            self._speaker_clock.push(x)
            x = np.zeros(n, np.float32)
            self._speaker_clock.read(x, 1.0 + self.spec.drift_ppm * 1e-6)
        return x * 32768.0 * self._gain

    def _delayed(self, x: np.ndarray) -> np.ndarray:
        if self._max_jitter:
            self._since_jitter += len(x)
            if self._since_jitter >= self.rate:
                self._since_jitter = 0
                self._delay = int(self.spec.delay_ms * self.rate / 1000) + int(
                    self._rng.integers(-self._max_jitter, self._max_jitter + 1))
        line = np.concatenate((self._line, x))
        start = len(line) - len(x) - self._delay
        out = line[start : start + len(x)]
        self._line = line[-len(self._line):]
        return out

    def echo_only(self, played: np.ndarray, n: int | None = None) -> np.ndarray:
        """The echo the microphone picks up over ``n`` samples (default ``len(played)``) while the
        speaker plays ``played`` (float32, int16 scale)."""
        x = self._delayed(self._speaker(played, len(played) if n is None else n))
        wet = np.convolve(x, self.ir)
        wet[: len(self._tail)] += self._tail
        n = len(x)
        self._tail = wet[n:].copy() if len(wet) > n else self._tail
        if len(self._tail) < len(self.ir) - 1:  # a block shorter than the impulse response
            self._tail = np.concatenate((self._tail, np.zeros(len(self.ir) - 1 - len(self._tail), np.float32)))
        return wet[:n].astype(np.float32)

    def noise(self, n: int) -> np.ndarray:
        """Room noise: white noise through a one-pole low-pass (pink-ish), at ``noise_db``."""
        if self._noise_rms <= 0:
            return np.zeros(n, np.float32)
        white = self._rng.standard_normal(n).astype(np.float32)
        out = np.empty(n, np.float32)
        state = self._noise_state
        for i in range(n):  # one-pole filter; blocks are short (10-32 ms)
            state = 0.95 * state + 0.05 * white[i]
            out[i] = state
        self._noise_state = state
        return out * (self._noise_rms / 0.16)

    def mix(self, played: np.ndarray, user: np.ndarray) -> np.ndarray:
        """What the microphone hears: the echo of ``played`` + ``user`` + room noise (int16). ``played``
        is ``speaker_samples(len(user))`` long: as long as ``user`` unless the clocks drift."""
        mic = self.echo_only(played, len(user)) + user.astype(np.float32) + self.noise(len(user))
        return np.clip(mic, -32768, 32767).astype(np.int16)


# --- the closed loop for `edge-agent run --input WAV --room ROOM` -----------------------------------


class RoomInput(PacedInput):
    """The user's WAV heard through the room: each hop is the user's audio plus the echo of what
    the agent's sink played at that input time (read from ``reference``, which the WAV sink feeds:
    ``WavPlayback.add_reference``), so the agent hears itself, closed loop. ``tail_s`` of silence
    from the user follow the file, so the last reply is heard to its end."""

    def __init__(self, user: WavInput, room: RoomSimulator, reference: EchoReference, tail_s: float = 8.0) -> None:
        super().__init__(user.paced)
        self.user = user
        self.room = room
        self.reference = reference
        self.tail = int(tail_s * SAMPLE_RATE)
        self.heard: list[np.ndarray] = []
        """What the microphone heard, hop by hop (``save`` writes it)."""

    def hops(self, hop: int) -> Iterator[np.ndarray]:
        played = np.zeros(hop, np.int16)
        silent = np.zeros(hop, np.int16)
        pos = 0
        for frame in self.user.frames(hop):
            self.reference.read_at_into(played, pos)
            mic = self.room.mix(played, frame)
            self.heard.append(mic)
            pos += hop
            yield mic
        for _ in range(self.tail // hop):
            self.reference.read_at_into(played, pos)
            mic = self.room.mix(played, silent)
            self.heard.append(mic)
            pos += hop
            yield mic

    def save(self, path: str | Path) -> None:
        """What the microphone heard, as a 16 kHz WAV (to listen to the room)."""
        from edge_agent.audio.wav import write_wav

        write_wav(path, np.concatenate(self.heard) if self.heard else np.zeros(0, np.int16), SAMPLE_RATE)


def room_input(user_wav: str | Path, spec: str, paced: bool = True, **overrides: float | str | None) -> RoomInput:
    """``--input WAV --room PRESET|FILE``: the input and the reference the sink must feed
    (``RoomInput.reference``; pass it to ``WavPlayback.add_reference``)."""
    reference = EchoReference(timeline=True)
    return RoomInput(WavInput(user_wav, paced=paced), RoomSimulator(room_spec(spec, **overrides)), reference)
