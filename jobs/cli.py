"""The `linguacodus` command. Each subcommand lives in its own jobs/ module that defines
`register(subparsers)`; modules are imported lazily so `linguacodus --help` stays fast and a
missing optional extra (train, gpu) only breaks the subcommand that needs it."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# subcommand name -> module defining register(subparsers); order is the order in --help
SUBCOMMANDS: dict[str, str] = {
    "catalog": "jobs.catalog",
    "examples": "jobs.examples",
    "run": "jobs.run",
    "grade": "jobs.grade",
    "report": "jobs.report",
    "results": "jobs.results",
    "serve": "jobs.serve.command",
    "worker": "jobs.worker",
    "models": "jobs.models",
    "corpus": "jobs.corpus",
    "extract": "jobs.extract",
    "finetune": "jobs.finetune",
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linguacodus", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((a for a in argv if a in SUBCOMMANDS), None)
    for name, module in SUBCOMMANDS.items():
        if wanted is not None and name != wanted:
            sub.add_parser(name)  # cheap placeholder; only the chosen one is imported
            continue
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as exc:
            if wanted == name:
                raise
            sub.add_parser(name, help=f"(unavailable: {exc})")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
