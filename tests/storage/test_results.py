"""CompetitionResult: the record is results.parquet's row, its schema is derived from its fields, and
result.json files of older runs read back into it."""
from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

import storage
from storage.results import RESULT_COLUMNS, CompetitionResult


def test_the_schema_is_the_records_columns_in_order_with_the_spec_columns_first() -> None:
    spec = ["run_id", "competition_id", "status", "score", "higher_is_better", "leaderboard_percentile", "medal",
            "valid_submission", "attempts", "fallback_used", "prompt_tokens", "completion_tokens", "seconds_total",
            "seconds_llm", "seconds_exec", "error"]
    assert RESULT_COLUMNS.names[:len(spec)] == spec
    assert RESULT_COLUMNS.names == [f.name for f in dataclasses.fields(CompetitionResult) if "arrow" in f.metadata]
    assert RESULT_COLUMNS.field("attempts").type == pa.int64() and not RESULT_COLUMNS.field("run_id").nullable


def test_result_json_is_the_row_plus_the_notes_that_are_set_and_the_details() -> None:
    result = CompetitionResult(run_id="r", competition_id="a", status="graded", score=0.5, valid_submission=True,
                               validation_note="no OOF predictions")
    record = result.to_json({"facts": {}})
    assert record["validation_note"] == "no OOF predictions" and "leaderboard_note" not in record
    assert record["details"] == {"facts": {}} and "validation_note" not in result.row()
    assert CompetitionResult.from_json(record) == result


def test_an_older_result_json_reads_back_with_missing_columns_null_and_unknown_keys_ignored() -> None:
    old = {"run_id": "r", "competition_id": "a", "status": "failed", "error": "boom", "some_old_key": 1,
           "score": float("nan")}
    result = CompetitionResult.from_json(old)
    assert result.error == "boom" and result.score is None and result.attempts is None
    assert storage.rows_to_table([result]).to_pylist()[0]["error"] == "boom"


def test_a_record_without_run_id_or_with_a_status_outside_the_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="run_id"):
        CompetitionResult.from_json({"competition_id": "a", "status": "graded"})
    with pytest.raises(ValueError, match="status 'done'"):
        CompetitionResult(run_id="r", competition_id="a", status="done")
