"""Text completeness from a small language model, for the turn policy's semantic hook.

``LmCompleteness.probability(text)`` is the language model's probability that the (partial)
transcript ends here: the next-token mass on sentence ends (``.``, ``?``, ``!``, newline, end of
text) after the text with its trailing punctuation removed (Whisper punctuates everything), so
"I would like to order" scores far lower than "Set a timer for twenty minutes".
``hint(text)`` maps that to [0, 1] for :meth:`TurnPolicy.set_semantic_hint`: up to
:data:`TOP_BAND` below 1 for P(end) up to ``full_at``, and the top band for how far P(end) goes past
it, up to ``sure_at``: the policy ends a turn at the first checks only on a hint in that band
(``turn.quick_hint``), since a command cut at a short inner pause ("Set the oven | to 180 degrees")
often looks finished, but less so than most finished commands.

It costs one LM forward pass over the transcript (~10-20 tokens). Given the daemon's chat model
it shares its weights and adds only a small context of its own, instead of a second copy of the
model. Digits are spelled out first: the LM judges "at six" far better than "at 6".
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.listen.hint import Hint

TOP_BAND = 0.02
"""The top of the hint's scale, kept for how sure the LM is past ``full_at`` (the blend with Smart
Turn hardly changes: the hint at ``full_at`` is 0.98 instead of 1)."""
END_STRINGS = (".", "?", "!", "\n", '."', ".\n", "?\n")
TRAILING = re.compile(r"[\s.,!?;:…\-]+$")


def _spoken(text: str) -> str:
    if not any(ch.isdigit() for ch in text):
        return text
    from edge_agent.tts.text import speakable

    return speakable(text)


class LmCompleteness:
    def __init__(self, model: str | Path | Any, threads: int = 1, full_at: float = 0.2, n_ctx: int = 128,
                 sure_at: float = 0.4) -> None:
        """``model``: a GGUF path, or an already loaded ``llama_cpp.Llama`` (the chat model): then
        its weights are shared and only a small context of our own is added (its KV cache and
        the chat model's stay apart).
        Only the last position's logits are read, so ``logits_all`` is off."""
        import llama_cpp
        from llama_cpp import Llama

        if isinstance(model, (str, Path)):
            model = Llama(str(model), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, n_threads=threads,
                          n_threads_batch=threads, logits_all=False, verbose=False)
        from edge_agent.llm.llama_compat import LlamaBatch, LlamaContext, model_weights

        params = llama_cpp.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = n_ctx
        params.n_threads = params.n_threads_batch = threads
        self.llm = model
        self._ctx = LlamaContext(model=model_weights(model), params=params, verbose=False)
        self._batch = LlamaBatch(n_tokens=n_ctx, embd=0, n_seq_max=1, verbose=False)
        self.max_tokens = n_ctx
        self.n_vocab = int(model.n_vocab())
        ends = {model.token_eos()}
        for s in END_STRINGS:
            toks = model.tokenize(s.encode(), add_bos=False, special=False)
            if len(toks) == 1:
                ends.add(toks[0])
        self.end_tokens = np.array(sorted(ends))
        self.full_at, self.sure_at = full_at, max(sure_at, full_at + 1e-6)
        self._lock = threading.Lock()  # one context: hints for two quick pauses must not overlap

    def probability(self, text: str) -> float | None:
        text = TRAILING.sub("", text.strip())
        if not text:
            return None
        text = _spoken(text)  # Whisper writes "at 6"; the LM judges "at six" far better
        tokens = self.llm.tokenize(text.encode(), add_bos=True)
        if len(tokens) > self.max_tokens:  # a long turn: its end is what decides
            tokens = tokens[:1] + tokens[-(self.max_tokens - 1):]
        with self._lock:
            self._ctx.kv_cache_clear()
            self._batch.set_batch(tokens, n_past=0, logits_all=False)  # logits of the last token only
            self._ctx.decode(self._batch)
            logits = np.ctypeslib.as_array(self._ctx.get_logits_ith(-1), shape=(self.n_vocab,)).astype(np.float64)
        p = np.exp(logits - logits.max())
        return float(p[self.end_tokens].sum() / p.sum())

    def hint(self, text: str) -> float | None:
        """0 (surely unfinished) .. 1 (surely ends here): see :func:`hint_from_probability`."""
        p = self.probability(text)
        return None if p is None else hint_from_probability(p, self.full_at, self.sure_at)

    def scored_hint(self, text: str) -> Hint | None:
        """:meth:`hint` with the P(end) it came from and the text (a trained decision reads both)."""
        p = self.probability(text)
        return None if p is None else Hint(hint_from_probability(p, self.full_at, self.sure_at), p_end=p, text=text)


def hint_from_probability(p: float, full_at: float = 0.2, sure_at: float = 0.4) -> float:
    """P(end) as a hint: ``1 - TOP_BAND`` times P / ``full_at`` (capped at 1), plus :data:`TOP_BAND`
    times how far P is from ``full_at`` to ``sure_at`` (0 .. 1): 0.98 at ``full_at``, 1 at ``sure_at``."""
    past = min(1.0, max(0.0, (p - full_at) / (sure_at - full_at)))
    return (1.0 - TOP_BAND) * min(1.0, p / full_at) + TOP_BAND * past
