"""The `tongdai` command."""

from __future__ import annotations

import argparse
import sys

from tongdai.core.config import ConfigError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tongdai")
    parser.add_argument("--config", help="path of tongdai.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("config", help="print the effective settings")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"tongdai: {exc}", file=sys.stderr)
        return 2
    if args.command == "config":
        print(settings.model_dump_json(indent=2))
    return 0
