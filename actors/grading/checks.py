"""The checks of grading. The answers' side raises GradingError (the answers are unusable, not the
submission's fault); the submission's side turns a frame into what the metric scores, or raises
Invalid naming the first problem found (grader.py turns that into an invalid grade)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from actors.errors import FatalError
from actors.grading.metrics import get_metric, is_numeric_labels, label_keys, sorted_classes

# How far a log-loss probability row may sum from 1 before the submission is rejected.
ROW_SUM_TOLERANCE = 0.01


class GradingError(FatalError):
    """The answers (or the grading setup) are unusable; names the problem."""


def check_answers(answers: pd.DataFrame, id_column: str, targets: list[str], kind: str) -> pd.Series:
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


class Invalid(Exception):
    """Internal: the submission is invalid for the reason in args[0]."""


def id_keys(ids: pd.Series) -> pd.Series:
    """Ids as stripped text; integral floats (ids read from a column with gaps) lose their '.0'."""
    present = ids.notna()
    if pd.api.types.is_float_dtype(ids) and (ids[present] == np.floor(ids[present])).all():
        keys = ids.astype("Int64").astype(str)
    else:
        keys = ids.astype(str).str.strip()
    return keys.astype(object).where(present, None)


def rename_columns(sub: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(sub, pd.DataFrame):
        raise Invalid(f"submission is a {type(sub).__name__}, not a table")
    names = [str(c).strip() for c in sub.columns]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise Invalid(f"duplicate column names: {', '.join(dup)}")
    return sub.set_axis(names, axis=1)


def check_columns(sub: pd.DataFrame, id_column: str, targets: list[str]) -> list[str]:
    problems = []
    missing = [c for c in [id_column, *targets] if c not in sub.columns]
    extra = [c for c in sub.columns if c not in (id_column, *targets)]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected columns: {', '.join(extra)}")
    if problems:
        raise Invalid("; ".join(problems))
    return list(targets)


def class_columns(
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
        raise Invalid(f"missing columns: {id_column}")
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
        raise Invalid("; ".join(problems))
    return [by_key[k][0] for k in keys]


def align(sub: pd.DataFrame, id_column: str, answer_ids: pd.Series) -> pd.DataFrame:
    """The submission's rows in answer order, or Invalid listing every id problem found."""
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
        raise Invalid("; ".join(problems))
    return sub.set_axis(ids.to_numpy(), axis=0).loc[answer_ids.to_numpy()]


def labels(pred: pd.Series | pd.DataFrame, answers: pd.DataFrame, targets: list[str]) -> tuple[object, list[str]]:
    frame = pred.to_frame() if isinstance(pred, pd.Series) else pred
    for col in frame.columns:
        if n := int(frame[col].isna().sum()):
            raise Invalid(f"column {col!r} has {n} missing values (e.g. id {first(frame[col].isna())!r})")
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


def numbers(frame: pd.DataFrame, metric: str) -> np.ndarray:
    """Float predictions, or Invalid naming the first column with missing / non-numeric /
    infinite / out-of-domain values."""
    values = {}
    for col in frame.columns:
        raw = frame[col]
        if n := int(raw.isna().sum()):
            raise Invalid(f"column {col!r} has {n} missing values (e.g. id {first(raw.isna())!r})")
        num = pd.to_numeric(raw.astype(float) if raw.dtype == bool else raw, errors="coerce")
        if bad := int(num.isna().sum()):
            i = first(num.isna())
            raise Invalid(f"column {col!r} has {bad} non-numeric values (e.g. {raw[i]!r} at id {i!r})")
        num = num.astype(float)
        if bad := int(np.isinf(num).sum()):
            raise Invalid(f"column {col!r} has {bad} infinite values (e.g. id {first(np.isinf(num))!r})")
        check_domain(num, col, metric)
        values[col] = num
    out = pd.DataFrame(values)
    if metric == "multiclass_log_loss":
        sums = out.sum(axis=1)
        off = (sums - 1).abs() > ROW_SUM_TOLERANCE
        if n := int(off.sum()):
            i = first(off)
            raise Invalid(
                f"{n} rows of class probabilities do not sum to 1 within {ROW_SUM_TOLERANCE} "
                f"(e.g. id {i!r} sums to {sums[i]:.6g})"
            )
    arr = out.to_numpy()
    return arr[:, 0] if arr.shape[1] == 1 and metric != "multiclass_log_loss" else arr


def check_domain(num: pd.Series, col: str, metric: str) -> None:
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
        i = first(bad)
        raise Invalid(f"column {col!r} has {n} {what} (e.g. {num[i]:.6g} at id {i!r})")


def first(mask: pd.Series) -> str:
    return mask[mask].index[0]
