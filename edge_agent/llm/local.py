"""The local chat model: llama.cpp through llama-cpp-python, streamed token by token.

Why it is shaped like this:
- llama.cpp is not thread-safe and generation is blocking C++ work, so one worker thread owns the
  model and runs one generation at a time; tokens cross to the asyncio side with
  ``loop.call_soon_threadsafe`` and the worker checks a stop flag between tokens, so cancelling the
  consumer stops generation within one token (~10 ms with SmolLM2-135M on 2 cores).
- llama-cpp-python reuses the longest common token prefix of the previous prompt that is still in
  the KV cache. The system prompt always comes first, so evaluating it once at start-up
  (:meth:`LocalLlm.warm`) means no turn ever pays for it again; the history that follows is kept in
  the same order, so it is reused too.
- Replies go to a speaker: the prompt asks for short sentences, ``max_tokens`` bounds them, and
  :class:`SpeakableFilter` drops markdown and emoji characters from the stream.
- Tools: when tools are offered, generation is constrained by a JSON grammar that allows exactly
  ``{"say": "..."}`` or ``{"tool": NAME, "arguments": {...}}``; the ``say`` string is streamed out
  as it grows, so a plain answer still reaches TTS clause by clause.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from edge_agent.errors import LlmError, ModelError
from edge_agent.llm.base import Delta, Message, ToolCallRequest
from edge_agent.tts.text import is_emoji

log = logging.getLogger(__name__)

_END = object()  # sentinel on the token queue: the worker is done


class SentenceLimit:
    """Says when a streamed reply has reached ``n`` sentences, so a chatty model stops early."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0
        self._ended = False  # the text so far ends with . ! or ?

    def feed(self, text: str) -> int:
        """Where in ``text`` sentence ``n + 1`` begins (the caller keeps what is before it and
        stops), or -1."""
        for i, ch in enumerate(text):
            if self._ended and ch.isspace():
                self.count += 1
                if self.n and self.count >= self.n:
                    return i
            self._ended = ch in ".!?"
        return -1


class SpeakableFilter:
    """Drops what a speaker can't say from a token stream: markdown marks, emoji, list bullets."""

    _DROP = set("*#`~|<>[]{}_\\")

    def __init__(self) -> None:
        self._line_start = True
        self._last = " "  # the last character let through

    def feed(self, text: str) -> str:
        out: list[str] = []
        for ch in text:
            if ch in "\r\n":
                self._line_start = True
                continue
            if ch in self._DROP or is_emoji(ch):
                continue
            if self._line_start:
                if ch in " \t-•":  # bullets and indentation at the start of a line
                    continue
                self._line_start = False
                if not self._last.isspace():
                    out.append(" ")  # a line break is a pause between words
            out.append(ch)
            self._last = ch
        return "".join(out)


def tool_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A JSON schema allowing a spoken answer or a call to one of ``tools`` (OpenAI-style specs)."""
    options: list[dict[str, Any]] = [
        {"type": "object", "properties": {"say": {"type": "string"}}, "required": ["say"]}
    ]
    for spec in tools:
        fn = spec.get("function", spec)
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        options.append({
            "type": "object",
            "properties": {"tool": {"const": fn["name"]}, "arguments": params},
            "required": ["tool", "arguments"],
        })
    return {"anyOf": options}


def tool_instructions(tools: list[dict[str, Any]]) -> str:
    """What the model is told about the tools (appended to the system prompt)."""
    lines = [
        'Reply with JSON only. To answer, reply {"say": "your short spoken answer"}. '
        'To use a tool, reply {"tool": "NAME", "arguments": {...}}. Tools:'
    ]
    for spec in tools:
        fn = spec.get("function", spec)
        props = (fn.get("parameters") or {}).get("properties", {})
        args = ", ".join(f"{k}: {v.get('type', 'any')}" for k, v in props.items())
        lines.append(f"- {fn['name']}({args}): {fn.get('description', '')}".rstrip(": "))
    return "\n".join(lines)


class SayStreamer:
    """Pulls the ``say`` string out of a growing ``{"say": "..."}`` JSON text, piece by piece."""

    def __init__(self) -> None:
        self.buf = ""
        self._pos: int | None = None  # index just after the opening quote of the say value
        self._done = False
        self._escape = False

    def feed(self, piece: str) -> str:
        self.buf += piece
        if self._done:
            return ""
        if self._pos is None:
            head = self.buf.lstrip()
            if not head.startswith("{"):
                return ""
            rest = head[1:].lstrip()
            if not rest.startswith('"say"'):
                if len(rest) >= 5 or (rest and not '"say"'.startswith(rest)):
                    self._done = True  # a tool call, not speech
                return ""
            after = rest[5:].lstrip()
            if not after.startswith(":"):
                return ""
            value = after[1:].lstrip()
            if not value.startswith('"'):
                return ""
            self._pos = len(self.buf) - len(value) + 1
        out: list[str] = []
        i = self._pos
        while i < len(self.buf):
            ch = self.buf[i]
            if self._escape:
                if ch == "u":
                    if i + 5 > len(self.buf):
                        break  # wait for the whole \\uXXXX
                    with contextlib.suppress(ValueError):
                        out.append(chr(int(self.buf[i + 1:i + 5], 16)))
                    i += 5
                    self._escape = False
                    continue
                out.append({"n": " ", "t": " ", "r": " "}.get(ch, ch))
                self._escape = False
            elif ch == "\\":
                self._escape = True
            elif ch == '"':
                self._done = True
                i += 1
                break
            else:
                out.append(ch)
            i += 1
        self._pos = i
        return "".join(out)


def llama_installed() -> bool:
    """Whether llama-cpp-python is installed (``./install.sh --no-llama`` leaves it out)."""
    return importlib.util.find_spec("llama_cpp") is not None


def _llama_class() -> Any:
    if not llama_installed():
        raise ModelError("the local LLM needs llama-cpp-python, which is not installed "
                         "(fix: ./install.sh --user without --no-llama, or pip install 'edge-agent[llm]'; "
                         "or answer from the cloud only: llm.policy = \"cloud_only\")")
    import llama_cpp

    return llama_cpp.Llama


class LocalLlm:
    """A :class:`~edge_agent.llm.base.ChatModel` over a GGUF file with llama.cpp."""

    name = "local"

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 1024,
        threads: int = 1,
        max_tokens: int = 96,
        temperature: float = 0.3,
        system_prompt: str = "",
        history_tokens: int = 768,
        max_sentences: int = 2,
        n_batch: int = 256,
        seed: int | None = None,
        llama_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.model_path = Path(model_path).expanduser()
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.system_prompt = system_prompt
        self.history_tokens = history_tokens
        self.max_sentences = max_sentences
        self.lookahead = 12
        """Tokens the worker may generate ahead of the consumer before it waits."""
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm", initializer=_nicer_thread)
        self._token_cache: dict[str, int] = {}
        self._window_key: tuple[str, str] | None = None  # the first history message of the last prompt
        self.first_token_ms: float | None = None
        """Prompt-to-first-token time of the last generation (for benchmarks and the router)."""
        if not self.model_path.is_file():
            raise ModelError(f"LLM model file {self.model_path} does not exist "
                             "(set llm.local.model to a GGUF path or a model name, then `edge-agent models pull NAME`)")
        try:
            if llama_factory is None:
                llama_factory = _llama_class()
            kwargs: dict[str, Any] = dict(n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                                          n_batch=n_batch, verbose=False)
            if seed is not None:
                kwargs["seed"] = seed
            self.llm: Any = llama_factory(model_path=str(self.model_path), **kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"LLM model file {self.model_path} cannot be loaded ({exc}); "
                             "is it a valid GGUF? Re-fetch it with `edge-agent models pull` or fix llm.local.model") from None

    # --- prompt --------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        n = self._token_cache.get(text)
        if n is None:
            n = len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))
            if len(self._token_cache) > 512:
                self._token_cache.clear()
            self._token_cache[text] = n
        return n

    def prepare(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> list[Message]:
        """The messages the model sees: the system prompt first (ours unless one is given), tool
        instructions, and the history trimmed from the oldest turn to fit ``history_tokens``."""
        msgs = [_plain(m) for m in messages]
        system = msgs.pop(0)["content"] if msgs and msgs[0]["role"] == "system" else self.system_prompt
        if tools:
            system = f"{system}\n{tool_instructions(tools)}" if system else tool_instructions(tools)
        budget = min(self.history_tokens, self.n_ctx - self.max_tokens - self.count_tokens(system) - 16)
        # The history window starts where it started last time while it fits, so the prompt's prefix
        # (and llama.cpp's KV cache of it) stays the same from turn to turn. Only when it outgrows
        # the budget does it jump forward, to half the budget: one re-evaluation every few turns
        # instead of one every turn.
        start = self._window_start(msgs)
        kept = msgs[start:]
        if len(kept) > 1 and self._cost(kept) > budget:
            kept = self._newest_within(msgs, budget // 2)
        while len(kept) > 1 and kept[0]["role"] != "user":  # a turn starts with the user
            kept.pop(0)
        self._window_key = (kept[0]["role"], kept[0]["content"]) if len(kept) > 1 else None
        return ([{"role": "system", "content": system}] if system else []) + kept

    def _cost(self, msgs: list[Message]) -> int:
        return sum(self.count_tokens(m["content"]) + 4 for m in msgs)

    def _window_start(self, msgs: list[Message]) -> int:
        key = self._window_key
        if key is not None:
            for i, m in enumerate(msgs[:-1]):
                if (m["role"], m["content"]) == key:
                    return i
        return 0

    def _newest_within(self, msgs: list[Message], budget: int) -> list[Message]:
        """The newest messages that fit ``budget`` tokens; the last (the user's turn) always."""
        kept: list[Message] = []
        used = 0
        for m in reversed(msgs):
            cost = self.count_tokens(m["content"]) + 4
            if kept and used + cost > budget:
                break
            kept.append(m)
            used += cost
        kept.reverse()
        return kept

    # --- generation ----------------------------------------------------------------------------

    def warm(self, system: str | None = None) -> float:
        """Evaluate a system prompt once so the KV cache holds it (``system``: the one turns will
        send, e.g. the answer router's small-talk prompt; default: ours); returns the milliseconds it took."""
        t0 = time.perf_counter()
        first: list[Message] = [{"role": "system", "content": system}] if system else []
        try:
            with self._lock:
                for _ in self._generate(self.prepare([*first, {"role": "user", "content": "Hello."}]), None, 1,
                                        threading.Event()):
                    pass
        except (ValueError, RuntimeError) as exc:  # e.g. the system prompt overflows n_ctx: each turn will say so
            log.warning("could not warm the LLM's KV cache: %s", exc)
        return (time.perf_counter() - t0) * 1000

    def _generate(self, messages: list[Message], grammar: Any, max_tokens: int,
                  stop: threading.Event) -> Iterator[str]:
        chunks = self.llm.create_chat_completion(
            messages, stream=True, max_tokens=max_tokens, temperature=self.temperature, grammar=grammar,
        )
        try:
            for chunk in chunks:
                if stop.is_set():
                    break
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    async def stream(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> AsyncIterator[Delta]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        prepared = self.prepare(messages, tools)
        grammar = self._grammar(tools) if tools else None

        window = threading.Semaphore(self.lookahead)

        def put(item: Any) -> None:
            # Backpressure: at most ``lookahead`` pieces ahead of the consumer. A consumer that
            # pauses (a speculative reply waiting for the end of the turn) pauses generation too,
            # leaving the CPU to the listener and the voice.
            while not window.acquire(timeout=0.05):
                if stop.is_set():
                    return
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()

        def work() -> None:
            t0 = time.perf_counter()
            first = True
            try:
                with self._lock:
                    for piece in self._generate(prepared, grammar, self.max_tokens, stop):
                        if first:
                            self.first_token_ms = (time.perf_counter() - t0) * 1000
                            first = False
                        put(piece)
                put(_END)
            except Exception as exc:  # llama.cpp raises plain RuntimeError/ValueError
                log.debug("local LLM failed", exc_info=True)
                put(LlmError(f"local LLM failed: {exc}"))

        future = loop.run_in_executor(self._executor, work)
        speakable = SpeakableFilter()
        limit = SentenceLimit(self.max_sentences)
        say = SayStreamer() if tools else None
        try:
            while True:
                item = await queue.get()
                window.release()
                if item is _END:
                    break
                if isinstance(item, Exception):
                    raise item
                if say is not None:
                    text = speakable.feed(say.feed(item))
                else:
                    text = speakable.feed(item)
                cut = limit.feed(text)
                if cut >= 0:  # enough sentences: say what ends the last one, then stop
                    if text[:cut].strip():
                        yield Delta(text=text[:cut])
                    yield Delta(finish_reason="length")
                    return
                if text:
                    yield Delta(text=text)
            if say is not None:
                call = _parse_tool_call(say.buf)
                if call is not None:
                    yield Delta(tool_call=call)
            yield Delta(finish_reason="stop")
        finally:
            stop.set()  # the worker sees it before its next token
            if future.done() and not future.cancelled():
                future.exception()  # already reported through the queue

    def _grammar(self, tools: list[dict[str, Any]]) -> Any:
        from llama_cpp import LlamaGrammar

        return LlamaGrammar.from_json_schema(json.dumps(tool_schema(tools)), verbose=False)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.llm.close()


def _nicer_thread() -> None:
    """The LLM worker yields to the listener thread under contention (see agent.engines.ENGINE_NICE)."""
    from edge_agent.agent.engines import lower_thread_priority

    lower_thread_priority()


def _plain(m: Message) -> Message:
    """OpenAI-style messages (tool calls, tool results, None content) as plain role/content text."""
    role = m.get("role", "user")
    content = m.get("content") or ""
    if role == "assistant" and m.get("tool_calls"):
        call = m["tool_calls"][0].get("function", {})
        args = call.get("arguments", "{}")
        if isinstance(args, str):
            with contextlib.suppress(ValueError):
                args = json.loads(args)
        content = json.dumps({"tool": call.get("name", ""), "arguments": args})
    elif role == "tool":
        role, content = "user", f"Tool result: {content}"
    elif role not in ("system", "user", "assistant"):
        role = "user"
    return {"role": role, "content": str(content)}


def _parse_tool_call(text: str) -> ToolCallRequest | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or "tool" not in obj:
        return None
    args = obj.get("arguments")
    return ToolCallRequest(name=str(obj["tool"]), arguments=args if isinstance(args, dict) else {})


def build_local_llm(settings: Any, models: Any) -> LocalLlm:
    """A :class:`LocalLlm` from ``[llm]`` / ``[llm.local]``: ``llm.local.model`` is a manifest name
    or a path to any GGUF file."""
    cfg = settings.llm.local
    return LocalLlm(
        gguf_path(settings, models),
        n_ctx=cfg.n_ctx,
        threads=cfg.threads,
        max_tokens=cfg.max_tokens,
        temperature=cfg.temperature,
        system_prompt=system_prompt(settings),
        history_tokens=cfg.history_tokens,
        max_sentences=cfg.max_sentences,
    )


def gguf_path(settings: Any, models: Any) -> Path:
    """The local model's GGUF file: ``llm.local.model`` is a manifest name or a path."""
    model = str(settings.llm.local.model)
    if model.endswith(".gguf") or "/" in model:
        return Path(model).expanduser()
    spec = models.manifest.get(model)
    gguf = next((f.path for f in spec.files if f.path.endswith(".gguf")), None)
    return Path(models.require(model, gguf))


def system_prompt(settings: Any) -> str:
    """The configured system prompt with ``{persona}`` filled in."""
    template = str(settings.llm.system_prompt)
    try:
        return template.format(persona=settings.llm.persona)
    except (KeyError, IndexError, ValueError):
        return template.replace("{persona}", str(settings.llm.persona))
