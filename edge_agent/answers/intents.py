"""Local intents: Home Assistant's sentence templates (``home-assistant-intents``) matched by its
parser (``hassil``), plus our own templates for what HA's lack (``edge_agent/data/intents_<lang>.yaml``).

:class:`IntentMatcher` turns a sentence into an :class:`IntentMatch` (the intent's name and its
slots in plain values: ``seconds`` for timers, ``volume``/``direction`` for the volume, ``area``,
``domain`` and the matching declared ``tool`` for turn on/off). What an intent does is
:mod:`edge_agent.answers.handlers`'s job."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from edge_agent.answers.devices import Device

log = logging.getLogger(__name__)

HERE = "__here__"
"""The area the agent itself is in: the context HA's templates need for "set the volume to 50%"."""

_POLITE_END = re.compile(r"[\s,]*\b(?:please|thanks|thank you|if you (?:can|could|would|don't mind)|for me)[\s.!?]*$",
                         re.IGNORECASE)
_IS = re.compile(r"\b([a-z]+)'s\b", re.IGNORECASE)
"""A contraction of *is* the templates spell out ("how long's left" is "how long is left"); not a
possessive ("today's date"), which the templates have as it is."""

_WILDCARD_INTENTS = frozenset({"EdgeTurnOnUnknown", "EdgeTurnOffUnknown", "EdgeDimUnknown"})
OWN_THINGS = re.compile(r"\b(?:timers?|alarms?|sound|volume|voice|speakers?|audio|mute|yourself|you|your)\b",
                        re.IGNORECASE)
"""What the agent has itself (its timers, its sound): never an undeclared device for the wildcard
"turn on {device}" ("put on a timer for 90 seconds", "turn the sound back on" are not requests for a
tool nobody declared); another template, or none, answers them."""

ALIASES = {"EdgeNevermind": "HassNevermind", "EdgeTime": "HassGetCurrentTime", "EdgeDate": "HassGetCurrentDate",
           "EdgeTimerStatus": "HassTimerStatus",
           "EdgeMute": "HassMediaPlayerMute", "EdgeUnmute": "HassMediaPlayerUnmute",
           "EdgeVolumeUp": "HassSetVolumeRelative", "EdgeVolumeDown": "HassSetVolumeRelative"}
"""Our template intents that are another name for one of HA's."""

SUPPORTED = frozenset({
    "HassGetCurrentTime", "HassGetCurrentDate", "HassStartTimer", "HassCancelTimer", "HassCancelAllTimers",
    "HassTimerStatus", "HassSetVolume", "HassSetVolumeRelative", "HassMediaPlayerMute", "HassMediaPlayerUnmute",
    "HassNevermind", "HassTurnOn", "HassTurnOff", "EdgeCapabilities", "EdgeStop", *ALIASES,
    "EdgeDimUnknown",
    "EdgeTurnOnUnknown", "EdgeTurnOffUnknown",
})
"""Intents we answer. HA's others (weather, shopping lists, ...) are not matched at all: the
question goes on to the knowledge files and the LLM."""


@dataclass(frozen=True)
class IntentMatch:
    name: str
    slots: dict[str, Any] = field(default_factory=dict)
    confidence: float | None = None
    """The learned matcher's probability (:mod:`edge_agent.answers.intent_model`), or the nearest reference
    sentence's similarity (:mod:`edge_agent.answers.meaning`); None for a template's match."""
    by: str = "the learned matcher, p"
    """Which fallback matched, for ``--events``."""


def _load_templates(language: str) -> dict[str, Any] | None:
    from hassil.util import merge_dict
    from home_assistant_intents import get_intents

    data = get_intents(language)
    if data is None:
        return None
    data["intents"] = {k: v for k, v in data["intents"].items() if k in SUPPORTED}
    for intent in data["intents"].values():  # "<do something> in 2 hours": delayed commands we cannot run
        intent["data"] = [d for d in intent["data"] if not any("{timer_command" in s for s in d["sentences"])]
    merge_dict(data, own_templates(language))
    return data


def own_templates(language: str) -> dict[str, Any]:
    """Our templates of ``language`` (``data/intents_<lang>.yaml``), in hassil's dict form; empty if none."""
    ours = resources.files("edge_agent") / "data" / f"intents_{language}.yaml"
    if not ours.is_file():
        return {}
    import yaml

    return dict(yaml.safe_load(ours.read_text(encoding="utf-8")))


class IntentMatcher:
    """Matches sentences against the templates of one language, with the declared devices'
    areas and names as hassil slot lists. Loading is done once, at construction (and a warm-up
    match, since hassil compiles its expressions on first use)."""

    def __init__(self, devices: list[Device], language: str = "en") -> None:
        from hassil import Intents
        from hassil.intents import SlotList, TextSlotList

        self.language = language
        data = _load_templates(language)
        self.available = data is not None
        if data is None:
            log.warning("no intent templates for language %r: every question goes to the knowledge files "
                        "and the LLM (fix: set answers.language to one home-assistant-intents has, e.g. en)",
                        language)
            self._intents = Intents.from_dict({"language": language, "intents": {}})
        else:
            self._intents = Intents.from_dict(data)
        areas = sorted({a for d in devices for a in (d.areas or {})})
        names = [(f"{area} {d.noun}", f"{d.tool}:{area}", {"domain": d.domain}) for d in devices
                 for area in (d.areas or {})]
        names += [(d.noun, d.tool, {"domain": d.domain}) for d in devices if not d.areas]
        self._slot_lists: dict[str, SlotList] = {
            "area": TextSlotList.from_strings(areas) if areas else TextSlotList.from_strings([]),
            "floor": TextSlotList.from_strings([]),
            "name": TextSlotList.from_tuples(names) if names else TextSlotList.from_strings([]),
        }
        self._devices = devices
        self.match("what time is it")

    def match(self, text: str) -> IntentMatch | None:
        """The best matching supported intent, or None. A polite ending ("..., please", "thanks") that
        the template lacks is not part of the request: without a match, it is tried without it."""
        found = self._match(text)
        for variant in (_POLITE_END.sub("", text), _IS.sub(r"\1 is", text)):
            if found is None and variant != text and variant.strip():
                found = self._match(variant)
        return found

    def _match(self, text: str) -> IntentMatch | None:
        from hassil.recognize import recognize_ranked

        try:
            ranked = recognize_ranked(text, self._intents, slot_lists=self._slot_lists,
                                      intent_context={"area": HERE}, language=self.language)
        except Exception:  # hassil raises its own errors for odd input; a miss is the honest result
            log.debug("hassil failed on %r", text[:80], exc_info=True)
            return None
        result = next((r for r in ranked if not _own_thing(r)), None)
        if result is None:
            return None
        entities = {name: entity.value for name, entity in result.entities.items()}
        name = ALIASES.get(result.intent.name, result.intent.name)
        if result.intent.name in ("EdgeVolumeUp", "EdgeVolumeDown"):
            entities["volume_step"] = "up" if result.intent.name == "EdgeVolumeUp" else "down"
        return IntentMatch(name=name, slots=_normalise(name, entities, result.entities))


def _own_thing(result: Any) -> bool:
    """A wildcard device that is one of the agent's own things (:data:`OWN_THINGS`)."""
    if result.intent.name not in _WILDCARD_INTENTS:
        return False
    device = result.entities.get("device")
    return device is not None and bool(OWN_THINGS.search(str(device.value)))


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _normalise(name: str, values: dict[str, Any], entities: dict[str, Any]) -> dict[str, Any]:
    """HA's slot names and values → the plain ones our handlers and the benchmark use."""
    slots: dict[str, Any] = {}
    if name == "HassStartTimer":
        seconds = (_number(values.get("hours")) * 3600 + _number(values.get("minutes")) * 60
                   + _number(values.get("seconds")))
        slots["seconds"] = int(round(seconds))
        if values.get("name"):
            slots["name"] = str(values["name"])
    elif name == "HassSetVolume":
        slots["volume"] = int(_number(values.get("volume_level")))
    elif name == "HassSetVolumeRelative":
        step = values.get("volume_step")
        if step in ("up", "down"):
            slots["direction"] = step
        else:
            slots["direction"] = "down" if _number(step) < 0 else "up"
            slots["step"] = abs(int(_number(step)))
    elif name in ("HassTurnOn", "HassTurnOff", "EdgeTurnOnUnknown", "EdgeTurnOffUnknown", "EdgeDimUnknown"):
        area = values.get("area")
        if area is not None and area != HERE:
            slots["area"] = str(area).lower()
        if values.get("domain"):
            slots["domain"] = str(values["domain"])
        named = entities.get("name")
        if named is not None and isinstance(named.value, str) and not named.is_wildcard:
            tool, _, area_name = named.value.partition(":")
            slots["tool"] = tool
            if area_name:
                slots.setdefault("area", area_name)
        device = values.get("device")
        if device:  # the wildcard may swallow "to 30 percent" when the level is optional
            slots["device"] = str(device).split(" to ")[0].strip()
    return slots
