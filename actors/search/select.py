"""After the search: which program (or ensemble of programs) becomes the solution.

Candidates are every program with full out-of-fold predictions on the task's folds: the staged
solution (the refined instruction, coded stage by stage and repaired by the fix loop) and each search
trial that finished its full cross-validation. The best few distinct ones are offered to Caruana's
greedy ensemble selection (actors/ensemble.py); the ensemble wins only if its out-of-fold score is
strictly better than the best single program's. The staged solution is kept unless something is
strictly better on the same folds, so the search can only improve a competition's validation score.

When no program finished its full cross-validation within the budget (large data, a small budget) and
there is no staged solution either, the best program of the sample runs (rung 1) is refit on all of
train: it was chosen on a real, smaller validation, which beats the floor's untuned defaults.

On large data every trial first runs on the same sample (rung 1): that rung is the one comparison all
trials share. When the budget cut a program during its full run while its sample score beats that of
every program in the chosen solution by a clear margin (1%), and beats the chosen solution's full score
too (a sample score is about the least a program reaches on all rows), it is refit instead
(`sample_leader`): a finished full score of a weaker program is not evidence against a stronger one the
budget cut.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from actors.context import TaskContext
from actors.search.ensemble import assemble_ensemble, select_ensemble
from actors.harness.integrate import assemble
from actors.search.space import ProgramConfig, render_config

logger = logging.getLogger(__name__)
SAMPLE_MARGIN = 0.01  # how much better (relative) a cut program must be on the sample rung to replace the choice


@dataclass(frozen=True)
class Candidate:
    """One program that ran the full cross-validation."""

    label: str  # "staged" or "trial <id>"
    stages: dict[str, str]  # its stage code {preprocess, model, train[, predict]}
    score: float  # out-of-fold score, by the project's metric functions
    oof: pd.DataFrame = field(repr=False)  # oof_raw.csv: id + raw prediction columns
    seconds: float = 0.0  # sandbox seconds of its full run (a refit costs about 1/(K+1) of it)


@dataclass(frozen=True)
class Choice:
    """What to run as the final solution."""

    winner: str  # "staged", "trial <id>" or "ensemble"
    score: float | None  # its out-of-fold score
    members: tuple[tuple[str, float], ...]  # (candidate label, weight)
    script: str | None  # the solution.py to run; None: keep the staged solution as it is
    record: dict[str, Any]  # for search.json: the offered candidates, the selection, the decision


def better(score: float | None, than: float | None, higher_is_better: bool) -> bool:
    """Strictly better; an unknown score is never better, and anything known beats an unknown."""
    if score is None:
        return False
    if than is None:
        return True
    return score > than if higher_is_better else score < than


def ranked(candidates: list[Candidate], higher_is_better: bool) -> list[Candidate]:
    """Best first; a program whose code repeats a better one's is dropped (TPE may redraw a point)."""
    order = sorted(candidates, key=lambda c: -c.score if higher_is_better else c.score)
    seen: set[tuple[str, ...]] = set()
    out = []
    for c in order:
        key = tuple(c.stages.get(s, "").strip() for s in ("preprocess", "model", "train", "predict"))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def choose(ctx: TaskContext, candidates: list[Candidate], truth: pd.DataFrame, constants: dict[str, Any], *,
           top: int = 5, rounds: int = 25) -> Choice:
    """The final solution among the candidates (see the module docstring)."""
    comp = ctx.competition
    hib = ctx.higher_is_better
    pool = ranked(candidates, hib)
    staged = next((c for c in candidates if c.label == "staged"), None)
    record: dict[str, Any] = {"candidates": [{"label": c.label, "score": c.score} for c in pool[:top]],
                              "ensemble": None}
    if not pool:
        return Choice("staged", staged.score if staged else None, (), None, {**record, "decision": "no candidates"})
    best = pool[0]
    winner, score, members = best.label, best.score, ((best.label, 1.0),)
    offered = pool[:top]
    if len(offered) >= 2:
        try:
            sel = select_ensemble([c.oof for c in offered], truth, metric=comp.metric, id_column=comp.id_column,
                                  targets=list(comp.target), classes=list(ctx.facts.classes), rounds=rounds)
        except Exception as exc:  # noqa: BLE001 - no ensemble is a fine outcome; the best single stands
            logger.warning("%s search: ensemble selection failed: %s", comp.competition_id, exc)
            record["ensemble"] = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            picked = tuple((c.label, w) for c, w in zip(offered, sel.weights, strict=True) if w > 0)
            record["ensemble"] = {"members": [{"label": c.label, "weight": w, "score": s}
                                              for c, w, s in zip(offered, sel.weights, sel.member_scores, strict=True)],
                                  "score": sel.score, "rows": sel.rows, "rounds": sel.rounds}
            if len(picked) >= 2 and better(sel.score, best.score, hib):
                winner, score, members = "ensemble", sel.score, picked
    if staged is not None and winner != "ensemble" and not better(score, staged.score, hib):
        return Choice("staged", staged.score, (("staged", 1.0),), None,
                      {**record, "decision": "nothing beat the staged solution on the same folds"})
    by_label = {c.label: c for c in candidates}
    header = f"Solution for {comp.competition_id}, generated by linguacodus (search winner: {winner})."
    if winner == "ensemble":
        script = assemble_ensemble(constants, [(by_label[label].stages, w) for label, w in members], header)
    elif winner == "staged":
        script = None
    else:
        script = assemble(constants, by_label[winner].stages, header)
    decision = (f"{winner} ({score:.6g}) beats the staged solution ({staged.score:.6g})" if staged is not None
                else f"{winner} ({score:.6g}); no staged solution to compare with")
    return Choice(winner, score, members, script, {**record, "decision": decision})


def _refit(ctx: TaskContext, t: dict[str, Any], constants: dict[str, Any], why: str,
           decision: str) -> Choice | None:
    """A trial's program refit on all of train as the final solution (its full-folds score unknown)."""
    try:
        stages = render_config(ctx, ProgramConfig.model_validate(t["program"]))
    except ValueError as exc:
        logger.info("%s search: trial %s cannot be refit: %s", ctx.competition.competition_id, t["trial_id"], exc)
        return None
    label = f"trial {t['trial_id']}"
    header = f"Solution for {ctx.competition.competition_id}, generated by linguacodus (search winner: {label}, {why})."
    return Choice(label, None, ((label, 1.0),), assemble(constants, stages, header),
                  {"candidates": [], "ensemble": None, "sample_score": t["sample_score"], "decision": decision})


def _by_sample(trials: list[dict[str, Any]], hib: bool) -> list[dict[str, Any]]:
    """Trials the budget or ASHA cut after their sample run (never one that crashed), best sample first."""
    scored = [t for t in trials if t.get("status") in ("stopped", "out_of_budget")
              and t.get("sample_score") is not None and t.get("program")]
    return sorted(scored, key=lambda t: -t["sample_score"] if hib else t["sample_score"])


def sample_winner(ctx: TaskContext, trials: list[dict[str, Any]], constants: dict[str, Any]) -> Choice | None:
    """The best program by its rung-1 (sample) score among trials that were stopped or ran out of budget
    after it (never one that crashed), as a Choice to refit; None when no trial has a sample score."""
    scored = _by_sample(trials, ctx.higher_is_better)
    for t in scored:
        label = f"trial {t['trial_id']}"
        decision = (f"no trial finished its full cross-validation: {label}, best sample score "
                    f"({t['sample_score']:.6g}) of {len(scored)}, refit on all of train")
        choice = _refit(ctx, t, constants, "chosen on the sample runs", decision)
        if choice is not None:
            return choice
    return None


def sample_bar(best_member: float, choice_score: float | None, hib: bool) -> float:
    """What a cut program's sample score must beat to replace the choice (`sample_leader`; the final run's
    reserve, timing.RefitReserve, asks the same). By a clear margin over the best member's sample score: a
    sample of 2,000 rows scores to about a percent (on trump-tweet-device at 300 s a 0.802 against 0.8015
    replaced an ensemble of two fully cross-validated programs). And the chosen solution's own full score:
    a program's learning curve rises with the rows, so its sample score is about the least its full run
    would reach, while the chosen one's full score is known. On nycflights13 (262,816 rows, 131x the
    sample) an extra-trees program led the sample rung (0.710 against LightGBM's 0.687) but the fully
    cross-validated LightGBM scored 0.773: refit instead, extra trees scored 0.709 on test, and its refit
    ran 4 min past the budget."""
    bar = best_member + SAMPLE_MARGIN * abs(best_member) * (1 if hib else -1)
    if choice_score is not None:
        bar = max(bar, choice_score) if hib else min(bar, choice_score)
    return bar


def sample_leader(ctx: TaskContext, trials: list[dict[str, Any]], choice: Choice,
                  constants: dict[str, Any]) -> Choice | None:
    """The comparison on the one rung every trial ran: when the budget cut a program during its full run
    whose sample score beats the sample score of every program in the chosen solution by over 1%, and
    the chosen solution's full out-of-fold score as well, it is the best one known, and it is refit
    instead (a slow strong program must not lose to a fast weak one only because the budget let the
    weak one finish; measured on trump-tweet-device at 300 s: LightGBM 0.802 and extra trees 0.797 on
    the sample, cut, lost to a finished logistic regression at 0.771).
    None: the choice stands (the staged solution, a member without a sample score, no better cut trial)."""
    hib = ctx.higher_is_better
    by_label = {f"trial {t['trial_id']}": t for t in trials}
    members = [by_label.get(label) for label, _ in choice.members]
    if choice.script is None or not members or any(m is None or m.get("sample_score") is None for m in members):
        return None
    best_member = max(m["sample_score"] for m in members) if hib else min(m["sample_score"] for m in members)
    bar = sample_bar(best_member, choice.score, hib)
    for t in _by_sample([t for t in trials if t.get("status") == "out_of_budget"], hib):
        if not better(t["sample_score"], bar, hib):
            return None
        decision = (f"trial {t['trial_id']} (sample score {t['sample_score']:.6g}, full run cut or skipped for the budget) "
                    f"beats every program of {choice.winner} on the shared sample rung (best {best_member:.6g}): "
                    "refit on all of train")
        leader = _refit(ctx, t, constants, "the best on the shared sample rung", decision)
        if leader is not None:
            leader.record["replaced"] = {"winner": choice.winner, "score": choice.score, **choice.record}
            return leader
    return None
