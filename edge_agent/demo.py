"""The built-in demo conversation: what ``edge-agent run`` does on a machine with no microphone.

The user's side is generated with the Piper voice, two turns: "Okay Nabu." + "What are your
opening hours?", then, once the reply and its follow-up window are over, "Okay Nabu." + "Turn on
the cafe light.". It is fed through the whole pipeline in real time (wake word, VAD, end of turn,
STT, the answer router, TTS). The first answer comes from the shipped example knowledge file (a
museum kiosk); the second is a real call of the example ``set_light`` tool: with no MQTT broker it
runs the demo's light panel program (:mod:`edge_agent.demo_light`), and the agent says "done" only
when that program reports success. The agent's replies are written to a WAV file whose path is
printed at the end, with the light panel's state."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from edge_agent.events import AnswerRouted, Event, ReplyText, ToolCall, Transcript, TurnDone, Wake

QUESTION = "What are your opening hours?"
COMMAND = "Turn on the cafe light."
TURNS = (QUESTION, COMMAND)
GAP_S = 16.0
"""Silence between the two turns: the first reply (about 7 s) and the 6 s follow-up window are over
before the second wake word, which an idle agent listens for."""
DEFAULT_OUTPUT = Path("edge-agent-demo-reply.wav")


def demo_input(keyword: str = "okay_nabu", turns: tuple[str, ...] = TURNS, gap_s: float = GAP_S) -> Path:
    """The demo's input WAV: each turn a wake phrase and a sentence, ``gap_s`` apart (generated
    once, then cached)."""
    import numpy as np

    from edge_agent.audio import SAMPLE_RATE
    from edge_agent.audio.wav import write_wav
    from edge_agent.speechgen import WAKE_TEXT, cache_root, demo_conversation

    if keyword not in WAKE_TEXT:
        keyword = "okay_nabu"
    tag = hashlib.sha1(f"{turns}|{gap_s}".encode()).hexdigest()[:8]
    path = cache_root() / f"demo-{keyword}-{tag}.wav"
    if not path.is_file():
        gap = np.zeros(int(gap_s * SAMPLE_RATE), np.int16)
        pieces: list[Any] = []
        for i, turn in enumerate(turns):
            pieces += ([gap] if i else []) + [demo_conversation(keyword=keyword, question=turn).samples]
        write_wav(path, np.concatenate(pieces), SAMPLE_RATE)
    return path


class _Narrator:
    """Prints the conversation as it happens (to stderr when stdout carries the events)."""

    def __init__(self, out: Any) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        if isinstance(event, Wake):
            self._say(f"[wake word: {event.keyword}]")
        elif isinstance(event, Transcript) and event.text:
            self._say(f"you:   {event.text}")
        elif isinstance(event, AnswerRouted):
            where = f" ({event.passage})" if event.passage else ""
            self._say(f"[answered by: {event.source}{where}: {event.reason}]")
        elif isinstance(event, ToolCall):
            args = ", ".join(f"{k}={v}" for k, v in event.arguments.items())
            self._say(f"[tool {event.name}({args}): {event.result}]")
        elif isinstance(event, ReplyText):
            self._say(f"agent: {event.text}")
        elif isinstance(event, TurnDone) and event.voice_to_voice_ms is not None:
            stages = ", ".join(f"{k} {v:.0f}" for k, v in event.stages.items())
            self._say(f"[voice to voice {event.voice_to_voice_ms:.0f} ms: {stages} ms]")

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def run_demo(settings: Any, args: argparse.Namespace, process_start: float | None = None) -> int:
    from edge_agent.app.lifecycle import RunOptions, run_daemon

    keyword = settings.wake.keywords[0] if settings.wake.keywords else "okay_nabu"
    output = args.output or DEFAULT_OUTPUT
    out = sys.stderr if args.events == "-" else sys.stdout
    print("No microphone found: playing the built-in demo conversation (a generated voice says the wake "
          "word and a question, then the wake word and a command for the example light tool).", file=out, flush=True)
    settings = settings.model_copy(deep=True)
    settings.wake.enabled = True
    settings.answers.demo_tool = True  # used only when no tool is declared
    if settings.wake.keywords[:1] != [keyword]:
        settings.wake.keywords = [keyword]
    options = RunOptions(input_wav=demo_input(keyword), output_wav=output, fast=args.fast,
                         events=args.events, config_path=getattr(args, "config", None))
    _show_panel(settings, out, reset=True)
    narrator = _Narrator(out)
    status, daemon = run_daemon(settings, options, process_start=process_start,
                                on_ready=lambda d: d.bus.subscribe(narrator))
    replies = daemon.conversation.replies if daemon.conversation is not None else 0
    if replies:
        print(f"The agent's replies are in {output.resolve()}", file=out)
    else:
        print("The agent did not answer (see the log above).", file=out)
    _show_panel(settings, out)
    if daemon.cold_start_s is not None:
        print(f"[cold start {daemon.cold_start_s:.2f} s]", file=out)
    return status


def _show_panel(settings: Any, out: Any, reset: bool = False) -> None:
    """The demo light panel's state (``reset``: every light off first, so the tool's effect shows),
    when the demo's local light tool is the one declared."""
    from edge_agent.answers.router import declared_tools
    from edge_agent.demo_light import ROOMS, panel_path, read_panel, switch

    if not any(tool.command and "edge_agent.demo_light" in tool.command for tool in declared_tools(settings)):
        return
    path = panel_path()
    try:
        if reset:
            for room in ROOMS:
                switch(room, "OFF", path)
        states = ", ".join(f"{room} {state}" for room, state in read_panel(path).items())
    except OSError as exc:
        states = f"cannot be read or written ({exc.strerror or exc})"
    print(f"The demo light panel ({path}): {states}", file=out, flush=True)
