"""A competition's result: `CompetitionResult`, one frozen record whose fields are results.parquet's
columns in order (SPEC.md "Results (output)"), and the pyarrow schema derived from those fields.

result.json is the same record plus what is not a column: the notes (why there is no validation
score or leaderboard place) and the per-stage `details`. Reading back accepts result.json files of
older runs (missing keys are null, unknown keys are ignored), so a resumed run keeps its old rows.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

RESULT_STATUSES = ("graded", "invalid_submission", "failed", "skipped")
# Version of the results contract (the columns and the OUT/RUN_ID layout), written to run.json and the
# index: bump it when a column is removed or changes meaning. Runs written before it existed are 0.
RESULTS_SCHEMA_VERSION = 1


def _column(arrow: pa.DataType, doc: str) -> Any:
    return field(default=None, metadata={"arrow": arrow, "nullable": True, "doc": doc})


def _note(doc: str) -> Any:
    return field(default=None, metadata={"doc": doc})


@dataclass(frozen=True)
class CompetitionResult:
    """One row of results.parquet. SPEC's columns first, then ours (validation_score, metric, mode, model)."""

    run_id: str = field(metadata={"arrow": pa.string(), "nullable": False, "doc": "the run"})
    competition_id: str = field(metadata={"arrow": pa.string(), "nullable": False, "doc": "the catalog row"})
    status: str = field(metadata={"arrow": pa.string(), "nullable": False, "doc": "one of RESULT_STATUSES"})
    score: float | None = _column(pa.float64(), "the grade; null unless graded")
    higher_is_better: bool | None = _column(pa.bool_(), "the metric's direction")
    leaderboard_percentile: float | None = _column(
        pa.float64(), "% of leaderboard teams beaten (0-100, ties half); null without a leaderboard")
    medal: str | None = _column(pa.string(), "gold, silver, bronze or null")
    valid_submission: bool | None = _column(pa.bool_(), "the submission could be graded")
    attempts: int | None = _column(pa.int64(), "sandbox executions of full scripts (fix rounds, floor, search)")
    fallback_used: bool | None = _column(pa.bool_(), "the built-in floor wrote the submission")
    prompt_tokens: int | None = _column(pa.int64(), "prompt tokens of every LLM call")
    completion_tokens: int | None = _column(pa.int64(), "completion tokens of every LLM call")
    seconds_total: float | None = _column(pa.float64(), "wall seconds for the competition")
    seconds_llm: float | None = _column(pa.float64(), "seconds in LLM calls")
    seconds_exec: float | None = _column(pa.float64(), "seconds in sandbox executions")
    error: str | None = _column(pa.string(), "why it failed, or why the LLM path failed on a floor row")
    validation_score: float | None = _column(pa.float64(), "cross-validated score computed by the pipeline")
    metric: str | None = _column(pa.string(), "the metric")
    mode: str | None = _column(pa.string(), "pipeline mode (linguacodus, vanilla or search)")
    model: str | None = _column(pa.string(), "the LLM that wrote the code")
    trials: int | None = _column(pa.int64(), "search trials run (null: no search)")
    seconds_search: float | None = _column(pa.float64(), "wall seconds of the search step")
    solution_source: str | None = _column(pa.string(), "staged, search or floor: what wrote the graded solution")
    validation_note: str | None = _note("result.json only: why there is no validation score")
    leaderboard_note: str | None = _note("result.json only: why there is no leaderboard place")

    def __post_init__(self) -> None:
        if not self.run_id or not self.competition_id:
            raise ValueError(f"a result needs run_id and competition_id: {self!r:.200}")
        if self.status not in RESULT_STATUSES:
            raise ValueError(f"{self.competition_id}: status {self.status!r} not in {RESULT_STATUSES}")

    def replace(self, **changes: Any) -> CompetitionResult:
        return dataclasses.replace(self, **changes)

    def row(self) -> dict[str, Any]:
        """The results.parquet row (the columns only)."""
        return {f.name: getattr(self, f.name) for f in _COLUMNS}

    def to_json(self, details: dict[str, Any] | None = None) -> dict[str, Any]:
        """result.json: the row, the notes that are set, and the details."""
        notes = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f not in _COLUMNS and getattr(self, f.name) is not None}
        return {**self.row(), **notes, **({"details": details} if details is not None else {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CompetitionResult:
        """A result.json (of this or an older run) as a record; keys that are not fields are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: _clean(v) for k, v in data.items() if k in names}
        return cls(**{"run_id": "", "competition_id": "", "status": "", **values})


_COLUMNS = tuple(f for f in dataclasses.fields(CompetitionResult) if "arrow" in f.metadata)
RESULT_COLUMNS = pa.schema([pa.field(f.name, f.metadata["arrow"], nullable=f.metadata["nullable"]) for f in _COLUMNS])


def _clean(value: Any) -> Any:
    # NaN means "no value" in pandas-land; in results.parquet it is null.
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def rows_to_table(rows: list[dict[str, Any]] | list[CompetitionResult]) -> pa.Table:
    """results.parquet from records or result.json dicts: missing keys become null, keys that are not
    columns are dropped (they belong in result.json), types are cast; a bad status raises ValueError."""
    records = [r if isinstance(r, CompetitionResult) else CompetitionResult.from_json(r) for r in rows]
    columns = {}
    for f in RESULT_COLUMNS:
        try:
            columns[f.name] = pa.array([getattr(r, f.name) for r in records], type=f.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValueError(f"results column {f.name!r}: {exc}") from exc
    return pa.table(columns, schema=RESULT_COLUMNS)
