"""The agent's state machine: which changes are legal, what each publishes, the follow-up window."""

from __future__ import annotations

import asyncio

import pytest

from edge_agent.agent.state import LEGAL, IllegalTransition, TurnState
from edge_agent.events import AgentState, Event, StateChanged
from edge_agent.llm.base import ToolCallRequest

ACTIVE = [AgentState.IDLE, AgentState.LISTENING, AgentState.THINKING, AgentState.SPEAKING]


def machine(loop: asyncio.AbstractEventLoop | None = None) -> tuple[TurnState, list[Event]]:
    events: list[Event] = []
    return TurnState(events.append, loop or asyncio.new_event_loop()), events


def at(state: AgentState) -> tuple[TurnState, list[Event]]:
    m, events = machine()
    if state is not AgentState.IDLE:
        m.to(state)
    events.clear()
    return m, events


@pytest.mark.parametrize("start", ACTIVE)
@pytest.mark.parametrize("target", [*ACTIVE, AgentState.MUTED])
def test_every_active_state_may_go_anywhere_and_says_where_from(start: AgentState, target: AgentState) -> None:
    m, events = at(start)
    m.to(target)
    assert m.state is target
    if start is target:
        assert events == []  # no change, no event
    else:
        assert events == [StateChanged(state=target, previous=start)]


@pytest.mark.parametrize("target", [AgentState.LISTENING, AgentState.THINKING, AgentState.SPEAKING])
def test_muted_leaves_only_for_idle(target: AgentState) -> None:
    m, events = at(AgentState.MUTED)
    with pytest.raises(IllegalTransition, match="muted -> "):
        m.to(target)
    assert m.state is AgentState.MUTED and events == []
    m.to(AgentState.IDLE)
    assert events == [StateChanged(state=AgentState.IDLE, previous=AgentState.MUTED)]


def test_the_table_covers_every_state_the_conversation_has() -> None:
    assert set(LEGAL) == set(AgentState) - {AgentState.ERROR}
    assert LEGAL[AgentState.MUTED] == {AgentState.IDLE}
    for state in ACTIVE:
        m, _ = at(state)
        with pytest.raises(IllegalTransition):
            m.to(AgentState.ERROR)


def test_mute_and_unmute() -> None:
    m, events = at(AgentState.SPEAKING)
    m.unmute()  # not muted: nothing to undo
    assert m.state is AgentState.SPEAKING and events == []
    m.mute()
    assert m.muted and m.state is AgentState.MUTED
    m.unmute()
    assert not m.muted and m.state is AgentState.IDLE
    assert [str(e.state) for e in events if isinstance(e, StateChanged)] == ["muted", "idle"]


def test_turns_and_their_first_speech() -> None:
    m, _ = machine()
    assert m.turn_id == 0
    m.speech_started(1.0)
    assert m.speech_start_t is None  # not listening: no turn to begin
    m.to(AgentState.LISTENING)
    assert m.new_turn() == 1
    m.speech_started(1.5)
    m.speech_started(2.5)  # a pause and more speech: the turn began at the first
    assert m.speech_start_t == 1.5
    assert m.new_turn(speech_start_t=4.0) == 2 and m.speech_start_t == 4.0


def test_the_follow_up_window_is_a_new_turn_that_expires() -> None:
    loop = asyncio.new_event_loop()
    try:
        m, events = machine(loop)
        m.to(AgentState.SPEAKING)
        expired: list[float] = []
        m.open_follow_up(0.05, lambda: expired.append(loop.time()))
        assert m.state is AgentState.LISTENING and m.turn_id == 1
        loop.run_until_complete(asyncio.sleep(0.1))
        assert len(expired) == 1
        m.open_follow_up(0.05, lambda: expired.append(loop.time()))
        m.cancel_follow_up()  # the user spoke: the window no longer closes by itself
        loop.run_until_complete(asyncio.sleep(0.1))
        assert len(expired) == 1 and m.turn_id == 2
    finally:
        loop.close()


def test_mute_cancels_the_follow_up_window() -> None:
    loop = asyncio.new_event_loop()
    try:
        m, _ = machine(loop)
        expired: list[bool] = []
        m.open_follow_up(0.05, lambda: expired.append(True))
        m.mute()
        loop.run_until_complete(asyncio.sleep(0.1))
        assert not expired and m.muted
    finally:
        loop.close()


def test_a_pending_confirmation_is_taken_once() -> None:
    m, _ = machine()
    call = ToolCallRequest("unlock_door", {})
    assert m.take_confirmation() is None
    m.ask_confirmation(call)
    assert m.pending_confirmation is call
    assert m.take_confirmation() is call
    assert m.take_confirmation() is None and m.pending_confirmation is None
