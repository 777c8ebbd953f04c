"""Where a run's artifacts live (SPEC.md, "Results (output)") and the results.parquet schema.

    OUT/RUN_ID/run.json, results.parquet, _SUCCESS
    OUT/RUN_ID/COMPETITION_ID/{result.json, instructions.json, solution.py, submission.csv,
                               llm_calls.jsonl, attempts/NN/{code.py, stdout.txt, stderr.txt, result.json}}
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from storage.uri import join

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _check_name(kind: str, name: str) -> str:
    # Names become path segments: no "/", no "..", nothing hidden.
    if not _NAME_RE.match(name or "") or ".." in name:
        raise ValueError(f"{kind} {name!r} is not a safe path segment ([A-Za-z0-9._-], no '..')")
    return name


@dataclass(frozen=True)
class AttemptLayout:
    """One execution of a script: attempts/NN/."""

    root: str

    @property
    def code_py(self) -> str:
        return join(self.root, "code.py")

    @property
    def stdout_txt(self) -> str:
        return join(self.root, "stdout.txt")

    @property
    def stderr_txt(self) -> str:
        return join(self.root, "stderr.txt")

    @property
    def result_json(self) -> str:
        return join(self.root, "result.json")


@dataclass(frozen=True)
class CompetitionLayout:
    """OUT/RUN_ID/COMPETITION_ID/."""

    root: str

    @property
    def result_json(self) -> str:
        """Written last for a competition: its presence means the competition is complete."""
        return join(self.root, "result.json")

    @property
    def instructions_json(self) -> str:
        return join(self.root, "instructions.json")

    @property
    def solution_py(self) -> str:
        return join(self.root, "solution.py")

    @property
    def submission_csv(self) -> str:
        return join(self.root, "submission.csv")

    @property
    def llm_calls_jsonl(self) -> str:
        return join(self.root, "llm_calls.jsonl")

    @property
    def attempts_dir(self) -> str:
        return join(self.root, "attempts")

    def attempt(self, n: int) -> AttemptLayout:
        if n < 0:
            raise ValueError(f"attempt number must be >= 0, got {n}")
        return AttemptLayout(join(self.attempts_dir, f"{n:02d}"))

    def file(self, name: str) -> str:
        """Any other artifact of this competition (e.g. stage code), by relative name."""
        return join(self.root, *(_check_name("file name", p) for p in name.split("/")))


@dataclass(frozen=True)
class RunLayout:
    """OUT/RUN_ID/: one run over a catalog."""

    out_uri: str
    run_id: str

    def __post_init__(self) -> None:
        _check_name("run_id", self.run_id)

    @property
    def root(self) -> str:
        return join(self.out_uri, self.run_id)

    @property
    def run_json(self) -> str:
        return join(self.root, "run.json")

    @property
    def results_parquet(self) -> str:
        return join(self.root, "results.parquet")

    @property
    def success(self) -> str:
        """_SUCCESS: written last, when every competition has a row."""
        return join(self.root, "_SUCCESS")

    def competition(self, competition_id: str) -> CompetitionLayout:
        return CompetitionLayout(join(self.root, _check_name("competition_id", competition_id)))


RESULT_STATUSES = ("graded", "invalid_submission", "failed", "skipped")
# Version of the results contract (RESULT_COLUMNS and the OUT/RUN_ID layout), written to run.json and
# the index: bump it when a column is removed or changes meaning. Runs written before it existed are 0.
RESULTS_SCHEMA_VERSION = 1

# results.parquet: the SPEC columns first, then our additions (validation_score, metric, mode, model).
RESULT_COLUMNS = pa.schema([
    pa.field("run_id", pa.string(), nullable=False),
    pa.field("competition_id", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),  # one of RESULT_STATUSES
    pa.field("score", pa.float64()),  # null unless graded
    pa.field("higher_is_better", pa.bool_()),
    pa.field("leaderboard_percentile", pa.float64()),  # % of teams beaten (0-100, ties half); null without leaderboard
    pa.field("medal", pa.string()),  # gold / silver / bronze / null
    pa.field("valid_submission", pa.bool_()),
    pa.field("attempts", pa.int64()),  # sandbox executions
    pa.field("fallback_used", pa.bool_()),
    pa.field("prompt_tokens", pa.int64()),
    pa.field("completion_tokens", pa.int64()),
    pa.field("seconds_total", pa.float64()),
    pa.field("seconds_llm", pa.float64()),
    pa.field("seconds_exec", pa.float64()),
    pa.field("error", pa.string()),
    pa.field("validation_score", pa.float64()),  # the script's own hold-out score
    pa.field("metric", pa.string()),
    pa.field("mode", pa.string()),  # pipeline mode (e.g. staged, search)
    pa.field("model", pa.string()),  # LLM that wrote the code
])


def _clean(value: Any) -> Any:
    # NaN means "no value" in pandas-land; in results.parquet it is null.
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Conform result rows to RESULT_COLUMNS: missing keys become null, keys not in the schema
    are dropped (they belong in result.json), types are cast; a bad status raises ValueError."""
    for row in rows:
        if not row.get("run_id") or not row.get("competition_id"):
            raise ValueError(f"result row without run_id or competition_id: {row!r:.200}")
        if row.get("status") not in RESULT_STATUSES:
            raise ValueError(
                f"{row.get('competition_id')}: status {row.get('status')!r} not in {RESULT_STATUSES}"
            )
    columns = {}
    for field in RESULT_COLUMNS:
        values = [_clean(row.get(field.name)) for row in rows]
        try:
            columns[field.name] = pa.array(values, type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValueError(f"results column {field.name!r}: {exc}") from exc
    return pa.table(columns, schema=RESULT_COLUMNS)
