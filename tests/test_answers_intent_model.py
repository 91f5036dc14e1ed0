"""The learned intent matcher: features, slots read from the words, the weights' encoding, and the
router taking its guess only when sure and when the slots are there."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.answers.devices import Device
from edge_agent.answers.intent_features import N_FEATURES, features, tokens
from edge_agent.answers.intent_model import IntentClassifier, decode, encode, intent_for
from edge_agent.answers.intent_slots import device_slots, duration_seconds, volume_direction, volume_level

LIGHT = Device(tool="set_light", domain="light", state_param="state", on_value="on", off_value="off",
               area_param="room", areas={"lobby": "lobby", "cafe": "cafe"})


def test_numbers_fold_onto_one_token() -> None:
    assert tokens("Set a 15 minute timer") == tokens("set a fifteen minute timer")
    assert all(0 <= i < N_FEATURES for i in features("Turn on the cafe lights"))
    assert features("") == []


@pytest.mark.parametrize(("text", "seconds"), [
    ("I need a timer for 20 minutes", 1200), ("an hour and a half", 5400), ("two and a half minutes", 150),
    ("half an hour, please", 1800), ("a three minute countdown", 180), ("twenty five seconds", 25),
    ("1 hour 30 minutes", 5400), ("a quarter of an hour", 900), ("set a timer", None), ("what time is it", None),
])
def test_duration(text: str, seconds: int | None) -> None:
    assert duration_seconds(text) == seconds


def test_volume_level_and_direction() -> None:
    assert volume_level("put the volume at 65 percent") == 65
    assert volume_level("volume at thirty") == 30
    assert volume_level("volume up") is None
    assert volume_level("between 20 and 30") is None
    assert volume_direction("that's too loud, turn it down") == "down"
    assert volume_direction("it's a bit quiet, make it louder") == "up"
    assert volume_direction("turn it up, no, down") is None


def test_device_slots_name_a_declared_device_or_the_thing_asked_for() -> None:
    assert device_slots("put the cafe lights on", [LIGHT]) == {"tool": "set_light", "domain": "light", "area": "cafe"}
    assert device_slots("lights on please", [LIGHT]) == {"tool": "set_light", "domain": "light"}
    assert device_slots("could you switch the radio off", [LIGHT]) == {"device": "radio"}


def test_intent_for_needs_its_slots() -> None:
    assert intent_for("timer_start", "start a timer", []) is None
    assert intent_for("timer_start", "I need a timer for 20 minutes", []) == ("HassStartTimer", {"seconds": 1200})
    assert intent_for("timer_cancel", "clear every timer", []) == ("HassCancelAllTimers", {})
    assert intent_for("volume_set", "louder", []) == ("HassSetVolumeRelative", {"direction": "up"})
    assert intent_for("volume_relative", "make it different", []) is None
    assert intent_for("turn_on", "put the cafe lights on", [LIGHT]) == (
        "HassTurnOn", {"tool": "set_light", "domain": "light", "area": "cafe"})
    assert intent_for("turn_off", "switch the radio off", [LIGHT]) == ("EdgeTurnOffUnknown", {"device": "radio"})
    assert intent_for("time", "what time have you got", []) == ("HassGetCurrentTime", {})


def test_encoding_keeps_the_weights_to_a_quantum() -> None:
    rng = np.random.default_rng(0)
    weights = np.zeros((N_FEATURES, 3))
    weights[rng.integers(0, N_FEATURES, 50)] = rng.normal(size=(50, 3))
    back, bias, classes = decode(encode(weights, np.array([0.1, 0.2, 0.3]), ["a", "b", "c"], {}))
    assert classes == ["a", "b", "c"]
    assert np.abs(back - weights).max() <= np.abs(weights).max() / 127
    assert bias.tolist() == pytest.approx([0.1, 0.2, 0.3])


def test_the_shipped_model_knows_a_phrasing_no_template_has() -> None:
    model = IntentClassifier()
    assert model.predict("I need a timer for 20 minutes").label == "timer_start"
    assert model.predict("What are your opening hours?").label == "none"


def test_reversal_cues() -> None:
    from edge_agent.answers.intent_features import reversal_cues

    known = frozenset(["mute", "sound", "light"])
    assert reversal_cues("Take the sound off mute.", known) == {"off:mute"}
    assert reversal_cues("Come out of mute", known) == {"off:mute"}
    assert reversal_cues("I don't want it muted", known) == {"not"}
    assert reversal_cues("no longer", known) == {"not"}
    assert reversal_cues("please unmute", frozenset(["mute"])) == {"un:mute"}
    assert reversal_cues("unmute", frozenset(["mute", "unmute"])) == set()  # a word of the training sentences
    assert reversal_cues("switch off the foyer light", known) == set()  # "foyer": a name, not a state
    assert reversal_cues("turn the light off", known) == set()


def test_a_request_turned_round_is_not_taken_for_its_opposite() -> None:
    model = IntentClassifier()
    model.cues = {"mute": frozenset(["off:sound"]), "unmute": frozenset(["off:mute"])}
    model.cue_words = frozenset(["mute", "sound"])
    assert model.check_reversal("mute", "turn the sound off") == "mute"
    assert model.check_reversal("mute", "take the sound off mute") == "unmute"  # the opposite has the cue
    assert model.check_reversal("mute", "don't mute") is None  # neither has it: no answer
    assert model.check_reversal("time", "what time is it") == "time"


@pytest.mark.parametrize("text", ["Take the sound off mute.", "Don't mute.", "I no longer want you muted.",
                                  "Don't turn the lights on."])
def test_the_shipped_model_never_does_the_opposite_of_what_was_asked(text: str) -> None:
    model = IntentClassifier()
    guess = model.predict(text)
    assert model.check_reversal(guess.label, text) in (None, "unmute", "turn_off")


@pytest.mark.parametrize(("label", "text"), [("mute", "Mute yourself for a bit."),
                                             ("nevermind", "Oh, don't worry about it."),
                                             ("turn_off", "Switch off the foyer light.")])
def test_the_shipped_model_keeps_plain_requests(label: str, text: str) -> None:
    assert IntentClassifier().check_reversal(label, text) == label
