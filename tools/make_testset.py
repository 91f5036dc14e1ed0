#!/usr/bin/env python3
"""Write the generated test audio as WAV files plus an ``index.jsonl`` (text, kind, timings per file).

    tools/make_testset.py --set wake --keyword okay_nabu -n 48 --out /tmp/testset
    tools/make_testset.py --set all --out /tmp/testset

Generation lives in ``edge_agent.speechgen`` (shared with the tests and benchmarks); this only
chooses a set and writes it out. Nothing written here belongs in git.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SETS = ("wake", "confusable", "ordinary", "pause", "complete", "commands", "demo")


def main(argv: list[str] | None = None) -> int:
    from edge_agent import speechgen
    from edge_agent.errors import EdgeAgentError

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", choices=(*SETS, "all"), default="all")
    p.add_argument("--out", type=Path, required=True, help="directory for the WAVs and index.jsonl")
    p.add_argument("--keyword", default="okay_nabu", help="wake keyword (wake and demo sets)")
    p.add_argument("-n", type=int, default=24, help="items in the wake/pause/complete/commands sets")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the ordinary speech set")
    args = p.parse_args(argv)
    makers = {
        "wake": lambda: speechgen.wake_set(args.keyword, args.n),
        "confusable": lambda: speechgen.confusable_set(),
        "ordinary": lambda: speechgen.ordinary_speech(args.minutes),
        "pause": lambda: speechgen.pause_sentences(args.n),
        "complete": lambda: speechgen.complete_sentences(args.n),
        "commands": lambda: speechgen.commands(args.n),
        "demo": lambda: [speechgen.demo_conversation(args.keyword)],
    }
    try:
        for name in SETS if args.set == "all" else (args.set,):
            items = makers[name]()
            index = speechgen.write_set(items, args.out / name)
            seconds = sum(u.duration for u in items)
            print(f"{name}: {len(items)} files, {seconds / 60:.1f} min -> {index}")
    except EdgeAgentError as exc:
        print(f"make_testset: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
