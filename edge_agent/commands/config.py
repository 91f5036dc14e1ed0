"""``edge-agent config check|show|schema``."""

from __future__ import annotations

import argparse
import json

from edge_agent.config import Settings, config_path, load_settings, masked_dump


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("config", help="check, show or describe the settings",
                       description="Check, show or describe the settings (TOML file + environment + credentials).")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    csub.add_parser("check", help="validate the settings; exit 78 naming the bad field if invalid").set_defaults(func=check)
    csub.add_parser("show", help="print the effective settings as JSON (secrets masked)").set_defaults(func=show)
    csub.add_parser("schema", help="print the JSON schema of the settings").set_defaults(func=schema)
    for action in csub.choices.values():
        action.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML settings file")


def check(args: argparse.Namespace) -> int:
    load_settings(getattr(args, "config", None))
    where = config_path(getattr(args, "config", None))
    print(f"config ok ({where if where else 'defaults and environment only'})")
    return 0


def show(args: argparse.Namespace) -> int:
    settings = load_settings(getattr(args, "config", None))
    print(json.dumps(masked_dump(settings), indent=2))
    return 0


def schema(args: argparse.Namespace) -> int:
    print(json.dumps(Settings.model_json_schema(), indent=2))
    return 0
