"""The C ring buffer: lossless producer/consumer transfer, wrap-around, overwrite-oldest with the
dropped counter, look-back, torn-read protection under real concurrency, and bad arguments.

``EDGE_AGENT_RINGBUF_SO=/path/to/_ringbuf.so`` runs these tests against another build of the
extension (tools/ci_sanitize.sh uses it for the AddressSanitizer/UBSan build)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import threading
import time
import zlib
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def _load_ringbuf() -> ModuleType:
    so = os.environ.get("EDGE_AGENT_RINGBUF_SO")
    if not so:
        from edge_agent.audio import _ringbuf

        return _ringbuf
    name = "edge_agent.audio._ringbuf"
    loader = importlib.machinery.ExtensionFileLoader(name, so)
    spec = importlib.util.spec_from_file_location(name, so, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


ringbuf = _load_ringbuf()
RingBuffer = ringbuf.RingBuffer


def test_loads_the_requested_build() -> None:
    so = os.environ.get("EDGE_AGENT_RINGBUF_SO")
    if so:
        assert os.path.samefile(ringbuf.__file__, so)
    assert "one producer" in RingBuffer.__doc__


# --- producer and consumer threads --------------------------------------------------------------


def test_threads_move_10_million_samples_losslessly() -> None:
    total, frame = 10_000_000, 160
    rng = np.random.default_rng(1234)
    source = rng.integers(-32768, 32767, size=total, dtype=np.int16)
    received = np.zeros(total, dtype=np.int16)
    ring = RingBuffer(16_000 + 37)  # not a multiple of either chunk size: wraps land everywhere
    errors: list[BaseException] = []

    def producer() -> None:
        try:
            for start in range(0, total, frame):
                # Flow control by the caller: the ring itself never blocks, it overwrites.
                while ring.capacity - ring.available < frame:
                    time.sleep(0)
                ring.write(source[start:start + frame])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def consumer() -> None:
        try:
            got = 0
            out = np.empty(997, dtype=np.int16)
            while got < total:
                n = ring.read_into(out)
                if n == 0:
                    time.sleep(0)
                    continue
                received[got:got + n] = out[:n]
                got += n
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=producer), threading.Thread(target=consumer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert not any(t.is_alive() for t in threads)
    assert ring.total_written == total
    assert ring.dropped == 0
    assert ring.available == 0
    assert zlib.crc32(received.tobytes()) == zlib.crc32(source.tobytes())
    assert np.array_equal(received, source)


def _consecutive(chunk: np.ndarray, period: int) -> bool:
    return bool(np.all((np.diff(chunk.astype(np.int64)) % period) == 1))


def test_concurrent_overwrite_never_returns_torn_samples() -> None:
    """A producer that never waits laps the consumer while both copy with the GIL released;
    every read and peek must still be a run of consecutive samples, and the accounting exact."""
    period = 30011  # sample value = index % period
    big = ringbuf.GIL_RELEASE_MIN_SAMPLES
    ring = RingBuffer(big + big // 4)
    pattern = (np.arange(3 * period + 2 * big) % period).astype(np.int16)
    stop = threading.Event()
    bad: list[str] = []
    read_total = 0

    def producer() -> None:
        index = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            k = big + (index % 7) * 101
            offset = index % period
            ring.write(pattern[offset:offset + k])
            index += k
        stop.set()

    def consumer() -> None:
        nonlocal read_total
        out = np.empty(big + 5, dtype=np.int16)
        reads = 0
        while True:
            done = stop.is_set()
            reads += 1
            if reads % 4 == 0:
                time.sleep(0.001)  # fall behind now and then, so the producer surely laps us
            n = ring.read_into(out)
            if n > 1 and not _consecutive(out[:n], period):
                bad.append(f"read of {n} not consecutive")
            read_total += n
            if done and n == 0:
                return

    def peeker() -> None:
        out = np.empty(big + 3, dtype=np.int16)
        while not stop.is_set():
            n = ring.peek_latest_into(out)
            if n > 1 and not _consecutive(out[:n], period):
                bad.append(f"peek of {n} not consecutive")

    threads = [threading.Thread(target=f) for f in (producer, consumer, peeker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not bad, bad[:5]
    assert read_total + ring.dropped == ring.total_written
    assert ring.dropped > 0  # the producer really did lap the consumer


def test_two_producers_at_once_raise_runtime_error() -> None:
    """The contract is one producer; a second one writing during a (GIL-free) copy is told so."""
    ring = RingBuffer(4_000_000)
    big = np.zeros(ring.capacity, dtype=np.int16)
    small = np.zeros(160, dtype=np.int16)
    seen: list[str] = []
    done = threading.Event()

    def long_writes() -> None:
        deadline = time.monotonic() + 10
        while not done.is_set() and time.monotonic() < deadline:
            ring.write(big)

    t = threading.Thread(target=long_writes)
    t.start()
    try:
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            try:
                ring.write(small)
            except RuntimeError as exc:
                seen.append(str(exc))
            time.sleep(0.0005)
    finally:
        done.set()
        t.join()
    assert seen and "one producer" in seen[0]


# --- single-threaded semantics ------------------------------------------------------------------


def _seq(start: int, n: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int16)


def test_wrap_around_keeps_order() -> None:
    ring = RingBuffer(7)
    expected = []
    next_value = 0
    for size in [3, 4, 2, 5, 1, 6, 7, 3]:
        ring.write(_seq(next_value, size))
        expected.extend(range(next_value, next_value + size))
        next_value += size
        got = ring.read(7)
        assert got.dtype == np.int16
        assert got.tolist() == expected
        expected.clear()
    assert ring.dropped == 0
    assert ring.total_written == next_value


def test_overflow_overwrites_oldest_and_counts_dropped() -> None:
    ring = RingBuffer(10)
    ring.write(_seq(0, 6))
    assert ring.read(2).tolist() == [0, 1]
    ring.write(_seq(6, 9))  # 13 unread now: 3 oldest are lost
    assert ring.available == 10
    assert ring.dropped == 3
    assert ring.read(4).tolist() == [5, 6, 7, 8]
    assert ring.dropped == 3
    assert ring.read(10).tolist() == [9, 10, 11, 12, 13, 14]
    assert ring.read(10).tolist() == []
    assert ring.dropped == 3


def test_write_larger_than_capacity_keeps_newest() -> None:
    ring = RingBuffer(8)
    assert ring.write(_seq(0, 20)) == 20
    assert ring.total_written == 20
    assert ring.dropped == 12
    assert ring.read(8).tolist() == list(range(12, 20))


def test_look_back_returns_newest_without_consuming() -> None:
    ring = RingBuffer(10)
    assert ring.peek_latest(4).tolist() == []
    ring.write(_seq(0, 3))
    assert ring.peek_latest(5).tolist() == [0, 1, 2]  # fewer written than asked
    ring.write(_seq(3, 9))
    assert ring.read(3).tolist() == [2, 3, 4]  # 0 and 1 were overwritten
    assert ring.peek_latest(4).tolist() == [8, 9, 10, 11]
    assert ring.peek_latest(10).tolist() == list(range(2, 12))  # includes samples already read
    assert ring.available == 7  # nothing consumed by peeking
    out = np.full(6, -1, dtype=np.int16)
    assert ring.peek_latest_into(out) == 6
    assert out.tolist() == list(range(6, 12))


def test_clear_discards_unread_and_hides_from_look_back() -> None:
    ring = RingBuffer(10)
    ring.write(_seq(0, 8))
    ring.clear()
    assert ring.available == 0
    assert ring.dropped == 0  # discarded on purpose, not lost
    ring.write(_seq(0, 13))
    ring.clear()
    assert ring.dropped == 3  # lost to overflow before the clear: the counter never goes down
    assert ring.peek_latest(10).tolist() == []
    ring.write(_seq(100, 2))
    assert ring.peek_latest(10).tolist() == [100, 101]
    assert ring.read(10).tolist() == [100, 101]


def test_bytes_from_the_portaudio_callback() -> None:
    ring = RingBuffer(16)
    samples = np.array([1, -2, 300, -32768, 32767], dtype=np.int16)
    assert ring.write(samples.tobytes()) == 5
    assert ring.write(bytearray(samples[:2].tobytes())) == 2
    unaligned = memoryview(b"\x00" + samples.tobytes())[1:]
    assert ring.write(unaligned) == 5
    assert ring.read(16).tolist() == [1, -2, 300, -32768, 32767, 1, -2, 1, -2, 300, -32768, 32767]
    out = bytearray(4)
    ring.write(samples[:2])
    assert ring.read_into(out) == 2
    assert np.frombuffer(bytes(out), dtype=np.int16).tolist() == [1, -2]


def test_repr_and_properties() -> None:
    ring = RingBuffer(capacity=5)
    ring.write(_seq(0, 7))
    assert ring.capacity == 5
    assert repr(ring) == "<RingBuffer capacity=5 available=5 dropped=2>"


class _Model:
    """Reference semantics in plain Python."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.data, self.consumed, self.floor, self.dropped = capacity, [], 0, 0, 0

    def write(self, values: list[int]) -> None:
        self.data.extend(values)

    def read(self, n: int) -> list[int]:
        written = len(self.data)
        if written - self.consumed > self.capacity:
            self.dropped += written - self.consumed - self.capacity
            self.consumed = written - self.capacity
        out = self.data[self.consumed:self.consumed + n]
        self.consumed += len(out)
        return out

    def peek(self, n: int) -> list[int]:
        start = max(len(self.data) - n, self.floor, len(self.data) - self.capacity)
        return self.data[start:]

    def clear(self) -> None:
        self.dropped += max(len(self.data) - self.consumed - self.capacity, 0)
        self.consumed = self.floor = len(self.data)


@settings(max_examples=150, deadline=None)
@given(capacity=st.integers(1, 40),
       ops=st.lists(st.tuples(st.sampled_from(["write", "read", "peek", "clear"]), st.integers(1, 90)),
                    max_size=40))
def test_matches_reference_model(capacity: int, ops: list[tuple[str, int]]) -> None:
    ring, model, counter = RingBuffer(capacity), _Model(capacity), 0
    for op, size in ops:
        if op == "write":
            values = [(counter + i) % 30000 for i in range(size)]
            counter += size
            ring.write(np.array(values, dtype=np.int16))
            model.write(values)
        elif op == "read":
            n = min(size, capacity)
            assert ring.read(n).tolist() == model.read(n)
        elif op == "peek":
            n = min(size, capacity)
            assert ring.peek_latest(n).tolist() == model.peek(n)
        else:
            ring.clear()
            model.clear()
        pending = max(len(model.data) - model.consumed - capacity, 0)
        assert ring.dropped == model.dropped + pending
        assert ring.available == min(len(model.data) - model.consumed, capacity)


# --- bad arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize(("capacity", "exc"), [
    (0, ValueError), (-5, ValueError), (-(2**70), ValueError), (2**70, ValueError), (2**62, ValueError),
    (1.5, TypeError), ("10", TypeError), (None, TypeError),
])
def test_bad_capacity(capacity: object, exc: type[Exception]) -> None:
    with pytest.raises(exc, match="capacity"):
        RingBuffer(capacity)


def test_missing_capacity() -> None:
    with pytest.raises(TypeError):
        RingBuffer()  # type: ignore[call-arg]


@pytest.mark.parametrize(("data", "exc", "match"), [
    ([1, 2, 3], TypeError, "int16"),
    ("abcd", TypeError, "int16"),
    (np.zeros(4, dtype=np.float32), TypeError, "format 'f'"),
    (np.zeros(4, dtype=np.int32), TypeError, "int16"),
    (np.zeros(4, dtype=np.uint16), TypeError, "int16"),
    (np.zeros(4, dtype=">i2"), TypeError, "native int16"),
    (np.zeros(8, dtype=np.int16)[::2], ValueError, "C-contiguous"),
    (np.zeros((4, 2), dtype=np.int16), ValueError, "1-D"),
    (b"\x01\x02\x03", ValueError, "odd"),
])
def test_bad_write(data: object, exc: type[Exception], match: str) -> None:
    ring = RingBuffer(16)
    with pytest.raises(exc, match=match):
        ring.write(data)
    assert ring.total_written == 0


@pytest.mark.parametrize(("n", "exc", "match"), [
    (0, ValueError, "at least 1"), (-1, ValueError, "at least 1"), (-(2**80), ValueError, "at least 1"),
    (17, ValueError, "only holds 16"), (2**80, ValueError, "only holds 16"),
    (2.0, TypeError, "int"), ("3", TypeError, "int"),
])
def test_bad_read_and_peek_sizes(n: object, exc: type[Exception], match: str) -> None:
    ring = RingBuffer(16)
    ring.write(_seq(0, 4))
    with pytest.raises(exc, match=match):
        ring.read(n)
    with pytest.raises(exc, match=match):
        ring.peek_latest(n)
    assert ring.available == 4


def _readonly() -> np.ndarray:
    a = np.zeros(4, dtype=np.int16)
    a.flags.writeable = False
    return a


@pytest.mark.parametrize(("out", "exc", "match"), [
    (b"\x00" * 8, ValueError, "read-only"),
    (_readonly(), ValueError, "read-only"),
    (np.zeros(0, dtype=np.int16), ValueError, "no samples"),
    (np.zeros(17, dtype=np.int16), ValueError, "only holds 16"),
    (np.zeros(4, dtype=np.float64), TypeError, "int16"),
    (np.zeros(8, dtype=np.int16)[::2], ValueError, "C-contiguous"),
    (np.zeros((2, 2), dtype=np.int16), ValueError, "1-D"),
    (bytearray(3), ValueError, "odd"),
    ([0, 0], TypeError, "int16"),
])
def test_bad_out_buffers(out: object, exc: type[Exception], match: str) -> None:
    ring = RingBuffer(16)
    ring.write(_seq(0, 4))
    with pytest.raises(exc, match=match):
        ring.read_into(out)
    with pytest.raises(exc, match=match):
        ring.peek_latest_into(out)
    assert ring.available == 4


def test_ring_for_seconds() -> None:
    from edge_agent.audio.ringbuf import ring_for_seconds

    assert ring_for_seconds(0.5, 16000).capacity == 8000
    with pytest.raises(ValueError, match="positive"):
        ring_for_seconds(0, 16000)


# --- the benchmark's Python baseline is a fair equivalent --------------------------------------


@settings(max_examples=100, deadline=None)
@given(capacity=st.integers(1, 40),
       ops=st.lists(st.tuples(st.sampled_from(["write", "read"]), st.integers(1, 90)), max_size=40))
def test_benchmark_baseline_has_the_same_semantics(capacity: int, ops: list[tuple[str, int]]) -> None:
    from edge_agent.bench.ringbuf import NumpyRing

    c_ring, py_ring, counter = RingBuffer(capacity), NumpyRing(capacity), 0
    for op, size in ops:
        if op == "write":
            frame = (np.arange(counter, counter + size) % 30000).astype(np.int16).tobytes()
            counter += size
            assert c_ring.write(frame) == py_ring.write(frame)
        else:
            n = min(size, capacity)
            a, b = np.zeros(n, np.int16), np.zeros(n, np.int16)
            assert c_ring.read_into(a) == py_ring.read_into(b)
            assert np.array_equal(a, b)
        assert c_ring.available == py_ring.available
        assert c_ring.dropped == py_ring.dropped


def test_bench_ringbuf_cli_prints_the_three_figures() -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "edge_agent", "bench", "ringbuf", "--json",
                          "--samples", "3200", "--seconds", "0"], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert set(result) == {"c_samples_per_s", "python_samples_per_s", "ratio"}
    assert result["c_samples_per_s"] > 0 and result["python_samples_per_s"] > 0
