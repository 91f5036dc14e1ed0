"""The operator's declared MQTT tools seen as switchable devices, for the turn on / turn off intents.

A tool is a device when its parameters have an on/off argument (a boolean, or a string ``enum``
holding ``on`` and ``off`` in any case) and, at most, one other argument whose ``enum`` lists the
rooms (``room``, ``area``, ``location``, ``zone`` or ``place``, else the only other enum). Its kind
(``light``, ``fan``, ...; Home Assistant's domain names) comes from the words of its name and
description. Nothing else is guessed: a tool that does not fit is left to the LLM."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from edge_agent.config import ToolConfig

DOMAIN_WORDS: dict[str, tuple[str, ...]] = {
    "light": ("light", "lights", "lamp", "lamps", "lighting"),
    "fan": ("fan", "fans", "ventilation"),
    "cover": ("blind", "blinds", "shutter", "shutters", "curtain", "curtains", "cover"),
    "climate": ("heater", "heating", "thermostat", "radiator", "climate"),
    "media_player": ("music", "radio", "tv", "speaker", "media"),
}
"""Home Assistant domain → words that name it in a tool's name or description."""
DEFAULT_DOMAIN = "switch"
AREA_PARAM_NAMES = ("room", "area", "location", "zone", "place")


@dataclass(frozen=True)
class Device:
    """One declared tool that switches something on and off."""

    tool: str
    domain: str
    state_param: str
    on_value: Any
    off_value: Any
    area_param: str | None = None
    areas: dict[str, str] | None = None
    """Spoken area name (lower case) → the enum value the tool takes."""

    def arguments(self, on: bool, area: str | None) -> dict[str, Any]:
        args: dict[str, Any] = {self.state_param: self.on_value if on else self.off_value}
        if self.area_param is not None and area is not None and self.areas is not None:
            args[self.area_param] = self.areas[area]
        return args

    @property
    def noun(self) -> str:
        return DOMAIN_WORDS.get(self.domain, (self.domain,))[0]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower().replace("_", " ")))


def _domain(tool: ToolConfig) -> str:
    words = _words(f"{tool.name} {tool.description}")
    for domain, names in DOMAIN_WORDS.items():
        if words & set(names):
            return domain
    return DEFAULT_DOMAIN


def _on_off(prop: dict[str, Any]) -> tuple[Any, Any] | None:
    if prop.get("type") == "boolean":
        return True, False
    values = {str(v).lower(): v for v in prop.get("enum", []) if isinstance(v, str)}
    if "on" in values and "off" in values:
        return values["on"], values["off"]
    return None


def device_from_tool(tool: ToolConfig) -> Device | None:
    """The tool as a :class:`Device`, or None when its arguments are not an on/off switch."""
    props: dict[str, dict[str, Any]] = tool.parameters.get("properties", {})
    state = next(((name, vals) for name, prop in props.items() if (vals := _on_off(prop)) is not None), None)
    if state is None:
        return None
    others = {name: prop for name, prop in props.items() if name != state[0]}
    if len(others) > 1:
        return None
    area_param = None
    areas = None
    if others:
        (name, prop), = others.items()
        enum = [v for v in prop.get("enum", []) if isinstance(v, str)]
        if not enum or not (name.lower() in AREA_PARAM_NAMES or len(others) == 1):
            return None
        area_param = name
        areas = {v.lower().replace("_", " "): v for v in enum}
    return Device(tool=tool.name, domain=_domain(tool), state_param=state[0], on_value=state[1][0],
                  off_value=state[1][1], area_param=area_param, areas=areas)


def devices_from_tools(tools: list[ToolConfig]) -> list[Device]:
    return [d for d in (device_from_tool(t) for t in tools) if d is not None]


_DEMO_LIGHT_PARAMETERS = {
    "type": "object",
    "required": ["room", "state"],
    "properties": {
        "room": {"type": "string", "enum": ["lobby", "cafe"]},
        "state": {"type": "string", "enum": ["ON", "OFF"]},
    },
}
DEMO_TOOL = ToolConfig(
    name="set_light",
    description="Switch the light in a room of the museum on or off",
    topic="museum/{room}/light/set",
    payload='{{"state": "{state}"}}',
    parameters=_DEMO_LIGHT_PARAMETERS,
)
"""The example tool ``answers.demo_tool`` declares when MQTT is on: a publish the broker acknowledges."""
DEMO_LOCAL_TOOL = ToolConfig(
    name="set_light",
    description="Switch the light in a room of the museum on or off",
    command=[sys.executable, "-m", "edge_agent.demo_light", "{room}", "{state}"],
    parameters=_DEMO_LIGHT_PARAMETERS,
)
"""The same tool with no broker: it runs the demo's light panel (:mod:`edge_agent.demo_light`),
whose exit status is the result."""
