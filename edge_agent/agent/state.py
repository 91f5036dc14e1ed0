"""The agent's state: the one place that changes it, says which changes are legal, and publishes them.

    idle --wake--> listening --turn end--> thinking --first audio--> speaking --done--> listening
      ^                                                                                  | (follow-up
      +------------------------------- follow-up window expires -------------------------+  window)

Besides the :class:`~edge_agent.events.AgentState` it owns what belongs to the turn rather than
to one reply: the turn id, where the turn's speech began, the follow-up window's timer and a tool
call waiting for the user's confirmation. Muted is a state of its own: nothing leaves it but
:meth:`TurnState.unmute`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from edge_agent.events import AgentState, Event, StateChanged
from edge_agent.llm.base import ToolCallRequest

_ANY_ACTIVE = frozenset({AgentState.IDLE, AgentState.LISTENING, AgentState.THINKING, AgentState.SPEAKING,
                         AgentState.MUTED})

LEGAL: dict[AgentState, frozenset[AgentState]] = {
    AgentState.IDLE: _ANY_ACTIVE,
    AgentState.LISTENING: _ANY_ACTIVE,
    AgentState.THINKING: _ANY_ACTIVE,
    AgentState.SPEAKING: _ANY_ACTIVE,
    AgentState.MUTED: frozenset({AgentState.IDLE}),
}
"""From each state, the states it may go to (besides staying). Every active state may go to any
other (a wake word, ``say`` or ``ask`` may come at any time, and each stops what runs); muted
only back to idle. ``error`` is not a state of the conversation: a failed stage is an ``error``
event and a spoken apology, and the agent carries on."""


class IllegalTransition(RuntimeError):
    """A state change the table does not allow: a bug in the caller."""


class TurnState:
    def __init__(self, publish: Callable[[Event], object], loop: asyncio.AbstractEventLoop) -> None:
        self._publish = publish
        self._loop = loop
        self._state = AgentState.IDLE
        self.turn_id = 0
        """The current turn (0 before the first); events without one are stamped with it."""
        self.speech_start_t: float | None = None
        """Audio time the current turn's speech began (a pause may follow), for speculation."""
        self.pending_confirmation: ToolCallRequest | None = None
        """A tool call the agent asked the user to confirm; the next turn's answer decides."""
        self._follow_up: asyncio.TimerHandle | None = None

    @property
    def state(self) -> AgentState:
        return self._state

    @property
    def muted(self) -> bool:
        return self._state is AgentState.MUTED

    def to(self, state: AgentState) -> None:
        """Change state and publish it (nothing when it is already ``state``)."""
        if state == self._state:
            return
        if state not in LEGAL[self._state]:
            raise IllegalTransition(f"{self._state} -> {state}")
        previous, self._state = self._state, state
        self._publish(StateChanged(state=state, previous=previous))

    # --- turns ------------------------------------------------------------------------------------

    def next_turn(self) -> int:
        self.turn_id += 1
        return self.turn_id

    def new_turn(self, speech_start_t: float | None = None) -> int:
        """A turn begins (wake word, barge-in, follow-up): its speech has not been heard yet, or
        began at ``speech_start_t``."""
        self.speech_start_t = speech_start_t
        return self.next_turn()

    def speech_started(self, audio_t: float | None) -> None:
        if self._state is AgentState.LISTENING and self.speech_start_t is None:
            self.speech_start_t = audio_t

    # --- the follow-up window -----------------------------------------------------------------

    def open_follow_up(self, seconds: float, on_expired: Callable[[], None]) -> None:
        """After a reply: listen without the wake word, as a new turn, for ``seconds``."""
        self.cancel_follow_up()
        self.new_turn()
        self.to(AgentState.LISTENING)

        def expired() -> None:
            self._follow_up = None
            on_expired()

        self._follow_up = self._loop.call_later(seconds, expired)

    def cancel_follow_up(self) -> None:
        if self._follow_up is not None:
            self._follow_up.cancel()
            self._follow_up = None

    # --- mute -------------------------------------------------------------------------------------

    def mute(self) -> None:
        self.cancel_follow_up()
        self.to(AgentState.MUTED)

    def unmute(self) -> None:
        if self.muted:
            self.to(AgentState.IDLE)

    # --- confirmation -------------------------------------------------------------------------

    def ask_confirmation(self, call: ToolCallRequest) -> None:
        self.pending_confirmation = call

    def take_confirmation(self) -> ToolCallRequest | None:
        call, self.pending_confirmation = self.pending_confirmation, None
        return call
