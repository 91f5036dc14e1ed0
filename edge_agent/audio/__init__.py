"""Audio in and out: ring buffers, sources, sinks."""

SAMPLE_RATE = 16000
"""The pipeline's rate in Hz: what the microphone path, the listener and every speech model use."""
