"""The search as a step of a competition: from the staged solution (if any) to the solution that is graded.

What it takes from the steps before: the three ranked instructions (read as warm-start programs), the
staged solution's out-of-fold predictions (the baseline the search must beat on the same folds), and
the LLM (for the search-space proposal; None in LLM-free runs). It gives back the execution to grade
(the staged one when nothing beat it), a summary for the result row, and search.json's record.
"""
from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from actors.context import TaskContext
from actors.executor import Execution
from actors.fixloop import Runner
from actors.sandbox.sandbox import SandboxConfig
from actors.search.proposal import default_space, merge_spaces, propose_space
from actors.search.run import SearchRunConfig, WarmStart, run_search
from actors.search.select import Candidate
from actors.stages.grounding import ground, to_config
from actors.stages.instruction import Instruction

logger = logging.getLogger(__name__)
PROPOSAL_SHARE = 0.5  # of the time left to the search: the space proposal's time limit
FINAL_RUN_ARGS = ("--folds", "0")  # the choice's OOF score is known: the final run only refits and predicts


@dataclass(frozen=True)
class SearchStep:
    execution: Execution | None  # what to grade; None: the search produced nothing (and there was nothing)
    source: str  # "staged", "search" (a trial or an ensemble won), or "none"
    validation_score: float | None  # out-of-fold score of the graded solution, when the search knows it
    trials: int
    seconds: float
    record: dict[str, Any]  # search.json


def warm_starts(ctx: TaskContext, instructions: list[Instruction],
                ) -> tuple[list[WarmStart], list[WarmStart], list[dict[str, Any]]]:
    """The ranked instructions that read as programs of this task: (grounded ones, ones that also name
    columns the task does not have), and each one's grounding record."""
    grounded, ungrounded, report = [], [], []
    for ins in instructions:
        g = ground(ctx, ins)
        config = to_config(ctx, g)
        report.append({"rank": ins.rank, **g.to_dict(), "program": config.model_dump() if config else None})
        if config is not None:
            (grounded if g.grounded else ungrounded).append(WarmStart(f"instruction {ins.rank}", config))
    return grounded, ungrounded, report


def staged_candidate(ctx: TaskContext, execution: Execution | None, stages: dict[str, str] | None,
                     score: float | None) -> Candidate | None:
    """The staged solution as a candidate: its full run wrote out-of-fold raw predictions on the same folds."""
    if execution is None or not execution.ok or not stages or score is None:
        return None
    if execution.oof_raw is None:
        logger.info("%s search: the staged solution has no out-of-fold predictions", ctx.competition.competition_id)
        return None
    try:
        oof = pd.read_csv(io.BytesIO(execution.oof_raw), dtype={ctx.competition.id_column: str})
    except (ValueError, pd.errors.ParserError) as exc:
        logger.info("%s search: unreadable oof_raw.csv of the staged solution (%s)", ctx.competition.competition_id, exc)
        return None
    return Candidate("staged", dict(stages), float(score), oof, float(execution.duration_s))


def choose_space(ctx: TaskContext, llm: Any, instructions: list[Instruction], config: SearchRunConfig,
                 seed: int, time_limit_s: float | None = None) -> tuple[Any, str, dict[str, Any]]:
    """(space, source, proposal record): the LLM's, the facts' default, or the LLM's then the default's."""
    if config.space == "default" or llm is None:
        return default_space(ctx), "default", {"source": "default"}
    space, record = propose_space(llm, ctx, instructions, max_tokens=config.proposal_tokens, seed=seed,
                                  time_limit_s=time_limit_s)
    if config.space == "llm+default" and record["source"] == "llm":
        return merge_spaces(space, default_space(ctx)), "llm+default", record
    return space, record["source"], record


def run_step(ctx: TaskContext, *, llm: Any, instructions: list[Instruction], staged: Execution | None,
             staged_stages: dict[str, str] | None, staged_score: float | None, runner: Runner,
             sandbox: SandboxConfig, truth: pd.DataFrame, config: SearchRunConfig, seed: int, deadline: float,
             scratch: Path, parent: int | None = None) -> SearchStep:
    """Propose, search, choose, and run the chosen solution once through the runner (a numbered attempt)."""
    cid = ctx.competition.competition_id
    started = time.monotonic()
    warm, late, grounding = warm_starts(ctx, instructions)
    # the proposal may take at most half of the search's time (a call on a loaded host can take minutes)
    space, source, proposal = choose_space(ctx, llm, instructions, config, seed,
                                           time_limit_s=max(1.0, PROPOSAL_SHARE * (deadline - time.monotonic())))
    baseline = staged_candidate(ctx, staged, staged_stages, staged_score)
    # the final run's time is kept inside the search (timing.RefitReserve), the staged solution's refit with it
    budget = max(config.min_search_s, deadline - time.monotonic())
    out = run_search(ctx, inputs=runner.inputs, truth=truth, sandbox=sandbox, config=config, space=space,
                     space_source=source, warm=warm, late=late, baseline=baseline, time_budget_s=budget, seed=seed,
                     scratch=scratch, sample_fallback=staged is None or not staged.ok)
    record = {**out.record, "proposal": proposal, "instructions": grounding}
    execution, score = staged, staged_score
    final_source = "staged" if staged is not None and staged.ok else "none"
    if out.choice.script is not None:
        final, _ = runner.run(out.choice.script, parent, FINAL_RUN_ARGS)
        record["final_run"] = {"ok": final.ok, "attempt": final.number, "args": list(FINAL_RUN_ARGS),
                               "error": final.error, "seconds": round(final.duration_s, 3)}
        if final.ok:
            execution, final_source, score = final, "search", out.choice.score
        else:
            logger.warning("%s search: the winner's final run failed (%s); %s", cid, final.error,
                           "the staged solution stands" if baseline else "nothing to grade from the search")
    record["graded"] = final_source
    record["seconds_total"] = round(time.monotonic() - started, 3)
    return SearchStep(execution, final_source, score, out.trials, record["seconds_total"], record)


def summary(step: SearchStep) -> dict[str, Any]:
    """The short form for result.json details."""
    r = step.record
    trials = r.get("trials", [])
    count = {s: sum(1 for t in trials if t["status"] == s) for s in ("completed", "stopped", "failed", "out_of_budget")}
    grounding = r.get("instructions") or []
    sources = {f"trial {t.get('trial_id')}": t.get("source") for t in trials}
    # where the graded program came from: an instruction, a default estimator, TPE, the staged solution
    members = [sources.get(m.get("label"), m.get("label")) for m in r.get("members") or []]
    return {"trials": step.trials, **count, "winner": r.get("winner"), "winner_score": r.get("winner_score"),
            "graded": step.source, "space_source": r.get("space_source"), "seconds": step.seconds,
            "instructions": len(grounding), "instructions_grounded": sum(bool(g.get("grounded")) for g in grounding),
            "instructions_copying": sum(bool(g.get("copied")) for g in grounding),
            "winner_sources": members,
            "sandbox_peak_mb": max((t.get("sandbox_peak_mb") or 0 for t in trials), default=0) or None,
            "error": r.get("error")}
