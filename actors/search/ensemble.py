"""Ensembles of search trials: greedy selection over out-of-fold predictions, and the one script that runs it.

Selection is Caruana et al. (2004) with replacement: start from the best single trial, then add, one
round at a time, the trial whose addition to the running average scores best; the weights are how
often each trial was added, taken at the best round. It scores raw OOF predictions (the harness's
oof_raw.csv: class probabilities or values) with the project's metric functions, after the same
per-metric formatting as the harness's `_lc_format`, so the ensemble's OOF score is what the
submission would have scored on train. Every trial of one task has the same folds (same seed, K and
rows), so its OOF rows line up; only rows present in every trial count.

`assemble_ensemble` writes one standalone solution.py: each member's stage code is executed into its
own namespace, every member is fitted on all of train and predicts test, the raw predictions are
averaged with the weights, and the harness formats the submission (with --folds K the script also
writes the ensemble's OOF predictions, refitting every member per fold).
"""
from __future__ import annotations

import ast
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from actors.harness.integrate import REQUIRED_STAGES, STAGE_FUNCTIONS, script_head
from actors.grading.metrics import MetricError, get_metric, score_predictions

PROBA_EPS = 1e-6  # the harness's clip for log loss (harness_predict.py)


@dataclass(frozen=True)
class EnsembleSelection:
    weights: tuple[float, ...]  # one per candidate, summing to 1 (0 for trials never picked)
    score: float  # the ensemble's OOF score
    member_scores: tuple[float, ...]  # each candidate's own OOF score
    rounds: int  # additions made, the first (best single) included
    rows: int  # OOF rows every candidate predicted


def format_raw(raw: np.ndarray, metric: str, classes: Sequence[str] = ()) -> np.ndarray:
    """Raw predictions in submission terms, exactly as the harness's _lc_format."""
    m = get_metric(metric)
    raw = np.asarray(raw, dtype=float)
    if m.kind == "label":
        return np.asarray(list(classes), dtype=object)[np.argmax(raw, axis=1)]
    if m.kind == "proba" and classes:  # single-target classification: one column per class
        if metric == "multiclass_log_loss":
            p = np.clip(raw, PROBA_EPS, 1 - PROBA_EPS)
            return p / p.sum(axis=1, keepdims=True)
        return raw[:, -1]
    if metric in ("rmsle", "mean_columnwise_rmsle"):
        raw = np.clip(raw, 0, None)
    elif metric == "rmse_log":
        raw = np.clip(raw, PROBA_EPS, None)
    return raw[:, 0] if raw.ndim == 2 and raw.shape[1] == 1 else raw


def score_raw(raw: np.ndarray, y_true: np.ndarray, metric: str, classes: Sequence[str] = ()) -> float:
    """The metric of raw predictions against the true targets of the same rows."""
    return score_predictions(y_true, format_raw(raw, metric, classes), metric, classes=list(classes) or None)


def align(oof: Sequence[pd.DataFrame], truth: pd.DataFrame, id_column: str,
          targets: Sequence[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """Raw matrices of the rows every trial predicted (in the first trial's order) and their truths."""
    keys = [frame[id_column].astype(str) for frame in oof]
    common = set(keys[0])
    for k in keys[1:]:
        common &= set(k)
    order = [i for i in keys[0] if i in common]
    matrices = [frame.set_index(k.to_numpy()).loc[order].drop(columns=[id_column]).to_numpy(dtype=float)
                for frame, k in zip(oof, keys)]
    t = truth.set_index(truth[id_column].astype(str).to_numpy()).loc[order, list(targets)]
    return matrices, (t.iloc[:, 0].to_numpy() if len(targets) == 1 else t.to_numpy())


def caruana(preds: Sequence[np.ndarray], score: Callable[[np.ndarray], float], higher_is_better: bool,
            rounds: int = 25) -> tuple[np.ndarray, float, list[float]]:
    """(weights, best score, single scores): greedy forward selection with replacement, ties to the
    lower index, the weights of the best prefix of `rounds` additions."""
    def safe(p: np.ndarray) -> float:
        try:
            value = score(p)
        except MetricError:
            return -np.inf if higher_is_better else np.inf
        return value if np.isfinite(value) else (-np.inf if higher_is_better else np.inf)

    def better(a: float, b: float) -> bool:
        return a > b if higher_is_better else a < b

    singles = [safe(p) for p in preds]
    first = max(range(len(preds)), key=lambda i: (singles[i] if higher_is_better else -singles[i], -i))
    counts = np.zeros(len(preds))
    counts[first] = 1
    total = np.array(preds[first], dtype=float)
    best_score, best_counts = singles[first], counts.copy()
    for k in range(1, rounds):
        scores = [safe((total + p) / (k + 1)) for p in preds]
        pick = max(range(len(preds)), key=lambda i: (scores[i] if higher_is_better else -scores[i], -i))
        total += preds[pick]
        counts[pick] += 1
        if better(scores[pick], best_score):
            best_score, best_counts = scores[pick], counts.copy()
    return best_counts / best_counts.sum(), best_score, singles


def select_ensemble(oof: Sequence[pd.DataFrame], truth: pd.DataFrame, *, metric: str, id_column: str,
                    targets: Sequence[str], classes: Sequence[str] = (), rounds: int = 25) -> EnsembleSelection:
    """Caruana selection over the trials' oof_raw.csv frames; `truth` holds train.csv's id and targets."""
    if not oof:
        raise ValueError("no trials to ensemble")
    matrices, y_true = align(oof, truth, id_column, targets)
    if not len(y_true):
        raise ValueError("the trials share no out-of-fold rows (different folds or samples?)")
    weights, best, singles = caruana(matrices, lambda p: score_raw(p, y_true, metric, classes),
                                     get_metric(metric).higher_is_better, rounds)
    return EnsembleSelection(tuple(float(w) for w in weights), float(best), tuple(float(s) for s in singles),
                             rounds, len(y_true))


def member_source(stages: dict[str, str]) -> str:
    """One member's stage code as one source (what its namespace executes); checked to define each stage."""
    source = "\n\n\n".join(stages[s].strip() for s in STAGE_FUNCTIONS if s in stages) + "\n"
    defined = {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}
    missing = [STAGE_FUNCTIONS[s] for s in REQUIRED_STAGES if STAGE_FUNCTIONS[s] not in defined]
    if missing:
        raise ValueError(f"an ensemble member lacks the stage functions {missing}")
    return source


def _literal(source: str) -> str:
    """A readable raw triple-quoted literal when the source allows it, else an escaped one."""
    return "r'''\n" + source + "'''" if "'''" not in source else json.dumps(source)


def assemble_ensemble(constants: dict, members: Sequence[tuple[dict[str, str], float]], header: str = "",
                      folds: int | None = None) -> str:
    """One standalone script for an ensemble: members = (stage code dict, weight); weight-0 members are
    left out. `folds` sets the script's default --folds (None keeps constants["folds"]; 0: no OOF)."""
    kept = [(stages, float(w)) for stages, w in members if w > 0]
    if not kept:
        raise ValueError("an ensemble needs at least one member with a positive weight")
    constants = dict(constants) if folds is None else {**constants, "folds": int(folds)}
    parts = script_head(constants, header or f"Ensemble of {len(kept)} programs, generated by linguacodus.")
    # "# ---- stage: " marks where the task-specific code starts (actors/extractor.py omits what is above)
    lines = ["# ---- stage: ensemble members, each run in its own namespace (harness_cv._lc_member_stages) ----"]
    for i, (stages, _) in enumerate(kept):
        lines.append(f"MEMBER_{i} = {_literal(member_source(stages))}")
    lines.append("MEMBERS = [" + ", ".join(f"({w!r}, MEMBER_{i})" for i, (_, w) in enumerate(kept)) + "]")
    parts.append("\n\n".join(lines))
    parts.append('if __name__ == "__main__":\n'
                 "    main(members=[(w, _lc_member_stages(src, i)) for i, (w, src) in enumerate(MEMBERS)])")
    return "\n\n\n".join(parts) + "\n"
