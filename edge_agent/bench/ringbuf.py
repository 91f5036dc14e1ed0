"""``edge-agent bench ringbuf [--json] [--samples N] [--seconds S]``: the C ring buffer against a
straightforward pure-Python/numpy ring doing the same producer/consumer work.

The work: a producer thread writes 20 ms frames (320 samples at 16 kHz) as ``bytes``, the way the
PortAudio callback receives them; a consumer thread reads 320-sample frames into one preallocated
int16 array. Both rings get the same harness (the producer yields while the ring has no room,
the consumer yields while it is empty), so nothing is lost and every sample is moved once.

The baseline, :class:`NumpyRing`, is what one would write without C: a numpy array, a
``threading.Lock`` and sample counters, whole-slice copies (no per-sample Python work), overwrite-
oldest semantics like the C ring. ``ratio`` = C samples/s over Python samples/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from edge_agent.audio import SAMPLE_RATE

FRAME = 320  # 20 ms at 16 kHz
CAPACITY = 30 * SAMPLE_RATE  # the listener's ring: audio.ring_seconds defaults to 30


class Ring(Protocol):
    @property
    def capacity(self) -> int: ...
    @property
    def available(self) -> int: ...
    def write(self, data: Any, /) -> int: ...
    def read_into(self, out: Any, /) -> int: ...


class NumpyRing:
    """Single-producer / single-consumer int16 ring in Python: numpy storage, one lock."""

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, dtype=np.int16)
        self._capacity = capacity
        self._lock = threading.Lock()
        self._written = 0  # total samples written
        self._read = 0  # total samples consumed or skipped
        self.dropped = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def available(self) -> int:
        with self._lock:
            return min(self._written - self._read, self._capacity)

    def write(self, data: Any) -> int:
        samples = np.frombuffer(data, dtype=np.int16)
        n = len(samples)
        cap = self._capacity
        if n > cap:
            samples = samples[-cap:]
        with self._lock:
            start = self._written + n - len(samples)
            pos = start % cap
            first = min(len(samples), cap - pos)
            self._buf[pos:pos + first] = samples[:first]
            if first < len(samples):
                self._buf[:len(samples) - first] = samples[first:]
            self._written += n
            if self._written - self._read > cap:  # overwrite oldest
                self.dropped += self._written - self._read - cap
                self._read = self._written - cap
        return n

    def read_into(self, out: np.ndarray) -> int:
        cap = self._capacity
        with self._lock:
            n = min(len(out), self._written - self._read)
            pos = self._read % cap
            first = min(n, cap - pos)
            out[:first] = self._buf[pos:pos + first]
            if first < n:
                out[first:n] = self._buf[:n - first]
            self._read += n
        return n


def move(ring: Ring, frames: list[bytes]) -> tuple[float, float]:
    """Push every frame through ``ring`` from a producer thread to a consumer thread.

    Returns (wall seconds, CPU seconds of the process)."""
    total = sum(len(f) for f in frames) // 2
    room = ring.capacity - FRAME
    last = [np.empty(0, dtype=np.int16)]

    def producer() -> None:
        for frame in frames:
            while ring.available > room:
                time.sleep(0)
            ring.write(frame)

    def consumer() -> None:
        out = np.empty(FRAME, dtype=np.int16)
        got = 0
        while got < total:
            n = ring.read_into(out)
            if n == 0:
                time.sleep(0)
            got += n
        last[0] = out

    threads = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    t0, cpu0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    if last[0].tobytes() != frames[-1]:  # frames are whole, so the last read is the last frame
        raise RuntimeError("ring benchmark: the consumer's last frame is not the producer's last frame")
    return elapsed, cpu


def compare(make_c: Callable[[], Ring], make_py: Callable[[], Ring], frames: list[bytes],
            min_seconds: float) -> dict[str, float]:
    """Samples per wall second and per CPU second of both rings. Passes alternate (one Python pass,
    then C passes for as long), so a change in the machine's load hits both alike."""
    per_pass = sum(len(f) for f in frames) // 2
    c_moved = py_moved = 0
    c_wall = c_cpu = py_wall = py_cpu = 0.0
    while py_wall < min_seconds or py_moved == 0:
        round_py, cpu = move(make_py(), frames)
        py_wall, py_cpu, py_moved = py_wall + round_py, py_cpu + cpu, py_moved + per_pass
        round_c = 0.0
        while round_c < round_py or c_moved == 0:
            wall, cpu = move(make_c(), frames)
            round_c, c_cpu, c_moved = round_c + wall, c_cpu + cpu, c_moved + per_pass
        c_wall += round_c
    return {"c": c_moved / c_wall, "python": py_moved / py_wall,
            "c_cpu": c_moved / max(c_cpu, 1e-9), "python_cpu": py_moved / max(py_cpu, 1e-9)}


def make_frames(samples: int, seed: int = 0) -> list[bytes]:
    """``samples`` of random audio as 20 ms ``bytes`` frames (a pool of distinct frames, cycled)."""
    n = max(1, samples // FRAME)
    rng = np.random.default_rng(seed)
    pool = [rng.integers(-32768, 32767, FRAME, dtype=np.int16).tobytes() for _ in range(min(n, 1000))]
    return [pool[i % len(pool)] for i in range(n)]


def measure(samples: int, min_seconds: float) -> tuple[dict[str, float], float]:
    """The benchmark's figures (per wall second), and the ratio per CPU second of the process
    (steadier on a busy machine, where the wall clock also counts time the threads waited for a core)."""
    from edge_agent.audio.ringbuf import RingBuffer

    frames = make_frames(samples)
    rates = compare(lambda: RingBuffer(CAPACITY), lambda: NumpyRing(CAPACITY), frames, min_seconds)
    figures = {"c_samples_per_s": round(rates["c"]), "python_samples_per_s": round(rates["python"]),
               "ratio": round(rates["c"] / rates["python"], 2)}
    return figures, rates["c_cpu"] / rates["python_cpu"]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ringbuf", help="benchmark: C ring buffer vs a pure-Python/numpy ring (target ratio >= 10)",
                       description="The C ring buffer against a straightforward pure-Python/numpy ring buffer, "
                                   "moving 20 ms frames from a producer thread to a consumer thread. Target: ratio >= 10.")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--samples", type=int, default=SAMPLE_RATE * 600,
                   help="samples moved per pass (default 9,600,000 = 10 minutes of 16 kHz audio)")
    p.add_argument("--seconds", type=float, default=1.0,
                   help="keep alternating passes until each ring ran at least this long (default 1)")
    p.add_argument("--runs", type=int, default=1, help="repeat the whole measurement; the median ratio is reported")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_agent.errors import UsageError

    if args.samples < FRAME:
        raise UsageError(f"--samples must be at least one frame ({FRAME}), got {args.samples}")
    if args.seconds < 0 or args.runs < 1:
        raise UsageError("--seconds must be >= 0 and --runs >= 1")
    runs = [measure(args.samples, args.seconds) for _ in range(args.runs)]
    results = [figures for figures, _ in runs]
    best = sorted(results, key=lambda r: r["ratio"])[len(results) // 2]  # the median run
    if args.json:
        print(json.dumps(best))
        return 0
    print(f"ring buffer, {FRAME}-sample (20 ms) frames, producer and consumer threads, capacity {CAPACITY}")
    for r, cpu_ratio in runs:
        print(f"  C {r['c_samples_per_s'] / 1e6:8.2f} M samples/s   Python/numpy {r['python_samples_per_s'] / 1e6:6.2f}"
              f" M samples/s   ratio {r['ratio']:.1f}   (per CPU second: {cpu_ratio:.1f})")
    if len(results) > 1:
        print(f"median ratio of {len(results)} runs: {statistics.median(r['ratio'] for r in results):.1f} (target >= 10); "
              f"per CPU second: {statistics.median(c for _, c in runs):.1f}")
    return 0
