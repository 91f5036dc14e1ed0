"""The speaker as the conversation's playback: :func:`open_speaker` opens the PortAudio device
(before the models load, so a missing speaker fails fast) and :class:`SinkPlayback` drives it
without blocking the event loop."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from edge_agent.audio.pa_speaker import SpeakerSink
from edge_agent.config import Settings
from edge_agent.errors import AudioError


class SinkPlayback:
    """The conversation's :class:`~edge_agent.agent.Playback` over the blocking speaker
    sink: writes and drains run on one thread; ``stop`` is immediate (the device falls silent
    within one callback period)."""

    def __init__(self, sink: SpeakerSink) -> None:
        self.sink = sink
        self.sample_rate: int = sink.sample_rate
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playback")
        self._written = 0
        self._stopped_at: int | None = None

    def begin_reply(self) -> None:
        self.sink.begin_reply()
        self._written = 0
        self._stopped_at = None

    async def write(self, chunk: np.ndarray) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.sink.write, chunk)
        self._written += len(chunk)

    async def drain(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.sink.drain)

    def stop(self) -> None:
        self._stopped_at = self.played()
        self.sink.stop(wait=False)

    def played(self) -> int:
        if self._stopped_at is not None:
            return self._stopped_at
        first = self.sink.first_sample_t
        if first is None:
            return 0
        return min(self._written, int((time.monotonic() - first) * self.sample_rate))

    def set_volume(self, gain: float) -> None:
        self.sink.set_volume(gain)

    def close(self) -> None:
        self.sink.close()
        self._executor.shutdown(wait=False, cancel_futures=True)


def open_speaker(settings: Settings, sample_rate: int) -> SinkPlayback:
    a = settings.audio
    sink = SpeakerSink(sample_rate=sample_rate, device=a.output_device, output_rate=a.output_sample_rate,
                       volume=a.volume, reconnect_max_s=a.reconnect_max_s)
    try:
        sink.start()  # a missing device raises AudioError listing the devices
    except AudioError as exc:
        raise AudioError(f"{exc.message} (or write the voice to a file with --output WAV)") from None
    return SinkPlayback(sink)
