"""Acoustic echo cancellation: the agent's own voice taken out of what the microphone hears.

:class:`EchoCanceller` takes the microphone's samples and the reference (what the speaker
played, aligned sample for sample with the microphone's timeline) in hops of any size up to
``max_hop``, cuts them into the 10 ms frames the AEC works on, and returns the cleaned hop. The
frame cut costs ``FRAME`` samples (10 ms) of delay: the cleaned stream is the microphone's
delayed by exactly that, whatever the hop size. Nothing is allocated per hop on our side: the
FIFOs and the result are preallocated, and ``process`` returns a view of the result buffer,
valid until the next call.

Implementations:
  - :class:`Aec3LinearEchoCanceller`: WebRTC's AEC3 through our own C shim, built from source by
    ``edge-agent models pull webrtc-aec3``: a longer linear filter (160 ms) and the linear filter's
    output (``linear``) beside the suppressed one. The listener
    tells speech from echo on the suppressed output and gives the linear one to the wake word, the
    turn model and the STT, whose words the suppressor thins under double talk;
  - :class:`WebRtcEchoCanceller`: WebRTC's AEC3 through ``pywebrtc-audio`` (chosen by measurement,
    see ``docs/design/echo-cancellation.md``), the fallback when the shim is not built; the stream
    delay hint comes from the reference timestamps and AEC3's own delay estimator refines it;
  - :class:`PassThroughEchoCanceller`: the microphone unchanged, for when no AEC library loads
    (``active`` is False: the listener then runs half duplex, with barge-in off while the agent
    speaks).

While nothing has played for ``idle_s`` (longer than any room's reverberation), frames bypass the
library: the idle listener pays for no AEC (the idle cost target), and the 10 ms delay stays the same.

Each hop also yields its powers (``mic_power``, ``ref_power``, ``out_power``): the residual-echo
guard (:class:`ResidualEchoGuard`) uses them to tell leftovers of the agent's voice from the user.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

FRAME = SAMPLE_RATE // 100
"""Samples per AEC frame (10 ms)."""
LIBRARY = "pywebrtc-audio"
"""The PyPI package of the AEC (for warnings and ``edge-agent doctor``)."""


class EchoCanceller:
    """Base: hop framing, powers, pass-through frame processing (see the module docstring)."""

    active = False
    """True when echo is really cancelled (full duplex is possible)."""
    has_linear = False
    """True when ``linear`` is the linear filter's own output (else it is the cleaned hop)."""
    name = "pass-through"

    def __init__(self, max_hop: int = 2048, idle_s: float = 1.5) -> None:
        cap = max_hop + 2 * FRAME
        self.idle_samples = int(idle_s * SAMPLE_RATE)
        self._silent_for = self.idle_samples  # samples since the reference last had sound
        self.max_hop = max_hop
        self._mic_in = np.zeros(cap, np.int16)
        self._ref_in = np.zeros(cap, np.int16)
        self._n_in = 0
        self._out = np.zeros(cap, np.int16)
        self._lin_out = np.zeros(cap, np.int16)
        self._lin_result = np.zeros(max_hop, np.int16)
        self.linear: np.ndarray = self._lin_result[:0]
        """The last hop's linear-filter output (the echo taken out, no suppressor), same timing as
        the cleaned hop; for a canceller without one, the cleaned hop itself. A view, valid until the
        next call."""
        self._n_out = FRAME  # primed with one frame of silence: the fixed 10 ms delay
        self._result = np.zeros(max_hop, np.int16)
        self._scratch = np.zeros(max_hop, np.float32)
        self.delay_ms = 0
        """The stream delay hint: how much later the echo of a reference sample reaches the mic."""
        self.mic_power = 0.0
        self.ref_power = 0.0
        self.out_power = 0.0
        """Mean square (int16 scale) of the last hop's microphone, reference and cleaned output."""

    def reset(self) -> None:
        """Forget the adaptive state and the queued samples (a new stream)."""
        self._n_in = 0
        self._out[:FRAME] = 0
        self._lin_out[:FRAME] = 0
        self._n_out = FRAME

    def set_delay_ms(self, delay_ms: int) -> None:
        """The delay hint from the reference timestamps (the library refines it)."""
        self.delay_ms = max(0, int(delay_ms))

    def _power(self, x: np.ndarray) -> float:
        s = self._scratch[: len(x)]
        np.copyto(s, x, casting="unsafe")
        return float(np.dot(s, s)) / max(1, len(x))

    def _frame(self, mic: np.ndarray, ref: np.ndarray, out: np.ndarray, linear: np.ndarray) -> None:
        """Cancel one 10 ms frame into ``out`` (and, with ``has_linear``, the linear output into ``linear``)."""
        out[:] = mic

    def _bypass(self, mic: np.ndarray, ref: np.ndarray, out: np.ndarray, linear: np.ndarray) -> None:
        out[:] = mic
        if self.has_linear:
            linear[:] = mic

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """The cleaned hop for ``mic`` given ``ref`` (same length, int16, at most ``max_hop``).

        Returns a view of a preallocated buffer: copy it to keep it past the next call."""
        n = len(mic)
        if n > self.max_hop or len(ref) != n:
            raise ValueError(f"hop of {n} samples (reference {len(ref)}): at most {self.max_hop}, equal lengths")
        self._mic_in[self._n_in : self._n_in + n] = mic
        self._ref_in[self._n_in : self._n_in + n] = ref
        self._n_in += n
        self._silent_for = self._silent_for + n if not ref.any() else 0
        cancel = self._silent_for < self.idle_samples
        k = 0
        while self._n_in - k >= FRAME:
            frame = self._frame if cancel else self._bypass
            frame(self._mic_in[k : k + FRAME], self._ref_in[k : k + FRAME], self._out[self._n_out : self._n_out + FRAME],
                  self._lin_out[self._n_out : self._n_out + FRAME])
            self._n_out += FRAME
            k += FRAME
        left = self._n_in - k  # < FRAME <= k: the move does not overlap
        if k:
            self._mic_in[:left] = self._mic_in[k : self._n_in]
            self._ref_in[:left] = self._ref_in[k : self._n_in]
        self._n_in = left
        result = self._result[:n]
        result[:] = self._out[:n]
        rest = self._n_out - n
        self._out[:rest] = self._out[n : self._n_out]
        if self.has_linear:
            self.linear = self._lin_result[:n]
            self.linear[:] = self._lin_out[:n]
            self._lin_out[:rest] = self._lin_out[n : self._n_out]
        else:
            self.linear = result
        self._n_out = rest
        self.mic_power = self._power(mic)
        self.ref_power = self._power(ref)
        self.out_power = self._power(result)
        return result


class PassThroughEchoCanceller(EchoCanceller):
    """No cancellation: the microphone, delayed by the same 10 ms as a real canceller."""


class WebRtcEchoCanceller(EchoCanceller):
    """WebRTC AEC3 (``pywebrtc_audio.AudioProcessor``) with optional noise suppression and gain control.

    The library returns a new array per frame (its binding's choice); it is copied into our buffer."""

    active = True
    name = "webrtc-aec3"

    def __init__(self, max_hop: int = 2048, noise_suppression: bool = False, gain_control: bool = False,
                 delay_ms: int = 0, idle_s: float = 1.5) -> None:
        super().__init__(max_hop, idle_s)
        import pywebrtc_audio

        self._module = pywebrtc_audio
        self._options = dict(noise_suppression=noise_suppression, auto_gain_control=gain_control)
        self._apm: Any = self._new()
        self.set_delay_ms(delay_ms)

    def _new(self) -> Any:
        return self._module.AudioProcessor(sample_rate=SAMPLE_RATE, num_channels=1, echo_cancellation=True,
                                           high_pass_filter=True, **self._options)

    def set_delay_ms(self, delay_ms: int) -> None:
        super().set_delay_ms(delay_ms)
        self._apm.stream_delay_ms = self.delay_ms

    def reset(self) -> None:
        super().reset()
        self._apm.reset()

    def _frame(self, mic: np.ndarray, ref: np.ndarray, out: np.ndarray, linear: np.ndarray) -> None:
        out[:] = self._apm.process(mic, ref)



AEC3_LIBRARY_MODEL = "webrtc-aec3"
AEC3_LIBRARY_FILE = "libedge_aec3.so"
AEC3_INTERFACE = 1
"""``edge_aec3_version()`` this code was written for (edge_agent/audio/aec3_shim.cc)."""
FILTER_BLOCKS = 40
"""The linear filter's length in 4 ms blocks: 160 ms of the room's response (AEC3's default, 13, is
52 ms; 80 diverged in the hall). Chosen on the duplex bench's rooms (docs/design/echo-cancellation.md)."""


class Aec3LinearEchoCanceller(EchoCanceller):
    """WebRTC AEC3 through our own C shim (``libedge_aec3.so``, built by ``edge-agent models pull
    webrtc-aec3``): the suppressed output, and the linear filter's output as ``linear``.

    The shim reads and writes our preallocated buffers in place: no audio buffer is made per frame."""

    active = True
    has_linear = True
    name = "webrtc-aec3-linear"

    def __init__(self, library: str, max_hop: int = 2048, delay_ms: int = 0, idle_s: float = 1.5,
                 filter_blocks: int = FILTER_BLOCKS) -> None:
        super().__init__(max_hop, idle_s)
        import ctypes

        lib = ctypes.CDLL(library)
        version = lib.edge_aec3_version()
        if version != AEC3_INTERFACE:
            raise RuntimeError(f"{library} has interface {version}, this edge-agent needs {AEC3_INTERFACE}")
        lib.edge_aec3_new.restype = ctypes.c_void_p
        lib.edge_aec3_new.argtypes = [ctypes.c_int, ctypes.c_void_p]
        lib.edge_aec3_free.argtypes = [ctypes.c_void_p]
        lib.edge_aec3_set_delay.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.edge_aec3_process.argtypes = [ctypes.c_void_p] * 5
        self._lib = lib
        self._filter_blocks = filter_blocks
        self._handle: int | None = None
        self._new()
        self.set_delay_ms(delay_ms)

    def _new(self) -> None:
        if self._handle is not None:
            self._lib.edge_aec3_free(self._handle)
        # AEC3's own suppressor masks (null): looser ones let long rooms' tails cut replies off
        # (docs/design/echo-cancellation.md)
        handle = self._lib.edge_aec3_new(self._filter_blocks, None)
        if not handle:
            raise RuntimeError(f"AEC3 refused its configuration (filter {self._filter_blocks} blocks)")
        self._handle = handle

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self._lib.edge_aec3_free(self._handle)
            self._handle = None

    def set_delay_ms(self, delay_ms: int) -> None:
        super().set_delay_ms(delay_ms)
        self._lib.edge_aec3_set_delay(self._handle, self.delay_ms)

    def reset(self) -> None:
        super().reset()
        self._new()
        self._lib.edge_aec3_set_delay(self._handle, self.delay_ms)

    def _frame(self, mic: np.ndarray, ref: np.ndarray, out: np.ndarray, linear: np.ndarray) -> None:
        # the frames are contiguous int16 slices of our own buffers: the shim reads and writes them in place
        self._lib.edge_aec3_process(self._handle, mic.ctypes.data, ref.ctypes.data, out.ctypes.data, linear.ctypes.data)


_warned = False


def load_echo_canceller(enabled: bool = True, max_hop: int = 2048, noise_suppression: bool = False,
                        gain_control: bool = False, delay_ms: int = 0, linear_library: str | None = None,
                        filter_blocks: int = 0) -> EchoCanceller:
    """The AEC when ``enabled`` and a library loads; else the pass-through (half duplex), with
    one clear warning per process naming the fix.

    ``linear_library``: the built ``libedge_aec3.so`` (AEC3 with its linear output), preferred when
    given; without it, or with noise suppression or gain control (which only the APM of
    ``pywebrtc-audio`` has), the ``pywebrtc-audio`` canceller. ``filter_blocks``: the shim's linear
    filter in 4 ms blocks (0: :data:`FILTER_BLOCKS`)."""
    global _warned
    if not enabled:
        return PassThroughEchoCanceller(max_hop)
    if linear_library and not (noise_suppression or gain_control):
        try:
            return Aec3LinearEchoCanceller(linear_library, max_hop, delay_ms, filter_blocks=filter_blocks or FILTER_BLOCKS)
        except (OSError, AttributeError, RuntimeError) as exc:
            log.warning("the AEC3 library %s does not load (%s: %s): using %s's AEC3 without its linear output. "
                        "Fix: edge-agent models pull --force %s", linear_library, type(exc).__name__, exc, LIBRARY,
                        AEC3_LIBRARY_MODEL)
    try:
        return WebRtcEchoCanceller(max_hop, noise_suppression, gain_control, delay_ms)
    except (ImportError, OSError, RuntimeError) as exc:
        if not _warned:
            _warned = True
            log.warning("echo cancellation unavailable (%s: %s): running half duplex, barge-in is off while "
                        "the agent speaks; install it with `pip install %s`", type(exc).__name__, exc, LIBRARY)
        return PassThroughEchoCanceller(max_hop)


def echo_library_status(linear_library: str | None = None) -> tuple[bool, str]:
    """(loads, detail) for ``edge-agent doctor``: the ``pywebrtc-audio`` fallback, and the built
    linear-output library when its path is given."""
    try:
        import pywebrtc_audio

        pywebrtc_audio.AudioProcessor(sample_rate=SAMPLE_RATE, echo_cancellation=True)
    except (ImportError, OSError, RuntimeError) as exc:
        return False, f"{LIBRARY} does not load ({exc}); fix: pip install '{LIBRARY}>=0.2,<0.3'"
    from importlib.metadata import version

    fallback = f"{LIBRARY} {version(LIBRARY)} (WebRTC AEC3)"
    if linear_library is None:
        return True, fallback
    try:
        Aec3LinearEchoCanceller(linear_library)
    except (OSError, AttributeError, RuntimeError) as exc:
        return False, f"{linear_library} does not load ({exc}); {fallback} is used instead"
    return True, f"WebRTC AEC3 with its linear output ({linear_library}); fallback {fallback}"


MIN_RATIO = 1e-9
"""The residual floor never goes below -90 dB (the cleaned output can be exactly zero)."""


class ResidualEchoGuard:
    """Tells, per hop, whether what is left after the AEC could be the user rather than the agent.

    While the reference is playing, the cleaned output's power relative to the reference's envelope
    (its power, held and decaying as a room's reverberation does)
    (the residual echo ratio) is tracked from below: it falls at once to a new minimum and rises
    slowly (``rise_db_per_s``), so it follows the canceller's converged floor and not the user's
    speech. A hop counts as possibly the user when its cleaned power is ``margin_db`` above
    ratio x reference power. With no reference playing every hop may be the user.

    The room's tail (the reference silent, its envelope still ringing: a reply's pauses and its end)
    has a floor of its own, learnt the same way: there AEC3's linear filter (tens of milliseconds)
    has nothing to cancel and its suppressor works from a reverberation model it has yet to learn, so
    the tail's leftovers stand 30-40 dB above the floor the same reply's speech taught (traced in the
    hall preset: the first reply cut itself off in its first pause, at every level).

    In the tail the microphone itself says more: with nobody speaking its power only falls, as the
    room rings down. So there the user is possible only when the microphone (``mic_power``) rises
    ``tail_rise_db`` above its own envelope, taken while the reference plays and falling at
    ``mic_decay_db_per_s`` (a reverberation time of 1.5 s, longer than any room modelled): a long
    tail that the canceller lets through is not taken for the user (traced: the hall at +10 dB, the
    first reply's first pause).

    A new canceller (the first reply after start) has not converged: AEC3 lets bursts of echo through
    40-45 dB above the floor it has shown so far (traced in a 1.2 s stairwell, 1.6 s into the first
    reply). Until it has heard ``warmup_s`` of reference the margin is up to ``warmup_db`` higher,
    falling linearly: the first interruption after start needs a louder voice, and the agent does not
    stop itself."""

    def __init__(self, margin_db: float = 25.0, rise_db_per_s: float = 3.0, ref_floor: float = 100.0,
                 initial_ratio_db: float = 0.0, tail_db_per_s: float = 75.0, mic_decay_db_per_s: float = 40.0,
                 tail_rise_db: float = 6.0, warmup_db: float = 25.0, warmup_s: float = 8.0) -> None:
        self.warmup_db = warmup_db
        self.warmup_s = warmup_s
        self._heard_s = 0.0
        self.tail_db_per_s = tail_db_per_s
        self.mic_decay_db_per_s = mic_decay_db_per_s
        self.tail_rise = 10 ** (tail_rise_db / 10)
        self._mic_env = 0.0
        """How fast the reference's envelope falls: 60 dB in 0.8 s, the longest reverberation modelled."""
        self._ref_env = 0.0
        self.margin = 10 ** (margin_db / 10)
        self.rise_db_per_s = rise_db_per_s
        self.ref_floor = ref_floor
        """Reference mean square (int16 scale) below which nothing is playing (about -50 dBFS)."""
        self.ratio = 10 ** (initial_ratio_db / 10)
        self.tail_ratio = self.ratio
        """The floor in the room's tail (the reference silent, its envelope not yet)."""
        self.last_excess_db = 0.0
        """How far the last hop's cleaned power stood above the residual floor (dB; 0 with no reference)."""

    def user_possible(self, ref_power: float, out_power: float, hop_s: float, mic_power: float = 0.0) -> bool:
        # the room keeps ringing after the reference falls: compare with its decaying envelope
        tail = ref_power < self.ref_floor
        self._mic_env *= 10 ** (-self.mic_decay_db_per_s * hop_s / 10)
        if not tail:
            self._mic_env = max(self._mic_env, mic_power)
        self._ref_env = max(ref_power, self._ref_env * 10 ** (-self.tail_db_per_s * hop_s / 10))
        ref_power = self._ref_env
        if ref_power < self.ref_floor:
            self.last_excess_db = 0.0
            return True
        r = max(out_power / ref_power, MIN_RATIO)  # a digitally silent output must not zero the floor
        rise = 10 ** (self.rise_db_per_s * hop_s / 10)
        if tail:
            self.tail_ratio = r if r < self.tail_ratio else self.tail_ratio * rise
            floor = self.tail_ratio
            if mic_power <= self.tail_rise * self._mic_env:  # only the room ringing down
                self.last_excess_db = 10 * float(np.log10(max(r / floor, 1e-12)))
                return False
        else:
            self.ratio = r if r < self.ratio else self.ratio * rise
            floor = self.ratio
            self._heard_s += hop_s
        self.last_excess_db = 10 * float(np.log10(max(r / floor, 1e-12)))
        young = self.warmup_db * max(0.0, 1.0 - self._heard_s / self.warmup_s) if self.warmup_s > 0 else 0.0
        return out_power > self.margin * 10 ** (young / 10) * floor * ref_power

    @property
    def ratio_db(self) -> float:
        return 10 * float(np.log10(max(self.ratio, 1e-12)))
