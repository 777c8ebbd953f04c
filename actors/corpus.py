"""The solutions corpus: scored solution code for competitions, from any source (public notebooks, a
company's own solutions, linguacodus's graded runs). The input of `linguacodus extract`.

One row per solution. Required columns: competition_id, description, metric, data_type, code, score,
higher_is_better. Optional: solution_id (unique; derived when absent), source (where the code comes
from, e.g. "linguacodus-llm", "floor", "kaggle-notebook"), title, task_type, facts (the data facts
text the pipeline's prompts show, see actors/facts.py). A row that cannot be used is reported with a
named reason by `validate_corpus`; it is never dropped silently.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from actors.errors import ConfigError

CORPUS_SCHEMA = pa.schema([
    pa.field("competition_id", pa.string(), nullable=False),
    pa.field("description", pa.string()),
    pa.field("metric", pa.string()),
    pa.field("data_type", pa.string()),
    pa.field("code", pa.string()),
    pa.field("score", pa.float64()),  # null: the solution was never scored (reported, not ranked)
    pa.field("higher_is_better", pa.bool_()),
    pa.field("solution_id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("title", pa.string()),
    pa.field("task_type", pa.string()),
    pa.field("facts", pa.string()),
])
REQUIRED_COLUMNS = ("competition_id", "description", "metric", "data_type", "code", "score", "higher_is_better")
_TEXT_COLUMNS = ("competition_id", "description", "metric", "data_type", "code")


@dataclass(frozen=True)
class CorpusProblem:
    """Why one corpus row cannot become a training pair."""

    solution_id: str
    competition_id: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"solution_id": self.solution_id, "competition_id": self.competition_id, "reason": self.reason}


def missing(value: Any) -> bool:
    """None, NaN (pandas' missing value) or an empty / whitespace-only string."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return not value.strip()
    return value is pd.NA or value is pd.NaT


def corpus_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Conform rows to CORPUS_SCHEMA: missing keys become null, other keys are dropped, types are cast."""
    columns = {}
    for field in CORPUS_SCHEMA:
        values = [None if missing(r.get(field.name)) else r.get(field.name) for r in rows]
        try:
            columns[field.name] = pa.array(values, type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValueError(f"corpus column {field.name!r}: {exc}") from exc
    return pa.table(columns, schema=CORPUS_SCHEMA)


def with_solution_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every optional column present and a solution_id on every row
    (COMPETITION_ID#ROW_NUMBER where the corpus gives none)."""
    frame = frame.reset_index(drop=True).copy()
    for field in CORPUS_SCHEMA:
        if field.name not in frame.columns:
            frame[field.name] = None
    ids = [sid if not missing(sid) else f"{cid}#{i}" for i, (sid, cid)
           in enumerate(zip(frame["solution_id"], frame["competition_id"]))]
    frame["solution_id"] = [str(s) for s in ids]
    return frame


def _row_reasons(row: dict[str, Any]) -> list[str]:
    reasons = [f"empty {col}" for col in _TEXT_COLUMNS if missing(row.get(col))]
    score = row.get("score")
    if missing(score):
        reasons.append("no score")
    elif not isinstance(score, numbers.Real) or isinstance(score, bool) or math.isinf(float(score)):
        reasons.append(f"score {score!r} is not a finite number")
    if missing(row.get("higher_is_better")):
        reasons.append("higher_is_better is missing")
    elif not missing(row.get("metric")):
        reasons.extend(_direction_reasons(str(row["metric"]), bool(row["higher_is_better"])))
    return reasons


def _direction_reasons(metric: str, higher_is_better: bool) -> list[str]:
    from actors.grading.metrics import METRICS

    known = METRICS.get(metric)
    if known is not None and known.higher_is_better != higher_is_better:
        return [f"higher_is_better={higher_is_better} contradicts metric {metric!r} "
                f"({'higher' if known.higher_is_better else 'lower'} is better)"]
    return []


def validate_corpus(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[CorpusProblem]]:
    """(usable rows, a problem for every unusable one). Missing required columns are fatal (ConfigError):
    then nothing in the table is usable. Scores are comparable within a competition only when its rows
    agree on metric and direction, so a competition whose rows disagree is reported whole."""
    absent = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if absent:
        raise ConfigError(f"not a solutions corpus: missing column(s) {absent}; it has {list(frame.columns)}")
    frame = with_solution_ids(frame)
    reasons: dict[int, list[str]] = {}
    seen: set[str] = set()
    for i, row in enumerate(frame.to_dict(orient="records")):
        found = _row_reasons(row)
        if row["solution_id"] in seen:
            found.append(f"duplicate solution_id {row['solution_id']!r}")
        seen.add(row["solution_id"])
        if found:
            reasons[i] = found
    for cid, group in frame.groupby("competition_id", dropna=True, sort=False):
        metrics = set(group["metric"].dropna().astype(str))
        directions = set(group["higher_is_better"].dropna().astype(bool))
        if len(metrics) > 1 or len(directions) > 1:
            why = (f"competition {cid!r} mixes metrics {sorted(metrics)} / directions {sorted(directions)}: "
                   "its scores cannot be ranked")
            for i in group.index:
                reasons.setdefault(int(i), []).append(why)
    problems = [CorpusProblem(str(frame.at[i, "solution_id"]), str(frame.at[i, "competition_id"]), "; ".join(r))
                for i, r in sorted(reasons.items())]
    return frame.drop(index=list(reasons)).reset_index(drop=True), problems


def rank_solutions(frame: pd.DataFrame) -> pd.DataFrame:
    """Add `rank` (1 = best score within its competition, respecting higher_is_better; tied scores share
    the better rank) and `n_solutions` (ranked solutions of that competition). Expects validated rows."""
    frame = frame.copy()
    if frame.empty:
        return frame.assign(rank=pd.Series(dtype="int64"), n_solutions=pd.Series(dtype="int64"))
    # Negating scores where higher is better makes "smaller key = better" hold for every competition.
    key = frame["score"].astype(float).where(~frame["higher_is_better"].astype(bool), -frame["score"].astype(float))
    frame["rank"] = key.groupby(frame["competition_id"]).rank(method="min").astype("int64")
    frame["n_solutions"] = frame.groupby("competition_id")["competition_id"].transform("size").astype("int64")
    return frame
