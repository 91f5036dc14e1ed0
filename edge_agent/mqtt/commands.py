"""Commands that arrive on ``<base>/cmd/<name>``: strict pydantic payload models, parsing that turns
every bad payload into one clear :class:`CommandError`, and applying a valid command to the agent.

Parsing is pure and cheap (the payload size is checked before any JSON is read), so it runs on the
bridge's worker thread; :func:`apply_command` runs on the asyncio loop and only starts work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from edge_agent.control import AgentControl

MAX_PAYLOAD_BYTES = 16 * 1024
"""Larger command payloads are refused unread (a command is a short JSON object)."""
MAX_TEXT_CHARS = 2000
"""Longest ``say``/``ask`` text (about two minutes of speech)."""


class CommandError(ValueError):
    """A command that cannot be run; ``reason`` says why, for ``event/error`` and the response topic."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"cmd/{command}: {reason}")
        self.command = command
        self.reason = reason


class _Payload(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class NoArgs(_Payload):
    """``wake``, ``cancel``, ``unmute``, ``reload``: an empty payload or ``{}``."""


class TextArgs(_Payload):
    """``say`` and ``ask``: ``{"text": "..."}``."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        if "\0" in v:
            raise ValueError("must not contain NUL characters")
        return v


class VolumeArgs(_Payload):
    """``volume``: ``{"level": 0.0 .. 2.0}`` (1.0 is unchanged, above 1 amplifies)."""

    level: float = Field(ge=0.0, le=2.0, allow_inf_nan=False)


class MuteArgs(_Payload):
    """``mute``: empty or ``{}`` mutes; ``{"on": false}`` unmutes (what the Home Assistant switch sends)."""

    on: bool = True


ARGS: dict[str, type[_Payload]] = {
    "say": TextArgs,
    "ask": TextArgs,
    "wake": NoArgs,
    "cancel": NoArgs,
    "mute": MuteArgs,
    "unmute": NoArgs,
    "volume": VolumeArgs,
    "reload": NoArgs,
}


@dataclass(frozen=True)
class Command:
    name: str
    args: BaseModel


def shown_name(name: str, limit: int = 40) -> str:
    """A command name as it may appear in a reply: printable and short."""
    clean = "".join(c if c.isprintable() else "?" for c in name[:limit])
    return clean + ("..." if len(name) > limit else "")


def parse_command(name: str, payload: bytes) -> Command:
    """Validate one command; raises :class:`CommandError` with the reason for anything else."""
    model = ARGS.get(name)
    if model is None:
        raise CommandError(shown_name(name), f"unknown command; known commands: {', '.join(ARGS)}")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(name, f"payload of {len(payload)} bytes is larger than {MAX_PAYLOAD_BYTES}")
    if not payload.strip() and not _has_required(model):
        payload = b"{}"
    try:
        args = model.model_validate_json(payload)
    except ValidationError as exc:
        raise CommandError(name, describe(exc, model)) from None
    return Command(name, args)


def _has_required(model: type[BaseModel]) -> bool:
    return any(f.is_required() for f in model.model_fields.values())


def describe(exc: ValidationError, model: type[BaseModel]) -> str:
    """The validation problems in one line, without echoing the (possibly huge) input."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "json_invalid":
            parts.append(f"payload is not valid JSON ({err['msg'].removeprefix('Invalid JSON: ')})")
        elif err["type"] == "extra_forbidden":
            parts.append(f"unknown field {shown_name(loc)!r}")
        elif err["type"] == "model_type":
            parts.append("payload must be a JSON object")
        else:
            parts.append(f"{shown_name(loc) or 'payload'}: {err['msg']}")
    fields = ", ".join(model.model_fields) or "none"
    return "; ".join(parts) + f" (expected fields: {fields})"


def apply_command(control: AgentControl, command: Command, reply_to: str | None = None) -> None:
    """Run a valid command against the agent (on the asyncio loop; each call only starts work)."""
    args = command.args
    match command.name:
        case "say":
            assert isinstance(args, TextArgs)
            control.say(args.text)
        case "ask":
            assert isinstance(args, TextArgs)
            control.ask(args.text, reply_to=reply_to)
        case "wake":
            control.wake()
        case "cancel":
            control.cancel()
        case "mute":
            assert isinstance(args, MuteArgs)
            if args.on:
                control.mute()
            else:
                control.unmute()
        case "unmute":
            control.unmute()
        case "volume":
            assert isinstance(args, VolumeArgs)
            control.set_volume(args.level)
        case "reload":
            control.reload()
        case _:  # parse_command only returns known names
            raise CommandError(command.name, "unknown command")


def response_payload(command: str, ok: bool, **extra: Any) -> dict[str, Any]:
    """What goes to an MQTT 5 response topic: ``{"ok": ..., "command": ..., ...}``."""
    return {"ok": ok, "command": command, **extra}
