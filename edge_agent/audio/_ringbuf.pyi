"""Lock-free single-producer / single-consumer ring buffer of int16 audio samples.

Threading contract: one producer thread calls ``write``; one consumer thread calls ``read``,
``read_into`` and ``clear``; any thread may call ``peek_latest``/``peek_latest_into`` and read the
properties. Concurrent calls from two producers (or two consumers) raise ``RuntimeError``.
"""

import numpy as np
import numpy.typing as npt
from typing_extensions import Buffer

GIL_RELEASE_MIN_SAMPLES: int
"""Copies of at least this many samples release the GIL; shorter ones are faster holding it."""

class RingBuffer:
    """A fixed-size ring of ``capacity`` int16 samples; overwrites the oldest when full."""

    def __new__(cls, capacity: int) -> RingBuffer:
        """``capacity`` samples (>= 1). ValueError if not positive, TypeError if not an int."""

    @property
    def capacity(self) -> int:
        """Samples the ring holds."""

    @property
    def available(self) -> int:
        """Unread samples a read would return now (at most ``capacity``)."""

    @property
    def dropped(self) -> int:
        """Samples overwritten before the consumer read them, since creation."""

    @property
    def total_written(self) -> int:
        """Samples written since creation."""

    def write(self, data: npt.NDArray[np.int16] | Buffer, /) -> int:
        """Producer only. Append a 1-D C-contiguous int16 array, or bytes of native int16 samples
        (even length). Never blocks; overwrites the oldest samples when full. Returns the count.

        TypeError: not a buffer, or not int16. ValueError: not C-contiguous, not 1-D, odd bytes."""

    def read(self, n: int, /) -> npt.NDArray[np.int16]:
        """Consumer only. Remove and return up to ``n`` (1 <= n <= capacity) oldest unread samples."""

    def read_into(self, out: npt.NDArray[np.int16] | Buffer, /) -> int:
        """Consumer only. Move up to ``len(out)`` oldest unread samples into ``out`` (writable,
        1-D, C-contiguous int16, 1 <= len <= capacity); returns how many.

        Check the count: it can be less than ``available`` said if the producer overwrote samples
        meanwhile. One read's samples are always consecutive; samples lost to overflow are skipped
        (and counted in ``dropped``) before a read, never inside one."""

    def peek_latest(self, n: int, /) -> npt.NDArray[np.int16]:
        """Any thread. A copy of up to ``n`` (1 <= n <= capacity) newest samples, read or not,
        written since creation or the last ``clear()``; consumes nothing."""

    def peek_latest_into(self, out: npt.NDArray[np.int16] | Buffer, /) -> int:
        """Any thread. Like ``peek_latest(len(out))`` into the start of ``out``; returns how many."""

    def clear(self) -> None:
        """Consumer only. Discard unread samples (ones already overwritten stay counted as dropped);
        hide everything written so far from peeks."""
