"""A competition's grade, pure: the submission's bytes against the answers frame, then its place on the
leaderboard frame. The job layer reads the files (jobs/grade.py); this decides what the row says."""
from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd

from actors.grading.grader import GradeResult, grade_submission
from actors.grading.leaderboard import LeaderboardError, leaderboard_position


@dataclass(frozen=True)
class Verdict:
    """The grading fields of a result row."""

    status: str  # graded | invalid_submission | skipped
    score: float | None = None
    valid_submission: bool = False
    error: str | None = None
    leaderboard_percentile: float | None = None
    medal: str | None = None
    leaderboard_note: str | None = None  # why a valid grade has no place


NO_ANSWERS = Verdict(status="skipped", error="no answers_uri: submission written but not graded")


def parse_submission(submission: bytes, id_column: str) -> pd.DataFrame | GradeResult:
    """The submission with read_table's NA rules (only empty cells are missing) and text ids, or an
    invalid grade saying why it cannot be read."""
    try:
        return pd.read_csv(io.BytesIO(submission), keep_default_na=False, na_values=[""], dtype={id_column: str})
    except Exception as exc:  # noqa: BLE001 - an unreadable file is an invalid submission, never a crash
        return GradeResult(score=None, valid=False, reason=f"cannot read submission.csv: {exc}")


def judge(submission: bytes, answers: pd.DataFrame, *, metric: str, id_column: str, targets: list[str],
          classes: list[str] | None, higher_is_better: bool, board: pd.DataFrame | None = None,
          board_error: str | None = None) -> Verdict:
    """Grade the submission; place a valid grade on the board. A board that could not be read
    (`board_error`) or is unusable costs the place, never the grade."""
    table = parse_submission(submission, id_column)
    result = table if isinstance(table, GradeResult) else grade_submission(
        table, answers, metric=metric, id_column=id_column, targets=targets, classes=classes)
    if not result.valid:
        return Verdict("invalid_submission", error=f"invalid submission: {result.reason}")
    if board_error is not None:
        return Verdict("graded", score=result.score, valid_submission=True, leaderboard_note=board_error)
    if board is None:
        return Verdict("graded", score=result.score, valid_submission=True)
    try:
        placement = leaderboard_position(result.score, board, higher_is_better)
    except LeaderboardError as exc:
        return Verdict("graded", score=result.score, valid_submission=True, leaderboard_note=str(exc))
    return Verdict("graded", score=result.score, valid_submission=True,
                   leaderboard_percentile=placement.percentile, medal=placement.medal)
