"""The built-in demo conversation: what ``edge-agent run`` does on a machine with no microphone.

The user's side is generated with the Piper voice ("Okay Nabu." + pause + "What are your opening
hours?"), fed through the whole pipeline in real time (wake word, VAD, end of turn, STT, the answer
router, TTS): the answer comes from the shipped example knowledge file (a museum kiosk), and the
agent's reply is written to a WAV file whose path is printed at the end."""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

from edge_agent.events import AnswerRouted, Event, ReplyText, Transcript, TurnDone, Wake

QUESTION = "What are your opening hours?"
DEFAULT_OUTPUT = Path("edge-agent-demo-reply.wav")


def demo_input(keyword: str = "okay_nabu", question: str = QUESTION) -> Path:
    """The demo's input WAV (generated once, then cached)."""
    from edge_agent.audio import SAMPLE_RATE
    from edge_agent.audio.wav import write_wav
    from edge_agent.speechgen import WAKE_TEXT, cache_root, demo_conversation

    if keyword not in WAKE_TEXT:
        keyword = "okay_nabu"
    utt = demo_conversation(keyword=keyword, question=question)
    tag = hashlib.sha1(question.encode()).hexdigest()[:8]
    path = cache_root() / f"demo-{keyword}-{tag}.wav"
    if not path.is_file():
        write_wav(path, utt.samples, SAMPLE_RATE)
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
    print("No microphone found: playing the built-in demo conversation "
          "(a generated voice says the wake word and a question).", file=out, flush=True)
    settings = settings.model_copy(deep=True)
    settings.wake.enabled = True
    if settings.wake.keywords[:1] != [keyword]:
        settings.wake.keywords = [keyword]
    options = RunOptions(input_wav=demo_input(keyword), output_wav=output, fast=args.fast,
                         events=args.events, config_path=getattr(args, "config", None))
    narrator = _Narrator(out)
    status, daemon = run_daemon(settings, options, process_start=process_start,
                                on_ready=lambda d: d.bus.subscribe(narrator))
    replies = daemon.conversation.replies if daemon.conversation is not None else 0
    if replies:
        print(f"The agent's reply is in {output.resolve()}", file=out)
    else:
        print("The agent did not answer (see the log above).", file=out)
    if daemon.cold_start_s is not None:
        print(f"[cold start {daemon.cold_start_s:.2f} s]", file=out)
    return status
