"""What a running conversation may be told to do differently (the daemon builds it from the config)."""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.listen.hint import HintTrust


@dataclass
class ConversationSettings:
    system_prompt: str = ""
    follow_up_s: float = 6.0
    """How long after a reply the user may go on without the wake word (0: never)."""
    barge_in: bool = True
    """Speech over a reply interrupts it."""
    apology: str = "Sorry, I couldn't answer that just now."
    speculative_stt: bool = True
    """Start the reply when silence begins, before the end of the turn is known."""
    history_turns: int = 8
    """Turns kept here (the LLM trims further by tokens)."""
    hint_trust: HintTrust | None = None
    """How a speculative transcript's STT scores become its turn hint's confidence (None: always sure)."""
    confirm_words: tuple[str, ...] = ("yes", "yeah", "yep", "sure", "ok", "okay", "do it", "please", "confirm")
    """Any of these (and no "no") confirms a tool call that asked first."""
