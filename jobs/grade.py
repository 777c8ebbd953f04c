"""`linguacodus grade`, and grading by URI: read a submission, the answers and the leaderboard, then
grade and place them with the pure functions of actors/grading/.

`linguacodus grade` prints one JSON object: {score, valid, reason, warnings, placement}. Exit code 0
when the submission is valid, 1 when it is invalid (the reason says why), 2 when grading itself is
impossible (unreadable answers or leaderboard, unknown metric). The pipeline (jobs/solve.py), the
catalog checks and the benchmarks read their files through the functions here.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass

import pandas as pd

import storage
from actors.errors import FatalError, RetryableError
from actors.grading.grader import GradeResult, GradingError, grade_submission
from actors.grading.leaderboard import LeaderboardError, Placement, leaderboard_position
from actors.grading.metrics import get_metric
from actors.task import Competition

log = logging.getLogger(__name__)
# A flaky store says nothing about the submission or the answers: these propagate, so the caller
# can retry, instead of turning into an invalid grade.
_TRANSIENT = (RetryableError, storage.StorageTransientError)


@dataclass(frozen=True)
class GradeReport:
    """A grade and, when the competition has a leaderboard, where it places."""

    result: GradeResult
    placement: Placement | None = None

    def to_dict(self) -> dict:
        return {**self.result.to_dict(), "placement": self.placement.to_dict() if self.placement else None}


def read_table(uri: str, **kw: object) -> pd.DataFrame:
    """CSV by path or URI. Only empty cells are missing: a label such as "NA" or "None" stays text."""
    return storage.read_csv(uri, **{"keep_default_na": False, "na_values": [""], **kw})


def read_submission(uri: str, id_column: str | None = None) -> pd.DataFrame | GradeResult:
    """The submission table (its id column as text), or an invalid GradeResult saying why it could not be read."""
    try:
        return read_table(uri, **_ids_as_text(id_column))
    except _TRANSIENT:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is an invalid submission, never a crash
        log.info("cannot read submission %s: %s", uri, exc)
        return GradeResult(score=None, valid=False, reason=f"cannot read submission {uri}: {exc}")


def _ids_as_text(id_column: str | None) -> dict:
    # "007" and "7" are different ids (the catalog checks read them as text too)
    return {"dtype": {id_column: str}} if id_column else {}


def read_answers(uri: str, id_column: str) -> pd.DataFrame:
    """answers.csv with its id column as text; GradingError naming the URI if it cannot be read."""
    try:
        return read_table(uri, **_ids_as_text(id_column))
    except _TRANSIENT:
        raise
    except Exception as exc:  # answers problems are fatal, named by URI
        raise GradingError(f"cannot read answers {uri}: {exc}") from exc


def read_leaderboard(uri: str) -> pd.DataFrame:
    """leaderboard.csv (`team_id,score[,submission_date]`); LeaderboardError naming the URI."""
    try:
        return read_table(uri)
    except _TRANSIENT:
        raise
    except Exception as exc:  # reported as one clear error naming the file
        raise LeaderboardError(f"cannot read leaderboard {uri}: {exc}") from exc


def grade_files(
    submission_uri: str,
    answers_uri: str,
    *,
    metric: str,
    id_column: str,
    targets: list[str],
    leaderboard_uri: str | None = None,
    classes: list | None = None,
) -> GradeReport:
    """Grade the submission at `submission_uri` and place it on the leaderboard, if given."""
    answers = read_answers(answers_uri, id_column)
    sub = read_submission(submission_uri, id_column)
    if isinstance(sub, GradeResult):
        result = sub
    else:
        result = grade_submission(sub, answers, metric=metric, id_column=id_column, targets=targets, classes=classes)
    placement = None
    if leaderboard_uri:
        board = read_leaderboard(leaderboard_uri)
        placement = leaderboard_position(result.score, board, get_metric(metric).higher_is_better)
    return GradeReport(result=result, placement=placement)


def grade_competition(competition: Competition, submission_uri: str) -> GradeReport:
    """Grade a submission for a catalog row (its answers_uri and leaderboard_uri)."""
    if not competition.answers_uri:
        raise GradingError(f"{competition.competition_id}: no answers_uri, cannot grade")
    classes = train_classes(competition) if competition.metric == "multiclass_log_loss" else None
    return grade_files(
        submission_uri, competition.answers_uri, metric=competition.metric,
        id_column=competition.id_column, targets=list(competition.target),
        leaderboard_uri=competition.leaderboard_uri, classes=classes,
    )


def train_classes(competition: Competition) -> list | None:
    """The target's classes in train.csv (the harness writes one probability column for each),
    or None when train.csv cannot be read, in which case the answers' classes are expected."""
    uri = storage.join(competition.data_uri, "train.csv")
    target = competition.target[0]
    try:
        values = read_table(uri, usecols=[target])[target]
    except _TRANSIENT:
        raise
    except Exception as exc:  # noqa: BLE001 - fall back to the answers' classes, and say so
        log.warning("%s: cannot read classes from %s (%s); using the answers' classes",
                    competition.competition_id, uri, exc)
        return None
    return list(values[values.notna()].unique())


# -- CLI ---------------------------------------------------------------------------------------

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
    try:
        get_metric(args.metric)
        report = grade_files(
            args.submission, args.answers, metric=args.metric, id_column=args.id_column,
            targets=args.target, leaderboard_uri=args.leaderboard,
            classes=args.classes.split(",") if args.classes else None,
        )
    except (FatalError, storage.StorageError) as exc:  # StorageError: a store that stayed down
        log.error("cannot grade: %s", exc)
        return 2
    print(json.dumps(report.to_dict(), indent=2))
    return 0 if report.result.valid else 1
