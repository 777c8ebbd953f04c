"""`linguacodus results OUT [--run-id ID ...] [--format table|json|csv] [--reindex]`: list the runs
under OUT, one run's rows, or several runs side by side, from the index in OUT/_index/
(storage/index.py). Also `publish`, which `linguacodus run` calls at its end: index + report."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import storage
from storage import index

logger = logging.getLogger(__name__)
RUN_COLUMNS = ("run_id", "mode", "model", "started_at", "complete", "competitions", "graded", "failed",
               "valid_submissions", "llm_valid_submissions", "mean_leaderboard_percentile", "seconds_total")
ROW_COLUMNS = ("run_id", "competition_id", "status", "score", "validation_score", "leaderboard_percentile",
               "medal", "attempts", "fallback_used", "seconds_total")
PER_RUN = ("status", "score", "leaderboard_percentile")  # columns repeated per run when comparing


def publish(out: str, run_id: str) -> None:
    """The consumers' views of a finished run: the index partitions, then report.html. Each is
    attempted on its own and only logged on failure: they must never fail the run they describe."""
    try:
        index.index_run(out, run_id)
    except Exception:  # noqa: BLE001
        logger.exception("run %s: results index not written", run_id)
    try:
        from jobs.report import write_report

        write_report(storage.RunLayout(out, run_id).root)
    except Exception:  # noqa: BLE001
        logger.exception("run %s: report.html not written", run_id)


def compare_rows(rows: list[dict[str, Any]], run_ids: list[str]) -> list[dict[str, Any]]:
    """One line per competition, PER_RUN columns once per run (`score@RUN`)."""
    by_comp: dict[str, dict[str, Any]] = {}
    for r in rows:
        line = by_comp.setdefault(r["competition_id"], {"competition_id": r["competition_id"]})
        for col in PER_RUN:
            line[f"{col}@{r['run_id']}"] = r.get(col)
    return [{"competition_id": cid, **{f"{c}@{run}": line.get(f"{c}@{run}") for run in run_ids for c in PER_RUN}}
            for cid, line in by_comp.items()]


def emit(rows: list[dict[str, Any]], columns: list[str], fmt: str, title: str) -> None:
    if fmt == "json":
        json.dump([{c: r.get(c) for c in columns} for r in rows], sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
    elif fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for c in columns:
            table.add_column(c.replace("_", " "), overflow="fold")
        for r in rows:
            table.add_row(*["-" if r.get(c) is None else f"{r[c]:.4g}" if isinstance(r.get(c), float) else str(r[c])
                            for c in columns])
        console = Console()
        (console if console.is_terminal else Console(width=200)).print(table)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("results", help="list and compare runs from the results index (OUT/_index/)",
                       description=__doc__)
    p.add_argument("out", help="results root URI (the --out of the runs)")
    p.add_argument("--run-id", nargs="+", default=None, metavar="ID",
                   help="one run: its rows; several: side by side per competition (default: list the runs)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    p.add_argument("--reindex", action="store_true",
                   help="rebuild the index from every run folder under OUT first (runs from older versions too)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.reindex:
        logger.info("indexed %d runs", len(index.reindex(args.out)))
    if not storage.exists(index.runs_parquet(args.out)):
        print(f"no index under {args.out} (runs before this version: linguacodus results {args.out} --reindex)",
              file=sys.stderr)
        return 1
    if not args.run_id:
        emit(index.read_runs(args.out).to_pylist(), list(RUN_COLUMNS), args.format, f"runs under {args.out}")
        return 0
    rows = index.read_results(args.out, args.run_id).to_pylist()
    missing = sorted(set(args.run_id) - {r["run_id"] for r in rows})
    if missing:
        print(f"not in the index: {', '.join(missing)}", file=sys.stderr)
    if len(args.run_id) == 1:
        emit(rows, list(ROW_COLUMNS), args.format, f"run {args.run_id[0]}")
    else:
        emit(compare_rows(rows, args.run_id), ["competition_id", *(f"{c}@{r}" for r in args.run_id for c in PER_RUN)],
             args.format, "runs compared")
    return 0 if rows and not missing else 1
