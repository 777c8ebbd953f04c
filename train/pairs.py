"""Ranked instruction pairs from graded search trials: what the fine-tuned instructor learns (issue 11).

For every competition of a run that has a search.json, the three best *distinct* programs by
cross-validated score (another estimator for each rank while the search completed one, else another
preprocessing or fit option) are rendered as
instructions (actors/grounding.render_instruction: real column names, real estimators, stated
hyper-parameters), ranked best first, as the JSON the instructor's grammar produces. The prompt is
exactly the instructor's messages for that task without a few-shot example (system + user, from
actors/instructor.messages_for): the task description and the data facts, which are computed from
train.csv and test.csv *features* only. Nothing of answers.csv or of test.csv's targets is read, and
the score kept is the cross-validated one, never the graded test score.

A deterministic slice of the competitions (by a hash of the id) is held back as the validation split.

With `beat_defaults` (a relative gain, e.g. 0.0), only competitions whose search found a program better
than every default start (search.json `source` "default ...") give a pair, and the default starts are
not among the ranked targets: the search runs the defaults anyway, so an instruction carries weight
only where it names something they do not (the v3 adapter, trained on every competition, mostly
learned default or near-default programs and did not beat the base model at equal budget).
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
from actors.grading.metrics import relative_gain
from actors.search.run import DEFAULT_START
from actors.search.space import ProgramConfig
from actors.stages.estimators import ESTIMATORS, family
from actors.stages.grounding import ground, render_instruction
from actors.stages.instruction import INSTRUCTION_SCHEMA, PARTS, messages_for
from actors.task import Competition

logger = logging.getLogger(__name__)
MIN_DISTINCT = 3
MAX_PART_CHARS = int(INSTRUCTION_SCHEMA["properties"]["preprocessing"]["maxLength"])
SOURCE = "search"  # the `source` column: rendered from search trials, no LLM extraction


@dataclass(frozen=True)
class PairSkip:
    run: str
    competition_id: str
    reason: str  # a short category, counted in the summary
    detail: str = ""


class PairError(ValueError):
    """Why one competition gives no pair: `reason` is the category, the message the detail."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


class RunError(ValueError):
    """A run folder that cannot give pairs at all (not a run, no catalog): a one-line message."""


def split_of(competition_id: str, holdout: float) -> str:
    """'validation' for a stable `holdout` share of competitions, 'train' for the rest."""
    bucket = int(hashlib.sha256(competition_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "validation" if bucket < holdout else "train"


def _distinct_key(program: dict[str, Any]) -> str:
    return json.dumps({"estimator": program.get("estimator"), "preprocess": program.get("preprocess"),
                       "fit_option": program.get("fit_option")}, sort_keys=True)


def best_distinct(trials: list[dict[str, Any]], higher_is_better: bool, n: int = MIN_DISTINCT) -> list[dict[str, Any]]:
    """The n best completed trials, none sharing estimator + preprocessing + fit option with a better one,
    and each rank another estimator while the run has one: the best program of each of the best
    estimators first, then the best remaining distinct programs (another preprocessing or fit option).
    Ranked instructions are the search's warm starts: three hyper-parameter variants of one program
    tell the search less than three estimators (the v2 adapter, trained on the first rule only, gave
    three differing programs for 6 of 13 tasks)."""
    done = [t for t in trials if t.get("status") == "completed" and t.get("cv_score") is not None and t.get("program")]
    done.sort(key=lambda t: -t["cv_score"] if higher_is_better else t["cv_score"])
    distinct, seen = [], set()
    for t in done:
        key = _distinct_key(t["program"])
        if key not in seen:
            seen.add(key)
            distinct.append(t)
    estimators: set[str] = set()
    first = []
    for t in distinct:
        if t["program"].get("estimator") not in estimators:
            estimators.add(t["program"].get("estimator"))
            first.append(t)
    chosen = first[:n]
    chosen += [t for t in distinct if t not in chosen][:n - len(chosen)]
    return sorted(chosen, key=lambda t: -t["cv_score"] if higher_is_better else t["cv_score"])


def is_default_start(trial: dict[str, Any]) -> bool:
    return str(trial.get("source") or "").startswith(DEFAULT_START)


def gain_over_defaults(trials: list[dict[str, Any]], higher_is_better: bool) -> float | None:
    """Relative CV gain of the best completed trial that is not a default start over the best default
    start (positive: better); None when no default start or no other trial completed."""
    done = [t for t in trials if t.get("status") == "completed" and t.get("cv_score") is not None]
    defaults = [float(t["cv_score"]) for t in done if is_default_start(t)]
    others = [float(t["cv_score"]) for t in done if not is_default_start(t)]
    if not defaults or not others:
        return None
    best, default = (max(others), max(defaults)) if higher_is_better else (min(others), min(defaults))
    return relative_gain(default, best, higher_is_better)


def coarse_program(ctx: TaskContext, program: ProgramConfig) -> ProgramConfig:
    """The program with every hyper-parameter snapped to the nearest of five levels of its search range:
    what a coarse target states (`--coarse`). The v4 adapter, trained on the search's exact numbers,
    wrote learning rate 0.01 with 100-200 trees where its corpus had 500-1000: from a few dozen
    examples it learned magnitudes, not their coupling. The same few values recurring together are a
    smaller thing to learn; every value stays within one level of a program the search measured (all
    of them are kept: dropping a regularisation the winner had can turn it into a poor program), and
    the search refines the start."""
    est = ESTIMATORS[family(ctx.kind)][program.estimator]
    params = {k: est.params[k].snap(v) for k, v in program.params.items() if k in est.params}
    return program.model_copy(update={"params": params})


def pair_for(comp: Competition, facts: dict[str, Any], trials: list[dict[str, Any]],
             holdout: float = 0.1, beat_defaults: float | None = None, coarse: bool = False) -> dict[str, Any]:
    """One pair (PairError naming why there is none); `coarse` states hyper-parameters as coarse_program does."""
    ctx = TaskContext(comp, facts_from_dict(facts))
    gain = gain_over_defaults(trials, ctx.higher_is_better)
    ranked_from = trials
    if beat_defaults is not None:
        if gain is None or gain <= beat_defaults:
            raise PairError("the search found nothing better than its default starts",
                            "no default start or no other program completed" if gain is None
                            else f"best gain {gain:+.4f}, needed > {beat_defaults:+.4f}")
        ranked_from = [t for t in trials if not is_default_start(t)]
    best = best_distinct(ranked_from, ctx.higher_is_better)
    if len(best) < MIN_DISTINCT:
        raise PairError(f"fewer than {MIN_DISTINCT} distinct completed trials",
                        f"{len(best)} of {len(ranked_from)} trials")
    programs = [ProgramConfig.model_validate(t["program"]) for t in best]
    if coarse:
        programs = [coarse_program(ctx, p) for p in programs]
    ranked = [render_instruction(ctx, p, rank=i) for i, p in enumerate(programs, start=1)]
    # The instructor's grammar caps every part: a longer target teaches what inference can never emit.
    too_long = [f"{p} {len(getattr(ins, p))}" for ins in ranked for p in PARTS if len(getattr(ins, p)) > MAX_PART_CHARS]
    if too_long:
        raise PairError(f"a rendered part is longer than the instructor's grammar allows ({MAX_PART_CHARS} chars)",
                        ", ".join(too_long))
    ungrounded = [f"rank {ins.rank}: {ground(ctx, ins).unknown}" for ins in ranked if not ground(ctx, ins).grounded]
    if ungrounded:  # a column name the grounding cannot read back would teach an "unknown" name
        raise PairError("a rendered instruction does not ground", "; ".join(ungrounded))
    system, user = messages_for("instructor", ctx)
    completion = json.dumps({"instructions": [{p: getattr(ins, p) for p in PARTS} for ins in ranked]})
    return {"competition_id": comp.competition_id, "split": split_of(comp.competition_id, holdout),
            "system": system["content"], "prompt": user["content"], "completion": completion,
            "metric": comp.metric, "higher_is_better": ctx.higher_is_better,
            "scores": [float(t["cv_score"]) for t in best], "score": float(best[0]["cv_score"]),
            "estimators": [t["program"]["estimator"] for t in best], "n_trials": len(trials),
            "gain_over_defaults": gain,
            "n_solutions": sum(1 for t in trials if t.get("status") == "completed"), "rank": 1,
            "source": SOURCE, "code_truncated": False, "extractor_model": None}


def _catalog(run_uri: str, override: str | None) -> dict[str, dict[str, Any]]:
    run_json = storage.join(run_uri, "run.json")
    if not storage.exists(run_json):
        raise RunError(f"{run_uri}: no run.json, not the OUT/RUN_ID folder of a `linguacodus run`")
    own = storage.join(run_uri, "catalog.parquet")  # an archived run carries its rows (train/archive.py)
    uri = override or (own if storage.exists(own) else (storage.read_json(run_json).get("config") or {}).get("catalog"))
    if not uri:
        raise RunError(f"{run_uri}: run.json names no catalog (pass --catalog)")
    try:
        rows = storage.read_parquet(uri).to_dict(orient="records")
    except Exception as exc:  # noqa: BLE001 - any unreadable catalog is the same one-line problem
        raise RunError(f"{run_uri}: catalog {uri} unreadable ({type(exc).__name__}); pass --catalog if it moved") from exc
    return {str(r["competition_id"]): r for r in rows}


def _run_folders(run_uri: str) -> list[str]:
    """Competition ids of the run: its folders holding a result.json or a search.json (sorted)."""
    names = [u.rstrip("/").rsplit("/", 1)[-1] for u in storage.list_uris(run_uri)]
    return sorted(n for n in names if not n.startswith(("_", ".")) and storage.is_dir(storage.join(run_uri, n)))


def pairs_from_run(run_uri: str, catalog: str | None = None, holdout: float = 0.1,
                   beat_defaults: float | None = None, coarse: bool = False) -> tuple[list[dict[str, Any]], list[PairSkip]]:
    """Pairs of every searched competition of one run (OUT/RUN_ID), and every one skipped with why.
    RunError when the folder is not a run or its catalog cannot be read."""
    by_id = _catalog(run_uri, catalog)
    pairs: list[dict[str, Any]] = []
    skipped: list[PairSkip] = []
    for cid in _run_folders(run_uri):
        folder = storage.join(run_uri, cid)
        try:
            pairs.append({**_pair_in(folder, by_id.get(cid), holdout, beat_defaults, coarse), "solution_id": folder})
        except PairError as exc:
            skipped.append(PairSkip(run_uri, cid, exc.reason, str(exc) if str(exc) != exc.reason else ""))
        except Exception as exc:  # noqa: BLE001 - one competition without a pair never stops the rest
            skipped.append(PairSkip(run_uri, cid, "unreadable artifacts", f"{type(exc).__name__}: {exc}"))
    for s in skipped:
        logger.info("%s: no pair (%s) %s", s.competition_id, s.reason, s.detail)
    logger.info("%s: %d pairs, %d competitions skipped", run_uri, len(pairs), len(skipped))
    return pairs, skipped


def _pair_in(folder: str, raw: dict[str, Any] | None, holdout: float,
             beat_defaults: float | None = None, coarse: bool = False) -> dict[str, Any]:
    if raw is None:
        raise PairError("not in the run's catalog")
    search_json, result_json = storage.join(folder, "search.json"), storage.join(folder, "result.json")
    if not storage.exists(result_json):
        raise PairError("no result.json (unfinished)")
    if not storage.exists(search_json):
        raise PairError("no search.json (not searched)")
    facts = (storage.read_json(result_json).get("details") or {}).get("facts")
    if not facts:
        raise PairError("no data facts in result.json")
    return pair_for(Competition.from_row(raw), facts, storage.read_json(search_json).get("trials") or [], holdout,
                    beat_defaults, coarse)


def pairs_from_runs(run_uris: list[str], catalog: str | None = None, holdout: float = 0.1,
                    beat_defaults: float | None = None, coarse: bool = False) -> tuple[list[dict[str, Any]], list[PairSkip]]:
    """Pairs of several runs; a competition already paired from an earlier run is skipped in later ones.
    Every run is checked before any is read, so a bad one fails fast with a RunError."""
    for uri in run_uris:
        _catalog(uri, catalog)
    pairs: list[dict[str, Any]] = []
    skipped: list[PairSkip] = []
    for uri in run_uris:
        got, missed = pairs_from_run(uri, catalog, holdout, beat_defaults, coarse)
        done = {p["competition_id"] for p in pairs}
        skipped += missed + [PairSkip(uri, p["competition_id"], "paired from an earlier run") for p in got
                             if p["competition_id"] in done]
        pairs += [p for p in got if p["competition_id"] not in done]
    return pairs, skipped
