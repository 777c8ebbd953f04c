"""Configuration of one run over a catalog (the `linguacodus run` flags), passed whole to Ray actors."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from actors.stages.coder import CoderConfig
from actors.executor import ExecutorConfig
from actors.stages.instructor import InstructorConfig
from actors.llm.base import LLMConfig
from actors.stages.refiner import RefinerConfig
from actors.sandbox.sandbox import SandboxConfig
from actors.search.run import SearchRunConfig


class RunConfig(BaseModel):
    catalog: str = Field(description="Catalog Parquet URI (file or folder; local, file:// or s3://).")
    out: str = Field(description="Results root URI; the run writes OUT/RUN_ID/.")
    run_id: str = Field(description="Run id; re-running with the same id resumes.")
    mode: Literal["linguacodus", "vanilla", "search"] = Field(
        "linguacodus", description="Staged pipeline (+ search), one-prompt baseline, or the search alone with no "
        "LLM at all (default space and warm starts: the LLM-free ablation and corpus building).")
    concurrency: int = Field(2, ge=1, description="Competitions solved at once (pipeline actors).")
    seed: int = Field(0, description="Seed for sampling and the harness split.")
    only: list[str] | None = Field(None, description="Solve only these competition ids.")
    llm: LLMConfig = Field(default_factory=LLMConfig, description="Which model and how to reach it.")
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig, description="Limits of a full execution.")
    instructor: InstructorConfig = Field(default_factory=InstructorConfig, description="Instructor stage.")
    refiner: RefinerConfig = Field(default_factory=RefinerConfig, description="Critic and resolver.")
    coder: CoderConfig = Field(default_factory=CoderConfig, description="Staged code generation and checks.")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, description="Fix loop.")
    instructions: dict[str, list[dict[str, str]]] | None = Field(
        None, description="Given ranked instructions per competition id (--mode search): its first trials.")
    search: SearchRunConfig = Field(default_factory=SearchRunConfig, description="Text-to-ML search on Ray Tune "
                                    "(on by default) and the per-competition time budget.")
