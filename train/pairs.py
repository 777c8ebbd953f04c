"""Ranked instruction pairs from graded search trials: what the fine-tuned instructor learns (issue 11).

For every competition of a run that has a search.json, the three best *distinct* programs by
cross-validated score (distinct: another estimator, or another preprocessing) are rendered as
instructions (actors/grounding.render_instruction: real column names, real estimators, stated
hyper-parameters), ranked best first, as the JSON the instructor's grammar produces. The prompt is
exactly the instructor's messages for that task without a few-shot example (system + user, from
actors/instructor.messages_for): the task description and the data facts, which are computed from
train.csv and test.csv *features* only. Nothing of answers.csv or of test.csv's targets is read.

A deterministic slice of the competitions (by a hash of the id) is held back as the validation split.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import storage
from actors.context import TaskContext
from actors.facts import facts_from_dict
from actors.stages.grounding import render_instruction
from actors.stages.instruction import PARTS, messages_for
from actors.search.space import ProgramConfig
from actors.task import Competition

logger = logging.getLogger(__name__)
MIN_DISTINCT = 3


@dataclass(frozen=True)
class PairSkip:
    competition_id: str
    reason: str


def split_of(competition_id: str, holdout: float) -> str:
    """'validation' for a stable `holdout` share of competitions, 'train' for the rest."""
    bucket = int(hashlib.sha256(competition_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "validation" if bucket < holdout else "train"


def _distinct_key(program: dict[str, Any]) -> str:
    return json.dumps({"estimator": program.get("estimator"), "preprocess": program.get("preprocess"),
                       "fit_option": program.get("fit_option")}, sort_keys=True)


def best_distinct(trials: list[dict[str, Any]], higher_is_better: bool, n: int = MIN_DISTINCT) -> list[dict[str, Any]]:
    """The n best completed trials, none sharing estimator + preprocessing + fit option with a better one."""
    done = [t for t in trials if t.get("status") == "completed" and t.get("cv_score") is not None and t.get("program")]
    done.sort(key=lambda t: -t["cv_score"] if higher_is_better else t["cv_score"])
    out, seen = [], set()
    for t in done:
        key = _distinct_key(t["program"])
        if key not in seen:
            seen.add(key)
            out.append(t)
        if len(out) == n:
            break
    return out


def pair_for(comp: Competition, facts: dict[str, Any], trials: list[dict[str, Any]],
             holdout: float = 0.1) -> dict[str, Any]:
    """One pair (ValueError naming why there is none)."""
    ctx = TaskContext(comp, facts_from_dict(facts))
    best = best_distinct(trials, ctx.higher_is_better)
    if len(best) < MIN_DISTINCT:
        raise ValueError(f"{len(best)} distinct completed trials (need {MIN_DISTINCT})")
    ranked = [render_instruction(ctx, ProgramConfig.model_validate(t["program"]), rank=i)
              for i, t in enumerate(best, start=1)]
    system, user = messages_for("instructor", ctx)
    completion = json.dumps({"instructions": [{p: getattr(ins, p) for p in PARTS} for ins in ranked]})
    return {"competition_id": comp.competition_id, "split": split_of(comp.competition_id, holdout),
            "system": system["content"], "prompt": user["content"], "completion": completion,
            "metric": comp.metric, "scores": [float(t["cv_score"]) for t in best],
            "estimators": [t["program"]["estimator"] for t in best], "n_trials": len(trials)}


def pairs_from_run(run_uri: str, catalog: str | None = None,
                   holdout: float = 0.1) -> tuple[list[dict[str, Any]], list[PairSkip]]:
    """Pairs of every searched competition of one run (OUT/RUN_ID), and every one skipped with why."""
    run = storage.read_json(storage.join(run_uri, "run.json"))
    catalog_uri = catalog or run["config"]["catalog"]
    rows = storage.read_parquet(catalog_uri).to_dict(orient="records")
    by_id = {str(r["competition_id"]): r for r in rows}
    pairs: list[dict[str, Any]] = []
    skipped: list[PairSkip] = []
    for cid, raw in sorted(by_id.items()):
        folder = storage.join(run_uri, cid)
        try:
            result = storage.read_json(storage.join(folder, "result.json"))
            search = storage.read_json(storage.join(folder, "search.json"))
            comp = Competition(**{k: (None if v != v else v) if isinstance(v, float) else v for k, v in raw.items()})
            pairs.append(pair_for(comp, result["details"]["facts"], search.get("trials", []), holdout))
        except Exception as exc:  # noqa: BLE001 - one competition without a pair never stops the rest
            skipped.append(PairSkip(cid, f"{type(exc).__name__}: {exc}"))
    logger.info("%s: %d pairs, %d competitions skipped", run_uri, len(pairs), len(skipped))
    return pairs, skipped
