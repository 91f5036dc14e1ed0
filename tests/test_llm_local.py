"""LocalLlm: the pure helpers with no model, then the real SmolLM2 GGUF through llama.cpp."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from edge_agent.errors import LlmError, ModelError
from edge_agent.llm.base import Delta
from edge_agent.llm.local import (
    LocalLlm,
    SayStreamer,
    SentenceLimit,
    SpeakableFilter,
    _parse_tool_call,
    _plain,
    tool_schema,
)

SYSTEM = "You are Edge, a friendly voice assistant. Answer in one or two short spoken sentences."
LIGHT = {"type": "function", "function": {
    "name": "set_light", "description": "Switch a light on or off",
    "parameters": {"type": "object", "properties": {"room": {"type": "string"}, "on": {"type": "boolean"}},
                   "required": ["room", "on"]}}}


# --- no model ---------------------------------------------------------------------------------


def test_speakable_filter_drops_markdown_bullets_and_emoji() -> None:
    f = SpeakableFilter()
    text = "".join(f.feed(p) for p in ["**Sure!** ", "Here:\n- one", "\n- two 🎉", " `x`"])
    assert text == "Sure! Here: one two  x"


def test_sentence_limit_cuts_at_the_start_of_the_next_sentence() -> None:
    limit = SentenceLimit(2)
    assert limit.feed("Hi there.") == -1
    assert limit.feed(" How are") == -1
    assert limit.feed(" you?") == -1
    assert limit.feed(" More") == 0
    assert SentenceLimit(0).feed("A. B. C. D.") == -1


def test_say_streamer_streams_the_say_value_piece_by_piece() -> None:
    s = SayStreamer()
    pieces = ['{ "', 'say', '": "Hel', 'lo \\"you', '\\"!\\n', 'Bye." }']
    assert "".join(s.feed(p) for p in pieces) == 'Hello "you"! Bye.'
    assert _parse_tool_call(s.buf) is None


def test_say_streamer_stays_quiet_on_a_tool_call() -> None:
    s = SayStreamer()
    text = '{"tool": "set_light", "arguments": {"room": "kitchen", "on": true}}'
    assert "".join(s.feed(ch) for ch in text) == ""
    call = _parse_tool_call(s.buf)
    assert call is not None and call.name == "set_light" and call.arguments == {"room": "kitchen", "on": True}


def test_tool_schema_offers_speech_or_each_tool() -> None:
    schema = tool_schema([LIGHT])
    assert schema["anyOf"][0]["required"] == ["say"]
    assert schema["anyOf"][1]["properties"]["tool"] == {"const": "set_light"}


def test_plain_turns_openai_tool_messages_into_text() -> None:
    call = _plain({"role": "assistant", "content": None, "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "set_light", "arguments": '{"on": true}'}}]})
    assert json.loads(call["content"]) == {"tool": "set_light", "arguments": {"on": True}}
    assert _plain({"role": "tool", "content": "done"}) == {"role": "user", "content": "Tool result: done"}


def test_missing_model_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        LocalLlm(tmp_path / "nope.gguf")


def test_corrupt_gguf_is_a_model_error(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="an install without the local LLM (--no-llama) cannot load a GGUF")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelError, match="cannot be loaded"):
        LocalLlm(bad)


def test_without_llama_cpp_the_local_llm_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An install made with --no-llama has no llama_cpp: a clear ModelError, no ImportError."""
    import edge_agent.llm.local as local

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setattr(local, "llama_installed", lambda: False)
    with pytest.raises(ModelError, match=r"needs llama-cpp-python.*--no-llama.*cloud_only"):
        LocalLlm(model)


def test_without_llama_cpp_the_turn_goes_without_its_text_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import edge_agent.llm.local as local
    from edge_agent.app.wiring import build_completeness
    from edge_agent.config import Settings

    monkeypatch.setattr(local, "llama_installed", lambda: False)
    settings = Settings()
    assert settings.turn.semantic_wait_ms > 0 and settings.stt.speculative  # the default asks for the hint
    assert build_completeness(settings, None) is None  # type: ignore[arg-type]  # no model is touched


# --- the real model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llm(model_path) -> LocalLlm:  # type: ignore[no-untyped-def]
    path = model_path("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
    model = LocalLlm(path, system_prompt=SYSTEM, max_tokens=48, temperature=0.0, n_ctx=1024, history_tokens=200)
    model.warm()
    yield model
    model.close()


async def _collect(llm: LocalLlm, messages, tools=None) -> list[Delta]:  # type: ignore[no-untyped-def]
    return [d async for d in llm.stream(messages, tools)]


@pytest.mark.real_model
def test_streams_a_short_speakable_reply(llm: LocalLlm) -> None:
    deltas = asyncio.run(_collect(llm, [{"role": "user", "content": "What can you do for me?"}]))
    text = "".join(d.text for d in deltas)
    assert len([d for d in deltas if d.text]) > 3, "tokens must arrive one by one"
    assert deltas[-1].finish_reason in ("stop", "length")
    assert text.strip() and not any(c in text for c in "*#`")
    assert llm.first_token_ms is not None and llm.first_token_ms > 0


@pytest.mark.real_model
def test_history_is_bounded_in_tokens_keeping_the_newest_turn(llm: LocalLlm) -> None:
    history = []
    for i in range(30):
        history += [{"role": "user", "content": f"Question number {i} about the weather today?"},
                    {"role": "assistant", "content": f"Answer number {i}: it is sunny and warm outside."}]
    history.append({"role": "user", "content": "And tomorrow?"})
    prepared = llm.prepare(history)
    assert prepared[0] == {"role": "system", "content": SYSTEM}
    assert prepared[-1]["content"] == "And tomorrow?"
    assert prepared[1]["role"] == "user"
    assert sum(llm.count_tokens(m["content"]) + 4 for m in prepared[1:]) <= 200
    assert 2 < len(prepared) < 20


@pytest.mark.real_model
def test_cancelling_the_consumer_stops_generation(llm: LocalLlm) -> None:
    async def main() -> str:
        started = asyncio.Event()
        agen = llm.stream([{"role": "user", "content": "Tell me a long story about a dragon."}])

        async def consume() -> None:
            async for _ in agen:
                started.set()

        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await agen.aclose()
        # the worker frees the model for the next turn
        deltas = await asyncio.wait_for(_collect(llm, [{"role": "user", "content": "Hello!"}]), 30)
        return "".join(d.text for d in deltas)

    assert asyncio.run(main()).strip()


@pytest.mark.real_model
def test_tools_give_either_a_call_or_speech_through_the_json_grammar(llm: LocalLlm) -> None:
    deltas = asyncio.run(_collect(llm, [{"role": "user", "content": "Turn on the kitchen light."}], [LIGHT]))
    calls = [d.tool_call for d in deltas if d.tool_call]
    text = "".join(d.text for d in deltas)
    # A 135M model may answer in words instead; either way the output is well formed.
    if calls:
        assert calls[0].name == "set_light" and isinstance(calls[0].arguments, dict)
        assert text == ""
    else:
        assert text.strip() and "{" not in text and '"say"' not in text


@pytest.mark.real_model
def test_a_generation_failure_is_an_llm_error(llm: LocalLlm) -> None:
    too_long = [{"role": "user", "content": "word " * 5000}]  # the newest turn is kept even if it can't fit
    with pytest.raises(LlmError):
        asyncio.run(_collect(llm, too_long))


@pytest.mark.real_model
def test_history_window_keeps_its_start_until_it_must_jump(llm: LocalLlm) -> None:
    """A stable prompt prefix keeps llama.cpp's KV cache useful: the window's first message moves
    only when the history outgrows the budget, and then by half the budget at once."""
    history: list[dict[str, str]] = []
    firsts: list[str] = []
    for i in range(40):
        prepared = llm.prepare([*history, {"role": "user", "content": f"Question {i} about the weather?"}])
        assert sum(llm.count_tokens(m["content"]) + 4 for m in prepared[1:]) <= 200
        firsts.append(prepared[1]["content"])
        history += [{"role": "user", "content": f"Question {i} about the weather?"},
                    {"role": "assistant", "content": f"Answer {i}: sunny and warm, with a light breeze."}]
    moves = sum(1 for a, b in zip(firsts[1:], firsts[2:], strict=False) if a != b)
    assert moves <= 40 // 3, firsts


@pytest.mark.real_model
def test_warm_evaluates_the_system_prompt_turns_will_send(llm: LocalLlm, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the answer router on, the local model only hears small talk under the router's prompt:
    that prompt, not the default, is the one worth having in the KV cache."""
    from edge_agent.app.wiring import local_turns_system_prompt
    from edge_agent.config import Settings

    seen: list[list[dict[str, str]]] = []
    real = llm._generate
    monkeypatch.setattr(llm, "_generate", lambda messages, *a: seen.append(messages) or real(messages, *a))
    small_talk = local_turns_system_prompt(Settings())
    assert small_talk is not None and "small talk" in small_talk
    llm.warm(small_talk)
    llm.warm()
    assert seen[0][0] == {"role": "system", "content": small_talk}
    assert seen[1][0] == {"role": "system", "content": SYSTEM}
    assert local_turns_system_prompt(Settings(answers={"enabled": False})) is None  # type: ignore[arg-type]
