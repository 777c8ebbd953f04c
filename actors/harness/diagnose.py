"""What a harness run says, read from its work dir without trusting it: which stage failed and why
(the _lc_error.json marker the harness writes, else the exit status and stderr), whether the
submission has the shape the task needs (checked without the private answers), the validation score
of its out-of-fold predictions, and where one stage's code sits in an integrated script."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from actors.context import TaskContext
from actors.grading.validation import validation_score
from actors.sandbox.readback import MAX_MARKER_BYTES, MAX_TABLE_BYTES, MissingFile, ReadBackError, read_back, read_back_csv
from actors.sandbox.sandbox import ExecutionResult


def stage_error(result: ExecutionResult, workdir: Path, timeout_s: float) -> tuple[str | None, str]:
    """Which stage failed and a short, specific error text for the model."""
    if kind := result.special_files.get("_lc_error.json"):
        return None, f"the script failed and left an unreadable error marker: _lc_error.json is {kind}"
    try:
        info = json.loads(read_back(workdir, "_lc_error.json", MAX_MARKER_BYTES))
        if isinstance(info, dict):
            return info.get("stage"), f"{info.get('error_type')}: {info.get('message')}"
    except MissingFile:
        pass
    except ReadBackError as exc:  # a planted link or FIFO: say so, never read through it
        return None, f"the script failed and left an unreadable error marker: {exc}"
    except (OSError, ValueError):  # not JSON: fall back to the exit status and stderr
        pass
    if result.timed_out:
        return None, f"the script did not finish within {timeout_s:.0f} s; use a faster model or fewer iterations"
    if result.killed_reason:
        return None, f"the script was killed: {result.killed_reason}"
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    return None, "\n".join(lines[-12:]) or f"exit code {result.exit_code} with no error output"


def format_problem(path: Path, ctx: TaskContext, test_ids: pd.Series) -> str | None:
    """Checks a submission can make without the private answers (ids from test.csv, columns)."""
    try:
        sub = read_back_csv(path.parent, path.name, MAX_TABLE_BYTES, dtype={ctx.competition.id_column: str})
    except MissingFile:
        return "the script finished but wrote no submission.csv into --out-dir"
    except ReadBackError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the script's fault
        return f"submission.csv is not a readable CSV: {exc}"
    expected = ctx.submission_columns()
    if sorted(map(str, sub.columns)) != sorted(expected):
        return f"submission.csv must have exactly the columns {expected}, it has {list(sub.columns)[:12]}"
    if len(sub) != len(test_ids):
        return f"submission.csv must have {len(test_ids)} rows (one per test.csv id), it has {len(sub)}"
    if set(sub[ctx.competition.id_column].astype(str)) != set(test_ids.astype(str)):
        return "submission.csv ids must be exactly the ids of test.csv (predict on test.csv, not on train)"
    if sub.isna().any().any():
        return "submission.csv has missing values"
    return None


def stage_snippet(script: str, stage: str) -> str:
    """The code of one stage inside an integrated script (what a reflection is asked about); the
    script's end when the stage has no marker."""
    marker = f"# ---- stage: {stage} "
    if marker not in script:
        return script[-3000:]
    tail = script.split(marker, 1)[1]
    return tail.split("# ---- stage:", 1)[0].split('if __name__ == "__main__"', 1)[0].split("\n", 1)[1].strip()


def validation_score_of(path: Path, truth: pd.DataFrame, *, metric: str, id_column: str, targets: list[str],
                        classes: list[str] | None) -> float | None:
    """The validation score of a predictions file in a work dir (val_predictions.csv); None when it
    cannot be read back (missing, a link, a FIFO, too big) or cannot be graded."""
    try:
        pred = read_back_csv(path.parent, path.name, MAX_TABLE_BYTES, dtype={id_column: str})
    except ReadBackError:
        return None
    return validation_score(pred, truth, metric=metric, id_column=id_column, targets=targets, classes=classes)
