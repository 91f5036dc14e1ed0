"""What the answer router decided for one turn: :class:`Answer`, and the typed parts it may carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge_agent.answers.brevity import Bound
from edge_agent.compat import StrEnum
from edge_agent.events import AnswerRouted


class Source(StrEnum):
    """Who answers a turn, in the order the router asks them."""

    INTENT = "intent"
    """A local intent (hassil sentence templates): the reply is built without any LLM."""
    KNOWLEDGE = "knowledge"
    """A passage of the operator's knowledge files: the reply is sentences of that passage."""
    CHITCHAT = "chitchat"
    """Small talk: the small local model may answer (it is given no facts to get wrong)."""
    CLOUD = "cloud"
    """An open question the local stack cannot answer, for the cloud LLM."""
    DECLINE = "decline"
    """Nobody here can answer: a short, honest "I don't know"."""


class Control(StrEnum):
    """An action on the agent itself, for :class:`edge_agent.control.AgentControl`."""

    STOP = "stop"
    """Stop speaking and drop the turn (``cancel()``)."""
    MUTE = "mute"
    UNMUTE = "unmute"
    VOLUME = "volume"
    """Set the output gain to :attr:`Answer.volume` (``set_volume(level)``)."""


@dataclass(frozen=True)
class LlmRequest:
    """Ask an LLM: ``messages`` for ``ChatModel.stream`` and the ``llm.policy`` to use for them
    (``local_only`` for chit-chat, the configured cloud policy for open questions). ``bound``: the
    most the reply may say (small talk), applied to the stream with :func:`~edge_agent.answers.brevity.bounded`."""

    messages: list[dict[str, Any]]
    policy: str
    bound: Bound | None = None


@dataclass(frozen=True)
class Answer:
    """One turn's answer. Exactly one of ``text`` (speak it) and ``llm`` (stream the LLM's reply)
    is set; ``control`` is applied before speaking. ``intent``/``slots``/``passage``/``score`` say
    what matched, for ``--events`` and the benchmark."""

    source: Source
    reason: str
    text: str | None = None
    llm: LlmRequest | None = None
    control: Control | None = None
    volume: float | None = None
    """For ``Control.VOLUME``: the new output gain, 0.0 to 1.0."""
    intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    passage: str | None = None
    score: float | None = None

    def event(self) -> AnswerRouted:
        """The ``answer_routed`` event saying what answered and why."""
        return AnswerRouted(source=str(self.source), reason=self.reason, intent=self.intent,
                            slots=dict(self.slots) or None, passage=self.passage, score=self.score)
