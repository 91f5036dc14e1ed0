"""Clock drift between the speaker and the microphone: measured from the echo, and undone.

A microphone and a speaker on separate devices (two USB sound cards, a USB microphone beside the
board's own output) run on separate crystals, up to ~100 ppm apart. The reference ring then fills
at the speaker's clock while the listener reads it at the microphone's, and the echo path the AEC
models slides by 1.6 samples a second at 100 ppm: AEC3's linear filter keeps re-adapting, and a
long filter (``audio.echo_filter_ms``) falls behind (the bench measured ERLE down to 18 dB).

:class:`ClockDriftCorrector` sits between the reference ring and the canceller. It measures the
echo's delay against the reference every half second of playback (GCC-PHAT over the last second,
with sub-sample interpolation), follows where in the speaker's stream the echo comes from as the
microphone's clock runs, and fits the slope: the two clocks' ratio. Once that is at least
``MIN_PPM`` from 1 it reads the reference at that ratio (windowed-sinc interpolation,
:class:`FractionalReader`), so the echo path holds still for the AEC. Until then, and on a single
device (no drift), it copies the reference through untouched. Measuring from the signal, not from
device timestamps, works the same for PortAudio devices, the WAV sink and the simulated room
(whose ``drift_ppm`` uses the same reader to play the speaker's clock).
"""

from __future__ import annotations

import collections
import logging
import math

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.echo_reference import EchoReference

log = logging.getLogger(__name__)

TAPS = 16
"""Interpolation kernel length (8 samples each side: 0.5 ms of look-ahead)."""
PHASES = 512
"""Kernel phases per sample: a position error of at most 1/1024 sample (-50 dB at 4 kHz)."""
MIN_PPM = 10.0
"""Drift below this is left to the AEC (1 ms of slide in 100 s of playback)."""
MAX_PPM = 2000.0
"""A fitted ratio further from 1 than this is taken for a mistake, not a clock."""
WINDOW = 16384
"""Samples per delay measurement (1.02 s)."""
EVERY_HOPS = 50
"""A measurement every this many hops (0.5 s) while the reference is playing."""
LAGS = (-1600, 8000)
"""Echo delays searched (samples): -0.1 to +0.5 s."""
MIN_PEAK_Z = 12.0
"""A delay counts when its GCC-PHAT peak stands this many standard deviations above the rest."""
MIN_SPAN_S = 4.0
"""The fit needs delay measurements spread over at least this much time..."""
MIN_POINTS = 6
"""...and at least this many of them."""
MAX_POINTS = 240
ACTIVE_RMS = 30.0
"""A reference hop louder than this (int16 RMS) is playing."""


def _kernel() -> np.ndarray:
    """``PHASES + 1`` rows of ``TAPS`` weights: row ``k`` interpolates at ``k / PHASES`` past a sample
    (a Kaiser-windowed sinc cut at 0.95 of Nyquist, each row summing to 1)."""
    half = TAPS // 2
    frac = np.arange(PHASES + 1)[:, None] / PHASES
    t = np.arange(-half + 1, half + 1)[None, :] - frac  # tap offsets from the wanted position
    cutoff = 0.95
    h = cutoff * np.sinc(cutoff * t) * np.kaiser(TAPS + 1, 8.0)[np.clip(np.round(t + half).astype(int), 0, TAPS)]
    return (h / h.sum(axis=1, keepdims=True)).astype(np.float32)


_KERNEL = _kernel()
_OFFSETS = np.arange(-TAPS // 2 + 1, TAPS // 2 + 1)


class FractionalReader:
    """A stream read at a fractional step: ``push`` samples in, ``read`` ``n`` samples out at input
    positions ``pos, pos + step, ...`` (band-limited interpolation). The output trails the input by
    ``TAPS // 2`` samples, the kernel's look-ahead."""

    def __init__(self, capacity: int = 8192) -> None:
        self.buf = np.zeros(capacity, np.float32)
        self.fill = TAPS  # silence before the first sample: history for the kernel, and the look-ahead
        self.pos = float(TAPS // 2)
        """Position of the next output sample in ``buf``."""
        self.dropped = 0
        """Samples removed from the front of ``buf`` (``buf[0]`` is input sample ``dropped - TAPS``)."""

    def needed(self, n: int, step: float) -> int:
        """Input samples still missing to read ``n`` at ``step``."""
        return max(0, math.floor(self.pos + (n - 1) * step) + TAPS // 2 + 1 - self.fill)

    def input_position(self) -> float:
        """The next output sample's position in the input stream."""
        return self.dropped - TAPS + self.pos

    def push(self, x: np.ndarray) -> None:
        n = len(x)
        if self.fill + n > len(self.buf):
            keep = self.buf[self.fill - TAPS:self.fill].copy()  # overflow: keep the recent history only
            self.dropped += self.fill - TAPS
            self.pos = max(float(TAPS // 2), self.pos - (self.fill - TAPS))
            self.buf[:TAPS] = keep
            self.fill = TAPS
        self.buf[self.fill:self.fill + n] = x
        self.fill += n

    def copy(self, out: np.ndarray) -> None:
        """``read`` at step 1 from a whole-sample position: the input itself, ``TAPS // 2`` behind."""
        start = int(self.pos)
        out[:] = self.buf[start : start + len(out)]
        self.pos += len(out)
        self._compact()

    def read(self, out: np.ndarray, step: float) -> None:
        """Fill ``out`` (float32) with the input at ``pos + k * step``; positions past the input read
        its last sample (only when the producer fell behind)."""
        n = len(out)
        positions = self.pos + step * np.arange(n)
        np.minimum(positions, self.fill - TAPS // 2 - 1e-6, out=positions)
        base = np.floor(positions)
        phase = np.rint((positions - base) * PHASES).astype(np.intp)
        idx = base.astype(np.intp)[:, None] + _OFFSETS[None, :]
        np.einsum("ij,ij->i", self.buf[idx], _KERNEL[phase], out=out)
        self.pos += n * step
        self._compact()

    def _compact(self) -> None:
        drop = min(int(self.pos) - TAPS, self.fill - TAPS)
        if drop > 0:
            self.buf[: self.fill - drop] = self.buf[drop:self.fill]
            self.fill -= drop
            self.pos -= drop
            self.dropped += drop


class DelayTracker:
    """Where in the speaker's stream the echo heard now comes from, every half second of playback;
    the slope of that against the microphone's clock is the clocks' ratio."""

    def __init__(self, hop: int) -> None:
        self.hop = hop
        self.mic = np.zeros(WINDOW, np.float32)  # rings: the latest WINDOW samples end at ``_at``
        self.ref = np.zeros(WINDOW, np.float32)
        self._at = 0
        hops = WINDOW // hop + 2
        self._raw_start = np.zeros(hops)  # per hop: the raw reference position of its first sample
        self._ratio = np.ones(hops)  # per hop: the ratio it was read at
        self._hops = 0
        self._active = collections.deque([False] * (WINDOW // hop), maxlen=WINDOW // hop)
        self.points: collections.deque[tuple[float, float]] = collections.deque(maxlen=MAX_POINTS)
        """(microphone sample, raw reference position the echo heard there comes from)."""
        self.lags: collections.deque[tuple[float, float]] = collections.deque(maxlen=MAX_POINTS)
        """(microphone sample, the delay measured there on the reference as read)."""
        self._since = 0
        self._nfft = 1 << math.ceil(math.log2(2 * WINDOW))

    def observe(self, mic: np.ndarray, ref: np.ndarray, raw_start: float, ratio: float) -> bool:
        """Add a hop; True when a delay was measured."""
        n = len(mic)
        first = min(n, WINDOW - self._at)  # a hop divides WINDOW in practice; wrap anyway
        self.mic[self._at : self._at + first] = mic[:first]
        self.ref[self._at : self._at + first] = ref[:first]
        self.mic[: n - first] = mic[first:]
        self.ref[: n - first] = ref[first:]
        self._at = (self._at + n) % WINDOW
        slot = self._hops % len(self._raw_start)
        self._raw_start[slot], self._ratio[slot] = raw_start, ratio
        self._hops += 1
        level = ref.astype(np.float32)
        self._active.append(float(np.dot(level, level)) > ACTIVE_RMS ** 2 * n)
        self._since += 1
        if self._since >= EVERY_HOPS and self._hops * n >= WINDOW and sum(self._active) >= 0.6 * len(self._active):
            self._since = 0
            return self._measure()
        return False

    def delay(self) -> float | None:
        """The echo's delay behind the reference over the last window (samples), or None when the
        correlation peak is not clear (silence, the user over the reply, no echo)."""
        mic, ref = np.roll(self.mic, -self._at), np.roll(self.ref, -self._at)  # oldest first
        spec = np.fft.rfft(mic, self._nfft) * np.conj(np.fft.rfft(ref, self._nfft))
        freqs = np.fft.rfftfreq(self._nfft, 1 / SAMPLE_RATE)
        spec[(freqs < 200) | (freqs > 6000)] = 0
        cc = np.fft.irfft(spec / np.maximum(np.abs(spec), 1e-9), self._nfft)
        lags = np.concatenate((cc[LAGS[0]:], cc[: LAGS[1]]))
        k = int(np.argmax(lags))
        z = (lags[k] - float(np.median(lags))) / (float(np.std(lags)) or 1.0)
        if z < MIN_PEAK_Z or k == 0 or k == len(lags) - 1:
            return None
        a, b, c = lags[k - 1], lags[k], lags[k + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else 0.0
        return k + LAGS[0] + float(shift)

    def _measure(self) -> bool:
        lag = self.delay()
        if lag is None:
            return False
        end = self._hops * self.hop  # microphone samples observed
        t = end - WINDOW / 2  # the window's centre, on the microphone's clock
        self.lags.append((t, lag))
        j = t - lag  # the reference sample (as read) the echo there comes from
        h = int(j // self.hop)
        if h < self._hops - len(self._raw_start) or h < 0:
            return False
        slot = h % len(self._raw_start)
        self.points.append((t, self._raw_start[slot] + (j - h * self.hop) * self._ratio[slot]))
        return True

    def ratio(self) -> float | None:
        """Raw reference samples per microphone sample, fitted (None until the fit has enough)."""
        if len(self.points) < MIN_POINTS:
            return None
        pts = np.array(self.points)
        if pts[-1, 0] - pts[0, 0] < MIN_SPAN_S * SAMPLE_RATE:
            return None
        t, r = pts[:, 0] - pts[0, 0], pts[:, 1] - pts[0, 1]
        slope, icept = np.polyfit(t, r, 1)
        resid = np.abs(r - (slope * t + icept))
        keep = resid <= max(1.0, 3 * float(np.median(resid)))
        if keep.sum() < MIN_POINTS:
            return None
        t, r = t[keep], r[keep]
        slope, icept = np.polyfit(t, r, 1)
        # a device whose latency jumps makes steps, not a slope: trust a fit only when it is tight
        spread = float(np.sum((t - t.mean()) ** 2))
        stderr = math.sqrt(float(np.sum((r - (slope * t + icept)) ** 2)) / (len(t) - 2) / spread) if spread else math.inf
        return float(slope) if stderr * 1e6 < MIN_PPM / 4 else None


class ClockDriftCorrector:
    """The reference as the listener should see it: read from ``reference`` at the clocks' ratio once
    drift is found (see the module docstring). ``read_hop_into`` before the hop is processed,
    ``observe`` after, both on the listener's thread. Every hop read also goes into the reader (to
    switch without a gap). Positions given to the tracker count what the speaker played: samples
    taken from the ring, not the silence a read pads with when the ring runs dry (which a slower
    speaker makes it do)."""

    def __init__(self, reference: EchoReference, hop: int) -> None:
        self.reference = reference
        self.ratio = 1.0
        """Reference samples read per microphone sample (1 until drift is found)."""
        self.resampling = False
        self.tracker = DelayTracker(hop)
        self.reader = FractionalReader()
        self._cursor = 0
        """Timeline mode: the position of the next reference sample to read."""
        self._played = 0
        """Reference samples taken (sequential: from the ring; timeline: the position reached)."""
        self._pushed = 0
        """Samples pushed into the reader."""
        self._hop_start = 0.0
        self._scratch = np.zeros(2 * hop + TAPS, np.int16)
        self._out = np.zeros(hop, np.float32)

    @property
    def drift_ppm(self) -> float:
        return (self.ratio - 1.0) * 1e6

    def read_hop_into(self, out: np.ndarray, position: int) -> int:
        """The reference for the microphone hop at ``position`` (see ``EchoReference.read_hop_into``),
        ``TAPS // 2`` samples (0.5 ms) late: the interpolation's look-ahead, kept from the start so that
        resampling begins without a jump in the echo path the AEC has learnt."""
        self._hop_start = self.reader.input_position() + (self._played - self._pushed)
        n = len(out)
        if not self.resampling:
            raw = self._scratch[:n]
            got = self.reference.read_hop_into(raw, position)
            self._cursor = position + n
            self._played += n if self.reference.timeline else got
            self.reader.push(raw)
            self._pushed += n
            buf = self._out[:n]
            self.reader.copy(buf)
            out[:] = buf
            return got
        need = self.reader.needed(n, self.ratio)
        if need and not self.reference.timeline:
            need = min(need, self.reference.ring.available)  # never invent what the speaker has not played
        if need:
            raw = self._scratch[:need]
            self.reference.read_hop_into(raw, self._cursor)
            self._cursor += need
            self._played += need
            self.reader.push(raw)
            self._pushed += need
        buf = self._out[:n]
        self.reader.read(buf, self.ratio)
        np.clip(np.rint(buf), -32768, 32767, out=buf)
        out[:] = buf
        return n

    def skip(self, n: int) -> None:
        """``n`` microphone samples were lost: drop as much reference (its clock's worth)."""
        self.reference.skip(round(n * self.ratio))

    def observe(self, mic: np.ndarray, ref: np.ndarray) -> None:
        """The hop the microphone heard and the reference it was given: measure, and once the fit
        says the clocks differ, resample at their ratio."""
        if not self.tracker.observe(mic, ref, self._hop_start, self.ratio):
            return
        ratio = self.tracker.ratio()
        if ratio is None or not MIN_PPM <= abs(ratio - 1.0) * 1e6 <= MAX_PPM:
            return
        if not self.resampling:
            log.info("the microphone's and the speaker's clocks differ by %+.0f ppm: the echo reference is "
                     "resampled to match", (ratio - 1.0) * 1e6)
            self.resampling = True
        self.ratio = ratio
