"""`linguacodus report OUT/RUN_ID [-o FILE] [--compare OUT/RUN_B]`: the run as one self-contained HTML
page (summary table, per-competition sections, inline SVG plots), also written at the end of every
`linguacodus run` as OUT/RUN_ID/report.html."""
from __future__ import annotations

import argparse
import logging
import posixpath

import storage
from jobs.reporting import load_run, render_report

logger = logging.getLogger(__name__)


def default_output(run_uri: str, compare_uri: str | None) -> str:
    """OUT/RUN_ID/report.html; a comparison goes beside it, so it never replaces the run's own report."""
    if compare_uri is None:
        return storage.RunLayout.at(run_uri).report_html
    return storage.join(run_uri, f"compare-{posixpath.basename(str(compare_uri).rstrip('/'))}.html")


def write_report(run_uri: str, output: str | None = None, compare_uri: str | None = None) -> str:
    """Render the report of the run at run_uri (optionally against a second run); returns where it went."""
    run = load_run(run_uri)
    other = load_run(compare_uri) if compare_uri else None
    target = output or default_output(run_uri, compare_uri)
    storage.write_text(target, render_report(run, other))
    logger.info("run %s: report written to %s (%d competitions, %d unreadable artifacts)", run.run_id, target,
                len(run.competitions), len(run.problems))
    return target


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the HTML report of a run (plots, per-competition details)",
                       description=__doc__)
    p.add_argument("run", help="the run folder OUT/RUN_ID (local path, file:// or s3://)")
    p.add_argument("-o", "--output", default=None,
                   help="where to write the HTML (default: OUT/RUN_ID/report.html, or "
                        "OUT/RUN_ID/compare-RUN_B.html with --compare)")
    p.add_argument("--compare", metavar="RUN_B", default=None,
                   help="a second run folder to compare with, competition by competition (e.g. a vanilla run)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    print(write_report(args.run, args.output, args.compare))
    return 0
