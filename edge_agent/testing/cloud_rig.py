"""A test rig for the cloud fallback, shared by ``tests/test_cloud_*.py`` and ``edge-agent bench cloud``.

* :class:`ScriptedModel` / :class:`FakeRegionModel`: in-process backends with scripted timing and faults.
* :class:`FakeOpenAiServer`: a tiny OpenAI-compatible HTTP server on loopback (fast, canned replies).
* :class:`FaultProxy`: a TCP proxy on loopback that adds latency, answers HTTP 500, accepts and never
  answers, cuts a stream after N bytes, or is killed and revived: each instance acts as one "region".
* :class:`LlamaServer`: a real ``python -m llama_cpp.server`` process.
* :class:`LoopThread`: an asyncio loop in a daemon thread, so servers outlive each test's own loop.

Traffic stays on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from edge_agent.config import CloudRegion
from edge_agent.errors import LlmError
from edge_agent.llm.base import Delta, Message
from edge_agent.llm.cloud import RegionError
from edge_agent.testing.localbroker import free_port

T = TypeVar("T")
LOOPBACK = "127.0.0.1"


class LoopThread:
    """An event loop running in a daemon thread; ``run(coro)`` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="cloud-rig", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:
            for _ in range(3):  # cancelling may let a just-accepted connection start one more task
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await asyncio.sleep(0.01)

        with contextlib.suppress(Exception):
            self.run(cancel_all(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


# --- in-process fakes ---------------------------------------------------------------------------


@dataclass
class Script:
    """How a fake backend behaves on its next requests (mutable between requests)."""

    first_token_ms: float = 10.0
    token_ms: float = 2.0
    tokens: tuple[str, ...] = ("Hello", " from", " the", " fake.")
    fail: str = "none"
    """``none``, ``before`` (error before the first token), ``after`` (error after it), ``hang`` (never answers),
    ``empty`` (ends with no content), ``crash`` (raises an unexpected exception)."""
    fail_ms: float = 5.0


class ScriptedModel:
    """A ChatModel with scripted timing and faults."""

    def __init__(self, name: str = "fake-local", script: Script | None = None) -> None:
        self.name = name
        self.script = script or Script()
        self.calls = 0
        self.cancelled = 0

    async def stream(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> AsyncIterator[Delta]:
        s = self.script
        self.calls += 1
        try:
            if s.fail == "hang":
                await asyncio.sleep(3600)
            if s.fail in ("before", "crash", "empty"):
                await asyncio.sleep(s.fail_ms / 1000)
                if s.fail == "before":
                    raise LlmError(f"{self.name} failed")
                if s.fail == "crash":
                    raise RuntimeError("scripted crash")
                yield Delta(finish_reason="stop")
                return
            await asyncio.sleep(s.first_token_ms / 1000)
            for i, tok in enumerate(s.tokens):
                if i:
                    await asyncio.sleep(s.token_ms / 1000)
                yield Delta(text=tok)
                if s.fail == "after":
                    await asyncio.sleep(s.fail_ms / 1000)
                    raise LlmError(f"{self.name} broke mid-stream")
            yield Delta(finish_reason="stop")
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


class FakeRegionModel(ScriptedModel):
    """Stands in for :class:`~edge_agent.llm.cloud.CloudRegionModel`: scripted probe RTT and stream."""

    def __init__(self, name: str, rtt_ms: float = 20.0, script: Script | None = None) -> None:
        super().__init__(f"cloud:{name}", script)
        self.region = CloudRegion(name=name, base_url=f"http://{LOOPBACK}:9/v1", model="fake")
        self.rtt_ms = rtt_ms
        self.probe_fails = False

    async def probe(self) -> float:
        await asyncio.sleep(self.rtt_ms / 1000)
        if self.probe_fails:
            raise RegionError(self.region.name, "probe failed: cannot connect")
        return self.rtt_ms

    async def aclose(self) -> None:
        return None


# --- a fake OpenAI-compatible server ------------------------------------------------------------


@dataclass
class FakeOpenAiServer:
    """Answers ``GET /v1/models`` and streaming ``POST /v1/chat/completions`` with canned tokens.
    A request whose last user message contains ``weather`` (and which offers tools) gets a tool call."""

    tokens: tuple[str, ...] = ("Hello", " from", " the", " cloud.")
    token_ms: float = 1.0
    api_key: str | None = None
    port: int = 0
    auth_headers: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.auth_headers.append(headers.get("authorization", ""))
                if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
                    await _send(writer, 401, b'{"error": {"message": "bad key"}}')
                elif method == "GET" and path == "/v1/models":
                    await _send(writer, 200, b'{"object": "list", "data": [{"id": "fake", "object": "model"}]}')
                elif method == "POST" and path == "/v1/chat/completions":
                    await self._complete(writer, json.loads(body or b"{}"))
                else:
                    await _send(writer, 404, b'{"error": {"message": "not found"}}')
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # shutting down; ending normally keeps asyncio's server callback quiet
        finally:
            writer.close()

    async def _complete(self, writer: asyncio.StreamWriter, req: dict[str, Any]) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")

        async def event(obj: dict[str, Any]) -> None:
            data = f"data: {json.dumps(obj)}\n\n".encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()

        user = next((m.get("content", "") for m in reversed(req.get("messages", [])) if m.get("role") == "user"), "")
        if req.get("tools") and "weather" in str(user).lower():
            name = req["tools"][0]["function"]["name"]
            for piece in ({"id": "call_1", "index": 0, "function": {"name": name, "arguments": ""}},
                          {"index": 0, "function": {"arguments": '{"city": '}},
                          {"index": 0, "function": {"arguments": '"Oslo"}'}}):
                await event({"choices": [{"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}]})
            await event({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        else:
            await event({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
            for tok in self.tokens:
                await asyncio.sleep(self.token_ms / 1000)
                await event({"choices": [{"index": 0, "delta": {"content": tok}, "finish_reason": None}]})
            await event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        writer.write(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
        await writer.drain()


async def _send(writer: asyncio.StreamWriter, status: int, body: bytes, close: bool = False) -> None:
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}[status]
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n".encode() + body
    )
    await writer.drain()


# --- the fault-injecting proxy ------------------------------------------------------------------


class FaultProxy:
    """A loopback TCP proxy in front of ``target``; change ``mode`` / ``delay_ms`` any time.

    Modes: ``pass``; ``http500`` (answers every request with 500); ``blackhole`` (accepts, never answers);
    ``cut`` (forwards ``cut_after`` response bytes, then drops the connection). :meth:`kill` stops listening
    and drops every connection (connection refused from then on); :meth:`revive` listens again."""

    def __init__(self, target_port: int, delay_ms: float = 0.0, name: str = "proxy") -> None:
        self.name = name
        self.target_port = target_port
        self.delay_ms = delay_ms
        """Added one way, in each direction: the round trip grows by twice this."""
        self.first_byte_delay_ms = 0.0
        """Extra delay before the first response byte of a connection (a slow region's first token)."""
        self.mode = "pass"
        self.cut_after = 600
        self.port = 0
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def kill(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._drop_connections()

    async def set_mode(self, mode: str) -> None:
        """Switch mode and drop open connections, so pooled keep-alive connections see it too."""
        self.mode = mode
        await self._drop_connections()

    async def _drop_connections(self) -> None:
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def revive(self) -> None:
        if self._server is None:
            await self.start()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A strong reference to each connection's task (asyncio keeps only a weak one), so that
        # dropping connections can cancel them instead of leaving them for the garbage collector.
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._transports.add(writer.transport)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        except asyncio.CancelledError:
            pass  # dropped on purpose; ending normally keeps asyncio's server callback quiet
        finally:
            self._transports.discard(writer.transport)
            self._tasks.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = self.mode
        if mode == "blackhole":
            while await reader.read(65536):
                pass
            return
        if mode == "http500":
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(self.delay_ms * 2 / 1000)
            await _send(writer, 500, b'{"error": {"message": "region overloaded"}}', close=True)
            return
        up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.target_port)
        self._transports.add(up_writer.transport)
        try:
            limit = self.cut_after if mode == "cut" else None
            await asyncio.gather(
                self._pipe(reader, up_writer, None, 0.0),
                self._pipe(up_reader, writer, limit, self.first_byte_delay_ms),
            )
        finally:
            self._transports.discard(up_writer.transport)
            up_writer.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, limit: int | None, first_delay_ms: float) -> None:
        """Forward chunks, each delivered ``delay_ms`` after it arrived (order kept, no head-of-line stacking)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sent = 0

        async def deliver() -> None:
            nonlocal sent
            first = True
            while True:
                due, chunk = await queue.get()
                if first and first_delay_ms:
                    due += first_delay_ms / 1000
                first = False
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    dst.write_eof() if dst.can_write_eof() else dst.close()
                    return
                if limit is not None and sent + len(chunk) >= limit:
                    dst.write(chunk[: max(0, limit - sent)])
                    await dst.drain()
                    dst.transport.abort()  # the region "dies" mid-stream
                    return
                sent += len(chunk)
                dst.write(chunk)
                await dst.drain()

        deliverer = asyncio.get_running_loop().create_task(deliver())
        try:
            while True:
                chunk = await src.read(65536)
                queue.put_nowait((loop.time() + self.delay_ms / 1000, chunk))
                if not chunk or deliverer.done():
                    break
            await deliverer
        finally:
            deliverer.cancel()


# --- a real llama.cpp server --------------------------------------------------------------------


class LlamaServer:
    """``python -m llama_cpp.server`` with the given GGUF on a free loopback port."""

    def __init__(self, model: Path, api_key: str | None = None, threads: int = 1) -> None:
        self.model = model
        self.api_key = api_key
        self.threads = threads
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    def start(self, timeout_s: float = 60) -> None:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", LOOPBACK,
               "--port", str(self.port), "--n_ctx", "1024", "--n_threads", str(self.threads), "--verbose", "False"]
        if self.api_key:
            cmd += ["--api_key", self.api_key]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        # llama.cpp logs a lot while loading: a file, so a full pipe can never block the server
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log, env=env)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.seek(0)
                err = self._log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}: {err}")
            try:
                if httpx.get(f"{self.base_url}/models", headers=headers, timeout=1).status_code == 200:
                    self._warm(headers, max(1.0, deadline - time.monotonic()))
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {timeout_s:g} s")

    def _warm(self, headers: dict[str, str], timeout_s: float) -> None:
        """The first completion of a fresh server is slow (seconds: pages of the model are read in);
        one throwaway request keeps that out of every measurement."""
        body = {"model": "warm", "max_tokens": 4, "messages": [{"role": "user", "content": "Hi."}]}
        httpx.post(f"{self.base_url}/chat/completions", json=body, headers=headers, timeout=timeout_s)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# --- servers in a process of their own -----------------------------------------------------------


class RigProcess:
    """Delaying proxies (and optionally the fake server) in a separate process, so the client's
    latency measurements do not share a GIL or an event loop with the servers' own work."""

    def __init__(self, delays_ms: list[float], target_port: int | None = None, api_key: str | None = None) -> None:
        cmd = [sys.executable, "-m", "edge_agent.testing.cloud_rig", "--delays", ",".join(str(d) for d in delays_ms)]
        cmd += ["--target", str(target_port)] if target_port is not None else ["--fake"]
        if api_key:
            cmd += ["--api-key", api_key]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("the rig process did not start")
        info = json.loads(line)
        self.proxy_urls: list[str] = [f"http://{LOOPBACK}:{p}/v1" for p in info["proxy_ports"]]

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _serve(argv: list[str]) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m edge_agent.testing.cloud_rig")
    p.add_argument("--delays", default="0")
    p.add_argument("--target", type=int)
    p.add_argument("--fake", action="store_true")
    p.add_argument("--api-key")
    args = p.parse_args(argv)

    async def main() -> None:
        target = args.target
        if args.fake or target is None:
            server = FakeOpenAiServer(api_key=args.api_key)
            await server.start()
            target = server.port
        proxies = [FaultProxy(target, float(d)) for d in args.delays.split(",")]
        for proxy in proxies:
            await proxy.start()
        print(json.dumps({"target_port": target, "proxy_ports": [x.port for x in proxies]}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it

    asyncio.run(main())


if __name__ == "__main__":
    _serve(sys.argv[1:])
