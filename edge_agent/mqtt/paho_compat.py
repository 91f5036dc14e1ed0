"""The one place that touches paho-mqtt's private API.

When a connection drops, publishes paho still holds unacknowledged stay in its session and are
re-sent after the reconnect, *after* ``on_connect``: a stale retained state could then overwrite
the newest one the bridge republishes on connect. paho has no public API to forget them; its
``Client._out_messages`` (an ordered dict of ``MQTTMessage`` by mid) under
``Client._out_message_mutex`` holds them in paho-mqtt 2.1 and 2.2 (``pyproject.toml`` bounds it below 2.3).
If that shape ever changes nothing is dropped (a reconnect then only repeats a few old states),
and ``tests/test_contract_paho.py`` fails, naming what moved."""

from __future__ import annotations

import paho.mqtt.client as mqtt

OUT_MESSAGES = "_out_messages"
OUT_MESSAGES_LOCK = "_out_message_mutex"


def drop_unacked_retained(client: mqtt.Client, topics: set[str]) -> int:
    """Forget the retained publishes to ``topics`` that paho holds unacknowledged; returns how many."""
    messages = getattr(client, OUT_MESSAGES, None)
    lock = getattr(client, OUT_MESSAGES_LOCK, None)
    if messages is None or lock is None:
        return 0
    with lock:
        stale = [mid for mid, m in messages.items() if getattr(m, "retain", False) and m.topic in topics]
        for mid in stale:
            del messages[mid]
    return len(stale)
