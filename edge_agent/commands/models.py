"""``edge-agent models list|pull|verify|path``."""

from __future__ import annotations

import argparse
import shlex
import sys

from edge_agent.config import load_settings
from edge_agent.models import ModelManager, Recipe


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("models", help="list, fetch and verify the models",
                       description="List, fetch (with sha256 checks) and verify the models in the manifest. "
                                   "They are stored in paths.models_dir (default ~/.cache/edge-agent/models).")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    lp = msub.add_parser("list", help="every model in the manifest and whether it is present")
    lp.set_defaults(func=list_models)
    pp = msub.add_parser("pull", help="fetch models (default: the default set), repairing bad files")
    pp.add_argument("names", nargs="*", metavar="NAME", help="models to fetch (default: all default models)")
    pp.add_argument("--all", action="store_true", help="every model in the manifest, not only the defaults")
    pp.add_argument("--force", action="store_true", help="fetch again even if the files are correct")
    pp.set_defaults(func=pull)
    vp = msub.add_parser("verify", help="hash every present or default model; non-zero exit on a bad file")
    vp.add_argument("names", nargs="*", metavar="NAME")
    vp.set_defaults(func=verify)
    path_p = msub.add_parser("path", help="print the directory of a model")
    path_p.add_argument("name", metavar="NAME")
    path_p.set_defaults(func=path)
    for action in msub.choices.values():
        action.add_argument("--dir", metavar="DIR", help="models directory (default: the config's paths.models_dir)")
        action.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML settings file")


def _manager(args: argparse.Namespace, recipes: dict[str, Recipe] | None = None) -> ModelManager:
    if args.dir:
        return ModelManager(args.dir, recipes=recipes)
    return ModelManager(load_settings(getattr(args, "config", None)).paths.models_dir, recipes=recipes)


def list_models(args: argparse.Namespace) -> int:
    mm = _manager(args)
    print(f"{'NAME':<24} {'ROLE':<6} {'DEFAULT':<7} {'STATUS':<8} {'LICENCE':<14} SOURCE")
    for spec, status in mm.iter_status():
        print(f"{spec.name:<24} {spec.role:<6} {'yes' if spec.default else 'no':<7} {status:<8} {spec.licence:<14} {spec.source}")
    print(f"\nmodels directory: {mm.root}")
    return 0


def pull(args: argparse.Namespace) -> int:
    from edge_agent.models.recipes import RECIPES  # only pulling builds models

    mm = _manager(args, RECIPES)
    names = args.names or (list(mm.manifest.models) if args.all else None)
    changed = mm.pull(names, force=args.force)
    # pull already hashed every file it kept; only what it (re)wrote gets a second look
    problems = mm.verify(changed) if changed else []
    for p in problems:
        print(f"edge-agent: {p}", file=sys.stderr)
    if not problems:
        print(f"models ok in {mm.root}", file=sys.stderr)
    return 1 if problems else 0


def verify(args: argparse.Namespace) -> int:
    mm = _manager(args)
    problems = mm.verify(args.names or None, progress=True)
    # The fix must name the same directory that was checked, or it would repair a different one.
    dir_opt = f" --dir {shlex.quote(args.dir)}" if args.dir else ""
    for p in problems:
        print(f"edge-agent: model {p.model!r} is bad: {p.path}: {p.reason}. "
              f"Fix: edge-agent models pull {p.model}{dir_opt}", file=sys.stderr)
    if not problems:
        print("all models verified", file=sys.stderr)
    return 1 if problems else 0


def path(args: argparse.Namespace) -> int:
    print(_manager(args).require(args.name))
    return 0
