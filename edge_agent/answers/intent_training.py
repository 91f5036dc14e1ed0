"""Training the learned intent matcher: sentences drawn from the templates, and a softmax regression.

The training sentences are random walks through the same sentence templates the exact matcher uses
(``home-assistant-intents``' English sentences and ``data/intents_en.yaml``), a few dozen per template,
labelled with the matcher's class (:data:`CLASS_OF`); Home Assistant's intents that we do not answer
(the weather, shopping lists, lights' brightness, ...) and the tuning split's questions that are not
intents are the class ``none``, so a question that merely shares words with a command has somewhere to
go. The tuning split's intents are added with their class. Only ``tools/train_intent_model.py`` imports
this module; the daemon loads the weights it wrote (``answers/intent_model.json``)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from edge_agent.answers.intent_features import N_FEATURES, features

CLASS_OF = {
    "HassGetCurrentTime": "time", "EdgeTime": "time",
    "HassGetCurrentDate": "date", "EdgeDate": "date",
    "HassStartTimer": "timer_start",
    "HassCancelTimer": "timer_cancel", "HassCancelAllTimers": "timer_cancel_all",
    "HassTimerStatus": "timer_status", "EdgeTimerStatus": "timer_status",
    "HassSetVolume": "volume_set",
    "HassSetVolumeRelative": "volume_relative", "EdgeVolumeUp": "volume_relative", "EdgeVolumeDown": "volume_relative",
    "HassMediaPlayerMute": "mute", "EdgeMute": "mute",
    "HassMediaPlayerUnmute": "unmute", "EdgeUnmute": "unmute",
    "HassNevermind": "nevermind", "EdgeNevermind": "nevermind",
    "HassTurnOn": "turn_on", "EdgeTurnOnUnknown": "turn_on",
    "HassTurnOff": "turn_off", "EdgeTurnOffUnknown": "turn_off",
    "EdgeCapabilities": "capabilities", "EdgeStop": "stop",
}
"""Template intent → the learned matcher's class. A device that is or is not declared, and a volume
going up or down, are told from the words (:mod:`edge_agent.answers.intent_slots`), not learned."""
NONE = "none"
LEFT_OUT = frozenset({"EdgeDimUnknown", "HassPauseTimer", "HassUnpauseTimer", "HassIncreaseTimer",
                      "HassDecreaseTimer"})
"""Template intents in neither a class nor ``none``: close enough to ours ("pause the timer") that
calling them not-an-intent would teach the wrong thing, and not ours to answer."""

AREAS = ["kitchen", "living room", "bedroom", "office", "hallway", "garage", "garden", "lobby", "cafe", "shop",
         "bathroom", "entrance", "reception", "study", "basement"]
NAMES = ["lamp", "ceiling light", "fan", "tv", "heater", "coffee machine", "lights", "light", "radio", "porch light",
         "desk lamp", "printer", "projector", "speaker"]
WILDCARD = ["the tv", "the radio", "the fan", "the heating", "the projector", "the music", "the kettle",
            "the fountain", "the air con", "the computer", "the screen", "the oven", "the lamp"]
SAMPLES_PER_TEMPLATE = 24


def sample(expression: Any, lists: dict[str, Any], rules: dict[str, Any], rng: random.Random) -> str:
    """One random sentence of a hassil expression (each alternative, list value and number drawn at random)."""
    from hassil.expression import Alternative, ListReference, Permutation, RuleReference, Sequence, TextChunk
    from hassil.intents import RangeSlotList, TextSlotList

    if isinstance(expression, TextChunk):
        return str(expression.original_text)
    if isinstance(expression, Alternative):
        return sample(rng.choice(expression.items), lists, rules, rng)
    if isinstance(expression, Permutation):
        items = list(expression.items)
        rng.shuffle(items)
        return " ".join(sample(i, lists, rules, rng) for i in items)
    if isinstance(expression, Sequence):
        return "".join(sample(i, lists, rules, rng) for i in expression.items)
    if isinstance(expression, RuleReference):
        return sample(rules[expression.rule_name].expression, lists, rules, rng)
    if isinstance(expression, ListReference):
        slot_list = lists.get(expression.list_name)
        if isinstance(slot_list, TextSlotList) and slot_list.values:
            return sample(rng.choice(slot_list.values).text_in, lists, rules, rng)
        if isinstance(slot_list, RangeSlotList):
            return str(rng.randrange(slot_list.start, slot_list.stop + 1, slot_list.step))
        return rng.choice(WILDCARD)
    raise ValueError(f"unexpected expression {expression!r}")


def template_sentences(data: dict[str, Any], rng: random.Random) -> Iterator[tuple[str, str]]:
    """(class, sentence) pairs drawn from every template of ``data`` (hassil's dict form)."""
    from hassil import Intents
    from hassil.intents import TextSlotList

    intents = Intents.from_dict(data)
    lists = {**intents.slot_lists, "area": TextSlotList.from_strings(AREAS), "floor": TextSlotList.from_strings(AREAS),
             "name": TextSlotList.from_strings(NAMES)}
    for name, intent in intents.intents.items():
        if name in LEFT_OUT:
            continue
        label = CLASS_OF.get(name, NONE)
        for block in intent.data:
            rules = {**intents.expansion_rules, **block.expansion_rules}
            for sentence in block.sentences:
                seen = set()
                for _ in range(SAMPLES_PER_TEMPLATE):
                    text = " ".join(sample(sentence.expression, lists, rules, rng).split())
                    if text and text not in seen:
                        seen.add(text)
                        yield label, text


def all_templates(language: str = "en") -> dict[str, Any]:
    """HA's templates of every intent (ours answered or not) merged with ours."""
    from hassil.util import merge_dict
    from home_assistant_intents import get_intents

    from edge_agent.answers.intents import own_templates

    data = get_intents(language)
    if data is None:
        raise ValueError(f"no templates for {language!r}")
    merge_dict(data, own_templates(language))
    for intent in data["intents"].values():  # "<do something> in 2 hours": not a timer (as the exact matcher)
        intent["data"] = [d for d in intent["data"] if not any("{timer_command" in s for s in d["sentences"])]
    return data


def fit(examples: Iterable[tuple[str, str]], classes: list[str], epochs: int = 60, l2: float = 1e-4,
        rate: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression over hashed features, by mini-batch gradient descent (with class weights,
    so that the many ``none`` sentences do not drown a small class). Returns (weights, bias)."""
    rows = [(classes.index(label), features(text)) for label, text in examples]
    y = np.array([r[0] for r in rows])
    counts = np.bincount(y, minlength=len(classes)).astype(float)
    class_weight = (len(y) / (len(classes) * np.maximum(counts, 1)))[y]
    weights = np.zeros((N_FEATURES, len(classes)))
    bias = np.zeros(len(classes))
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        step = rate / (1 + epoch / 10)
        for batch in np.array_split(rng.permutation(len(rows)), max(1, len(rows) // 64)):
            idx = [np.array(rows[i][1], dtype=np.int64) for i in batch]
            flat = np.concatenate(idx)
            lengths = np.array([len(a) for a in idx])
            scale = np.repeat(1 / np.sqrt(lengths), lengths)[:, None]
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            p = softmax(np.add.reduceat(weights[flat] * scale, starts) + bias)
            p[np.arange(len(batch)), y[batch]] -= 1.0
            p *= class_weight[batch][:, None]
            grad_w = np.zeros_like(weights)
            np.add.at(grad_w, flat, np.repeat(p, lengths, axis=0) * scale)
            weights -= step * (grad_w / len(batch) + l2 * weights)
            bias -= step * p.sum(axis=0) / len(batch)
    return weights, bias


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
