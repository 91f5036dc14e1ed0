"""The answer router: which part of the agent answers a turn, and why.

In order: a local intent (the clock, timers, the volume, the declared devices: the exact templates, then
their last clause, then the learned matcher of :mod:`~edge_agent.answers.intent_model`) → a passage of
the operator's knowledge files → small talk, for the small local model → an open question, for
the cloud when one is configured and ``llm.policy`` allows it → otherwise a short "I don't
know that". The small local model is never asked a question of fact: it has no facts to give.
Small talk is known by its forms (``competence.py``), creative requests too ("tell me a story about a
dragon"), unless one is about a particular thing the files know ("a story about the whale in the
gallery": the passage answers, or the agent declines). A greeting before a request ("Hi, where is the
cafe?") is not part of what is matched or searched.
Every :class:`~edge_agent.answers.answer.Answer` carries its reason (``Answer.event()`` is the
``answer_routed`` event for ``--events``)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from edge_agent.answers.answer import Answer, LlmRequest, Source
from edge_agent.answers.brevity import Bound
from edge_agent.answers.competence import (
    asks_identity,
    asks_nature,
    definite_subject,
    is_chitchat,
    topic,
    without_greeting,
    without_interruption,
)
from edge_agent.answers.devices import DEMO_LOCAL_TOOL, DEMO_TOOL, Device, devices_from_tools
from edge_agent.answers.handlers import IntentHandler
from edge_agent.answers.intent_model import MIN_CONFIDENCE, IntentClassifier, intent_for
from edge_agent.answers.intent_slots import device_slots
from edge_agent.answers.intents import IntentMatch, IntentMatcher
from edge_agent.answers.knowledge import KnowledgeBase
from edge_agent.answers.meaning import NEAREST_MIN, load_encoder, load_neighbours
from edge_agent.answers.timers import TimerBook
from edge_agent.config import ToolConfig
from edge_agent.control import ToolRunner
from edge_agent.events import Event
from edge_agent.listen.wake.spelling import without_leading_keyword

log = logging.getLogger(__name__)

CHITCHAT_PROMPT = (
    "You are {persona}, a friendly voice assistant in a kiosk. This is small talk: reply in one short, "
    "warm spoken sentence. Never state a fact, a number, a time, a date, a price or a place. No markdown, "
    "no lists, no emoji."
)
"""The system prompt of small talk: the local model is given nothing it could get wrong."""
CHITCHAT_BOUND = Bound(max_sentences=2, max_words=25, no_numbers=True, instead="I'd better not make that up.")
"""Small talk is cut at a sentence's end once it holds two sentences or would pass 25 words: the
prompt asks for one short sentence, and the 135M model does not always keep to it. It also ends
before the clause holding its first digit: the model states no number, even in a story."""
TOPICS_IN_DECLINE = 3
_LAST_CLAUSE = re.compile(r"[,;:]\s+|\s+-\s+")
MAX_UNFAMILIAR = 0
"""Words the learned matcher's intent never has in its training sentences (stopwords aside) that a sentence
may still hold: none. "What time does the *cafe close*", "what's the *news* today" are not the time or the
date, however sure the model is. Chosen on the tuning and validation splits: allowing one took "what time
does the ferry leave" for the time (out of scope -2) for 2 more intents."""


def demo_knowledge_file() -> Path:
    """The museum-kiosk example the package ships (``knowledge.files`` unset)."""
    return Path(str(resources.files("edge_agent") / "data" / "museum.md"))


def declared_tools(settings: Any) -> list[ToolConfig]:
    """``mqtt.tools``, or the example ``set_light`` tool when ``answers.demo_tool`` is on and none is
    declared: an MQTT publish when MQTT is on, else the demo's local light panel (no broker needed)."""
    tools = list(settings.mqtt.tools)
    if not tools and settings.answers.demo_tool:
        tools = [DEMO_TOOL if settings.mqtt.enabled else DEMO_LOCAL_TOOL]
    return tools


def cloud_configured(settings: Any) -> bool:
    cloud = settings.llm.cloud
    return bool(cloud.regions) and cloud.api_key is not None


class AnswerRouter:
    """Build once at start (templates and the knowledge index are loaded here), then ``await
    answer(text)`` per turn. ``emit`` receives timer events; ``on_alarm`` the sentence to speak
    when a timer rings; ``volume`` reads the current output gain."""

    def __init__(self, settings: Any, tools: ToolRunner | None = None,
                 emit: Callable[[Event], Any] | None = None, on_alarm: Callable[[str], Any] | None = None,
                 volume: Callable[[], float] = lambda: 1.0) -> None:
        self.settings = settings
        self.policy = str(settings.llm.policy)
        """``llm.policy`` as configured (an LLM request may narrow it for one turn)."""
        self.devices: list[Device] = devices_from_tools(declared_tools(settings))
        self.timers = TimerBook(on_event=emit, on_alarm=on_alarm)
        self.matcher = IntentMatcher(self.devices, settings.answers.language) if settings.answers.intents else None
        self.learned = (IntentClassifier() if self.matcher is not None and settings.answers.language == "en"
                        else None)
        """The learned matcher, for what no template matches (trained on the English templates only)."""
        self.handler = IntentHandler(self.devices, tools, self.timers, self.capabilities, volume=volume)
        kcfg = settings.knowledge
        files = [demo_knowledge_file()] if kcfg.files is None else list(kcfg.files)
        self.meaning = load_encoder(Path(settings.paths.models_dir))
        """The meaning model, when pulled (None: words only): the intents' last fallback, and a check of the
        passage the knowledge search found by its words."""
        self.knowledge = KnowledgeBase(files, min_score=kcfg.min_score, max_sentences=kcfg.max_sentences,
                                       encoder=self.meaning)
        self.neighbours = (load_neighbours(Path(settings.paths.models_dir), self.meaning)
                           if self.learned is not None else None)
        """The intents' nearest reference sentences in meaning, after both matchers."""

    @property
    def problems(self) -> list[str]:
        """What could not be loaded, each with its fix (for the start-up log and ``doctor``)."""
        return list(self.knowledge.problems)

    def reload(self) -> None:
        """Re-read the knowledge files."""
        self.knowledge.reload()

    async def answer(self, text: str, before_acting: Callable[[], Awaitable[object]] | None = None) -> Answer:
        """Decide who answers ``text``; an intent is carried out here (a tool runs, a timer starts)
        once ``before_acting`` returns (a speculative turn awaits its confirmation there: deciding
        has no side effects, acting has). The matching and the search run in a worker thread (a few
        milliseconds each), not on the loop."""
        text = without_interruption(without_leading_keyword(text, self.settings.wake.keywords))
        request = without_greeting(text)
        match = await asyncio.to_thread(self.match, request)
        if match is not None:
            if before_acting is not None:
                await before_acting()
            return await self.handler.handle(match)
        return await asyncio.to_thread(self.answer_without_intent, text)

    def match(self, request: str) -> IntentMatch | None:
        """The exact templates' intent, else the learned matcher's when it is sure enough and the
        intent's slots are in the words (blocking: a few milliseconds)."""
        if self.matcher is None:
            return None
        found = self.matcher.match(request)
        clause = _LAST_CLAUSE.split(request)[-1]
        if found is None and clause != request and len(clause.split()) >= 2:
            found = self.matcher.match(clause)  # "That's too loud, turn it down": the request is the last clause
        if found is not None and found.name in ("EdgeTurnOnUnknown", "EdgeTurnOffUnknown"):
            slots = device_slots(str(found.slots.get("device", "")), self.devices)
            if "tool" in slots:  # the wildcard caught a declared device ("put the cafe lights on")
                return IntentMatch(found.name.replace("EdgeTurn", "HassTurn").replace("Unknown", ""), slots)
        if found is not None or self.learned is None:
            return found
        return self._learned_match(request) or self._nearest_match(request)

    def _learned_match(self, request: str) -> IntentMatch | None:
        assert self.learned is not None
        guess = self.learned.predict(request)
        if guess.label == "none" or guess.confidence < MIN_CONFIDENCE:
            return None
        label = self.learned.check_reversal(guess.label, request)
        if label is None:
            return None  # "take the sound off mute", "don't turn it on": turned round as its class never is
        strange = self.learned.unfamiliar(label, request)
        if len(strange) > MAX_UNFAMILIAR or any(self.knowledge.knows(w) for w in strange):
            return None  # "what time does the cafe close": words the intent never has, or the files' subjects
        intent = intent_for(label, request, self.devices)
        return None if intent is None else IntentMatch(intent[0], intent[1], confidence=round(guess.confidence, 3))

    def _nearest_match(self, request: str) -> IntentMatch | None:
        """The class of the reference sentence nearest in meaning ("could you lower your voice" is near "turn
        the volume down"), when near enough (:data:`NEAREST_MIN`), not turned round, and with its slots."""
        if self.neighbours is None or self.learned is None:
            return None
        label, sim = self.neighbours.nearest(request)
        if label == "none" or sim < NEAREST_MIN:
            return None
        if not self.learned.polarity_agrees(label, request):
            return None  # on or off, mute or unmute: the words decide, and they say the other
        checked = self.learned.check_reversal(label, request)
        intent = None if checked is None else intent_for(checked, request, self.devices)
        return None if intent is None else IntentMatch(intent[0], intent[1], confidence=round(sim, 3),
                                                      by="the nearest sentence in meaning, similarity")

    def answer_without_intent(self, text: str) -> Answer:
        """The knowledge files, small talk, the cloud or "I don't know" (blocking: it searches)."""
        llm = self.settings.llm
        if asks_identity(text):
            return Answer(source=Source.CHITCHAT, text=f"I'm {llm.persona}, the voice assistant here.",
                          reason="asked who I am: the persona from the config (the model would make up a name)")
        if asks_nature(text):
            return Answer(source=Source.CHITCHAT,
                          text=f"I'm {llm.persona}, a voice assistant: a computer program, not a person.",
                          reason="asked what I am: said plainly (the model would claim to be human)")
        chitchat = is_chitchat(text) and not self.about_the_files(text)
        best = ""
        if not chitchat:
            request = without_greeting(text)
            hit, why = self.knowledge.answer(request)
            if hit is not None:
                return Answer(source=Source.KNOWLEDGE, text=self.knowledge.reply(request, hit.passage), reason=why,
                              passage=hit.passage.label, score=round(hit.score, 3))
            best = why
        if chitchat:
            prompt = CHITCHAT_PROMPT.format(persona=llm.persona)
            return Answer(source=Source.CHITCHAT, reason="small talk: the local model may answer",
                          llm=LlmRequest(messages=[{"role": "system", "content": prompt},
                                                   {"role": "user", "content": text}], policy=self.policy,
                                          bound=CHITCHAT_BOUND))
        if self.policy != "local_only" and cloud_configured(self.settings):
            prompt = llm.system_prompt.format(persona=llm.persona)
            return Answer(source=Source.CLOUD, reason=f"question of fact the local stack cannot answer ({best})",
                          llm=LlmRequest(messages=[{"role": "system", "content": prompt},
                                                   {"role": "user", "content": text}], policy="cloud_only"))
        why = "llm.policy is local_only" if cloud_configured(self.settings) else "no cloud configured"
        return Answer(source=Source.DECLINE, text=self.decline_text(),
                      reason=f"question of fact the local stack cannot answer ({best}); {why}")

    def about_the_files(self, text: str) -> bool:
        """A creative request about a particular thing the knowledge files know ("a story about the whale
        in the gallery", "a poem about the museum"): a question of fact, so the model does not make up
        what the files say (the passage answers, or the agent declines)."""
        subject = definite_subject(topic(text))
        return bool(subject) and self.knowledge.knows(subject)

    def decline_text(self) -> str:
        topics = [p.heading.lower() for p in self.knowledge.passages[:TOPICS_IN_DECLINE]]
        if topics:
            return f"I don't know that; I can tell you about {', '.join(topics[:-1])} or {topics[-1]}."
        return "I don't know that; ask me the time, or to set a timer."

    def capabilities(self) -> str:
        """The reply to "what can you do?": built from what is really set up."""
        can = ["tell you the time and date", "set timers", "change my volume"]
        for device in self.devices:
            where = " or ".join(device.areas) if device.areas else ""
            can.append(f"switch the {where + ' ' if where else ''}{device.noun} on and off")
        text = "I can " + ", ".join(can[:-1]) + " and " + can[-1] + "."
        if self.knowledge.passages:
            topics = [p.heading.lower() for p in self.knowledge.passages[:TOPICS_IN_DECLINE]]
            text += f" Ask me about {', '.join(topics)}, and more."
        return text
