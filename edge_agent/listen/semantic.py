"""Text completeness from a small language model, for the turn policy's semantic hook.

``LmCompleteness.probability(text)`` is the language model's probability that the (partial)
transcript ends here: the next-token mass on sentence ends (``.``, ``?``, ``!``, newline, end of
text) after the text with its trailing punctuation removed (Whisper punctuates everything).
"I would like to order" -> 0.005; "Set a timer for twenty minutes" -> 0.34 (SmolLM2-135M).
``hint(text)`` maps that to [0, 1] for :meth:`TurnPolicy.set_semantic_hint`.

Measured on the generated pause/complete sets (Whisper tiny.en transcripts at each speech_end):
the first halves of mid-sentence pauses score <= 0.1 except where the STT misheard; complete
sentences mostly 0.13-0.74. It costs one LM forward pass over the transcript (~10-20 tokens).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

END_STRINGS = (".", "?", "!", "\n", '."', ".\n", "?\n")
TRAILING = re.compile(r"[\s.,!?;:…\-]+$")


class LmCompleteness:
    def __init__(self, model: str | Path | Any, threads: int = 1, full_at: float = 0.2) -> None:
        """``model``: a GGUF path, or an already loaded ``llama_cpp.Llama`` created with ``logits_all=True``."""
        if isinstance(model, (str, Path)):
            from llama_cpp import Llama

            model = Llama(str(model), n_ctx=256, n_threads=threads, logits_all=True, verbose=False)
        self.llm = model
        ends = {model.token_eos()}
        for s in END_STRINGS:
            toks = model.tokenize(s.encode(), add_bos=False, special=False)
            if len(toks) == 1:
                ends.add(toks[0])
        self.end_tokens = np.array(sorted(ends))
        self.full_at = full_at

    def probability(self, text: str) -> float | None:
        text = TRAILING.sub("", text.strip())
        if not text:
            return None
        tokens = self.llm.tokenize(text.encode(), add_bos=True)
        self.llm.reset()
        self.llm.eval(tokens)
        logits = np.asarray(self.llm.eval_logits[-1], np.float64)
        p = np.exp(logits - logits.max())
        return float(p[self.end_tokens].sum() / p.sum())

    def hint(self, text: str) -> float | None:
        """0 (surely unfinished) .. 1 (could well end here): P(end) / ``full_at``, capped at 1."""
        p = self.probability(text)
        return None if p is None else min(1.0, p / self.full_at)
