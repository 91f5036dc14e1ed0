"""What each local intent does, and the sentence that says so. No LLM is involved: the time comes
from the clock, a timer from :class:`~edge_agent.answers.timers.TimerBook`, and "the light is on"
only from the tool's own result (the MQTT publish went out), never from a guess."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from edge_agent.answers.answer import Answer, Control, Source
from edge_agent.answers.devices import Device
from edge_agent.answers.intents import IntentMatch
from edge_agent.answers.timers import TimerBook, spoken_duration
from edge_agent.control import ToolRunner

VOLUME_STEP = 0.1
""""Turn the volume up/down" changes the output gain by this much."""


def _say_time(now: dt.datetime) -> str:
    hour = now.hour % 12 or 12
    return f"It's {hour}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}."


def _say_date(now: dt.datetime) -> str:
    return f"Today is {now:%A}, {now:%B} {now.day}, {now.year}."


class IntentHandler:
    """Answers an :class:`IntentMatch`. ``volume`` reads the current output gain (for relative
    changes); ``tools`` runs the declared MQTT tools (None: no tool can run)."""

    def __init__(self, devices: list[Device], tools: ToolRunner | None, timers: TimerBook,
                 capabilities: Callable[[], str], volume: Callable[[], float] = lambda: 1.0,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone()) -> None:
        self.devices = devices
        self.tools = tools
        self.timers = timers
        self.capabilities = capabilities
        self.volume = volume
        self.now = now

    async def handle(self, match: IntentMatch) -> Answer:
        name = match.name
        reason = f"matched {name}" + ("" if match.confidence is None else
                                      f" (no template: {match.by}={match.confidence:.2f})")

        def say(text: str, **extra: Any) -> Answer:
            return Answer(source=Source.INTENT, reason=reason, text=text, intent=name, slots=match.slots, **extra)

        if name == "HassGetCurrentTime":
            return say(_say_time(self.now()))
        if name == "HassGetCurrentDate":
            return say(_say_date(self.now()))
        if name == "HassStartTimer":
            seconds = match.slots.get("seconds", 0)
            if seconds <= 0:
                return say("For how long? Say, for example, set a timer for five minutes.")
            timer = self.timers.start(seconds, match.slots.get("name"))
            return say(f"Timer set for {spoken_duration(timer.seconds)}.")
        if name in ("HassCancelTimer", "HassCancelAllTimers"):
            gone = self.timers.cancel(everything=name == "HassCancelAllTimers")
            return say(f"Cancelled the {gone[-1].name}." if len(gone) == 1 else
                       f"Cancelled {len(gone)} timers." if gone else "There is no timer running.")
        if name == "HassTimerStatus":
            return say(self.timers.status())
        if name == "HassSetVolume":
            level = max(0, min(100, match.slots.get("volume", 100)))
            return say(f"Volume set to {level} percent.", control=Control.VOLUME, volume=level / 100)
        if name == "HassSetVolumeRelative":
            step = match.slots.get("step", VOLUME_STEP * 100) / 100
            sign = 1 if match.slots.get("direction") == "up" else -1
            level = round(max(0.0, min(1.0, self.volume() + sign * step)), 2)
            return say(f"Volume {'up' if sign > 0 else 'down'}, to {round(level * 100)} percent.",
                       control=Control.VOLUME, volume=level)
        if name == "HassMediaPlayerMute":
            return say("Muted. Say unmute, or use the mute button, to make me listen again.", control=Control.MUTE)
        if name == "HassMediaPlayerUnmute":
            return say("I'm listening again.", control=Control.UNMUTE)
        if name in ("HassNevermind", "EdgeStop"):
            return say("", control=Control.STOP)
        if name == "EdgeCapabilities":
            return say(self.capabilities())
        if name in ("HassTurnOn", "HassTurnOff", "EdgeTurnOnUnknown", "EdgeTurnOffUnknown"):
            return await self._switch(match, on=name in ("HassTurnOn", "EdgeTurnOnUnknown"), say=say)
        if name == "EdgeDimUnknown":  # the declared tools switch things on and off, nothing more
            wanted = match.slots.get("device", "lights")
            if not self.devices:
                return say(f"I can't do that: no tool for the {wanted} is set up here.")
            return say(f"I can't dim the {wanted}: I can only switch it on or off.")
        return say("I can't do that.")

    def _find(self, slots: dict[str, Any]) -> tuple[Device | None, str]:
        """The declared device the slots name, or None and what the user asked for (in words)."""
        area = slots.get("area")
        domain = slots.get("domain")
        tool = slots.get("tool")
        wanted = slots.get("device") or " ".join(w for w in (area, _noun(domain)) if w) or "that"
        candidates = [d for d in self.devices if (tool is None or d.tool == tool)
                      and (domain is None or d.domain == domain)]
        if slots.get("device"):
            return None, wanted
        if area is not None:
            candidates = [d for d in candidates if d.areas and area in d.areas]
        return (candidates[0] if len(candidates) == 1 else None), wanted

    async def _switch(self, match: IntentMatch, on: bool, say: Callable[..., Answer]) -> Answer:
        device, wanted = self._find(match.slots)
        state = "on" if on else "off"
        if device is None:
            return say(f"I can't do that: no tool for the {wanted} is set up here.")
        area = match.slots.get("area")
        if device.areas and area is None:
            if len(device.areas) > 1:
                return say(f"Which room: {' or '.join(device.areas)}?")
            area = next(iter(device.areas))
        what = f"the {area} {device.noun}" if area else f"the {device.noun}"
        match.slots["tool"] = device.tool
        if self.tools is None:
            return say(f"I couldn't switch {what} {state}: no MQTT broker is set up for tools.")
        args = device.arguments(on, area)
        if self.tools.needs_confirmation(device.tool):
            return say(f"Switching {what} {state} needs a confirmation, which I can't take by voice yet.")
        try:
            result = await self.tools.run(device.tool, args)
        except ValueError as exc:
            return say(f"I couldn't switch {what} {state}: {exc}.")
        if result.startswith("done"):
            return say(f"Done: {what} is {state}.")
        return say(f"I couldn't switch {what} {state}: {result.removeprefix('not done: ')}.")


def _noun(domain: str | None) -> str | None:
    from edge_agent.answers.devices import DOMAIN_WORDS

    return DOMAIN_WORDS.get(domain, (domain,))[0] if domain else None
