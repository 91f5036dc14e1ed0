"""MQTT: state, events and metrics out; commands in; Home Assistant discovery; tools the LLM may call.
See docs/mqtt.md for the topics and payloads."""
