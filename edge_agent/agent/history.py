"""What the LLM sees of the conversation so far: the system prompt and the last exchanges."""

from __future__ import annotations

from edge_agent.llm.base import Message


class History:
    """The exchanges the user heard (the LLM trims further by tokens)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def prompt(self, system_prompt: str, text: str) -> list[Message]:
        """The messages for answering ``text``."""
        system = [{"role": "system", "content": system_prompt}] if system_prompt else []
        return [*system, *self.messages, {"role": "user", "content": text}]

    def remember(self, user: str, assistant: str, turns: int) -> None:
        """One exchange, keeping at most ``turns``. An exchange the user never heard an answer to is
        left out: a small model would copy an empty or placeholder answer."""
        if user and assistant:
            self.messages.append({"role": "user", "content": user})
            self.messages.append({"role": "assistant", "content": assistant})
        if len(self.messages) > 2 * turns:
            # Drop to half at once rather than one turn per turn: the prompt's prefix (the LLM's
            # KV cache) then stays the same for several turns.
            keep = max(1, turns // 2)
            del self.messages[: len(self.messages) - 2 * keep]
