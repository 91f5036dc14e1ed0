"""One reply in flight: what it answers, what has been voiced, and what the user actually heard.

A reply is started (``Reply(turn_id, ...)``), possibly speculatively: until :meth:`Reply.confirm`
it may work ahead (transcribe, think, synthesize) but is not heard, and the events it would publish
are held (:meth:`Reply.publish`). Its audio is counted clause by clause as it is queued
(:meth:`Reply.begin_clause`, :meth:`Reply.add_audio`), so when it is interrupted
:meth:`Reply.interrupt` can say which words were heard from the playback's sample count. It ends
once, either way (:meth:`Reply.finish` or :meth:`Reply.interrupt`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_agent.events import Event, TurnEnd


@dataclass
class Spoken:
    """One clause as it was queued for playback: where in the reply's samples it lies."""

    text: str
    """As written (before normalisation): what the history and ``reply_text`` carry."""
    start: int
    length: int = 0


@dataclass(eq=False)
class Reply:
    turn_id: int
    user_text: str = ""
    reply_to: Any = None
    """Passed back on ``reply_text`` (MQTT 5 response correlation)."""
    turn_end: TurnEnd | None = None
    t_turn_end: float | None = None
    """Loop time the turn end was handled."""
    t_transcript: float | None = None
    t_llm: float | None = None
    """Loop time the current text stream began."""
    t_first_clause: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    """Milliseconds per stage, for ``turn_done``."""
    spoken: list[Spoken] = field(default_factory=list)
    samples: int = 0
    """Samples queued for playback so far."""
    started: bool = False
    """Its first sample has been queued for playback."""
    played_at_start: int = 0
    """The playback's ``played()`` when this reply's first sample was queued."""
    said: list[str] = field(default_factory=list)
    """Clauses that were voiced (at least one sample queued)."""
    done: bool = False
    go: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the reply may be heard; a speculative reply works ahead but waits here."""
    held: list[Event] = field(default_factory=list)
    """Events of a speculative reply, published when (if) it is confirmed."""

    # --- speculative or confirmed ----------------------------------------------------------------

    @property
    def confirmed(self) -> bool:
        return self.go.is_set()

    def confirm(self) -> list[Event]:
        """It may be heard now; returns the events held meanwhile, in order, to publish."""
        self.go.set()
        held, self.held = self.held, []
        return held

    def publish(self, event: Event, publish: Callable[[Event], None]) -> None:
        """Publish now if confirmed, else hold until :meth:`confirm`."""
        if self.confirmed:
            publish(event)
        else:
            self.held.append(event)

    # --- what was voiced --------------------------------------------------------------------------

    def begin_clause(self, text: str) -> Spoken:
        entry = Spoken(text, self.samples)
        self.spoken.append(entry)
        return entry

    def add_audio(self, clause: Spoken, samples: int) -> None:
        self.samples += samples
        clause.length += samples

    def end_clause(self, clause: Spoken) -> None:
        if clause.length:
            self.said.append(clause.text)  # only what was actually voiced counts as said

    def start(self, played: int) -> None:
        """Its first sample is about to be queued; ``played``: the playback's count now."""
        self.started = True
        self.played_at_start = played

    # --- the end ----------------------------------------------------------------------------------

    @property
    def interruptible(self) -> bool:
        """Not ended yet, and confirmed (a speculation thrown away was never heard)."""
        return not self.done and self.confirmed

    def finish(self) -> str:
        """Everything queued was heard: the reply's text."""
        self.done = True
        return " ".join(self.said).strip()

    def interrupt(self, played: int) -> str:
        """Cut short with ``played`` samples of the playback heard: the words that were heard."""
        self.done = True
        return self.heard_text(played) if self.started else ""

    def heard_text(self, played: int) -> str:
        """The words of the clauses heard so far; of a clause cut short, its share of the words."""
        heard = max(0, played - self.played_at_start)
        words: list[str] = []
        for part in self.spoken:
            if not part.length or heard <= part.start:
                break
            clause_words = part.text.split()
            if heard >= part.start + part.length:
                words.extend(clause_words)
            else:
                share = (heard - part.start) / part.length
                words.extend(clause_words[: int(len(clause_words) * share)])
                break
        return " ".join(words)

    # --- timing -----------------------------------------------------------------------------------

    def mark_first_clause(self, now: float) -> None:
        if self.t_first_clause is None and self.t_llm is not None:
            self.t_first_clause = now
            self.stages.setdefault("llm_first_clause", round((now - self.t_llm) * 1000, 1))

    def mark_voice_to_voice(self, now: float, audio_now: Callable[[], float] | None) -> None:
        """At the first sample: the time from the user's last word (exact with a real-time input's
        clock; unpaced, the silence waited for plus the processing time)."""
        event = self.turn_end
        if event is None or event.last_speech_t is None or self.t_turn_end is None:
            return
        if audio_now is not None:
            v2v = (audio_now() - event.last_speech_t) * 1000
        else:
            v2v = self.stages.get("endpoint", 0.0) + (now - self.t_turn_end) * 1000
        self.stages["voice_to_voice"] = round(v2v, 1)

    def timings(self) -> tuple[float | None, dict[str, float]]:
        """(voice to voice ms, the other stages) for ``turn_done``."""
        if self.t_transcript is not None and self.t_turn_end is not None:
            self.stages["stt"] = round(max(0.0, self.t_transcript - self.t_turn_end) * 1000, 1)
        stages = dict(self.stages)
        return stages.pop("voice_to_voice", None), stages

    def reply_to_fields(self) -> dict[str, Any]:
        return {"reply_to": self.reply_to} if self.reply_to is not None else {}
