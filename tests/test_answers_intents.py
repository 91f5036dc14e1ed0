"""Local intents with Home Assistant's real templates (hassil + home-assistant-intents) and ours."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from edge_agent.answers.answer import Control, Source
from edge_agent.answers.devices import DEMO_TOOL, device_from_tool, devices_from_tools
from edge_agent.answers.handlers import IntentHandler
from edge_agent.answers.intents import IntentMatcher
from edge_agent.answers.timers import TimerBook, spoken_duration
from edge_agent.config import ToolConfig
from edge_agent.events import TimerEvent


@pytest.fixture(scope="module")
def matcher() -> IntentMatcher:
    return IntentMatcher(devices_from_tools([DEMO_TOOL]))


@pytest.mark.parametrize(("text", "intent", "slots"), [
    ("what time is it", "HassGetCurrentTime", {}),
    ("tell me the time", "HassGetCurrentTime", {}),
    ("what's the date today", "HassGetCurrentDate", {}),
    ("set a timer for five minutes", "HassStartTimer", {"seconds": 300}),
    ("set a timer for 1 hour and 30 minutes", "HassStartTimer", {"seconds": 5400}),
    ("cancel the timer", "HassCancelTimer", {}),
    ("Set a timer for two minutes, thanks.", "HassStartTimer", {"seconds": 120}),  # a polite ending
    ("What day of the week is it?", "HassGetCurrentDate", {}),
    ("How many minutes are left on the timer?", "HassTimerStatus", {}),
    ("Forget it.", "HassNevermind", {}),
    ("how much time is left on my timer", "HassTimerStatus", {}),
    ("set the volume to 40 percent", "HassSetVolume", {"volume": 40}),
    ("turn up the volume", "HassSetVolumeRelative", {"direction": "up"}),
    ("mute", "HassMediaPlayerMute", {}),
    ("stop", "EdgeStop", {}),
    ("what can you do", "EdgeCapabilities", {}),
    ("turn on the lights in the lobby", "HassTurnOn", {"area": "lobby", "domain": "light"}),
    ("turn the cafe light off", "HassTurnOff", {"area": "cafe", "domain": "light"}),
    ("turn on the garage heater", "EdgeTurnOnUnknown", {"device": "garage heater"}),
    ("louder please", "HassSetVolumeRelative", {"direction": "up"}),
    ("quieter", "HassSetVolumeRelative", {"direction": "down"}),
    ("turn the volume down a little", "HassSetVolumeRelative", {"direction": "down"}),
    ("dim the cafe light to 30 percent", "EdgeDimUnknown", {"device": "cafe light"}),
    # everyday phrasings (ours, intents_en.yaml): an embedded question, a request, the agent as "it"
    ("could you tell me what time it is", "HassGetCurrentTime", {}),
    ("do you happen to know the time", "HassGetCurrentTime", {}),
    ("can you tell me today's date", "HassGetCurrentDate", {}),
    ("what day is it today", "HassGetCurrentDate", {}),
    ("how long until the timer rings", "HassTimerStatus", {}),
    ("when will my timer go off", "HassTimerStatus", {}),
    ("how much time do i have left on the timer", "HassTimerStatus", {}),
    ("could you make yourself a bit louder", "HassSetVolumeRelative", {"direction": "up"}),
    ("make the sound softer", "HassSetVolumeRelative", {"direction": "down"}),
    ("please mute your voice", "HassMediaPlayerMute", {}),
    ("turn the sound off", "HassMediaPlayerMute", {}),
    ("unmute yourself", "HassMediaPlayerUnmute", {}),
    ("switch off the coffee machine", "EdgeTurnOffUnknown", {"device": "coffee machine"}),
    # general grammar (2026-12-07): who the timer is for, a contraction of "is", two stop words, what to ask
    ("set up a timer for 25 minutes", "HassStartTimer", {"seconds": 1500}),
    ("could you make me a timer for 3 minutes", "HassStartTimer", {"seconds": 180}),
    ("how much time's left on my timer", "HassTimerStatus", {}),
    ("okay, that will do", "EdgeStop", {}),
    ("what kind of stuff can I ask you about", "EdgeCapabilities", {}),
    ("switch the speaker back on", "HassMediaPlayerUnmute", {}),
])
def test_matches_intent_and_slots(matcher: IntentMatcher, text: str, intent: str, slots: dict) -> None:
    match = matcher.match(text)
    assert match is not None and match.name == intent
    assert {k: match.slots.get(k) for k in slots} == slots


@pytest.mark.parametrize("text", ["what are your opening hours", "how many minutes are in two hours",
                                  "what's the weather like today", "wie spät ist es", "",
                                  "when does the museum open", "how long does the tour take",
                                  "what time does the cafe close"])
def test_no_intent_for_questions_of_fact(matcher: IntentMatcher, text: str) -> None:
    assert matcher.match(text) is None


@pytest.mark.parametrize("text", ["put on a timer for 4 minutes", "switch the alarm on", "turn your voice back on",
                                  "turn on the speaker"])
def test_the_wildcard_device_is_never_the_agents_own_thing(matcher: IntentMatcher, text: str) -> None:
    match = matcher.match(text)
    assert match is None or match.name not in ("EdgeTurnOnUnknown", "EdgeTurnOffUnknown")


def test_language_without_templates_matches_nothing() -> None:
    matcher = IntentMatcher([], language="xx")
    assert not matcher.available and matcher.match("what time is it") is None


def test_device_from_tool_reads_states_and_rooms() -> None:
    device = device_from_tool(DEMO_TOOL)
    assert device is not None and device.domain == "light" and device.areas == {"lobby": "lobby", "cafe": "cafe"}
    assert device.arguments(True, "cafe") == {"state": "ON", "room": "cafe"}
    door = ToolConfig(name="open_door", topic="home/door/open")
    assert device_from_tool(door) is None


class RecordingTools:
    """A ToolRunner that records calls and answers as MqttToolRunner does."""

    def __init__(self, result: str) -> None:
        self.result = result
        self.calls: list[tuple[str, dict]] = []

    publishes_events = True

    def specs(self) -> list[dict]:
        return []

    def needs_confirmation(self, name: str) -> bool:
        return False

    async def run(self, name: str, arguments: dict) -> str:
        self.calls.append((name, arguments))
        return self.result


def _handler(tools: object, events: list | None = None) -> IntentHandler:
    timers = TimerBook(on_event=(events.append if events is not None else None))
    return IntentHandler(devices_from_tools([DEMO_TOOL]), tools, timers, lambda: "I can help.",  # type: ignore[arg-type]
                         now=lambda: dt.datetime(2026, 12, 4, 20, 20))


def test_time_comes_from_the_clock(matcher: IntentMatcher) -> None:
    answer = asyncio.run(_handler(None).handle(matcher.match("what time is it")))  # type: ignore[arg-type]
    assert answer.source is Source.INTENT and answer.text == "It's 8:20 PM." and answer.llm is None


def test_switch_is_confirmed_only_from_the_tool_result(matcher: IntentMatcher) -> None:
    done = RecordingTools("done: published to museum/lobby/light/set")
    answer = asyncio.run(_handler(done).handle(matcher.match("turn on the lobby light")))  # type: ignore[arg-type]
    assert done.calls == [("set_light", {"state": "ON", "room": "lobby"})]
    assert answer.text == "Done: the lobby light is on." and answer.slots["tool"] == "set_light"
    offline = RecordingTools("not done: the MQTT broker is not connected; try again later")
    answer = asyncio.run(_handler(offline).handle(matcher.match("turn on the lobby light")))  # type: ignore[arg-type]
    assert answer.text is not None and answer.text.startswith("I couldn't switch the lobby light on")


def test_undeclared_device_is_refused_without_running_anything(matcher: IntentMatcher) -> None:
    tools = RecordingTools("done")
    for text in ("turn on the fan in the lobby", "turn on the garage heater"):
        answer = asyncio.run(_handler(tools).handle(matcher.match(text)))  # type: ignore[arg-type]
        assert answer.text is not None and answer.text.startswith("I can't do that")
    assert tools.calls == []


def test_volume_and_stop_are_controls(matcher: IntentMatcher) -> None:
    handler = _handler(None)
    answer = asyncio.run(handler.handle(matcher.match("set the volume to 40%")))  # type: ignore[arg-type]
    assert answer.control is Control.VOLUME and answer.volume == 0.4
    answer = asyncio.run(handler.handle(matcher.match("stop")))  # type: ignore[arg-type]
    assert answer.control is Control.STOP and answer.text == ""


def test_timer_rings_with_an_event_and_a_sentence() -> None:
    events: list = []
    spoken: list[str] = []

    async def scenario() -> None:
        book = TimerBook(on_event=events.append, on_alarm=spoken.append)
        book.start(0.05)
        assert "left on the" in book.status()
        await asyncio.sleep(0.15)
        assert book.status() == "There is no timer running."

    asyncio.run(scenario())
    assert [e.action for e in events if isinstance(e, TimerEvent)] == ["started", "finished"]
    assert spoken == [f"Your {events[0].name} is done."]


def test_spoken_duration() -> None:
    assert spoken_duration(3725) == "1 hour, 2 minutes and 5 seconds"
    assert spoken_duration(300, as_name=True) == "5 minute"
