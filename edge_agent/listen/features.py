"""Whisper-style log-mel features in numpy, for the Smart Turn model.

The recipe (Whisper's, as in ``transformers.WhisperFeatureExtractor`` with ``do_normalize=True``; the
Smart Turn v3 model was trained on it):
  - the waveform is zero-mean / unit-variance normalised (variance epsilon 1e-7);
  - centred STFT: reflect padding of n_fft/2 at both ends, periodic Hann window of 400 samples,
    hop 160 (10 ms), power spectrum |X|^2 of the 201 rfft bins;
  - 80-bin mel filterbank, Slaney mel scale and Slaney area normalisation, 0-8000 Hz;
  - log10 of max(mel, 1e-10); the last frame dropped; clamped to (max - 8); then (x + 4) / 4.

The filterbank and window are built once per :class:`LogMel`; the padded signal and the windowed
frame matrix are preallocated, so a call allocates only numpy's FFT output (and the result, unless ``out`` is given).
Tested against ``transformers.WhisperFeatureExtractor`` in tests/test_turn.py.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from edge_agent.audio import SAMPLE_RATE

N_FFT = 400
HOP = 160
N_MELS = 80
MEL_FLOOR = 1e-10
NORM_EPS = 1e-7


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, np.float64)
    f_sp = 200.0 / 3.0
    mel = hz / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_part = hz >= min_log_hz
    mel = np.where(log_part, min_log_mel + np.log(np.maximum(hz, 1e-12) / min_log_hz) / logstep, mel)
    return mel


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, rate: int = SAMPLE_RATE) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters, each scaled by 2 / its bandwidth (Slaney norm)."""
    fft_hz = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(rate / 2)), n_mels + 2))
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (fft_hz[None, :] - lower) / (centre - lower)
    falling = (upper - fft_hz[None, :]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (upper - lower))
    return filters


class LogMel:
    """``compute(audio)`` -> float32 [80, frames] for a fixed number of input samples.

    ``n_samples`` is the fixed input length (Smart Turn: 8 s = 128000 samples -> 800 frames)."""

    def __init__(self, n_samples: int = 8 * SAMPLE_RATE) -> None:
        self.n_samples = n_samples
        self.n_frames = n_samples // HOP  # one more is computed and dropped, as Whisper does
        # periodic Hann: the symmetric window of n+1 points without its last point
        self.window = np.hanning(N_FFT + 1)[:-1].astype(np.float64)
        self.filters = mel_filterbank()  # float64 [80, 201]
        self._padded = np.zeros(n_samples + N_FFT, np.float64)
        self._frames = np.zeros((self.n_frames + 1, N_FFT), np.float64)
        stride = self._padded.strides[0]
        self._view = as_strided(self._padded, shape=(self.n_frames + 1, N_FFT), strides=(HOP * stride, stride),
                                writeable=False)
        self._norm = np.zeros(n_samples, np.float32)
        self._bands: list[tuple[int, int]] = []
        self._weights: list[np.ndarray] = []
        for row in self.filters:
            nz = np.flatnonzero(row)
            lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 1)
            self._bands.append((lo, hi))
            self._weights.append(row[lo:hi].copy())
        width = max(hi - lo for lo, hi in self._bands)
        self._scratch = np.zeros((self.n_frames + 1, width), np.float64)
        self._mel = np.zeros((N_MELS, self.n_frames + 1), np.float64)
        self._power = np.zeros((self.n_frames + 1, N_FFT // 2 + 1), np.float64)
        self._power_im = np.zeros_like(self._power)
        self._log = np.zeros((N_MELS, self.n_frames), np.float64)

    def compute(self, audio: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``audio``: exactly ``n_samples`` float32 samples in [-1, 1] (see :func:`fit_to_length`);
        ``out``: a float32 [80, frames] array to write the result into (else a new one)."""
        if audio.shape != (self.n_samples,):
            raise ValueError(f"expected {self.n_samples} samples, got {audio.shape}")
        x = self._norm
        np.copyto(x, audio, casting="unsafe")
        # float32 statistics, like the reference (it normalises the float32 buffer)
        x -= x.mean()
        x /= np.sqrt(x.var() + np.float32(NORM_EPS))
        pad = N_FFT // 2
        p = self._padded
        p[pad:pad + self.n_samples] = x
        p[:pad] = x[pad:0:-1]  # reflect padding, edge sample excluded
        p[pad + self.n_samples:] = x[-2:-pad - 2:-1]
        np.multiply(self._view, self.window, out=self._frames)
        spectrum = np.fft.rfft(self._frames, axis=1)  # [frames + 1, 201]
        power = np.square(spectrum.real, out=self._power)
        power += np.square(spectrum.imag, out=self._power_im)
        mel = self._mel
        for m, (lo, hi) in enumerate(self._bands):
            # Each filter spans a few bins: a weighted sum with ufuncs, no BLAS. (A matmul here went
            # to multi-threaded OpenBLAS: 4x the time, and its spinning threads slowed onnxruntime.)
            scratch = self._scratch[:, : hi - lo]
            np.multiply(power[:, lo:hi], self._weights[m], out=scratch)
            np.sum(scratch, axis=1, out=mel[m])
        np.maximum(mel, MEL_FLOOR, out=mel)
        log = np.log10(mel[:, :-1], out=self._log)
        np.maximum(log, log.max() - 8.0, out=log)
        log += 4.0
        log /= 4.0
        if out is None:
            return log.astype(np.float32)
        np.copyto(out, log, casting="same_kind")
        return out


def fit_to_length(audio: np.ndarray, n_samples: int, out: np.ndarray | None = None) -> np.ndarray:
    """The last ``n_samples`` of ``audio`` as float32 in [-1, 1], zero-padded at the START when shorter
    (the model sees the end of the turn at a fixed position)."""
    if out is None:
        out = np.zeros(n_samples, np.float32)
    tail = audio[-n_samples:]
    start = n_samples - tail.size
    out[:start] = 0.0
    if tail.dtype == np.int16:
        np.multiply(tail, np.float32(1.0 / 32768.0), out=out[start:], casting="unsafe")
    else:
        out[start:] = tail
    return out
