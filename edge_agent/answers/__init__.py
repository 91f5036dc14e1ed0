"""What answers a turn: local intents, the operator's knowledge, the LLM, or an honest "I don't know".

The one call: ``await AnswerRouter(settings, tools, emit, on_alarm, volume).answer(text) -> Answer``."""

from edge_agent.answers.answer import Answer, Control, LlmRequest, Source
from edge_agent.answers.router import AnswerRouter

__all__ = ["Answer", "AnswerRouter", "Control", "LlmRequest", "Source"]
