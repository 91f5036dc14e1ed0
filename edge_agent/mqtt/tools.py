"""Tools the LLM may call, each one MQTT publish declared in the config (``[[mqtt.tools]]``), or a
local program to run (``command``: :mod:`edge_agent.mqtt.local_command`).

Only declared tools run. Arguments are checked against the tool's JSON schema (a small subset:
a flat object of string / number / integer / boolean properties with ``enum``, ``minLength``,
``maxLength``, ``minimum``, ``maximum``, ``required``; unknown arguments are refused). A value that
goes into the topic may not contain ``/``, ``+``, ``#`` or NUL, and the rendered topic must match its
template, so the LLM can never reach a topic outside the declared ones. Values that go into the
payload are JSON-escaped (strings without their quotes; booleans as ``true``/``false``), so
``{{"state": "{state}"}}`` stays valid JSON whatever the model says."""

from __future__ import annotations

import asyncio
import json
import re
import string
from collections.abc import Callable
from typing import Any

from edge_agent.config import ToolConfig
from edge_agent.errors import ConfigError
from edge_agent.events import Event, ToolCall
from edge_agent.mqtt.local_command import run_command
from edge_agent.mqtt.topics import FORBIDDEN_IN_LEVEL, is_safe_level, is_valid_topic

Publisher = Callable[[str, bytes, int, bool], bool]
"""``publish(topic, payload, qos, retain) -> sent`` (False when the broker is not connected)."""

SCALAR_TYPES = ("string", "number", "integer", "boolean")
SCHEMA_KEYS = {"type", "description", "title", "enum", "minLength", "maxLength", "minimum", "maximum", "default"}
OBJECT_KEYS = {"type", "description", "title", "properties", "required", "additionalProperties"}
DEFAULT_MAX_LENGTH = 200
"""Strings without their own ``maxLength`` are capped at this."""


# --- the JSON-schema subset ---------------------------------------------------------------------


def check_schema(schema: Any) -> None:
    """Raise ValueError when ``schema`` uses anything this validator does not support."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ValueError('parameters must be a JSON schema with "type": "object"')
    unknown = set(schema) - OBJECT_KEYS
    if unknown:
        raise ValueError(f"unsupported schema keyword(s) {sorted(unknown)}")
    if schema.get("additionalProperties", False) is not False:
        raise ValueError("additionalProperties must be false (unknown arguments are always refused)")
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        raise ValueError("properties must be an object")
    required = schema.get("required", [])
    if not isinstance(required, list) or any(r not in props for r in required):
        raise ValueError("required must list declared properties")
    for pname, prop in props.items():
        if not isinstance(prop, dict):
            raise ValueError(f"property {pname!r} must be an object")
        unknown = set(prop) - SCHEMA_KEYS
        if unknown:
            raise ValueError(f"property {pname!r}: unsupported schema keyword(s) {sorted(unknown)}")
        if prop.get("type") not in SCALAR_TYPES:
            raise ValueError(f"property {pname!r}: type must be one of {', '.join(SCALAR_TYPES)}")
        if "enum" in prop and not isinstance(prop["enum"], list):
            raise ValueError(f"property {pname!r}: enum must be a list")


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN
    return isinstance(value, str)


def validate_arguments(arguments: Any, schema: dict[str, Any]) -> None:
    """Raise ValueError naming the first argument that does not fit ``schema`` (checked by check_schema)."""
    if not isinstance(arguments, dict):
        raise ValueError("arguments must be a JSON object")
    props: dict[str, dict[str, Any]] = schema.get("properties", {})
    for key in arguments:
        if key not in props:
            raise ValueError(f"unknown argument {str(key)[:40]!r}; allowed: {', '.join(props) or 'none'}")
    for key in schema.get("required", []):
        if key not in arguments:
            raise ValueError(f"missing required argument {key!r}")
    for key, value in arguments.items():
        prop = props[key]
        kind = prop["type"]
        if not _type_ok(value, kind):
            raise ValueError(f"argument {key!r} must be a {kind}")
        if "enum" in prop and value not in prop["enum"]:
            allowed = ", ".join(json.dumps(v) for v in prop["enum"])
            raise ValueError(f"argument {key!r} must be one of {allowed}")
        if kind == "string":
            if len(value) > prop.get("maxLength", DEFAULT_MAX_LENGTH):
                raise ValueError(f"argument {key!r} is longer than {prop.get('maxLength', DEFAULT_MAX_LENGTH)} characters")
            if len(value) < prop.get("minLength", 0):
                raise ValueError(f"argument {key!r} is shorter than {prop['minLength']} characters")
        elif kind in ("number", "integer"):
            if "minimum" in prop and value < prop["minimum"]:
                raise ValueError(f"argument {key!r} must be at least {prop['minimum']}")
            if "maximum" in prop and value > prop["maximum"]:
                raise ValueError(f"argument {key!r} must be at most {prop['maximum']}")


# --- templates ----------------------------------------------------------------------------------


def template_fields(template: str) -> list[str]:
    """Field names of a ``str.format`` template; only plain ``{name}`` fields are allowed."""
    fields = []
    for _literal, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"template field {{{field}}} must be a plain {{name}} (no index, format or "
                             "conversion); write literal braces as {{ and }}")
        fields.append(field)
    return fields


def _topic_pattern(template: str) -> re.Pattern[str]:
    parts = []
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(r"[^/+#\x00]+")
    return re.compile("".join(parts))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _as_json_fragment(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)[1:-1]
    return _as_text(value)


class _Tool:
    def __init__(self, config: ToolConfig, reserved: tuple[str, ...]) -> None:
        self.config = config
        try:
            check_schema(config.parameters)
            topic_fields = template_fields(config.topic)
            payload_fields = template_fields(config.payload) if config.topic else []
            command_fields = [f for part in config.command for f in template_fields(part)]
        except ValueError as exc:
            raise ConfigError(f"mqtt.tools {config.name!r}: {exc}") from None
        props = config.parameters.get("properties", {})
        for field in (*topic_fields, *payload_fields, *command_fields):
            if field not in props:
                raise ConfigError(f"mqtt.tools {config.name!r}: template field {{{field}}} is not a declared parameter")
        self.pattern = _topic_pattern(config.topic)
        self.topic_fields = topic_fields
        if config.command:
            if not config.command[0] or template_fields(config.command[0]):
                raise ConfigError(f"mqtt.tools {config.name!r}: the command's first element must be a fixed program")
            return
        static = "".join(lit for lit, *_ in string.Formatter().parse(config.topic))
        if not config.topic or any(c in static for c in FORBIDDEN_IN_LEVEL[1:]):
            raise ConfigError(f"mqtt.tools {config.name!r}: topic {config.topic!r} must be non-empty, without + # or NUL")
        if config.topic.startswith(reserved):
            raise ConfigError(f"mqtt.tools {config.name!r}: topic {config.topic!r} is inside the agent's own topics")

    def spec(self) -> dict[str, Any]:
        params = {"additionalProperties": False, **self.config.parameters}
        return {
            "type": "function",
            "function": {"name": self.config.name, "description": self.config.description, "parameters": params},
        }

    def render_command(self, arguments: dict[str, Any]) -> list[str]:
        """The program's argument list; a value may not hold NUL or a control character, nor, as a
        whole argument, start with ``-`` (the program would read it as an option)."""
        argv = []
        for part in self.config.command:
            fields = template_fields(part)
            values = {k: _as_text(v) for k, v in arguments.items() if k in fields}
            for field in fields:
                if field not in values:
                    raise ValueError(f"missing argument {field!r} (it is part of the command)")
                if any(ord(c) < 32 or ord(c) == 127 for c in values[field]):
                    raise ValueError(f"argument {field!r} may not contain control characters")
            if part.startswith("{") and fields and values.get(fields[0], "").startswith("-"):
                raise ValueError(f"argument {fields[0]!r} may not start with '-' (it is a whole argument of the command)")
            argv.append(part.format(**values))
        return argv

    def render(self, arguments: dict[str, Any]) -> tuple[str, bytes]:
        for field in self.topic_fields:
            if field not in arguments:
                raise ValueError(f"missing argument {field!r} (it is part of the topic)")
            if not is_safe_level(_as_text(arguments[field])):
                raise ValueError(f"argument {field!r} may not be empty or contain /, +, #, NUL or control "
                                 "characters (it is part of the topic)")
        topic = self.config.topic.format(**{k: _as_text(v) for k, v in arguments.items()})
        if not self.pattern.fullmatch(topic) or not is_valid_topic(topic):
            raise ValueError(f"topic {topic[:80]!r} is outside the declared template {self.config.topic!r}")
        try:
            payload = self.config.payload.format(**{k: _as_json_fragment(v) for k, v in arguments.items()})
        except KeyError as exc:
            raise ValueError(f"missing argument {exc.args[0]!r} (it is part of the payload)") from None
        return topic, payload.encode()


class MqttToolRunner:
    """The :class:`edge_agent.control.ToolRunner` over the declared tools: MQTT publishes through
    ``publish``, and ``command`` tools run here (they need no broker)."""

    def __init__(
        self,
        tools: list[ToolConfig],
        publish: Publisher,
        emit: Callable[[Event], Any] | None = None,
        reserved_prefixes: tuple[str, ...] = (),
    ) -> None:
        self._tools: dict[str, _Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ConfigError(f"mqtt.tools: {tool.name!r} is declared twice")
            self._tools[tool.name] = _Tool(tool, reserved_prefixes)
        self._publish = publish
        self._emit = emit

    @property
    def publishes_events(self) -> bool:
        """True when this runner puts its own ``tool`` events on the bus (the conversation then doesn't)."""
        return self._emit is not None

    def specs(self) -> list[dict[str, Any]]:
        return [tool.spec() for tool in self._tools.values()]

    def needs_confirmation(self, name: str) -> bool:
        tool = self._tools.get(name)
        return bool(tool and tool.config.confirm)

    async def run(self, name: str, arguments: dict[str, Any]) -> str:
        try:
            tool = self._tools.get(name)
            if tool is None:
                raise ValueError(f"unknown tool {name[:64]!r}; declared tools: {', '.join(self._tools) or 'none'}")
            validate_arguments(arguments, tool.config.parameters)
            if tool.config.command:
                argv = tool.render_command(arguments)
            else:
                topic, payload = tool.render(arguments)
        except ValueError as exc:
            self._report(name, arguments, ok=False, result=str(exc))
            raise
        if tool.config.command:
            done, what = await run_command(argv, tool.config.timeout_s)
            result = f"done: {what}" if done else f"not done: {what}"
            self._report(name, arguments, ok=done, result=result)
            return result
        # the publisher may wait for the broker's acknowledgement: never on the loop
        if await asyncio.to_thread(self._publish, topic, payload, tool.config.qos, tool.config.retain):
            acked = " (acknowledged by the broker)" if tool.config.qos > 0 else ""
            result = f"done: published to {topic}{acked}"
            self._report(name, arguments, ok=True, result=result)
        else:
            result = "not done: the MQTT broker is not connected or did not acknowledge it; try again later"
            self._report(name, arguments, ok=False, result=result)
        return result

    def _report(self, name: str, arguments: Any, ok: bool, result: str) -> None:
        if self._emit is None:
            return
        shown = arguments if isinstance(arguments, dict) else {}
        if len(json.dumps(shown, default=str)) > 2000:
            shown = {"_truncated": True}
        self._emit(ToolCall(name=name[:64], arguments=shown, ok=ok, result=result))
