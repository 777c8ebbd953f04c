"""Does a candidate target carry signal? A small tree, cross-validated on the other columns.

Cheap on purpose (a depth-4 tree, at most 5,000 rows, 3 folds): it runs for every candidate of
~2,300 datasets. It only separates "predictable from the other columns, but not perfectly" from
"noise" and from "a deterministic function of other columns" (e.g. `logprice` next to `price`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.rdatasets_rules import RulesConfig, Skip, TargetChoice, candidates, task_of
from jobs.rdatasets_docs import RDoc

_SAMPLE = 5_000
_MIN_AUC = 0.6
_MIN_ACC_GAIN = 0.02
_MIN_R2 = 0.05
_PERFECT = 0.999


def encode_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as they are; booleans and short label columns as codes (missing -> -1); the rest
    (free text, near-unique strings) left out: the check needs no text model."""
    out = {}
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s)):
            out[c] = s.astype(float)
        elif s.nunique() <= 50:
            out[c] = pd.Series(pd.factorize(s.astype("string"), sort=True)[0], index=s.index).astype(float)
    return pd.DataFrame(out, index=frame.index)


def signal(frame: pd.DataFrame, choice: TargetChoice, seed: int) -> tuple[float, str | None]:
    """(cross-validated score, None) if usable, else (score, why not)."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    data = frame[frame[choice.column].notna()]
    if len(data) > _SAMPLE:
        data = data.sample(_SAMPLE, random_state=seed)
    # Trees work in float32: infinities and huge values become missing / clipped.
    X = encode_features(data.drop(columns=choice.column)).replace([np.inf, -np.inf], np.nan)
    X = X.clip(-1e30, 1e30).fillna(-1)
    if X.shape[1] == 0:
        return 0.0, "no usable feature columns"
    y = data[choice.column]
    leaf = max(5, len(data) // 100)
    if choice.task_type == "regression":
        model = DecisionTreeRegressor(max_depth=4, min_samples_leaf=leaf, random_state=seed)
        score = _cv(cross_val_score, model, X, y.astype(float), KFold(3, shuffle=True, random_state=seed), "r2")
        if score < _MIN_R2:
            return score, f"no signal (cross-validated R2 {score:.3f} < {_MIN_R2})"
        return score, (f"trivial (R2 {score:.4f}: a function of other columns)" if score >= _PERFECT else None)
    y = y.astype(str)
    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    model = DecisionTreeClassifier(max_depth=4, min_samples_leaf=leaf, random_state=seed)
    if choice.task_type == "binary":
        score = _cv(cross_val_score, model, X, y, folds, "roc_auc")
        if score < _MIN_AUC:
            return score, f"no signal (cross-validated ROC AUC {score:.3f} < {_MIN_AUC})"
    else:
        score = _cv(cross_val_score, model, X, y, folds, "accuracy")
        majority = float(y.value_counts(normalize=True).iloc[0])
        if score < majority + _MIN_ACC_GAIN:
            return score, f"no signal (cross-validated accuracy {score:.3f} vs majority {majority:.3f})"
    return score, (f"trivial (cross-validated {score:.4f}: a function of other columns)"
                   if score >= _PERFECT else None)


def _cv(cross_val_score, model, X, y, folds, scoring: str) -> float:  # noqa: ANN001 (sklearn objects)
    scores = cross_val_score(model, X, y, cv=folds, scoring=scoring, error_score=np.nan)
    return float(np.nanmean(scores)) if not np.isnan(scores).all() else 0.0


def choose_target(frame: pd.DataFrame, doc: RDoc, item: str, cfg: RulesConfig, seed: int) -> TargetChoice | Skip:
    """The first candidate (rules order) that makes a task and carries signal, else no_target."""
    tried: list[str] = []
    for column, rule in candidates(frame, doc, item, cfg)[: cfg.max_candidates]:
        choice = task_of(frame[column], cfg)
        if isinstance(choice, str):
            tried.append(f"{column}: {choice}")
            continue
        data = frame
        if choice.dropped_classes:
            data = frame[~frame[column].astype(str).isin(choice.dropped_classes)]
        _, problem = signal(data, choice, seed)
        if problem:
            tried.append(f"{column}: {problem}")
            continue
        return TargetChoice(column, choice.task_type, choice.metric, rule, choice.positive_label,
                            choice.dropped_classes)
    detail = "; ".join(tried) if tried else "every column is an id, a date, free text, constant or mostly empty"
    return Skip("no_target", detail)
