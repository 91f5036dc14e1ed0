"""Home Assistant MQTT discovery: one device with sensors (state, last transcript, last reply, last
latency), a mute switch, a wake button and a text entity that makes the agent say something."""

from __future__ import annotations

from typing import Any

from edge_agent import __version__
from edge_agent.mqtt.topics import Topics, node_id


def discovery_messages(topics: Topics) -> dict[str, dict[str, Any]]:
    """``{config topic: config payload}`` for every entity of the device."""
    node = node_id(topics.device_id)
    uid = f"edge_agent_{node}"
    device = {
        "identifiers": [uid],
        "name": f"Edge agent {topics.device_id}",
        "manufacturer": "edge-agent",
        "model": "edge-agent voice agent",
        "sw_version": __version__,
    }
    common = {
        "device": device,
        "origin": {"name": "edge-agent", "sw_version": __version__},
        "availability_topic": topics.availability,
        "payload_available": "online",
        "payload_not_available": "offline",
    }
    entities: dict[tuple[str, str], dict[str, Any]] = {
        ("sensor", "state"): {
            "name": "State",
            "state_topic": topics.state,
            "value_template": "{{ value_json.state }}",
            "icon": "mdi:account-voice",
        },
        ("sensor", "last_transcript"): {
            "name": "Last transcript",
            "state_topic": topics.last,
            "value_template": "{{ (value_json.transcript or '')[:255] }}",
            "icon": "mdi:text-to-speech",
        },
        ("sensor", "last_reply"): {
            "name": "Last reply",
            "state_topic": topics.last,
            "value_template": "{{ (value_json.reply or '')[:255] }}",
            "icon": "mdi:message-reply-text",
        },
        ("sensor", "last_latency"): {
            "name": "Last latency",
            "state_topic": topics.last,
            "value_template": "{{ value_json.latency_ms }}",
            "unit_of_measurement": "ms",
            "state_class": "measurement",
            "icon": "mdi:timer-outline",
        },
        ("switch", "mute"): {
            "name": "Mute",
            "command_topic": topics.cmd("mute"),
            "payload_on": '{"on": true}',
            "payload_off": '{"on": false}',
            "state_topic": topics.state,
            "value_template": "{{ 'ON' if value_json.state == 'muted' else 'OFF' }}",
            "state_on": "ON",
            "state_off": "OFF",
            "icon": "mdi:microphone-off",
        },
        ("button", "wake"): {
            "name": "Wake",
            "command_topic": topics.cmd("wake"),
            "payload_press": "{}",
            "icon": "mdi:microphone",
        },
        ("text", "say"): {
            "name": "Say",
            "command_topic": topics.cmd("say"),
            "command_template": '{"text": {{ value | tojson }}}',
            "min": 1,
            "max": 255,
            "mode": "text",
            "icon": "mdi:bullhorn",
        },
    }
    out: dict[str, dict[str, Any]] = {}
    for (component, object_id), config in entities.items():
        out[topics.discovery(component, object_id)] = {
            **config,
            "unique_id": f"{uid}_{object_id}",
            **common,
        }
    return out
