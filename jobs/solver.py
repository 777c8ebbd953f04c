"""The pipeline actor of a run: a callable class for Ray Data's map_batches (one competition per
batch row). It builds the sandbox, coder and executor once; the LLM is either the shared LLM actor
(embedded model, loaded once per run) or its own client of an OpenAI-compatible endpoint."""
from __future__ import annotations

import json
import logging
from typing import Any

import storage
from actors.coder import Coder
from actors.executor import Executor
from actors.llm import LLM, build_llm
from actors.sandbox import Sandbox
from actors.task import Competition
from jobs.config import RunConfig
from jobs.pipeline import solve

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

    def solve_one(self, comp: Competition) -> dict[str, Any]:
        where = self.layout.competition(comp.competition_id)
        logger.info("%s start (%s mode, model %s)", comp.competition_id, self.config.mode, self.llm.name)
        row = result_record(self.config, solve(comp, self.llm, self.coder, self.executor, self.config, where.root))
        storage.write_json(where.result_json, row)  # last: its presence marks the competition complete
        logger.info("%s done: status=%s score=%s fallback=%s attempts=%s", comp.competition_id, row["status"],
                    row.get("score"), row["fallback_used"], row["attempts"])
        return row

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"competition_id": [], "status": [], "score": []}
        for raw in batch["competition"]:
            comp = Competition.model_validate_json(str(raw))
            row = self.solve_one(comp)
            out["competition_id"].append(comp.competition_id)
            out["status"].append(row["status"])
            out["score"].append(json.dumps(row.get("score")))
        return out
