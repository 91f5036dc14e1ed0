"""The one place that touches llama-cpp-python's private API.

The semantic end-of-turn hint (``listen/semantic.py``) scores a transcript with the chat model's
own weights and a small context of its own, so the hint costs a KV cache instead of a second copy
of the model. llama-cpp-python has no public API for a second context over a loaded model; its
``llama_cpp._internals`` wrappers (``LlamaContext``, ``LlamaBatch``) and ``Llama._model`` do it.
They are checked against llama-cpp-python 0.3.x (``pyproject.toml`` bounds it below 0.4);
``tests/test_contract_llama_cpp.py`` fails, naming what moved, when a new version changes them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llama_cpp._internals import LlamaBatch, LlamaContext, LlamaModel

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["LlamaBatch", "LlamaContext", "model_weights", "shares_weights"]

WEIGHTS_ATTRIBUTE = "_model"
"""Where a loaded ``llama_cpp.Llama`` keeps its model (a ``llama_cpp._internals.LlamaModel``)."""


def shares_weights(llm: object) -> bool:
    """Whether ``llm`` is a loaded ``llama_cpp.Llama`` whose weights a second context can use."""
    return getattr(llm, WEIGHTS_ATTRIBUTE, None) is not None


def model_weights(llm: Llama) -> LlamaModel:
    """The loaded model inside a ``llama_cpp.Llama``, for ``LlamaContext(model=...)``."""
    weights = getattr(llm, WEIGHTS_ATTRIBUTE, None)
    if not isinstance(weights, LlamaModel):
        raise TypeError(f"llama_cpp.Llama.{WEIGHTS_ATTRIBUTE} is {type(weights).__name__}, not a LlamaModel: "
                        "llama-cpp-python changed its private API (see tests/test_contract_llama_cpp.py)")
    return weights
