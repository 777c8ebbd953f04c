"""One competition through the real spine (jobs/solve.py) with a given LLM, for control-flow tests."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.llm.base import LLM
from actors.task import Competition
from jobs.config import RunConfig
from jobs.solve import CompetitionSolver, solve
from storage.artifacts import CompetitionArtifacts
from storage.layout import CompetitionLayout


def solve_row(comp: Competition, llm: LLM, config: RunConfig, root: Path | str) -> dict[str, Any]:
    """The competition's result.json as a dict (the row plus its details); artifacts under `root`."""
    solver = CompetitionSolver(config.model_dump_json(), llm=llm)
    result, details = solve(comp, solver, CompetitionArtifacts(CompetitionLayout(str(root))))
    return result.to_json(details)
