"""The validation score, pure: a script's out-of-fold predictions against the true targets of the same
train.csv rows. The pipeline computes it itself and never trusts the script's own print."""
from __future__ import annotations

import io

import pandas as pd

from actors.grading.grader import grade_submission


def read_predictions(data: bytes | None, id_column: str) -> pd.DataFrame | None:
    """A predictions CSV (as the harness writes them) as a frame with text ids; None when there is none."""
    if data is None:
        return None
    return pd.read_csv(io.BytesIO(data), dtype={id_column: str})


def validation_score(pred: pd.DataFrame | None, truth: pd.DataFrame, *, metric: str, id_column: str,
                     targets: list[str], classes: list[str] | None) -> float | None:
    """Score hold-out predictions against the true labels of the same rows; None when there are no
    predictions, no id column, or the grade is invalid (e.g. a non-finite score)."""
    if pred is None or id_column not in pred.columns:
        return None
    truth = truth[truth[id_column].astype(str).isin(pred[id_column].astype(str))]
    result = grade_submission(pred, truth, metric=metric, id_column=id_column, targets=targets,
                              classes=classes or None)
    return result.score if result.valid else None
