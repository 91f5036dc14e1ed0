"""WAV files in and out, and resampling: the one place audio formats are converted.

Everything inside the pipeline is mono int16 at a known rate; this module gets files there."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import soxr

from edge_agent.errors import InputDataError


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling (libsoxr) of mono int16 or float32 audio; a no-op at equal rates."""
    if from_rate == to_rate or audio.size == 0:
        return audio
    return soxr.resample(audio, from_rate, to_rate)


def read_wav(path: str | Path, rate: int | None = 16000) -> tuple[np.ndarray, int]:
    """Read a PCM WAV as mono int16, converted to ``rate`` (None keeps the file's rate).

    Returns ``(samples, rate)``. Stereo is mixed down; 8/24/32-bit PCM are converted.
    A missing, empty, truncated or non-PCM file raises :class:`InputDataError` naming it."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as wf:
            channels, width, file_rate, nframes = wf.getnchannels(), wf.getsampwidth(), wf.getframerate(), wf.getnframes()
            raw = wf.readframes(nframes)
    except FileNotFoundError:
        raise InputDataError(f"{path}: no such file") from None
    except (wave.Error, EOFError) as exc:
        raise InputDataError(f"{path}: not a readable PCM WAV file ({exc})") from None
    except OSError as exc:
        raise InputDataError(f"{path}: cannot be read ({exc.strerror})") from None
    if nframes == 0 or not raw:
        raise InputDataError(f"{path}: the WAV file holds no audio")
    usable = len(raw) // (width * channels) * width * channels
    if usable == 0:
        raise InputDataError(f"{path}: the WAV file is truncated (no complete frame)")
    raw = raw[:usable]
    if width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    elif width == 1:
        data = ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        data = ((b[:, 2].astype(np.int8).astype(np.int32) << 8) | b[:, 1]).astype(np.int16)
    elif width == 4:
        data = (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
    else:
        raise InputDataError(f"{path}: unsupported sample width of {width} bytes")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if rate is not None and rate != file_rate:
        data = resample(data, file_rate, rate)
        file_rate = rate
    return np.ascontiguousarray(data, dtype=np.int16), file_rate


def write_wav(path: str | Path, audio: np.ndarray, rate: int) -> None:
    """Write mono int16 (float input in [-1, 1] is converted)."""
    if audio.dtype != np.int16:
        audio = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(np.ascontiguousarray(audio).tobytes())
