"""Porcupine through ``pvporcupine``: needs a Picovoice AccessKey, which Picovoice checks online.

Without a key, or with one Picovoice refuses (a malformed key fails offline as an invalid
argument; a well-formed but wrong one fails online as an activation error), start-up fails with
a :class:`WakeWordError` naming ``wake.porcupine_access_key``. The key itself never appears in a
message or a log. Porcupine decides by itself (its ``sensitivity``), so the shared rule only adds
the refractory period: each 512-sample step scores 1.0 for the keyword found, else 0.0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_agent.errors import WakeWordError
from edge_agent.listen.wake.base import custom_model_file, is_model_path, unknown_keyword

SETTING = "wake.porcupine_access_key"
WHERE = ("environment EDGE_AGENT_WAKE__PORCUPINE_ACCESS_KEY, the config file's [wake] section, "
         "or the credentials file wake__porcupine_access_key")


class PorcupineEngine:
    default_window = 1

    def __init__(self, handle: Any, keywords: tuple[str, ...]) -> None:
        self._handle = handle
        self.keywords = keywords
        self.chunk_samples = int(handle.frame_length)
        self.default_threshold = tuple(0.5 for _ in keywords)

    @classmethod
    def from_keywords(cls, keywords: list[str], access_key: str, sensitivity: float = 0.5) -> PorcupineEngine:
        import pvporcupine

        paths: list[str] = []
        names: list[str] = []
        for k in keywords:
            if is_model_path(k):
                path = custom_model_file(k, "Porcupine", (".ppn",))
                paths.append(str(path))
                names.append(path.stem)
            else:
                name = k.replace("_", " ")
                if name not in pvporcupine.KEYWORDS:
                    raise unknown_keyword(k, "porcupine", available_keywords())
                paths.append(pvporcupine.KEYWORD_PATHS[name])
                names.append(k)
        if not access_key.strip():
            raise WakeWordError(f"Porcupine needs a Picovoice AccessKey: set {SETTING} ({WHERE}); "
                                "get one at https://console.picovoice.ai/")
        try:
            handle = pvporcupine.create(access_key=access_key.strip(), keyword_paths=paths,
                                        sensitivities=[sensitivity] * len(paths))
        except pvporcupine.PorcupineError as exc:
            raise WakeWordError(_explain(exc, access_key)) from None
        except ValueError as exc:
            raise WakeWordError(f"Porcupine refused its settings: {exc}") from None
        return cls(handle, tuple(names))

    def step(self, chunk: np.ndarray, out: np.ndarray) -> int:
        index = self._handle.process(chunk)
        out[0] = 0.0
        if index >= 0:
            out[0, index] = 1.0
        return 1

    def reset(self) -> None:
        """Porcupine keeps no state a caller can clear; the shared rule resets its own."""

    def close(self) -> None:
        self._handle.delete()


def _explain(exc: Any, access_key: str) -> str:
    import pvporcupine

    stack = [line.replace(access_key.strip(), "<key>") for line in getattr(exc, "message_stack", ())]
    detail = "; ".join(s.split(": ", 1)[-1] for s in stack[:2]) or str(exc)
    if isinstance(exc, pvporcupine.PorcupineActivationLimitError):
        why = "has reached its activation limit"
    elif isinstance(exc, pvporcupine.PorcupineActivationThrottledError):
        why = "is being throttled"
    elif isinstance(exc, pvporcupine.PorcupineActivationRefusedError | pvporcupine.PorcupineActivationError):
        why = "was refused by Picovoice (or could not be checked online)"
    elif isinstance(exc, pvporcupine.PorcupineInvalidArgumentError):
        why = "is invalid"
    else:
        why = "could not be used"
    return f"Porcupine could not start: the Picovoice AccessKey in {SETTING} {why} ({detail}); set a valid key ({WHERE})"


def available_keywords() -> list[str]:
    import pvporcupine

    return sorted(k.replace(" ", "_") for k in pvporcupine.KEYWORDS)

