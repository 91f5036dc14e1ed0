"""Small talk stays short: the bound on the local model's reply, cut where a sentence ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from edge_agent.answers.brevity import Bound, bounded, settle
from edge_agent.llm.base import Delta

BOUND = Bound(max_sentences=2, max_words=25)


async def _stream(text: str, size: int = 3) -> AsyncIterator[Delta]:
    for i in range(0, len(text), size):
        yield Delta(text=text[i:i + size])
    yield Delta(finish_reason="stop")


def _said(text: str) -> tuple[str, list[Delta]]:
    async def collect() -> list[Delta]:
        return [d async for d in bounded(_stream(text), BOUND)]

    deltas = asyncio.run(collect())
    return "".join(d.text for d in deltas), deltas


@pytest.mark.parametrize(("reply", "said"), [
    ("Hello! Nice to see you.", "Hello! Nice to see you."),
    ("Sure thing", "Sure thing"),
    ("It costs 3.5 euros. Okay.", "It costs 3.5 euros. Okay."),  # "3." is not a sentence's end
    ("Why did the whale cross the sea? To get to the other side! Ha, that one is old. Another?",
     "Why did the whale cross the sea? To get to the other side!"),
    ("I am fine. " + "word " * 30 + "end.", "I am fine."),
    ("Well, a joke about the sea would be nice, because sailors love jokes and the harbour is near and the "
     "whales are big and so it goes on", "Well, a joke about the sea would be nice,"),  # its last clause end
    ("So " + "very " * 30 + "long", "So " + "very " * 23 + "very."),  # no end at all: the last word
])
def test_a_reply_is_cut_after_whole_sentences(reply: str, said: str) -> None:
    text, deltas = _said(reply)
    assert text.strip() == said
    assert len(text.split()) <= BOUND.max_words


def test_the_stream_is_closed_at_the_bound() -> None:
    produced: list[str] = []

    async def endless() -> AsyncIterator[Delta]:
        while True:
            produced.append("x")
            yield Delta(text="Ha. ")

    async def collect() -> str:
        return "".join([d.text async for d in bounded(endless(), BOUND)])

    assert asyncio.run(collect()).strip() == "Ha. Ha."
    assert len(produced) <= 3  # generation stops once the bound is reached


def test_the_end_of_the_stream_still_comes_last() -> None:
    _, deltas = _said("Hi there")
    assert deltas[-1].finish_reason == "stop" and "".join(d.text for d in deltas) == "Hi there"


def test_settle_waits_for_the_character_after_a_full_stop_and_passes_whole_clauses() -> None:
    assert settle("It is 3.", BOUND).upto == 0
    assert settle("It is 3. ", BOUND).upto == len("It is 3. ")  # with the space: the splitter cuts there
    assert settle("Well, I think", BOUND).upto == len("Well, ")  # the voice can start on "Well,"


NUMBERLESS = Bound(max_sentences=2, max_words=25, no_numbers=True, instead="I'd better not make that up.")


@pytest.mark.parametrize(("reply", "said"), [
    ("Once upon a time a brave dragon lived by the sea. In the 12th century, it met a knight.",
     "Once upon a time a brave dragon lived by the sea."),
    ("A dragon, 300 years old, lived by the sea.", "A dragon,"),  # the clause before the number
    ("In 1204 a dragon lived by the sea.", "I'd better not make that up."),  # nothing before it
    ("Hello! Nice to see you.", "Hello! Nice to see you."),  # no number: as before
])
def test_small_talk_ends_before_its_first_number(reply: str, said: str) -> None:
    async def collect() -> list[Delta]:
        return [d async for d in bounded(_stream(reply), NUMBERLESS)]

    deltas = asyncio.run(collect())
    assert "".join(d.text for d in deltas).strip() == said
    assert not any(ch.isdigit() for d in deltas for ch in d.text)


def test_small_talk_is_bound_to_state_no_number() -> None:
    from edge_agent.answers.router import CHITCHAT_BOUND

    assert CHITCHAT_BOUND.no_numbers and CHITCHAT_BOUND.instead
