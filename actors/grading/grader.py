"""Grade a submission against the private answers (SPEC.md step 6).

Submission format (the shared contract the code harness writes):
- multiclass_log_loss: [id_column] + one probability column per class, named str(class).
- mean_roc_auc: [id_column] + targets, each the probability of that target's positive label.
- roc_auc: [id_column, target], the probability of the positive class (the larger label when
  sorted, i.e. 1 / True).
- every other metric: [id_column] + targets (labels for accuracy / f1_macro, numbers otherwise).

As in mle-bench, a submission that cannot be graded grades to `score=None, valid=False` with a
named reason; it never raises. Problems on the answers' side (missing columns, a one-class AUC)
are not the submission's fault: they raise GradingError, a FatalError.

Decisions worth knowing:
- Ids are text: callers read id columns with dtype=str (jobs/grade.py, the catalog checks, the
  harness), so "007" and "7" are two ids. Frames with numeric ids (tests, direct callers) are cast to
  text, integral floats without their ".0".
- A score that is not a finite number (a finite prediction such as 1e200 whose error overflows a
  float) grades the submission invalid with that reason: such a prediction is useless, and a grade
  of inf could not be placed or averaged.
- A label that never occurs in the answers (accuracy, f1_macro) is valid but counts as wrong; the
  result carries a warning that says how many there were.
- Probabilities must lie in [0, 1]; a log-loss row whose probabilities sum further than 0.01 from 1
  is rejected (Kaggle would silently renormalise it; a sum that far off is a harness bug).
- Extra columns are rejected by name: the harness writes exactly the contract.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from actors.grading.metrics import (
    MetricError,
    binary_truth,
    get_metric,
    score_predictions,
)
from actors.grading.checks import (
    GradingError,
    Invalid,
    align,
    check_answers,
    check_columns,
    class_columns,
    labels,
    numbers,
    rename_columns,
)
from actors.task import Competition

log = logging.getLogger(__name__)

__all__ = ["GradeResult", "GradingError", "grade", "grade_submission", "score_predictions"]


@dataclass(frozen=True)
class GradeResult:
    """The grade of one submission. Invalid submissions have score None and a reason."""

    score: float | None
    valid: bool
    reason: str | None = None
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.valid and (self.score is None or not np.isfinite(self.score)):
            raise ValueError(f"a valid grade needs a finite score, got {self.score!r}")
        if not self.valid and (self.score is not None or not self.reason):
            raise ValueError("an invalid grade has score None and a reason")

    def to_dict(self) -> dict:
        return {"score": self.score, "valid": self.valid, "reason": self.reason, "warnings": list(self.warnings)}


def grade(
    submission: pd.DataFrame, answers: pd.DataFrame, competition: Competition, classes: list | None = None
) -> GradeResult:
    """Grade `submission` for `competition` (its metric, id_column and target)."""
    return grade_submission(
        submission, answers, metric=competition.metric, id_column=competition.id_column,
        targets=list(competition.target), classes=classes,
    )


def grade_submission(
    submission: pd.DataFrame,
    answers: pd.DataFrame,
    *,
    metric: str,
    id_column: str,
    targets: list[str],
    classes: list | None = None,
) -> GradeResult:
    """Grade without a Competition. `classes` (multiclass_log_loss only) are the target's classes in
    train.csv; without them the expected probability columns are the classes in the answers."""
    m = get_metric(metric)
    answer_ids = check_answers(answers, id_column, targets, m.kind)
    if metric == "multiclass_log_loss" and len(targets) != 1:
        raise GradingError(f"multiclass_log_loss grades one target, got {len(targets)}: {targets}")
    warnings: list[str] = []
    try:
        sub = rename_columns(submission)
        if metric == "multiclass_log_loss":
            columns = class_columns(sub, answers[targets[0]], id_column, classes)
        else:
            columns = check_columns(sub, id_column, targets)
        aligned = align(sub, id_column, answer_ids)[columns]
        if m.kind == "label":
            y_pred, warnings = labels(aligned[columns[0]] if len(columns) == 1 else aligned, answers, targets)
        else:
            y_pred = numbers(aligned, metric)
    except Invalid as exc:
        log.info("invalid submission for %s: %s", metric, exc)
        return GradeResult(score=None, valid=False, reason=str(exc))
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is judged below, not warned about
            score = score_predictions(_truth(answers, targets, metric), y_pred, metric, classes=classes)
    except MetricError as exc:  # the submission was checked above, so the answers are at fault
        raise GradingError(f"cannot compute {metric} on these answers: {exc}") from exc
    if not np.isfinite(score):  # finite values whose errors overflow a float (e.g. 1e200 under rmse)
        hint = f"; the largest |prediction| is {np.max(np.abs(y_pred)):.3g}" if m.kind == "value" else ""
        return GradeResult(score=None, valid=False, reason=f"{metric} is not a finite number for these "
                                                           f"predictions ({score}){hint}")
    return GradeResult(score=score, valid=True, warnings=tuple(warnings))


def _truth(answers: pd.DataFrame, targets: list[str], metric: str) -> np.ndarray:
    """The answers as score_predictions takes them; each column keeps its own dtype until encoded."""
    if metric == "mean_roc_auc":  # one 0/1 column per target, encoded column by column
        return np.column_stack([binary_truth(answers[t].to_numpy()) for t in targets])
    if len(targets) > 1:
        return answers[targets].to_numpy(dtype=float if get_metric(metric).kind == "value" else object)
    return answers[targets[0]].to_numpy()
