"""The contract with paho-mqtt's private API that ``edge_agent/mqtt/paho_compat.py`` relies on.

If one of these fails after a paho upgrade, the adapter (and only it) must be brought up to date:
see its docstring for what it does and why, then move the upper bound in ``pyproject.toml``."""

from __future__ import annotations

import collections
import threading

import paho.mqtt.client as mqtt
from contract import assert_written_for
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.mqtt import paho_compat

CHECKED = ((2, 1), (2, 2))
"""The paho-mqtt minor releases the adapter was checked against (pyproject: ``>=2.1,<2.3``)."""


def _client() -> mqtt.Client:
    return mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)


def test_installed_paho_is_the_release_the_adapter_was_written_for() -> None:
    assert_written_for("paho-mqtt", *CHECKED, "edge_agent/mqtt/paho_compat.py")


def test_the_client_keeps_unacknowledged_publishes_by_mid_under_a_lock() -> None:
    client = _client()
    messages = getattr(client, paho_compat.OUT_MESSAGES, None)
    lock = getattr(client, paho_compat.OUT_MESSAGES_LOCK, None)
    assert isinstance(messages, collections.OrderedDict), (
        f"paho's Client.{paho_compat.OUT_MESSAGES} is gone or no longer an OrderedDict: {type(messages)}")
    assert hasattr(lock, "acquire") and hasattr(lock, "release"), (
        f"paho's Client.{paho_compat.OUT_MESSAGES_LOCK} is gone or no longer a lock: {type(lock)}")
    assert isinstance(lock, type(threading.RLock())), "the lock must be re-entrant: paho takes it in callbacks"


def test_a_publish_while_disconnected_is_held_as_a_message_with_topic_and_retain() -> None:
    client = _client()
    info = client.publish("ea/state", b"{}", qos=1, retain=True)
    held = getattr(client, paho_compat.OUT_MESSAGES)
    assert list(held) == [info.mid], "a QoS 1 publish made offline is no longer held by its mid"
    message = held[info.mid]
    assert isinstance(message, mqtt.MQTTMessage)
    assert (message.topic, message.retain) == ("ea/state", True), "MQTTMessage.topic / .retain changed"


def test_the_adapter_drops_only_retained_publishes_to_the_given_topics() -> None:
    client = _client()
    client.publish("ea/state", b"1", qos=1, retain=True)
    client.publish("ea/event/turn", b"2", qos=1)
    client.publish("ea/other", b"3", qos=1, retain=True)
    assert paho_compat.drop_unacked_retained(client, {"ea/state"}) == 1
    assert [m.topic for m in getattr(client, paho_compat.OUT_MESSAGES).values()] == ["ea/event/turn", "ea/other"]
