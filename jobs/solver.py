"""The pipeline actor of a run: a callable class for Ray Data's map_batches (one competition per
batch row). It builds the sandbox, coder and executor once; the LLM is either the shared LLM actor
(embedded model, loaded once per run) or its own client of an OpenAI-compatible endpoint."""
from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import storage
from actors.stages.coder import Coder
from actors.executor import Executor
from actors.llm.base import LLM
from actors.llm.build import build_llm
from actors.sandbox.sandbox import Sandbox
from actors.task import Competition
from jobs.config import RunConfig
from jobs.pipeline import solve
from jobs.run_inputs import temp_root

logger = logging.getLogger(__name__)


def result_record(config: RunConfig, row: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": config.run_id, **row}


class CompetitionSolver:
    def __init__(self, config_json: str, llm: LLM | None = None) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.config = RunConfig.model_validate_json(config_json)
        self.llm = llm if llm is not None else build_llm(self.config.llm)
        check_sandbox = Sandbox(self.config.sandbox.model_copy(
            update={"timeout_s": self.config.coder.check_timeout_s}))
        self.coder = Coder(self.llm, check_sandbox, self.config.coder)
        self.executor = Executor(Sandbox(self.config.sandbox), self.coder, self.config.executor)
        self.layout = storage.RunLayout(self.config.out, self.config.run_id)
        # Temp dirs of every stage (sandbox work dirs, staged inputs) go below the run's scratch root,
        # which the next run of this id clears: a killed run leaves nothing behind for good.
        self.scratch = temp_root(self.config.run_id) / uuid.uuid4().hex[:12]

    def solve_one(self, comp: Competition) -> tuple[dict[str, Any], bool]:
        """(the competition's row, whether its result.json was written). Never raises: Ray Data would
        end the whole batch on an exception out of the UDF."""
        cid = comp.competition_id
        where = self.layout.competition(cid)
        logger.info("%s start (%s mode, model %s)", cid, self.config.mode, self.llm.name)
        try:
            with _temp_dirs_under(self.scratch):
                row = result_record(self.config, solve(comp, self.llm, self.coder, self.executor, self.config,
                                                       where.root))
        except Exception as exc:  # noqa: BLE001 - solve() rows every failure it knows; this is the backstop
            logger.exception("%s: unexpected failure", cid)
            row = result_record(self.config, failed_row(comp, self.config, f"{type(exc).__name__}: {exc}"))
        try:
            storage.write_json(where.result_json, row)  # last: its presence marks the competition complete
        except storage.StorageError as exc:  # the store stayed down longer than the retry window
            logger.error("%s: result.json not written (the driver will try again): %s", cid, exc)
            return {**row, "status": "failed", "error": f"storage: result.json not written: {exc}"}, False
        logger.info("%s done: status=%s score=%s fallback=%s attempts=%s", cid, row["status"],
                    row.get("score"), row["fallback_used"], row["attempts"])
        return row, True

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"competition_id": [], "status": [], "score": [], "unwritten_row": []}
        for raw in batch["competition"]:
            comp = Competition.model_validate_json(str(raw))
            row, written = self.solve_one(comp)
            out["competition_id"].append(comp.competition_id)
            out["status"].append(row["status"])
            out["score"].append(json.dumps(row.get("score")))
            out["unwritten_row"].append("" if written else json.dumps(row, default=str))
        return out


@contextlib.contextmanager
def _temp_dirs_under(folder: Path) -> Iterator[None]:
    """tempfile's default folder is `folder` for the duration (the stages call tempfile.mkdtemp)."""
    folder.mkdir(parents=True, exist_ok=True)
    before, tempfile.tempdir = tempfile.tempdir, str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = before


def failed_row(comp: Competition, config: RunConfig, error: str) -> dict[str, Any]:
    return {"competition_id": comp.competition_id, "status": "failed", "metric": comp.metric,
            "higher_is_better": comp.higher_is_better, "valid_submission": False, "fallback_used": False,
            "attempts": 0, "mode": config.mode, "error": error}
