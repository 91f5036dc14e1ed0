#!/usr/bin/env python3
"""Build the int8 Silero VAD and print its sha256 (for models/manifest.toml).

Thin wrapper: the work is in ``edge_agent.listen.quantize_vad`` (also the model manager's derive hook)."""

from edge_agent.listen.quantize_vad import main

if __name__ == "__main__":
    raise SystemExit(main())
