#!/usr/bin/env python3
"""Build the int8 Silero VAD and print its sha256 (for edge_agent/data/manifest.toml).

Thin wrapper: the work is in ``edge_agent.models.recipes.vad_int8`` (also the model manager's recipe)."""

from edge_agent.models.recipes.vad_int8 import main

if __name__ == "__main__":
    raise SystemExit(main())
