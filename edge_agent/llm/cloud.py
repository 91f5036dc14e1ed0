"""An OpenAI-compatible streaming chat client for one cloud region.

Timeouts are the turn's, not an SDK's: the connect timeout comes from ``llm.cloud.connect_timeout_ms``,
the first-token budget is enforced by the router (it cancels us), and after the first chunk a gap
longer than ``llm.cloud.stall_timeout_ms`` ends the stream. There are no retries here: the router
moves to another region instead, which is faster than retrying a sick one.

The API key is sent as ``Authorization: Bearer``; it is never put in an error message, a log line or
an event (httpx does not log header values)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from edge_agent.config import CloudConfig, CloudRegion
from edge_agent.errors import LlmError
from edge_agent.llm.base import Delta, Message, ToolCallRequest

log = logging.getLogger(__name__)


@dataclass
class _PartialToolCall:
    """Tool calls arrive in pieces (name first, arguments as JSON text fragments), keyed by index."""

    id: str = ""
    name: str = ""
    arguments: str = ""

    def finish(self) -> ToolCallRequest:
        try:
            args = json.loads(self.arguments) if self.arguments.strip() else {}
        except json.JSONDecodeError:
            args = {"_raw": self.arguments}
        if not isinstance(args, dict):
            args = {"_value": args}
        return ToolCallRequest(name=self.name, arguments=args, id=self.id)


class RegionError(LlmError):
    """A region failed; ``region`` names it (never the key)."""

    def __init__(self, region: str, message: str) -> None:
        super().__init__(f"cloud region {region!r}: {message}")
        self.region = region
        self.detail = message


def make_client(cfg: CloudConfig, region: CloudRegion) -> httpx.AsyncClient:
    """One pooled client per region, so the probe keeps a warm connection for the next turn."""
    headers = {"Accept": "application/json"}
    if cfg.api_key is not None:
        headers["Authorization"] = f"Bearer {cfg.api_key.get_secret_value()}"
    timeout = httpx.Timeout(
        connect=cfg.connect_timeout_ms / 1000,
        read=cfg.stall_timeout_ms / 1000,
        write=cfg.connect_timeout_ms / 1000,
        pool=cfg.connect_timeout_ms / 1000,
    )
    return httpx.AsyncClient(
        base_url=region.base_url + "/",
        headers=headers,
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # no proxies from the environment: the kiosk talks to the region directly
        limits=httpx.Limits(max_connections=8, max_keepalive_connections=2, keepalive_expiry=60),
    )


class CloudRegionModel:
    """A :class:`~edge_agent.llm.base.ChatModel` for one region."""

    def __init__(self, cfg: CloudConfig, region: CloudRegion, client: httpx.AsyncClient | None = None,
                 system_prompt: str = "") -> None:
        self.region = region
        self.name = f"cloud:{region.name}"
        self.system_prompt = system_prompt
        """Sent first when the conversation's messages do not start with a system message."""
        self._cfg = cfg
        self._client = client or make_client(cfg, region)

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()

    async def probe(self) -> float:
        """Round-trip time in ms of ``GET /models`` (plus connect when no pooled connection is warm)."""
        t0 = time.perf_counter()
        try:
            resp = await self._client.get("models", timeout=self._cfg.probe_timeout_s)
        except httpx.HTTPError as exc:
            raise RegionError(self.region.name, f"probe failed: {_describe(exc)}") from None
        if resp.status_code >= 400:
            raise RegionError(self.region.name, f"probe answered HTTP {resp.status_code}")
        return (time.perf_counter() - t0) * 1000

    async def stream(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> AsyncIterator[Delta]:
        if self.system_prompt and not (messages and messages[0].get("role") == "system"):
            messages = [{"role": "system", "content": self.system_prompt}, *messages]
        body: dict[str, Any] = {
            "model": self.region.model,
            "messages": messages,
            "stream": True,
            "max_tokens": self._cfg.max_tokens,
            "temperature": self._cfg.temperature,
        }
        if tools:
            body["tools"] = tools
        name = self.region.name
        try:
            async with self._client.stream("POST", "chat/completions", json=body) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise RegionError(name, f"HTTP {resp.status_code}{_error_detail(resp)}")
                async for delta in _parse_sse(resp, name):
                    yield delta
        except httpx.HTTPError as exc:
            raise RegionError(name, _describe(exc)) from None


async def _parse_sse(resp: httpx.Response, region: str) -> AsyncIterator[Delta]:
    """Server-sent events: ``data: {json}`` lines, blank-line separated, ending with ``data: [DONE]``."""
    calls: dict[int, _PartialToolCall] = {}
    finish: str | None = None
    data_lines: list[str] = []
    done = False

    def flush_calls() -> list[Delta]:
        out = [Delta(tool_call=calls[i].finish()) for i in sorted(calls)]
        calls.clear()
        return out

    async for line in resp.aiter_lines():
        if line.startswith(":"):
            continue  # an SSE comment (keep-alive)
        if line.startswith("data:"):
            data_lines.append(line[5:].lstrip())
            continue
        if line.strip() or not data_lines:
            continue  # another SSE field (event:, id:) or a stray blank line
        data = "\n".join(data_lines)
        data_lines = []
        if data == "[DONE]":
            done = True
            break
        for delta in _chunk_deltas(data, calls, region):
            if delta.finish_reason is not None:
                finish = delta.finish_reason
            else:
                yield delta
    if data_lines and data_lines[-1] == "[DONE]":
        done = True
    if not done and finish is None:
        raise RegionError(region, "the stream ended before the reply was complete")
    for d in flush_calls():
        yield d
    yield Delta(finish_reason=finish or "stop")


def _chunk_deltas(data: str, calls: dict[int, _PartialToolCall], region: str) -> list[Delta]:
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise RegionError(region, "sent a stream chunk that is not JSON") from None
    if not isinstance(chunk, dict):
        raise RegionError(region, "sent a stream chunk that is not a JSON object")
    if "error" in chunk:
        err = chunk["error"]
        msg = err.get("message", "") if isinstance(err, dict) else str(err)
        raise RegionError(region, f"error in stream: {str(msg)[:120]}")
    out: list[Delta] = []
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        text = delta.get("content")
        if text:
            out.append(Delta(text=text))
        for tc in delta.get("tool_calls") or []:
            part = calls.setdefault(int(tc.get("index", 0)), _PartialToolCall())
            part.id = tc.get("id") or part.id
            fn = tc.get("function") or {}
            part.name += fn.get("name") or ""
            part.arguments += fn.get("arguments") or ""
        if choice.get("finish_reason"):
            out.append(Delta(finish_reason=str(choice["finish_reason"])))
    return out


def _describe(exc: httpx.HTTPError) -> str:
    """A short reason with no URL query or header in it."""
    kind = {
        httpx.ConnectTimeout: "connect timed out",
        httpx.ReadTimeout: "stopped sending (read timed out)",
        httpx.WriteTimeout: "write timed out",
        httpx.PoolTimeout: "no free connection",
        httpx.ConnectError: "cannot connect",
        httpx.RemoteProtocolError: "connection broken",
        httpx.ReadError: "connection broken",
    }
    for cls, text in kind.items():
        if isinstance(exc, cls):
            return text
    return type(exc).__name__


def _error_detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except (ValueError, UnicodeDecodeError):
        return ""
    err = body.get("error") if isinstance(body, dict) else None
    msg = err.get("message") if isinstance(err, dict) else None
    return f": {str(msg)[:120]}" if msg else ""
