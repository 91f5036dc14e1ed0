"""Shared fixtures. Real models come from the project's own model manager; a test that needs one
that is missing fails with the command that fetches it (it never skips silently)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_agent.models import ModelManager

MODELS_DIR = Path(os.environ.get("EDGE_AGENT_PATHS__MODELS_DIR", Path.home() / ".cache" / "edge-agent" / "models"))


@pytest.fixture(scope="session")
def model_manager() -> ModelManager:
    return ModelManager(MODELS_DIR)


@pytest.fixture(scope="session")
def model_path(model_manager: ModelManager):
    """``model_path("silero-vad", "silero_vad.onnx")``: the file, or a failure naming the fix."""

    def get(name: str, file: str | None = None) -> Path:
        if not model_manager.is_ok(name):
            pytest.fail(f"model {name!r} is missing: run `edge-agent models pull {name}`")
        return model_manager.require(name, file)

    return get


@pytest.fixture(autouse=True)
def _restore_root_logger():
    """A test that runs the CLI in-process points the root logger at pytest's captured stderr;
    put the handlers back so later tests' threads don't log into a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
