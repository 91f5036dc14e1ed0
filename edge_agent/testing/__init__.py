"""Kits for tests and benchmarks: fake OpenAI-compatible servers, fault proxies, a local mosquitto.

Benchmarks (``edge_agent.bench``) and the test suite import these; no runtime module may
(``tests/test_layering.py`` holds that line)."""
