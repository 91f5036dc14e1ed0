"""The answer router end to end: what answers and why, a real tool publish on a real broker, and the
real local model for small talk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from mosquitto import Mosquitto, Observer, broker  # noqa: F401

from edge_agent.answers import AnswerRouter, Source
from edge_agent.app.ask_session import AskSession
from edge_agent.config import Settings
from edge_agent.events import AnswerRouted


def _settings(**extra: object) -> Settings:
    return Settings(answers={"demo_tool": True}, **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def router() -> AnswerRouter:
    return AnswerRouter(_settings())


@pytest.mark.parametrize(("text", "source"), [
    ("What time is it?", Source.INTENT),
    ("What are your opening hours?", Source.KNOWLEDGE),
    ("Hello there!", Source.CHITCHAT),
    ("What's the weather like today?", Source.DECLINE),
    ("Who is the president of France?", Source.DECLINE),
    ("Wie spät ist es?", Source.DECLINE),
])
def test_each_turn_goes_where_it_can_be_answered(router: AnswerRouter, text: str, source: Source) -> None:
    answer = asyncio.run(router.answer(text))
    assert answer.source is source and answer.reason
    event = answer.event()
    assert isinstance(event, AnswerRouted) and json.loads(event.to_json())["source"] == str(source)


def test_the_agents_name_comes_from_the_config(router: AnswerRouter) -> None:
    answer = asyncio.run(router.answer("What's your name?"))
    assert answer.source is Source.CHITCHAT and answer.llm is None and answer.text == "I'm Edge, the voice assistant here."


def test_knowledge_answer_names_its_passage(router: AnswerRouter) -> None:
    answer = asyncio.run(router.answer("Where can I leave my coat?"))
    assert answer.passage == "museum.md#Cloakroom and lockers" and "cloakroom" in (answer.text or "")


def test_decline_states_no_fact(router: AnswerRouter) -> None:
    answer = asyncio.run(router.answer("How far is it to the airport?"))
    assert answer.text is not None and answer.text.startswith("I don't know that")
    assert not any(ch.isdigit() for ch in answer.text)


def test_small_talk_goes_to_the_llm_with_the_configured_policy(router: AnswerRouter) -> None:
    answer = asyncio.run(router.answer("Thank you so much."))
    assert answer.llm is not None and answer.llm.policy == "local_first"
    assert "Never state a fact" in answer.llm.messages[0]["content"]


def test_question_of_fact_goes_to_the_cloud_only_when_configured() -> None:
    cloud = {"llm": {"cloud": {"api_key": "k", "regions": [{"name": "eu", "base_url": "https://eu.example/v1",
                                                             "model": "m"}]}}}
    answer = asyncio.run(AnswerRouter(_settings(**cloud)).answer("Who is the president of France?"))
    assert answer.source is Source.CLOUD and answer.llm is not None and answer.llm.policy == "cloud_only"
    cloud["llm"]["policy"] = "local_only"  # type: ignore[index]
    answer = asyncio.run(AnswerRouter(_settings(**cloud)).answer("Who is the president of France?"))
    assert answer.source is Source.DECLINE and "local_only" in answer.reason


def test_missing_knowledge_file_is_named_and_intents_still_work(tmp_path: Path) -> None:
    router = AnswerRouter(_settings(knowledge={"files": [str(tmp_path / "nope.md")]}))
    assert any("nope.md does not exist" in p for p in router.problems)
    assert asyncio.run(router.answer("what time is it")).source is Source.INTENT


@pytest.mark.real_broker
def test_turn_on_publishes_and_is_confirmed_from_the_result(broker: Mosquitto) -> None:  # noqa: F811
    observer = Observer(broker.port, topics=("museum/#",))
    settings = _settings(mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port, "device_id": "t-answers",
                               "discovery": False})
    events: list = []

    async def scenario() -> str:
        async with AskSession(settings) as session:
            session.bus.subscribe(events.append)
            _answer, reply = await session.ask("Turn on the cafe light.")
            return reply

    try:
        reply = asyncio.run(scenario())
        assert reply == "Done: the cafe light is on."
        assert observer.wait_topic("museum/cafe/light/set") == [b'{"state": "ON"}']
        assert any(getattr(e, "name", "") == "set_light" and getattr(e, "ok", False) for e in events)
    finally:
        observer.close()


def test_turn_on_without_a_broker_is_not_claimed() -> None:
    from edge_agent.answers.devices import DEMO_TOOL

    settings = Settings(mqtt={"tools": [DEMO_TOOL.model_dump()]})  # an MQTT tool, and MQTT off

    async def scenario() -> str:
        async with AskSession(settings) as session:
            return (await session.ask("Turn on the cafe light."))[1]

    assert asyncio.run(scenario()).startswith("I couldn't switch the cafe light on")


@pytest.mark.real_model
@pytest.mark.slow
def test_small_talk_with_the_real_local_model(model_path) -> None:  # type: ignore[no-untyped-def]
    model_path("smollm2-135m-instruct")

    async def scenario() -> tuple[Source, str]:
        async with AskSession(_settings(llm={"policy": "local_only"})) as session:
            answer, reply = await session.ask("Hello, how are you today?")
            return answer.source, reply

    source, reply = asyncio.run(scenario())
    assert source is Source.CHITCHAT and reply.strip() and len(reply.split()) <= 60


def test_a_wake_phrase_said_again_is_not_part_of_the_request() -> None:
    from edge_agent.config import load_settings
    from edge_agent.listen.wake.spelling import without_leading_keyword

    assert without_leading_keyword("OK, Naboo. Turn on the cafe light.", ["okay_nabu"]) == "Turn on the cafe light."
    assert without_leading_keyword("Okay, what now?", ["okay_nabu"]) == "Okay, what now?"  # no keyword
    assert without_leading_keyword("Okay Nabu.", ["okay_nabu"]) == "Okay Nabu."  # nothing after it
    answer = asyncio.run(AnswerRouter(load_settings(None)).answer("Okay Nabu, what time is it?"))
    assert answer.intent == "HassGetCurrentTime"


@pytest.mark.parametrize(("text", "kept"), [
    ("Stop. What time is it?", "What time is it?"),
    ("Okay, stop. Turn on the cafe light.", "Turn on the cafe light."),
    ("Wait, what are your opening hours?", "what are your opening hours?"),
    ("Stop the timer.", "Stop the timer."),  # no break after "stop": it is the request
    ("Stop.", "Stop."),  # nothing after it: the stop itself is the request
    ("Stop talking, please.", "Stop talking, please."),  # only a "please" after it: one request
])
def test_a_stop_that_began_a_barge_in_is_not_part_of_the_request(router: AnswerRouter, text: str, kept: str) -> None:
    from edge_agent.answers.competence import without_interruption

    assert without_interruption(text) == kept


def test_stop_then_a_question_answers_the_question(router: AnswerRouter) -> None:
    answer = asyncio.run(router.answer("Stop. What time is it?"))
    assert answer.intent == "HassGetCurrentTime"


@pytest.mark.parametrize("text", [
    "Good morning to you all.", "Hello everyone, how are you all today?", "How was your weekend?",
    "How's your morning going?", "How have you been?", "Are you having fun?", "Are you lonely in here?",
    "I'm feeling great today.", "I feel a bit lonely.", "Do you like the sea?", "Can you tell me something funny?",
    "Would you like to hear a joke?", "Any jokes?", "Can you sing?", "Nice museum!",
    "Write me a poem about autumn.", "Tell me a long story about a brave dragon and a little knight.",
    "Tell me a bedtime story.", "Could you make up a song for my daughter?", "Sing happy birthday to my son.",
    "We're having a wonderful visit.",
])
def test_small_talk_is_known_by_its_forms(router: AnswerRouter, text: str) -> None:
    answer = router.answer_without_intent(text)
    assert answer.source is Source.CHITCHAT and answer.llm is not None and answer.llm.bound is not None


@pytest.mark.parametrize(("text", "source"), [
    ("Tell me the story of the Mary Ellen.", Source.KNOWLEDGE),  # "the story of": the file's facts
    ("Tell me about the lighthouse lens.", Source.KNOWLEDGE),
    ("Can you tell me a story about the whale in the gallery?", Source.KNOWLEDGE),  # a thing the file knows
    ("Write a poem about the museum.", Source.DECLINE),  # the model would make the museum up
    ("Can you tell me something interesting about sharks?", Source.DECLINE),  # facts, not a story
    ("Write me a list of the best beaches nearby.", Source.DECLINE),
    ("What's your favourite exhibit?", Source.DECLINE),  # the model would name one it made up
    ("Are you open on Mondays?", Source.KNOWLEDGE),  # "are you" + not a feeling
    ("Do you have any lockers?", Source.KNOWLEDGE),
    ("We're having a great time, where is the cafe?", Source.DECLINE),  # a question after it: not small talk
])
def test_a_question_of_fact_is_not_small_talk(router: AnswerRouter, text: str, source: Source) -> None:
    assert router.answer_without_intent(text).source is source


def test_common_words_alone_do_not_make_a_passage_answer(router: AnswerRouter) -> None:
    # "day" is in the guided tours' "every day the museum is open": not what these are about
    assert router.answer_without_intent("Good day to you.").source is Source.CHITCHAT
    assert router.answer_without_intent("How is your day going?").source is Source.CHITCHAT
    assert router.answer_without_intent("Is it a good day for sailing?").source is Source.DECLINE
    answer = router.answer_without_intent("Is the museum open every day?")
    assert answer.passage == "museum.md#Opening hours"


def test_a_creative_requests_topic() -> None:
    from edge_agent.answers.competence import definite_subject, topic

    assert topic("Write me a poem about autumn.") == "autumn"
    assert topic("Tell me a story about the whale in the gallery.") == "the whale in the gallery"
    assert definite_subject(topic("Tell me a story about the whale in the gallery.")) == "whale in the gallery"
    assert definite_subject(topic("Tell me a story about a whale.")) == ""
    assert topic("Tell me a joke.") == "" and topic("Tell me about the whale.") == ""


@pytest.mark.parametrize(("text", "source"), [
    ("Hi, where is the cafe?", Source.KNOWLEDGE),  # "hi", a word no passage has, no longer counts against it
    ("Excuse me, where are the toilets?", Source.KNOWLEDGE),
    ("Hello, what time is it?", Source.INTENT),
    ("Good morning! How are you?", Source.CHITCHAT),  # two clauses, each small talk
    ("Hello!", Source.CHITCHAT),  # a greeting alone is kept
    ("Hi, what's the weather like?", Source.DECLINE),
])
def test_a_greeting_before_a_request_is_not_part_of_it(router: AnswerRouter, text: str, source: Source) -> None:
    assert asyncio.run(router.answer(text)).source is source


@pytest.mark.parametrize("text", ["Are you a robot?", "Are you a real person?", "Are you human?", "Who made you?",
                                  "How old are you?", "Hey, are you real?"])
def test_what_the_agent_is_is_said_plainly_never_by_the_model(router: AnswerRouter, text: str) -> None:
    """The 135M model answered "Are you a robot?" with "I'm a human.": what the agent is is not small
    talk for the model to make up."""
    answer = asyncio.run(router.answer(text))
    assert answer.source is Source.CHITCHAT and answer.llm is None
    assert answer.text == "I'm Edge, a voice assistant: a computer program, not a person."


@pytest.mark.parametrize("text", ["Are you open on Sundays?", "Are you a member of staff?"])
def test_questions_that_only_begin_like_it_are_not_about_the_agent(router: AnswerRouter, text: str) -> None:
    assert asyncio.run(router.answer(text)).text != "I'm Edge, a voice assistant: a computer program, not a person."


@pytest.mark.parametrize(("text", "intent", "slots"), [
    ("I'd want a timer for 25 minutes.", "HassStartTimer", {"seconds": 1500}),
    ("Get the lobby lights on.", "HassTurnOn", {"tool": "set_light", "area": "lobby"}),
])
def test_the_learned_matcher_takes_what_no_template_has(router: AnswerRouter, text: str, intent: str,
                                                        slots: dict[str, object]) -> None:
    assert router.matcher is not None and router.matcher.match(text) is None
    found = router.match(text)
    assert found is not None and found.name == intent and found.confidence is not None
    assert {k: found.slots.get(k) for k in slots} == slots


@pytest.mark.parametrize("text", ["What time does the bakery on the corner open?", "What time does the cafe close?",
                                  "I need a timer.", "Take the sound off mute."])
def test_the_learned_matcher_leaves_other_questions_alone(router: AnswerRouter, text: str) -> None:
    found = router.match(text)
    assert found is None or found.confidence is None


def test_a_request_in_the_last_clause_is_matched(router: AnswerRouter) -> None:
    found = router.match("It's getting late, what time is it?")
    assert found is not None and found.name == "HassGetCurrentTime" and found.confidence is None
    assert router.match("Thanks, bye") is None
