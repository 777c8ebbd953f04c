"""The registered metrics (SPEC.md, 'Metrics'): one pure function per name over clean numpy arrays.

Each metric function takes already-encoded arrays (the grader and `score_predictions` do the
encoding and the validation), so the arithmetic here stays small and checkable by hand:
- kind "label": y_true, y_pred are 1-D arrays of comparable labels (the grader passes string keys).
- kind "proba": roc_auc gets 0/1 truths and positive-class probabilities (1-D); mean_roc_auc gets
  (n, k) 0/1 truths and (n, k) probabilities; multiclass_log_loss gets 1-D class indices and an
  (n, n_classes) probability matrix.
- kind "value": float arrays, 1-D (one target) or (n, k) (several targets).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from actors.errors import FatalError

MetricKind = Literal["label", "proba", "value"]
# Kaggle's log-loss convention: probabilities are clipped away from 0 and 1 so one confident miss
# costs -log(1e-15) ~= 34.5 instead of infinity.
LOG_LOSS_EPS = 1e-15


class MetricError(ValueError, FatalError):
    """The metric is undefined for these truths (e.g. ROC AUC with one class); names the cause."""


@dataclass(frozen=True)
class Metric:
    """A registered metric: its name, direction, what a prediction is, and the scoring function."""

    name: str
    higher_is_better: bool
    kind: MetricKind
    fn: Callable[[np.ndarray, np.ndarray], float]
    description: str

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(self.fn(y_true, y_pred))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of rows whose predicted label equals the true label."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def f1_macro(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the union of true and predicted labels (sklearn's
    default): a predicted label that never occurs in the truth adds a class with F1 = 0."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def roc_auc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Area under the ROC curve: probability that a random positive outranks a random negative,
    ties counting half. y_true is 0/1; y_pred the probability of class 1."""
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true).ravel()
    if len(np.unique(y_true)) < 2:
        raise MetricError("ROC AUC is undefined when the answers contain only one class")
    return float(roc_auc_score(y_true, np.asarray(y_pred, dtype=float).ravel()))


def mean_roc_auc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean over target columns of each column's ROC AUC (Kaggle's multilabel 'mean column-wise
    ROC AUC'). 1-D inputs are treated as a single column."""
    t, p = _as_2d(y_true), _as_2d(y_pred)
    aucs = []
    for j in range(t.shape[1]):
        try:
            aucs.append(roc_auc(t[:, j], p[:, j]))
        except MetricError as exc:
            raise MetricError(f"target column {j}: {exc}") from exc
    return float(np.mean(aucs))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """sqrt(mean((pred - true)^2)) over every cell (all rows, all target columns)."""
    d = _f(y_pred) - _f(y_true)
    return float(np.sqrt(np.mean(d * d)))


def rmse_log(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """RMSE of the natural log (Kaggle's "RMSE between the logarithm of the predicted value and the
    logarithm of the observed value", e.g. House Prices): sqrt(mean((log(pred) - log(true))^2)).
    Defined only for strictly positive truths and predictions; anything <= 0 raises MetricError
    (the grader turns a non-positive prediction into an invalid submission first)."""
    t, p = _f(y_true), _f(y_pred)
    if np.any(t <= 0):
        raise MetricError(f"rmse_log needs positive true values; {int(np.sum(t <= 0))} are <= 0")
    if np.any(p <= 0):
        raise MetricError(f"rmse_log needs positive predictions; {int(np.sum(p <= 0))} are <= 0")
    return rmse(np.log(t), np.log(p))


def rmsle(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared log error: sqrt(mean((log1p(pred) - log1p(true))^2)) over every cell.
    Zeros are fine (log1p(0) = 0); negative values raise MetricError, as in Kaggle and sklearn."""
    t, p = _f(y_true), _f(y_pred)
    if np.any(t < 0):
        raise MetricError(f"rmsle needs non-negative true values; {int(np.sum(t < 0))} are negative")
    if np.any(p < 0):
        raise MetricError(f"rmsle needs non-negative predictions; {int(np.sum(p < 0))} are negative")
    return rmse(np.log1p(t), np.log1p(p))


def mean_columnwise_rmsle(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean over target columns of each column's RMSLE (Kaggle's 'mean column-wise RMSLE').
    With one column it equals rmsle; with several it differs from rmsle over all cells."""
    t, p = _as_2d(y_true), _as_2d(y_pred)
    return float(np.mean([rmsle(t[:, j], p[:, j]) for j in range(t.shape[1])]))


def multiclass_log_loss(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Kaggle's multi-class log loss. y_true holds class indices into the columns of y_pred.
    Each probability is clipped to [1e-15, 1 - 1e-15], each row is then divided by its sum
    (so rows need not sum to exactly 1), and the score is mean(-log p[row, true class])."""
    idx = np.asarray(y_true, dtype=int).ravel()
    p = np.clip(_as_2d(y_pred), LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    p = p / p.sum(axis=1, keepdims=True)
    if np.any(idx < 0) or np.any(idx >= p.shape[1]):
        raise MetricError(f"true class index outside the {p.shape[1]} probability columns")
    return float(np.mean(-np.log(p[np.arange(len(idx)), idx])))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """mean(|pred - true|) over every cell."""
    return float(np.mean(np.abs(_f(y_pred) - _f(y_true))))


def _f(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=float)


def _as_2d(a: np.ndarray) -> np.ndarray:
    a = _f(a)
    return a.reshape(-1, 1) if a.ndim == 1 else a


_HIGHER, _LOWER = True, False
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", _HIGHER, "label", accuracy, "share of correct labels"),
        Metric("roc_auc", _HIGHER, "proba", roc_auc, "ROC AUC of the positive-class probability"),
        Metric("mean_roc_auc", _HIGHER, "proba", mean_roc_auc, "mean of per-column ROC AUC"),
        Metric("rmse", _LOWER, "value", rmse, "root mean squared error"),
        Metric("rmse_log", _LOWER, "value", rmse_log, "RMSE of log(value)"),
        Metric("rmsle", _LOWER, "value", rmsle, "RMSE of log1p(value)"),
        Metric("mean_columnwise_rmsle", _LOWER, "value", mean_columnwise_rmsle, "mean of per-column RMSLE"),
        Metric("multiclass_log_loss", _LOWER, "proba", multiclass_log_loss, "clipped, renormalised log loss"),
        Metric("mae", _LOWER, "value", mae, "mean absolute error"),
        Metric("f1_macro", _HIGHER, "label", f1_macro, "macro-averaged F1"),
    )
}


def relative_gain(base: float | None, score: float | None, higher_is_better: bool) -> float | None:
    """(score - base) / |base|, signed so that positive is better; None when either is missing or NaN."""
    if base is None or score is None or base != base or score != score:
        return None
    gain = (score - base) if higher_is_better else (base - score)
    return gain / max(abs(base), 1e-12)


def get_metric(name: str) -> Metric:
    """The registered metric called `name`; MetricError naming the registered ones otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise MetricError(f"unknown metric {name!r}; registered: {', '.join(METRICS)}") from None


def score_predictions(y_true: object, y_pred: object, metric: str, classes: list | None = None) -> float:
    """Score raw predictions the way the grader does (used for validation scores too).

    - label metrics: y_true, y_pred are label sequences; numeric truths compare numerically
      (1 == 1.0 == "1"), other truths compare as stripped strings.
    - roc_auc: y_true binary labels (the larger label when sorted is positive, i.e. 1 / True),
      y_pred the positive-class probability. mean_roc_auc: (n, k) of both, one column per target.
    - multiclass_log_loss: y_true labels, y_pred (n, len(classes)) with columns in `classes` order
      (default: the sorted distinct labels of y_true, which is sklearn's predict_proba order).
    - value metrics: float arrays of the same shape.
    Raises MetricError when the inputs cannot be scored (shape mismatch, one-class AUC, ...).
    """
    m = get_metric(metric)
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if len(t) != len(p):
        raise MetricError(f"{metric}: {len(t)} true rows but {len(p)} predicted rows")
    if m.kind == "label":
        numeric = is_numeric_labels(t)
        return m(label_keys(t, numeric), label_keys(p, numeric))
    if metric == "roc_auc":
        return m(binary_truth(t.ravel()), _f(p).ravel())
    if metric == "mean_roc_auc":
        t2 = t.reshape(-1, 1) if t.ndim == 1 else t
        truth = np.column_stack([binary_truth(t2[:, j]) for j in range(t2.shape[1])])
        return m(truth, _check_shape(metric, truth, _as_2d(p)))
    if metric == "multiclass_log_loss":
        numeric = is_numeric_labels(t)
        keys = label_keys(np.asarray(classes), numeric) if classes is not None else sorted_classes(t)
        probs = _as_2d(p)
        if probs.shape[1] != len(keys):
            raise MetricError(f"{metric}: {probs.shape[1]} probability columns for {len(keys)} classes")
        return m(class_indices(label_keys(t, numeric), list(keys)), probs)
    return m(t, _check_shape(metric, _f(t), _f(p)))


def is_numeric_labels(values: np.ndarray) -> bool:
    """Numeric (or boolean) truths compare numerically; anything else compares as text."""
    return np.asarray(values).dtype.kind in "biuf"


def label_keys(values: np.ndarray, numeric: bool) -> np.ndarray:
    """Comparable string keys: 'n:<float>' for numbers when the truths are numeric (so 1, 1.0,
    "1" and True/1 agree), 's:<stripped text>' otherwise. A prediction that is not a number under
    numeric truths keeps its text key and simply never matches."""
    import pandas as pd

    # labels repeat: key each distinct value once, then index (a million rows in ~0.1 s)
    codes, uniques = pd.factorize(np.asarray(values, dtype=object).ravel(), use_na_sentinel=False)
    return np.array([_label_key(v, numeric) for v in uniques] or [""], dtype=object)[codes]


def _label_key(v: object, numeric: bool) -> str:
    if numeric:
        try:
            return f"n:{float(v)!r}"  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
    return f"s:{str(v).strip()}"


def sorted_classes(y_true: np.ndarray) -> list[str]:
    """Distinct label keys of the truths in sort order: numeric order for numeric labels."""
    t = np.asarray(y_true).ravel()
    numeric = is_numeric_labels(t)
    uniq = sorted(set(t.tolist()), key=float if numeric else str)
    return list(label_keys(np.array(uniq, dtype=object), numeric))


def binary_truth(y_true: np.ndarray) -> np.ndarray:
    """0/1 truths for ROC AUC: the larger of the (at most two) labels is the positive class."""
    t = np.asarray(y_true).ravel()
    classes = sorted_classes(t)
    if len(classes) > 2:
        raise MetricError(f"ROC AUC needs binary answers; found {len(classes)} classes")
    return (label_keys(t, is_numeric_labels(t)) == classes[-1]).astype(int)


def class_indices(true_keys: np.ndarray, class_keys: list[str]) -> np.ndarray:
    """Index of each true label key in class_keys; MetricError naming a label with no column."""
    pos = {k: i for i, k in enumerate(class_keys)}
    missing = sorted({k for k in true_keys if k not in pos})
    if missing:
        raise MetricError(f"answer classes without a probability column: {', '.join(k[2:] for k in missing)}")
    return np.array([pos[k] for k in true_keys], dtype=int)


def _check_shape(metric: str, t: np.ndarray, p: np.ndarray) -> np.ndarray:
    if t.shape != p.shape:
        raise MetricError(f"{metric}: predictions have shape {p.shape}, answers {t.shape}")
    return p
