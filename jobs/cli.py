"""The `linguacodus` command: a table of subcommands, each the module that defines it with
`register(subparsers)`. A module is imported only when its subcommand runs, so `linguacodus --help`
imports none of them and a missing optional extra (train, gpu) breaks only the subcommand that needs it."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

DESCRIPTION = ("linguacodus turns natural-language descriptions of machine-learning competitions into executable, "
               "graded solutions, at catalog scale on Ray.")
# subcommand -> (module defining register(subparsers), one line for --help); the order is --help's
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "catalog": ("jobs.catalog", "build or validate a competition catalog"),
    "examples": ("jobs.examples", "build the repository's example catalog (offline)"),
    "run": ("jobs.run", "solve a catalog of competitions on Ray"),
    "grade": ("jobs.grade", "grade a submission against private answers"),
    "report": ("jobs.report", "write the HTML report of a run (plots, per-competition details)"),
    "results": ("jobs.results", "list and compare runs from the results index (OUT/_index/)"),
    "serve": ("jobs.serve.command", "serve the instruction model behind an OpenAI-compatible API (Ray Serve)"),
    "worker": ("jobs.worker", "run batch requests dropped into an inbox (local folder or s3:// prefix)"),
    "models": ("jobs.models", "list or verify the embedded GGUF models"),
    "corpus": ("jobs.corpus", "build or check a solutions corpus (input of `extract`)"),
    "extract": ("jobs.extract", "turn a solutions corpus into ranked prompt/instruction pairs (Parquet)"),
    "finetune": ("jobs.finetune", "LoRA fine-tune the instruction model (Ray Train + DeepSpeed)"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linguacodus", description=DESCRIPTION,
                                     epilog="`linguacodus COMMAND --help` describes each command and its flags.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((a for a in argv if a in SUBCOMMANDS), None)
    for name, (module, help_line) in SUBCOMMANDS.items():
        if name == wanted:
            importlib.import_module(module).register(sub)
        else:
            sub.add_parser(name, help=help_line)  # a placeholder: only the chosen one is imported
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
