"""MQTT: state, events and metrics out; commands in; Home Assistant discovery; tools the LLM may call.
The README's MQTT section lists the topics and payloads."""
