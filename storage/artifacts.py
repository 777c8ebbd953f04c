"""Writing one competition's artifacts where its layout says, each write atomic (storage.write_*).

The pipeline hands records' contents here; the paths are CompetitionLayout's, never spelt out by
the caller. A write that fails after storage's retries raises StorageError.
"""
from __future__ import annotations

import json
from typing import Any

from storage.layout import CompetitionLayout
from storage.uri import write_bytes, write_json, write_text


class CompetitionArtifacts:
    """OUT/RUN_ID/COMPETITION_ID/, written as the competition goes."""

    def __init__(self, layout: CompetitionLayout) -> None:
        self.layout = layout

    def instructions(self, refinement: dict[str, Any]) -> None:
        write_json(self.layout.instructions_json, refinement)

    def stage(self, name: str, code: str) -> None:
        write_text(self.layout.stage(name), code)

    def attempt(self, number: int, code: str, stdout: str, stderr: str, result: dict[str, Any]) -> None:
        where = self.layout.attempt(number)
        write_text(where.code_py, code)
        write_text(where.stdout_txt, stdout)
        write_text(where.stderr_txt, stderr)
        write_json(where.result_json, result)

    def search(self, record: dict[str, Any]) -> None:
        write_json(self.layout.search_json, record)

    def solution(self, script: str, submission: bytes) -> None:
        write_text(self.layout.solution_py, script)
        write_bytes(self.layout.submission_csv, submission)

    def llm_calls(self, calls: list[dict[str, Any]]) -> None:
        write_text(self.layout.llm_calls_jsonl, "".join(json.dumps(c, default=str) + "\n" for c in calls))

    def result(self, result_json: dict[str, Any]) -> None:
        """Written last: its presence marks the competition complete."""
        write_json(self.layout.result_json, result_json)
