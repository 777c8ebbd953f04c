"""`linguacodus grade`: score one submission file and place it on a leaderboard.

Prints one JSON object: {score, valid, reason, warnings, placement}. Exit code 0 when the
submission is valid, 1 when it is invalid (the reason says why), 2 when grading itself is
impossible (unreadable answers or leaderboard, unknown metric).
"""
from __future__ import annotations

import argparse
import json
import logging

from actors.errors import FatalError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("grade", help="grade a submission against private answers", description=__doc__)
    p.add_argument("--submission", required=True, metavar="URI", help="submission.csv (path, file:// or s3://)")
    p.add_argument("--answers", required=True, metavar="URI", help="answers.csv: id column + target columns")
    p.add_argument("--metric", required=True, help="a registered metric name")
    p.add_argument("--id-column", required=True, help="id column of answers and submission")
    p.add_argument("--target", required=True, action="append", help="target column (repeat for several)")
    p.add_argument("--leaderboard", metavar="URI", help="leaderboard.csv (team_id,score) for percentile and medal")
    p.add_argument(
        "--classes", help="multiclass_log_loss only: comma-separated classes of train.csv "
        "(default: the classes found in the answers)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from actors.grading import grade_files
    from actors.metrics import get_metric
    from storage import StorageError

    try:
        get_metric(args.metric)
        report = grade_files(
            args.submission, args.answers, metric=args.metric, id_column=args.id_column,
            targets=args.target, leaderboard_uri=args.leaderboard,
            classes=args.classes.split(",") if args.classes else None,
        )
    except (FatalError, StorageError) as exc:  # StorageError: a store that stayed down
        log.error("cannot grade: %s", exc)
        return 2
    print(json.dumps(report.to_dict(), indent=2))
    return 0 if report.result.valid else 1
