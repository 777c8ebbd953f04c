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

from actors.errors import FatalError
from actors.grading.metrics import (
    MetricError,
    binary_truth,
    get_metric,
    is_numeric_labels,
    label_keys,
    score_predictions,
    sorted_classes,
)
from actors.task import Competition

log = logging.getLogger(__name__)

__all__ = ["GradeResult", "GradingError", "grade", "grade_submission", "score_predictions"]
# How far a log-loss probability row may sum from 1 before the submission is rejected.
ROW_SUM_TOLERANCE = 0.01


class GradingError(FatalError):
    """The answers (or the grading setup) are unusable; names the problem."""


class _Invalid(Exception):
    """Internal: the submission is invalid for the reason in args[0]."""


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
    answer_ids = _check_answers(answers, id_column, targets, m.kind)
    if metric == "multiclass_log_loss" and len(targets) != 1:
        raise GradingError(f"multiclass_log_loss grades one target, got {len(targets)}: {targets}")
    warnings: list[str] = []
    try:
        sub = _rename_columns(submission)
        if metric == "multiclass_log_loss":
            columns = _class_columns(sub, answers[targets[0]], id_column, classes)
        else:
            columns = _check_columns(sub, id_column, targets)
        aligned = _align(sub, id_column, answer_ids)[columns]
        if m.kind == "label":
            y_pred, warnings = _labels(aligned[columns[0]] if len(columns) == 1 else aligned, answers, targets)
        else:
            y_pred = _numbers(aligned, metric)
    except _Invalid as exc:
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


def _check_answers(answers: pd.DataFrame, id_column: str, targets: list[str], kind: str) -> pd.Series:
    missing = [c for c in [id_column, *targets] if c not in answers.columns]
    if missing:
        raise GradingError(f"answers lack columns {', '.join(map(repr, missing))}")
    if len(answers) == 0:
        raise GradingError("answers are empty")
    ids = id_keys(answers[id_column])
    if ids.isna().any() or ids.duplicated().any():
        raise GradingError("answers have empty or duplicate ids")
    if answers[targets].isna().any().any():
        raise GradingError("answers have missing target values")
    if kind == "value" and not all(pd.api.types.is_numeric_dtype(answers[t]) for t in targets):
        raise GradingError(f"answers for a numeric metric are not numeric: {targets}")
    return ids


def _truth(answers: pd.DataFrame, targets: list[str], metric: str) -> np.ndarray:
    """The answers as score_predictions takes them; each column keeps its own dtype until encoded."""
    if metric == "mean_roc_auc":  # one 0/1 column per target, encoded column by column
        return np.column_stack([binary_truth(answers[t].to_numpy()) for t in targets])
    if len(targets) > 1:
        return answers[targets].to_numpy(dtype=float if get_metric(metric).kind == "value" else object)
    return answers[targets[0]].to_numpy()


def id_keys(ids: pd.Series) -> pd.Series:
    """Ids as stripped text; integral floats (ids read from a column with gaps) lose their '.0'."""
    present = ids.notna()
    if pd.api.types.is_float_dtype(ids) and (ids[present] == np.floor(ids[present])).all():
        keys = ids.astype("Int64").astype(str)
    else:
        keys = ids.astype(str).str.strip()
    return keys.astype(object).where(present, None)


def _rename_columns(sub: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(sub, pd.DataFrame):
        raise _Invalid(f"submission is a {type(sub).__name__}, not a table")
    names = [str(c).strip() for c in sub.columns]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _Invalid(f"duplicate column names: {', '.join(dup)}")
    return sub.set_axis(names, axis=1)


def _check_columns(sub: pd.DataFrame, id_column: str, targets: list[str]) -> list[str]:
    problems = []
    missing = [c for c in [id_column, *targets] if c not in sub.columns]
    extra = [c for c in sub.columns if c not in (id_column, *targets)]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected columns: {', '.join(extra)}")
    if problems:
        raise _Invalid("; ".join(problems))
    return list(targets)


def _class_columns(
    sub: pd.DataFrame, truth: pd.Series, id_column: str, classes: list | None
) -> list[str]:
    """The submission's probability columns in class order (the order score_predictions expects)."""
    numeric = is_numeric_labels(truth.to_numpy())
    if classes is not None:
        keys = list(label_keys(np.asarray(classes, dtype=object), numeric))
        unknown = sorted(set(label_keys(truth.to_numpy(), numeric)) - set(keys))
        if unknown:
            raise GradingError(f"answer classes not among the given classes: {', '.join(k[2:] for k in unknown)}")
    else:
        keys = sorted_classes(truth.to_numpy())
    if id_column not in sub.columns:
        raise _Invalid(f"missing columns: {id_column}")
    others = [c for c in sub.columns if c != id_column]
    by_key: dict[str, list[str]] = {}
    for col, key in zip(others, label_keys(np.array(others, dtype=object), numeric)):
        by_key.setdefault(key, []).append(col)
    problems = []
    if dup := [" and ".join(cols) for cols in by_key.values() if len(cols) > 1]:
        problems.append(f"columns name the same class: {'; '.join(dup)}")
    if missing := [k[2:] for k in keys if k not in by_key]:
        problems.append(f"missing probability columns for classes: {', '.join(missing)}")
    if extra := [cols[0] for k, cols in by_key.items() if k not in keys]:
        hint = "" if classes is not None else " (classes absent from the answers need the train classes)"
        problems.append(f"unexpected columns: {', '.join(extra)}{hint}")
    if problems:
        raise _Invalid("; ".join(problems))
    return [by_key[k][0] for k in keys]


def _align(sub: pd.DataFrame, id_column: str, answer_ids: pd.Series) -> pd.DataFrame:
    """The submission's rows in answer order, or _Invalid listing every id problem found."""
    ids = id_keys(sub[id_column])
    problems = []
    if len(sub) != len(answer_ids):
        problems.append(f"submission has {len(sub)} rows, expected {len(answer_ids)}")
    if n_empty := int(ids.isna().sum()):
        problems.append(f"{n_empty} rows have an empty id")
    dup = ids[ids.duplicated(keep=False) & ids.notna()].unique()
    if len(dup):
        problems.append(f"{len(dup)} ids appear more than once (e.g. {dup[0]!r})")
    missing = answer_ids[~answer_ids.isin(ids.dropna())]
    if len(missing):
        problems.append(f"missing {len(missing)} of {len(answer_ids)} ids (e.g. {missing.iloc[0]!r})")
    extra = ids.dropna()[~ids.dropna().isin(answer_ids)].unique()
    if len(extra):
        problems.append(f"{len(extra)} ids are not in the answers (e.g. {extra[0]!r})")
    if problems:
        raise _Invalid("; ".join(problems))
    return sub.set_axis(ids.to_numpy(), axis=0).loc[answer_ids.to_numpy()]


def _labels(pred: pd.Series | pd.DataFrame, answers: pd.DataFrame, targets: list[str]) -> tuple[object, list[str]]:
    frame = pred.to_frame() if isinstance(pred, pd.Series) else pred
    for col in frame.columns:
        if n := int(frame[col].isna().sum()):
            raise _Invalid(f"column {col!r} has {n} missing values (e.g. id {_first(frame[col].isna())!r})")
    warnings = []
    for col, target in zip(frame.columns, targets):
        truth = answers[target].to_numpy()
        numeric = is_numeric_labels(truth)
        known = set(label_keys(truth, numeric))
        keys = label_keys(frame[col].to_numpy(), numeric)
        unknown = frame[col][~pd.Series(keys, index=frame.index).isin(known)]
        if len(unknown):
            warnings.append(
                f"column {col!r}: {len(unknown)} predicted labels never occur in the answers "
                f"(e.g. {str(unknown.iloc[0])!r}); they count as wrong"
            )
    return pred.to_numpy(), warnings


def _numbers(frame: pd.DataFrame, metric: str) -> np.ndarray:
    """Float predictions, or _Invalid naming the first column with missing / non-numeric /
    infinite / out-of-domain values."""
    values = {}
    for col in frame.columns:
        raw = frame[col]
        if n := int(raw.isna().sum()):
            raise _Invalid(f"column {col!r} has {n} missing values (e.g. id {_first(raw.isna())!r})")
        num = pd.to_numeric(raw.astype(float) if raw.dtype == bool else raw, errors="coerce")
        if bad := int(num.isna().sum()):
            i = _first(num.isna())
            raise _Invalid(f"column {col!r} has {bad} non-numeric values (e.g. {raw[i]!r} at id {i!r})")
        num = num.astype(float)
        if bad := int(np.isinf(num).sum()):
            raise _Invalid(f"column {col!r} has {bad} infinite values (e.g. id {_first(np.isinf(num))!r})")
        _check_domain(num, col, metric)
        values[col] = num
    out = pd.DataFrame(values)
    if metric == "multiclass_log_loss":
        sums = out.sum(axis=1)
        off = (sums - 1).abs() > ROW_SUM_TOLERANCE
        if n := int(off.sum()):
            i = _first(off)
            raise _Invalid(
                f"{n} rows of class probabilities do not sum to 1 within {ROW_SUM_TOLERANCE} "
                f"(e.g. id {i!r} sums to {sums[i]:.6g})"
            )
    arr = out.to_numpy()
    return arr[:, 0] if arr.shape[1] == 1 and metric != "multiclass_log_loss" else arr


def _check_domain(num: pd.Series, col: str, metric: str) -> None:
    kind = get_metric(metric).kind
    if kind == "proba":
        bad, what = (num < 0) | (num > 1), "probabilities outside [0, 1]"
    elif metric == "rmse_log":
        bad, what = num <= 0, "values <= 0 (rmse_log takes the log of each prediction)"
    elif metric in ("rmsle", "mean_columnwise_rmsle"):
        bad, what = num < 0, f"negative values ({metric} is undefined for predictions < 0)"
    else:
        return
    if n := int(bad.sum()):
        i = _first(bad)
        raise _Invalid(f"column {col!r} has {n} {what} (e.g. {num[i]:.6g} at id {i!r})")


def _first(mask: pd.Series) -> str:
    return mask[mask].index[0]
