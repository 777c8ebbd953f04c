"""A run's artifacts as plain records for the report, read through `storage` (local, file://, s3://).

Tolerant by design: a report is most wanted when something went wrong, so a missing or older artifact
(no results.parquet yet, no search.json, a skipped row without a folder, an unreachable leaderboard)
becomes an empty field plus a line in `problems`, never an exception.
"""
from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import storage

logger = logging.getLogger(__name__)
T = TypeVar("T")
STAGE_ORDER = ("preprocess", "model", "train", "predict")
LOG_TAIL_CHARS = 3000  # stderr/stdout shown per attempt: the end is where the error is


@dataclass(frozen=True)
class AttemptData:
    number: int
    result: dict[str, Any]  # attempts/NN/result.json (exit code, duration, error, stage, ...)
    stderr_tail: str
    stdout_tail: str


@dataclass(frozen=True)
class CompetitionData:
    competition_id: str
    row: dict[str, Any]  # the results.parquet row (result.json without details)
    details: dict[str, Any]  # result.json "details": facts, stage_log, attempts, search summary
    instructions: dict[str, Any] | None
    stages: dict[str, str]  # stage name -> accepted code
    attempts: tuple[AttemptData, ...]
    search: dict[str, Any] | None  # search.json
    leaderboard: tuple[float, ...]  # leaderboard scores; empty when unknown

    @property
    def trials(self) -> list[dict[str, Any]]:
        return list((self.search or {}).get("trials") or [])


@dataclass(frozen=True)
class RunData:
    uri: str
    run_id: str
    info: dict[str, Any]  # run.json, {} when absent
    competitions: tuple[CompetitionData, ...]
    complete: bool  # _SUCCESS present
    problems: tuple[str, ...] = field(default=())

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [c.row for c in self.competitions]


def load_run(run_uri: str, *, with_leaderboards: bool = True) -> RunData:
    """Everything the report shows about the run at OUT/RUN_ID (`run_uri`)."""
    run_uri = str(run_uri).rstrip("/")
    problems: list[str] = []
    if not storage.is_dir(run_uri):
        raise FileNotFoundError(f"{run_uri}: no such run folder")
    layout = storage.RunLayout.at(run_uri)
    info = _try(problems, layout.run_json, lambda: storage.read_json(layout.run_json), {})
    run_id = str(info.get("run_id") or posixpath.basename(run_uri))
    rows = _rows(layout, problems)
    boards = _leaderboard_uris(info, problems) if with_leaderboards else {}
    comps = tuple(_competition(layout, row, boards.get(str(row["competition_id"])), problems) for row in rows)
    complete = storage.exists(layout.success)
    return RunData(run_uri, run_id, info, comps, complete, tuple(problems))


def _try(problems: list[str], what: str, read: Callable[[], T], default: T) -> T:
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - one unreadable artifact must not cost the whole report
        problems.append(f"{what}: {type(exc).__name__}: {exc}")
        logger.info("report: cannot read %s: %s", what, exc)
        return default


def _rows(layout: storage.RunLayout, problems: list[str]) -> list[dict[str, Any]]:
    """results.parquet rows, in catalog order; without it (a run still going, or killed), every result.json."""
    parquet = layout.results_parquet
    if storage.exists(parquet):
        frame = _try(problems, "results.parquet", lambda: storage.read_parquet(parquet), None)
        if frame is not None:
            return [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
    rows = []
    for folder in storage.list_uris(layout.root):
        result = storage.CompetitionLayout(folder).result_json
        if storage.is_dir(folder) and storage.exists(result):
            raw = _try(problems, result, lambda r=result: storage.read_json(r), None)
            if isinstance(raw, dict) and raw.get("competition_id"):
                rows.append({k: v for k, v in raw.items() if k != "details"})
    if rows:
        problems.append("results.parquet missing: rows read from each result.json")
    return rows


def _plain(value: Any) -> Any:
    """NaN and numpy scalars as Python values (Jinja and json see the same thing)."""
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict | str):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _leaderboard_uris(info: dict[str, Any], problems: list[str]) -> dict[str, str]:
    """competition_id -> leaderboard_uri, from the run's catalog (results rows do not carry it)."""
    catalog = (info.get("config") or {}).get("catalog")
    if not catalog:
        return {}
    frame = _try(problems, f"catalog {catalog}", lambda: storage.read_parquet(catalog), None)
    if frame is None or "leaderboard_uri" not in frame.columns:
        return {}
    return {str(r["competition_id"]): r["leaderboard_uri"] for r in frame.to_dict(orient="records")
            if isinstance(r.get("leaderboard_uri"), str) and r["leaderboard_uri"]}


def _competition(layout: storage.RunLayout, row: dict[str, Any], leaderboard_uri: str | None,
                 problems: list[str]) -> CompetitionData:
    cid = str(row["competition_id"])
    # Not layout.competition(cid): a skipped row's id may be no valid folder name, and the report
    # must still show the row (its artifacts are simply missing).
    where = storage.CompetitionLayout(storage.join(layout.root, cid))

    def optional_json(uri: str) -> Any:
        name = posixpath.relpath(uri, where.root)
        return _try(problems, f"{cid}/{name}", lambda: storage.read_json(uri), None) if storage.exists(uri) else None

    result = optional_json(where.result_json) or {}
    stages = {posixpath.basename(u)[:-3]: _try(problems, u, lambda u=u: storage.read_text(u), "")
              for u in storage.list_uris(where.stages_dir) if u.endswith(".py")}
    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    stages = dict(sorted(stages.items(), key=lambda kv: order.get(kv[0], len(order))))
    board: tuple[float, ...] = ()
    if leaderboard_uri:
        board = _try(problems, f"{cid} leaderboard", lambda: _leaderboard_scores(leaderboard_uri), ())
    return CompetitionData(cid, row, dict(result.get("details") or {}), optional_json(where.instructions_json),
                           stages, _attempts(where, problems), optional_json(where.search_json), board)


def _attempts(where: storage.CompetitionLayout, problems: list[str]) -> tuple[AttemptData, ...]:
    out = []
    for folder in storage.list_uris(where.attempts_dir):
        name = posixpath.basename(folder.rstrip("/"))
        if not name.isdigit():
            continue
        attempt = where.attempt(int(name))
        result = _try(problems, attempt.result_json, lambda a=attempt: storage.read_json(a.result_json), {})
        out.append(AttemptData(int(name), result if isinstance(result, dict) else {},
                               _tail(attempt.stderr_txt), _tail(attempt.stdout_txt)))
    return tuple(sorted(out, key=lambda a: a.number))


def _tail(uri: str) -> str:
    try:
        return storage.read_text(uri)[-LOG_TAIL_CHARS:]
    except Exception:  # noqa: BLE001 - an attempt without its logs still has a row
        return ""


def _leaderboard_scores(uri: str) -> tuple[float, ...]:
    import pandas as pd

    scores = pd.to_numeric(storage.read_csv(uri, usecols=["score"])["score"], errors="coerce").dropna()
    return tuple(float(s) for s in scores)
