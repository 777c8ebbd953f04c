"""Checks behind `linguacodus catalog`: each returns reasons (strings) that name the file and
the problem, so a user can fix a task folder from the report alone.

Files are read as little as possible: the CSV header (nrows=0), then only the columns a check
needs (targets of train.csv, ids of test.csv / answers.csv). Row-level CSV damage in columns we
do not read is not detected here; the sandboxed script will meet it.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass

import pandas as pd
from pydantic import ValidationError

import storage
from jobs.grade import read_table
from actors.grading.leaderboard import LeaderboardError, leaderboard_scores
from actors.grading.metrics import METRICS
from actors.task import DATA_TYPES, METRIC_NAMES, TASK_TYPES, Competition
from jobs.inputs import overlaps_private

REQUIRED_META_KEYS = ("target", "metric", "id_column", "task_type")
_SINGLE_TARGET_TYPES = ("binary", "multiclass", "regression")
_LOG_METRICS = ("rmsle", "rmse_log", "mean_columnwise_rmsle")


@dataclass(frozen=True)
class CatalogProblem:
    """One reason why a competition (or, with competition_id None, the catalog) is invalid."""

    competition_id: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.competition_id or '(catalog)'}: {self.reason}"


def _name(uri: str) -> str:
    return posixpath.basename(uri.rstrip("/")) or uri


def _examples(values: list[object], n: int = 3) -> str:
    shown = ", ".join(str(v) for v in values[:n])
    return shown + (", ..." if len(values) > n else "")


def meta_problems(meta: object) -> list[tuple[str, str]]:
    """(field, reason) for each problem of a parsed meta.json, more specific than what
    Competition would say; the field lets the caller skip Competition's message for it."""
    if not isinstance(meta, dict):
        return [("meta", f"meta.json must be a JSON object, got {type(meta).__name__}")]
    found = [(key, f"meta.json has no {key!r}") for key in REQUIRED_META_KEYS if key not in meta]
    target = meta.get("target")
    if "target" in meta and not (isinstance(target, str) or (
            isinstance(target, list) and target and all(isinstance(t, str) for t in target))):
        found.append(("target", f"meta.json target must be a column name or a list of them, got {target!r}"))
    if "id_column" in meta and not isinstance(meta["id_column"], str):
        found.append(("id_column", f"meta.json id_column must be a column name, got {meta['id_column']!r}"))
    if "metric" in meta and meta["metric"] not in METRIC_NAMES:
        found.append(("metric", f"unknown metric {meta['metric']!r} (registered: {', '.join(METRIC_NAMES)})"))
    if "task_type" in meta and meta["task_type"] not in TASK_TYPES:
        found.append(("task_type", (f"unknown task_type {meta['task_type']!r} "
                                   f"(expected one of {', '.join(TASK_TYPES)})")))
    if "data_type" in meta and meta["data_type"] not in DATA_TYPES:
        found.append(("data_type", (f"unknown data_type {meta['data_type']!r} "
                                   f"(expected one of {', '.join(DATA_TYPES)})")))
    files = meta.get("data_files")
    if files is not None and not (isinstance(files, list) and all(
            isinstance(f, str) and f and "/" not in f and f not in (".", "..") for f in files)):
        found.append(("data_files", f"meta.json data_files must be a list of file or folder names, got {files!r}"))
    hib = meta.get("higher_is_better")
    if hib is not None and not isinstance(hib, bool):
        found.append(("higher_is_better", f"meta.json higher_is_better must be true or false, got {hib!r}"))
    elif hib is not None and meta.get("metric") in METRIC_NAMES:
        expected = METRICS[meta["metric"]].higher_is_better
        if hib != expected:
            found.append(("higher_is_better", (f"meta.json higher_is_better={str(hib).lower()} contradicts "
                          f"metric {meta['metric']!r} ({'higher' if expected else 'lower'} is better)")))
    return found


def row_problems(comp: Competition) -> list[str]:
    """Shape problems Competition itself does not check."""
    if comp.task_type in _SINGLE_TARGET_TYPES and len(comp.target) != 1:
        return [(f"task_type {comp.task_type!r} takes one target column, got {len(comp.target)}: "
                f"{', '.join(comp.target)}")]
    return []


def _header(uri: str, reasons: list[str]) -> list[str] | None:
    """Column names of a CSV, or None after adding 'X missing' / 'unreadable file X: ...'."""
    try:
        return [str(c) for c in storage.read_csv(uri, nrows=0).columns]
    except FileNotFoundError:
        reasons.append(f"{_name(uri)} missing")
    except (ValueError, UnicodeDecodeError, storage.StorageError) as exc:  # pandas ParserError is a ValueError
        reasons.append(f"unreadable file {_name(uri)}: {str(exc).strip().splitlines()[0]}")
    return None


def _read_columns(uri: str, columns: list[str], reasons: list[str], **kw) -> pd.DataFrame | None:
    try:
        return storage.read_csv(uri, usecols=columns, **kw)
    except (ValueError, UnicodeDecodeError, storage.StorageError) as exc:
        reasons.append(f"unreadable file {_name(uri)}: {str(exc).strip().splitlines()[0]}")
        return None


def _ids(uri: str, id_column: str, reasons: list[str]) -> pd.Series | None:
    """The id column as strings (so 7 and "7" match across files), checked for blanks and dups."""
    frame = _read_columns(uri, [id_column], reasons, dtype=str, keep_default_na=False)
    if frame is None:
        return None
    ids = frame[id_column]
    if (blank := int((ids.str.strip() == "").sum())):
        reasons.append(f"{blank} empty ids in {_name(uri)}")
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        reasons.append(f"duplicate ids in {_name(uri)} ({len(dup)} duplicated, e.g. {dup[0]})")
    return ids


def target_problems(comp: Competition, values: pd.DataFrame) -> list[str]:
    """Is each target column of train.csv consistent with the task type and the metric?"""
    reasons: list[str] = []
    tt = comp.task_type
    for col in values.columns:
        series = values[col].dropna()
        if series.empty:
            reasons.append(f"target {col!r} has no values in train.csv")
            continue
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        classes = sorted(series.unique().tolist(), key=str)
        if tt in ("regression", "multi_regression") and not numeric:
            reasons.append(f"task_type {tt!r} inconsistent with target {col!r} (non-numeric, "
                           f"e.g. {_examples(classes)})")
        elif tt == "binary" and len(classes) != 2:
            reasons.append(f"task_type 'binary' inconsistent with target {col!r} "
                           f"({len(classes)} classes: {_examples(classes)})")
        elif tt == "multiclass" and len(classes) < 2:
            reasons.append(f"task_type 'multiclass' inconsistent with target {col!r} (1 class: {classes[0]})")
        elif tt == "multiclass" and numeric and not (series == series.round()).all():
            reasons.append(f"task_type 'multiclass' inconsistent with target {col!r} "
                           f"(continuous values, e.g. {series[series != series.round()].iloc[0]})")
        elif tt == "multilabel" and not set(classes) <= {0, 1}:  # True/False and 0.0/1.0 hash as 0/1
            reasons.append(f"task_type 'multilabel' inconsistent with target {col!r} "
                           f"(values are not 0/1: {_examples(classes)})")
        elif comp.metric in _LOG_METRICS and numeric and series.min() < 0:
            reasons.append(f"metric {comp.metric!r} needs non-negative targets; {col!r} has min {series.min()}")
    return reasons


def _train_problems(comp: Competition, train_uri: str, reasons: list[str]) -> None:
    columns = _header(train_uri, reasons)
    if columns is None:
        return
    missing = [t for t in comp.target if t not in columns]
    reasons += [f"target {t!r} not in train.csv columns" for t in missing]
    present = [t for t in comp.target if t in columns]
    if present and (values := _read_columns(train_uri, present, reasons)) is not None:
        reasons += target_problems(comp, values)


def _answers_problems(comp: Competition, test_ids: pd.Series | None, reasons: list[str]) -> None:
    uri = comp.answers_uri
    assert uri is not None
    columns = _header(uri, reasons)
    if columns is None:
        return
    name = _name(uri)
    missing = [c for c in [comp.id_column, *comp.target] if c not in columns]
    if missing:
        reasons.append(f"{name} lacks columns {', '.join(map(repr, missing))}")
        return
    ids = _ids(uri, comp.id_column, reasons)
    if ids is None or test_ids is None:
        return
    unanswered = test_ids[~test_ids.isin(ids)].tolist()
    extra = ids[~ids.isin(test_ids)].tolist()
    if unanswered or extra:
        reasons.append(f"{name} ids differ from test.csv ids ({len(unanswered)} test ids without an answer"
                       f"{', e.g. ' + unanswered[0] if unanswered else ''}; {len(extra)} answers for ids "
                       f"not in test.csv{', e.g. ' + extra[0] if extra else ''})")
    values = _read_columns(uri, comp.target, reasons)
    if values is not None and (empty := [c for c in comp.target if values[c].isna().any()]):
        reasons.append(f"{name} has missing values in {', '.join(map(repr, empty))}")


def _leaderboard_problems(uri: str, reasons: list[str]) -> None:
    """A leaderboard is usable when the grader can place a score on it: the same reader and the same
    check (actors/grading/leaderboard.py), so a row the catalog accepts never fails at grading time."""
    if _header(uri, reasons) is None:
        return
    try:
        leaderboard_scores(read_table(uri), higher_is_better=True)
    except LeaderboardError as exc:  # "leaderboard has ..." -> "leaderboard.csv has ..."
        reasons.append(f"{_name(uri)}{str(exc).removeprefix('leaderboard')}")
    except (ValueError, UnicodeDecodeError, storage.StorageError) as exc:
        reasons.append(f"unreadable file {_name(uri)}: {str(exc).strip().splitlines()[0]}")


def data_problems(comp: Competition) -> list[str]:
    """Check the files behind a catalog row: train/test present and readable, targets and ids
    where they belong, ids unique, answers matching the test ids, leaderboard usable."""
    if not storage.is_dir(comp.data_uri):
        return [f"data_uri {comp.data_uri} is not a folder"]
    reasons: list[str] = []
    _train_problems(comp, storage.join(comp.data_uri, "train.csv"), reasons)
    test_uri = storage.join(comp.data_uri, "test.csv")
    test_ids = None
    if (columns := _header(test_uri, reasons)) is not None:
        if comp.id_column not in columns:
            reasons.append(f"id column {comp.id_column!r} missing from test.csv")
        else:
            test_ids = _ids(test_uri, comp.id_column, reasons)
        leaked = [t for t in comp.target if t in columns]
        reasons += [f"target {t!r} is a column of test.csv (the answers would leak)" for t in leaked]
    if comp.answers_uri:
        _answers_problems(comp, test_ids, reasons)
    if comp.leaderboard_uri:
        _leaderboard_problems(comp.leaderboard_uri, reasons)
    _data_files_problems(comp, reasons)
    return reasons


def _data_files_problems(comp: Competition, reasons: list[str]) -> None:
    """Declared extra inputs must exist and must not be, hold or lie inside the private files."""
    for name in comp.data_files or []:
        uri = storage.join(comp.data_uri, name)
        if not storage.exists(uri):
            reasons.append(f"data_files entry {name!r} not found in data_uri")
        elif overlaps_private(comp, uri):
            reasons.append(f"data_files entry {name!r} is, holds or lies inside the answers or leaderboard")


def pydantic_reasons(exc: ValidationError, skip_fields: set[str] = frozenset()) -> list[str]:
    """A validation error as one short reason per field (pydantic's own text is long and nested)."""
    reasons = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        field = ".".join(str(p) for p in err["loc"])
        if err["loc"] and str(err["loc"][0]) in skip_fields:
            continue  # already reported, more specifically
        reasons.append(msg if not field or field in msg else f"{field}: {msg}")
    return reasons
