"""The contract with llama-cpp-python's private API that ``edge_agent/llm/llama_compat.py`` relies on.

If one of these fails after a llama-cpp-python upgrade, the adapter (and only it) must be brought
up to date: see its docstring for what it does and why, then move the upper bound in ``pyproject.toml``."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from contract import assert_written_for

# an install without the local LLM (./install.sh --no-llama) has no adapter to hold to a contract; the
# development install always has it (--no-llama with --dev is refused), so CI never skips these
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (./install.sh --no-llama)")

CHECKED = ((0, 3), (0, 3))
"""The llama-cpp-python minor releases the adapter was checked against (pyproject: ``>=0.3.16,<0.4``)."""


def _parameters(fn: object) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]  # type: ignore[arg-type]


def test_installed_llama_cpp_is_the_release_the_adapter_was_written_for() -> None:
    assert_written_for("llama-cpp-python", *CHECKED, "edge_agent/llm/llama_compat.py")


def test_the_private_wrappers_still_exist_with_the_arguments_the_adapter_passes() -> None:
    from llama_cpp import _internals

    from edge_agent.llm import llama_compat

    assert llama_compat.LlamaContext is _internals.LlamaContext
    assert llama_compat.LlamaBatch is _internals.LlamaBatch
    assert {"model", "params", "verbose"} <= set(_parameters(_internals.LlamaContext.__init__)), (
        "LlamaContext(model=, params=, verbose=) changed")
    assert {"n_tokens", "embd", "n_seq_max", "verbose"} <= set(_parameters(_internals.LlamaBatch.__init__)), (
        "LlamaBatch(n_tokens=, embd=, n_seq_max=, verbose=) changed")
    assert _parameters(_internals.LlamaBatch.set_batch) == ["batch", "n_past", "logits_all"], (
        "LlamaBatch.set_batch(batch, n_past, logits_all) changed")
    assert _parameters(_internals.LlamaContext.decode) == ["batch"], "LlamaContext.decode(batch) changed"
    assert _parameters(_internals.LlamaContext.get_logits_ith) == ["i"], "LlamaContext.get_logits_ith(i) changed"
    assert _parameters(_internals.LlamaContext.kv_cache_clear) == [], "LlamaContext.kv_cache_clear() changed"


@pytest.fixture(scope="module")
def gguf(model_path) -> Path:  # type: ignore[no-untyped-def]
    return model_path("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")  # type: ignore[no-any-return]


@pytest.mark.real_model
def test_a_second_context_over_a_loaded_model_scores_text(gguf: Path) -> None:
    """What the semantic hint does with the adapter: a context of its own over the chat model's weights."""
    import llama_cpp

    from edge_agent.llm.llama_compat import LlamaBatch, LlamaContext, model_weights, shares_weights

    llm = llama_cpp.Llama(str(gguf), n_ctx=128, n_threads=1, verbose=False)
    try:
        assert shares_weights(llm), "Llama no longer keeps its loaded model where the adapter looks"
        assert isinstance(model_weights(llm), llama_cpp._internals.LlamaModel)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = 64
        ctx = LlamaContext(model=model_weights(llm), params=params, verbose=False)
        batch = LlamaBatch(n_tokens=64, embd=0, n_seq_max=1, verbose=False)
        tokens = llm.tokenize(b"Set a timer for ten minutes", add_bos=True)
        ctx.kv_cache_clear()
        batch.set_batch(tokens, n_past=0, logits_all=False)
        ctx.decode(batch)
        logits = np.ctypeslib.as_array(ctx.get_logits_ith(-1), shape=(int(llm.n_vocab()),))
        assert np.isfinite(logits).all() and logits.std() > 0
    finally:
        llm.close()


def test_an_object_without_loaded_weights_does_not_share_them() -> None:
    from edge_agent.llm.llama_compat import shares_weights

    assert not shares_weights(object())
