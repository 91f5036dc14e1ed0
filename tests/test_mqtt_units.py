"""Fast logic tests of the MQTT pieces (no broker): command validation, the tool runner's schema
subset and templates, discovery payloads, metrics, config checks, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from mqtt_helpers import FakeControl, mqtt_config
from paho.mqtt.enums import MQTTErrorCode

from edge_agent.config import MqttConfig, ToolConfig, load_settings
from edge_agent.errors import ConfigError, MqttError
from edge_agent.events import LlmRoute, ToolCall, TurnDone
from edge_agent.mqtt.bridge import MqttBridge
from edge_agent.mqtt.commands import (
    MAX_PAYLOAD_BYTES,
    CommandError,
    MuteArgs,
    TextArgs,
    VolumeArgs,
    apply_command,
    parse_command,
)
from edge_agent.mqtt.discovery import discovery_messages
from edge_agent.mqtt.metrics import Metrics, percentile, read_temperature_c
from edge_agent.mqtt.tools import MqttToolRunner
from edge_agent.mqtt.topics import Topics, is_safe_level, is_valid_topic

# --- commands -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "payload", "expected"), [
    ("say", b'{"text": "hello"}', TextArgs(text="hello")),
    ("ask", b'{"text": "what time is it?"}', TextArgs(text="what time is it?")),
    ("volume", b'{"level": 1}', VolumeArgs(level=1.0)),
    ("volume", b'{"level": 0.25}', VolumeArgs(level=0.25)),
    ("mute", b"", MuteArgs(on=True)),
    ("mute", b'{"on": false}', MuteArgs(on=False)),
])
def test_valid_commands(name: str, payload: bytes, expected: object) -> None:
    assert parse_command(name, payload).args == expected


@pytest.mark.parametrize("name", ["wake", "cancel", "unmute", "reload"])
@pytest.mark.parametrize("payload", [b"", b"  ", b"{}"])
def test_commands_without_arguments_accept_empty_or_empty_object(name: str, payload: bytes) -> None:
    assert parse_command(name, payload).name == name


@pytest.mark.parametrize(("name", "payload", "reason"), [
    ("dance", b"{}", "unknown command; known commands: say, ask, wake"),
    ("say", b"", "payload is not valid JSON"),
    ("say", b"hello", "payload is not valid JSON"),
    ("say", b'{"text": 5}', "text: Input should be a valid string"),
    ("say", b'{"text": ""}', "text: String should have at least 1 character"),
    ("say", b'{"text": "   "}', "text: Value error, must not be blank"),
    ("say", json.dumps({"text": "x" * 2001}).encode(), "at most 2000 characters"),
    ("say", b'{"text": "hi", "voice": "x"}', "unknown field 'voice'"),
    ("say", b"[]", "payload must be a JSON object"),
    ("say", b'{"text": "\xff"}', "payload is not valid JSON"),
    ("volume", b'{"level": "1"}', "level: Input should be a valid number"),
    ("volume", b'{"level": 3}', "level: Input should be less than or equal to 2"),
    ("volume", b'{"level": NaN}', "level: Input should be a finite number"),
    ("volume", b'{"level": true}', "level: Input should be a valid number"),
    ("mute", b'{"on": "yes"}', "on: Input should be a valid boolean"),
    ("wake", b'{"now": true}', "unknown field 'now'"),
    ("say", b"x" * (MAX_PAYLOAD_BYTES + 1), f"larger than {MAX_PAYLOAD_BYTES}"),
])
def test_bad_commands_get_a_clear_reason(name: str, payload: bytes, reason: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_command(name, payload)
    assert reason in info.value.reason
    assert str(info.value).startswith(f"cmd/{name}: ")
    assert len(str(info.value)) < 400  # the huge input is never echoed


def test_unknown_command_name_is_shown_short_and_printable() -> None:
    with pytest.raises(CommandError) as info:
        parse_command("x\x00\x07" + "y" * 500, b"{}")
    assert "\x00" not in str(info.value) and len(info.value.command) < 50


def test_apply_command_calls_the_agent() -> None:
    control = FakeControl()
    for name, payload in [("say", b'{"text": "hi"}'), ("ask", b'{"text": "q"}'), ("wake", b""), ("cancel", b""),
                          ("mute", b""), ("mute", b'{"on": false}'), ("unmute", b""), ("volume", b'{"level": 0.5}'),
                          ("reload", b"")]:
        apply_command(control, parse_command(name, payload), reply_to="r1" if name == "ask" else None)
    assert control.calls == [
        ("say", ("hi",), {}), ("ask", ("q",), {"reply_to": "r1"}), ("wake", (), {}), ("cancel", (), {}),
        ("mute", (), {}), ("unmute", (), {}), ("unmute", (), {}), ("set_volume", (0.5,), {}), ("reload", (), {}),
    ]


# --- handler without a broker -------------------------------------------------------------------


def test_handler_never_raises_and_counts() -> None:
    control = FakeControl(fail_on=("wake",))
    bridge = MqttBridge(mqtt_config(1, device_id="unit"))
    bridge.attach(control, None)
    cmd = bridge.topics.cmd
    bridge.commands.handle_message(cmd("say"), b'{"text": "hi"}')
    bridge.commands.handle_message(cmd("say"), b"{")
    bridge.commands.handle_message(cmd("wake"), b"")  # the agent raises: reported, not raised
    bridge.commands.handle_message(cmd("say"), b'{"text": "hi"}', response_topic="edge-agent/unit/cmd/say")  # loop refused
    bridge.commands.handle_message(cmd("say"), b'{"text": "hi"}', response_topic="a/+/b")
    bridge.commands.handle_message("elsewhere/topic", b"ignored")
    s = bridge.stats
    assert (s.commands_ok, s.commands_rejected, s.commands_failed, s.handler_errors) == (1, 3, 1, 0)
    assert control.names() == ["say", "wake"]


def test_turn_route_is_the_winner_not_the_last_attempt() -> None:
    from edge_agent.mqtt.forward import EventForwarder
    from edge_agent.mqtt.metrics import Metrics
    from edge_agent.mqtt.outbox import BridgeStats

    sent: list[tuple[str, dict]] = []

    def publish(topic: str, payload: bytes, **_: object) -> MQTTErrorCode:
        sent.append((topic, json.loads(payload)))
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    topics = Topics("edge-agent", "unit")
    forwarder = EventForwarder(topics, Metrics(), BridgeStats(), publish,
                               set_retained=lambda topic, payload: None, answer=lambda reply: None)
    # a hedge: local first, then a cloud region; the local attempt (earlier, slower to start) wins
    forwarder.handle(1.0, LlmRoute(backend="local", reason="policy"))
    forwarder.handle(1.1, LlmRoute(backend="cloud", region="eu", reason="hedge"))
    forwarder.handle(1.5, TurnDone(turn_id=3, backend="local", voice_to_voice_ms=700.0))
    # the next turn: failover to the cloud wins; the route events of the last turn are not reused
    forwarder.handle(2.0, LlmRoute(backend="local", reason="policy"))
    forwarder.handle(2.1, LlmRoute(backend="cloud", region="us", reason="local_failed"))
    forwarder.handle(2.5, TurnDone(turn_id=4, backend="cloud", region="us"))
    forwarder.handle(3.0, TurnDone(turn_id=5, backend="cloud", region="eu"))  # no route event heard
    forwarder.handle(3.5, TurnDone(turn_id=6))  # no LLM in the turn
    turns = [p for topic, p in sent if topic == topics.event("turn")]
    assert [t.get("route") for t in turns] == [
        {"backend": "local", "region": None, "reason": "policy"},
        {"backend": "cloud", "region": "us", "reason": "local_failed"},
        {"backend": "cloud", "region": "eu", "reason": None},
        None,
    ]


def test_commands_before_the_agent_is_ready_are_refused() -> None:
    bridge = MqttBridge(mqtt_config(1, device_id="unit"))
    bridge.commands.handle_message(bridge.topics.cmd("wake"), b"")
    assert bridge.stats.commands_failed == 1


def test_command_pacing() -> None:
    import time

    from edge_agent.mqtt.ratelimit import TokenBucket

    pace = TokenBucket(100.0)
    t0 = time.monotonic()
    for _ in range(150):  # a burst of 100 passes at once, the next 50 at 100/s
        pace.wait()
    assert 0.4 < time.monotonic() - t0 < 5.0


def test_token_bucket_rations_without_waiting() -> None:
    from edge_agent.mqtt.ratelimit import TokenBucket

    now = [0.0]
    bucket = TokenBucket(50.0, burst=200.0, clock=lambda: now[0])
    assert sum(bucket.take() for _ in range(300)) == 200  # a full burst, then nothing
    now[0] += 0.1  # 5 tokens later
    assert sum(bucket.take() for _ in range(10)) == 5
    now[0] += 60.0
    assert sum(bucket.take() for _ in range(300)) == 200  # refilled up to the burst, not beyond


# --- topics -------------------------------------------------------------------------------------


def test_topic_layout() -> None:
    t = Topics("edge-agent", "kiosk-1")
    assert (t.availability, t.state, t.metrics, t.event("turn"), t.cmd("say"), t.cmd_filter) == (
        "edge-agent/kiosk-1/availability", "edge-agent/kiosk-1/state", "edge-agent/kiosk-1/metrics",
        "edge-agent/kiosk-1/event/turn", "edge-agent/kiosk-1/cmd/say", "edge-agent/kiosk-1/cmd/+")
    assert Topics("site/a", "pi.5").discovery("sensor", "state") == "homeassistant/sensor/pi_5/state/config"


@pytest.mark.parametrize("value", ["kitchen/x", "+", "#", "a\0b", "", "a\x01", "b\x9f", "\ud800", "\uffff"])
def test_unsafe_levels(value: str) -> None:
    assert not is_safe_level(value)


def test_valid_topics() -> None:
    assert is_valid_topic("home/kitchen/light/set") and is_valid_topic("caf\u00e9/\u00fcber")
    assert not is_valid_topic("a/#") and not is_valid_topic("") and not is_valid_topic("a\x00")


@pytest.mark.parametrize(("field", "value"), [("device_id", "a/b"), ("device_id", "a+"), ("topic_prefix", "x/#"),
                                              ("topic_prefix", "/lead"), ("discovery_prefix", "")])
def test_config_refuses_unsafe_topic_parts(field: str, value: str) -> None:
    with pytest.raises(ValueError):
        MqttConfig(**{field: value})


# --- discovery ----------------------------------------------------------------------------------


def test_discovery_entities() -> None:
    msgs = discovery_messages(Topics("edge-agent", "k1"))
    kinds = sorted(topic.split("/")[1] + ":" + topic.split("/")[3] for topic in msgs)
    assert kinds == ["button:wake", "sensor:last_latency", "sensor:last_reply", "sensor:last_transcript",
                     "sensor:state", "switch:mute", "text:say"]
    ids = {c["unique_id"] for c in msgs.values()}
    assert len(ids) == 7
    for config in msgs.values():
        json.dumps(config)
        assert config["availability_topic"] == "edge-agent/k1/availability"


def test_say_text_template_renders_valid_command() -> None:
    # Home Assistant renders `{"text": {{ value | tojson }}}`; what it sends must parse
    rendered = '{"text": ' + json.dumps('He said "hi"') + "}"
    assert parse_command("say", rendered.encode()).args == TextArgs(text='He said "hi"')


# --- metrics ------------------------------------------------------------------------------------


def test_percentiles_and_counts() -> None:
    from edge_agent.events import TurnDone, Wake

    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    m = Metrics()
    for ms in (300, 500, 400):
        m.observe(Wake(keyword="k"))
        m.observe(TurnDone(voice_to_voice_ms=ms))
    snap = m.snapshot({"mqtt": {"connects": 1}})
    assert snap["wakes"] == 3 and snap["turns"] == 3
    assert snap["latency_ms"] == {"p50": 400.0, "p95": 500.0, "turns": 3}
    assert snap["rss_mb"] > 1 and "cpu_percent" in snap and snap["mqtt"] == {"connects": 1}


def test_temperature_reader(tmp_path: Path) -> None:
    assert read_temperature_c(tmp_path) is None
    for i, milli in enumerate(("45000", "52500", "garbage")):
        zone = tmp_path / f"thermal_zone{i}"
        zone.mkdir()
        (zone / "temp").write_text(milli)
    assert read_temperature_c(tmp_path) == 52.5


# --- tools --------------------------------------------------------------------------------------

LIGHT = ToolConfig(
    name="set_light", description="Switch a light", topic="home/{room}/light/set",
    payload='{{"state": "{state}", "note": "{note}", "level": {level}}}',
    parameters={"type": "object", "properties": {
        "room": {"type": "string", "enum": ["kitchen", "hall"]},
        "state": {"type": "boolean"},
        "note": {"type": "string", "maxLength": 40},
        "level": {"type": "integer", "minimum": 0, "maximum": 100},
    }, "required": ["room", "state", "note", "level"]},
)


def runner(tools: list[ToolConfig], connected: bool = True) -> tuple[MqttToolRunner, list, list]:
    published: list = []
    events: list = []

    def publish(topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        if connected:
            published.append((topic, payload, qos, retain))
        return connected

    return MqttToolRunner(tools, publish, emit=events.append, reserved_prefixes=("edge-agent/k1/",)), published, events


def test_tool_publishes_rendered_topic_and_json_escaped_payload() -> None:
    r, published, events = runner([LIGHT])
    result = asyncio.run(r.run("set_light", {"room": "hall", "state": True, "note": 'say "hi"\n', "level": 7}))
    assert result == "done: published to home/hall/light/set (acknowledged by the broker)"
    topic, payload, qos, retain = published[0]
    assert topic == "home/hall/light/set" and (qos, retain) == (1, False)
    assert json.loads(payload) == {"state": "true", "note": 'say "hi"\n', "level": 7}
    assert events == [ToolCall(name="set_light", arguments={"room": "hall", "state": True, "note": 'say "hi"\n',
                                                            "level": 7}, ok=True, result=result)]
    assert r.publishes_events


@pytest.mark.parametrize(("args", "reason"), [
    ({"room": "garage", "state": True, "note": "", "level": 1}, "must be one of"),
    ({"room": "hall", "state": "yes", "note": "", "level": 1}, "must be a boolean"),
    ({"room": "hall", "state": True, "note": "x" * 41, "level": 1}, "longer than 40"),
    ({"room": "hall", "state": True, "note": "", "level": 101}, "at most 100"),
    ({"room": "hall", "state": True, "note": "", "level": 1.5}, "must be a integer"),
    ({"room": "hall", "state": True, "note": "", "level": True}, "must be a integer"),
    ({"room": "hall", "state": True, "note": ""}, "missing required argument 'level'"),
    ({"room": "hall", "state": True, "note": "", "level": 1, "topic": "x"}, "unknown argument 'topic'"),
])
def test_tool_arguments_are_validated(args: dict, reason: str) -> None:
    r, published, events = runner([LIGHT])
    with pytest.raises(ValueError, match=reason):
        asyncio.run(r.run("set_light", args))
    assert published == [] and events[0].ok is False


def test_free_text_topic_values_cannot_escape_their_level() -> None:
    tool = ToolConfig(name="notify", topic="home/{room}/notify", parameters={
        "type": "object", "properties": {"room": {"type": "string"}}, "required": ["room"]})
    r, published, _ = runner([tool])
    for bad in ["a/b", "../x", "+", "#", "a\0", "", "k\x1b[0m", "x" * 201]:
        with pytest.raises(ValueError):
            asyncio.run(r.run("notify", {"room": bad}))
    assert published == []
    asyncio.run(r.run("notify", {"room": "living room"}))
    assert published[0][0] == "home/living room/notify"


def test_undeclared_tool_and_offline_broker() -> None:
    r, published, events = runner([LIGHT], connected=False)
    with pytest.raises(ValueError, match="unknown tool 'rm_rf'; declared tools: set_light"):
        asyncio.run(r.run("rm_rf", {}))
    result = asyncio.run(r.run("set_light", {"room": "hall", "state": False, "note": "", "level": 0}))
    assert result.startswith("not done: the MQTT broker is not connected")
    assert [e.ok for e in events] == [False, False]


def test_specs_and_confirmation() -> None:
    door = ToolConfig(name="open_door", topic="home/door/open", confirm=True)
    r, _, _ = runner([LIGHT, door])
    specs = r.specs()
    assert specs[0]["type"] == "function" and specs[0]["function"]["name"] == "set_light"
    assert specs[0]["function"]["parameters"]["additionalProperties"] is False
    assert specs[1]["function"]["parameters"]["properties"] == {}
    assert r.needs_confirmation("open_door") and not r.needs_confirmation("set_light")
    assert not r.needs_confirmation("nope")
    result = asyncio.run(r.run("open_door", {}))
    assert result.startswith("done")


@pytest.mark.parametrize(("tool", "message"), [
    (dict(topic="home/{room}/x"), "template field {room} is not a declared parameter"),
    (dict(topic="home/{0}/x"), "must be a plain {name}"),
    (dict(topic="home/x", payload="{}"), "write literal braces as {{ and }}"),
    (dict(topic="home/{room!r}/x", parameters={"type": "object", "properties": {"room": {"type": "string"}}}),
     "must be a plain"),
    (dict(topic="home/+/x"), "without + # or NUL"),
    (dict(topic="edge-agent/k1/cmd/say"), "inside the agent's own topics"),
    (dict(topic="a", parameters={"type": "object", "properties": {"n": {"type": "array"}}}), "type must be one of"),
    (dict(topic="a", parameters={"type": "object", "properties": {"n": {"type": "string", "pattern": "x"}}}),
     "unsupported schema keyword"),
    (dict(topic="a", parameters={"type": "string"}), '"type": "object"'),
])
def test_bad_tool_declarations_are_config_errors(tool: dict, message: str) -> None:
    with pytest.raises(ConfigError, match="mqtt.tools 't'") as info:
        runner([ToolConfig(name="t", **tool)])
    assert message in str(info.value)


def test_duplicate_tools_refused() -> None:
    with pytest.raises(ConfigError, match="declared twice"):
        runner([LIGHT, LIGHT])


# --- secrets and TLS ----------------------------------------------------------------------------


def test_password_from_file_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cr3t-pw\n")
    caplog.set_level(logging.DEBUG)
    bridge = MqttBridge(mqtt_config(1, device_id="sec", username="agent", password_file=secret))
    assert bridge._client._password == b"s3cr3t-pw"
    bridge.start()
    bridge.stop(timeout=0.5)
    assert "s3cr3t" not in caplog.text
    assert all(b"s3cr3t" not in p for p in bridge.retained().values())


def test_password_from_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mqtt__password").write_text("cred-pw")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = load_settings(None, mqtt={"enabled": True, "username": "agent"})
    assert settings.mqtt.password is not None and "cred-pw" not in repr(settings.mqtt)
    bridge = MqttBridge(settings.mqtt)
    assert bridge._client._password == b"cred-pw"


def test_missing_tls_files_and_password_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(MqttError, match="mqtt.tls_ca .* does not exist"):
        MqttBridge(mqtt_config(1, tls_ca=tmp_path / "nope.pem"))
    with pytest.raises(MqttError, match="mqtt.password_file .* cannot be read"):
        MqttBridge(mqtt_config(1, username="u", password_file=tmp_path / "nope"))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(MqttError, match="TLS setup failed"):
        MqttBridge(mqtt_config(1, tls_ca=bad))


def test_lost_connection_forgets_unacked_retained_publishes_but_keeps_events() -> None:
    # paho re-sends what it still holds after a reconnect, after on_connect: an old state must not
    # land after the newest one that the reconnect republishes
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_agent.mqtt.paho_compat import drop_unacked_retained

    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.publish("ea/state", b'{"state": "listening"}', qos=1, retain=True)  # held: not connected
    client.publish("ea/event/transcript", b'{"text": "hi"}', qos=1)
    client.publish("ea/state", b'{"state": "thinking"}', qos=1, retain=True)
    assert drop_unacked_retained(client, {"ea/state", "ea/metrics"}) == 2
    assert [m.topic for m in client._out_messages.values()] == ["ea/event/transcript"]
