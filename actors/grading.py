"""Grade files: read a submission, the answers and the leaderboard by URI, then grade and place.

actors/grader.py and actors/leaderboard.py are pure (DataFrames in, records out); this module is
the thin I/O layer used by `linguacodus grade` and by the pipeline's grading step.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

import storage
from actors.errors import RetryableError
from actors.grader import GradeResult, GradingError, grade_submission
from actors.leaderboard import LeaderboardError, Placement, leaderboard_position
from actors.metrics import get_metric
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
