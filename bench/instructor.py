"""Instructor variants side by side, on tasks outside the training catalog (issue 11, part 4).

Variants, each on every task and seed, in one invocation:
- `base+few-shot`: today's default (the base model, one worked house-data exchange first);
- `base zero-shot`: the same model without the example (InstructorConfig.few_shot off);
- `adapter`: the base model with a GGUF LoRA adapter (--adapter), zero-shot as it was trained;
- `no instructions` (--effect only): the search from its default starts, no model at all.

Per variant it prints: grounded (share of instructions whose named columns all exist and whose
estimator is installed, actors/stages/grounding.ground), copied (share naming a column of the
few-shot example that the task lacks), diverse (share of tasks whose three instructions are pairwise
different in estimator or preprocessing operations), failed replies, prompt tokens and LLM seconds
per task. With --effect it also runs, per variant and task, the search alone over the default space
at a fixed budget, started from the instructions just measured (`linguacodus run --mode search
--instructions`: the same text, no model in the timed part, so a slow call on a loaded host cannot
take the search's time), and prints the validation and test scores and the wins.

Run: .venv/bin/python bench/instructor.py [--tasks-dir ../shared/benchmarks/open examples/tasks]
       [--adapter ft/adapter.gguf [ft2/adapter.gguf ...]] [--threads 2] [--seeds 0] [--only penguins ...]
       [--exclude-pairs pairs.parquet] [--out bench-results/instructor] [--effect --budget-s 60
       [--search-seeds 0 1 2]]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not
import pandas as pd  # noqa: E402

from actors.context import TaskContext  # noqa: E402
from actors.facts import compute_facts  # noqa: E402
from actors.grading import metrics  # noqa: E402
from actors.llm.base import ChatRequest, ChatResponse, LLMConfig  # noqa: E402
from actors.stages.grounding import ground  # noqa: E402
from actors.stages.instructor import Instructor, InstructorConfig  # noqa: E402
from actors.task import Competition  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIRS = [ROOT.parent / "shared" / "benchmarks" / "open", ROOT / "examples" / "tasks"]


NO_INSTRUCTIONS = "no instructions"  # --effect only: the search's default starts, no model


@dataclass(frozen=True)
class Variant:
    name: str
    few_shot: bool
    adapter: str | None = None


@dataclass
class Tally:
    instructions: int = 0
    grounded: int = 0
    copied: int = 0
    tasks: int = 0
    diverse: int = 0
    failed: int = 0
    prompt_tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


class Metered:
    """The LLM, with every reply's tokens and seconds kept for the tally."""

    def __init__(self, llm: Any) -> None:
        self.llm, self.name, self.replies = llm, llm.name, []

    def chat(self, req: ChatRequest) -> ChatResponse:
        reply = self.llm.chat(req)
        self.replies.append(reply)
        return reply


def load_tasks(dirs: list[Path], only: list[str] | None, exclude: set[str]) -> list[TaskContext]:
    """Every task folder of the dirs (meta.json present) as the context the instructor sees in a run."""
    from jobs.catalog import task_row

    out = []
    missing = [str(d) for d in dirs if not Path(d).is_dir()]
    if missing:
        sys.exit(f"error: no such folder of tasks: {', '.join(missing)} (--tasks-dir)")
    for folder in sorted(p for d in dirs for p in Path(d).iterdir() if (p / "meta.json").is_file()):
        if only and folder.name not in only:
            continue
        comp, reasons = task_row(str(folder))
        if comp is None:
            sys.exit(f"error: task {folder} is unusable: {'; '.join(reasons)}")
        if comp.competition_id in exclude:
            sys.exit(f"error: task {comp.competition_id} is in the training pairs; the bench measures unseen tasks")
        if any(t.competition.competition_id == comp.competition_id for t in out):
            print(f"skipping {folder}: a task with id {comp.competition_id} is already in the set")
            continue
        out.append(_context(comp))
    if not out:
        sys.exit(f"error: no task folders (with meta.json) in {', '.join(map(str, dirs))}")
    return out


def _context(comp: Competition) -> TaskContext:
    ids_as_text = {comp.id_column: str}  # as jobs/solve.py reads them
    train = pd.read_csv(Path(comp.data_uri) / "train.csv", dtype=ids_as_text)
    test = pd.read_csv(Path(comp.data_uri) / "test.csv", dtype=ids_as_text)
    return TaskContext(comp, compute_facts(comp, train, test))


def _shape(ctx: TaskContext, ins: Any) -> tuple[Any, ...]:
    """What makes two instructions different programs: the estimator (or the model text when none is
    recognised) and the preprocessing operations with their columns."""
    g = ground(ctx, ins)
    ops = tuple(sorted((op, tuple(sorted(cols))) for op, cols in g.operations.items()))
    return (g.estimator or " ".join(ins.model.lower().split()), ops)


def measure(variant: Variant, llm: Any, tasks: list[TaskContext], seeds: list[int], tally: Tally,
            save: Any = None) -> None:
    for seed in seeds:
        instructor = Instructor(llm, InstructorConfig(few_shot=variant.few_shot, seed=seed))
        for ctx in tasks:
            cid = ctx.competition.competition_id
            llm.replies.clear()
            started = time.perf_counter()
            try:
                ranked, error = instructor.run(ctx), None
            except Exception as exc:  # noqa: BLE001 - a failed reply is a measured outcome, not a crash
                ranked, error = [], f"{type(exc).__name__}: {exc}"
            tally.tasks += 1
            tally.failed += error is not None
            tally.prompt_tokens.append(sum(r.prompt_tokens for r in llm.replies))
            tally.seconds.append(sum(r.seconds for r in llm.replies) or time.perf_counter() - started)
            groundings = [ground(ctx, ins) for ins in ranked]
            tally.instructions += 3  # a missing instruction counts as not grounded
            tally.grounded += sum(g.grounded for g in groundings)
            tally.copied += sum(bool(g.copied) for g in groundings)
            diverse = len(ranked) == 3 and len({_shape(ctx, ins) for ins in ranked}) == 3
            tally.diverse += diverse
            tally.rows.append({"variant": variant.name, "task": cid, "seed": seed, "error": error, "diverse": diverse,
                               "instructions": [i.to_dict() for i in ranked],
                               "grounding": [g.to_dict() for g in groundings],
                               "prompt_tokens": tally.prompt_tokens[-1], "seconds": round(tally.seconds[-1], 2)})
            print(f"  {variant.name:15s} {cid:28s} seed {seed}: grounded {sum(g.grounded for g in groundings)}/3, "
                  f"copied {sum(bool(g.copied) for g in groundings)}, {tally.seconds[-1]:.1f} s"
                  + (f", FAILED {error[:120]}" if error else ""), flush=True)
            if save is not None:
                save()  # after every task: an invocation cut short keeps what it measured


def effect(variant: Variant, tally: Tally, tasks: list[TaskContext], args: argparse.Namespace) -> list[dict]:
    """The search alone (`--mode search`, the facts' default space) at a fixed budget per task, started
    from this variant's instructions of the first seed as measured above (`--instructions`): a better
    instructor shows as a better validation and test score, and the model's speed on this machine
    (its seconds are in the table above) takes nothing from the search. With several --search-seeds the
    same instructions start one search per seed (run `NAME-sSEED`); every row carries its `search_seed`."""
    from jobs.run import run
    from jobs.run_options import RunOptions, to_config

    seed = args.seeds[0]
    given = {r["task"]: [{k: v for k, v in i.items() if k != "rank"} for i in r["instructions"]]
             for r in tally.rows if r["seed"] == seed and r["instructions"]}
    name = variant.name.replace(" ", "-").replace("+", "-")
    instructions = Path(args.out) / f"effect-instructions-{name}.json"
    instructions.write_text(json.dumps(given, indent=1))
    catalog = Path(args.out) / "effect-catalog.parquet"
    pd.DataFrame([t.competition.model_dump() for t in tasks]).to_parquet(catalog)
    search_seeds = args.search_seeds or [seed]
    rows: list[dict] = []
    for search_seed in search_seeds:
        run_id = name if args.search_seeds is None else f"{name}-s{search_seed}"
        options = RunOptions(catalog=str(catalog), out=str(Path(args.out) / "effect"), concurrency=1, run_id=run_id,
                             mode="search", instructions=str(instructions), budget_s=args.budget_s,
                             search_space="default", cv_folds=3, seed=search_seed)
        for row in run(to_config(options)):  # the warm starts' own scores: the instructions before the search's noise
            search = _search_of(Path(args.out) / "effect" / run_id / str(row["competition_id"]))
            rows.append({**row, **start_scores(search), "search_seed": search_seed})
    return rows


def _search_of(folder: Path) -> dict[str, Any]:
    found = folder / "search.json"
    return json.loads(found.read_text()) if found.is_file() else {}


def start_scores(search: dict[str, Any]) -> dict[str, float | None]:
    """The best CV of the variant's own warm starts and of the default starts (best_start_cv), and the
    share of the submitted program that came from the instructions (instruction_weight)."""
    return {"instruction_cv": best_start_cv(search, "instruction"), "default_cv": best_start_cv(search, "default"),
            "instruction_weight": instruction_weight(search)}


def instruction_weight(search: dict[str, Any]) -> float | None:
    """How much of what the search submitted came from the variant's instructions: the ensemble weight
    of its members that were instruction warm starts (1 or 0 for a single winning trial); None when the
    search chose nothing. The instructions carry weight only where this is above 0."""
    winner = search.get("winner")
    if not winner:
        return None
    source = {f"trial {t.get('trial_id')}": str(t.get("source") or "") for t in search.get("trials") or []}
    members = [(str(m.get("label")), float(m.get("weight") or 0.0))
               for m in search.get("members") or [{"label": winner, "weight": 1.0}]]
    total = sum(w for _, w in members)
    return sum(w for label, w in members if source.get(label, "").startswith("instruction")) / total if total else None


def saved_effects(out: Path, runs: list[str]) -> dict[str, list[dict]]:
    """The effect rows of a saved --effect run (OUT/effect/RUN/TASK/{result,search}.json), for the table;
    a run of several --search-seeds is read from all its `RUN-sSEED` folders."""
    effects: dict[str, list[dict]] = {}
    for run_name in runs:
        folders = [(None, f.parent) for f in sorted((out / "effect" / run_name).glob("*/result.json"))]
        for d in sorted((out / "effect").glob(f"{run_name}-s*")):  # RUN-sSEED, as effect() names them
            suffix = d.name[len(run_name) + 2:]
            if suffix.isdigit():
                folders += [(int(suffix), f.parent) for f in sorted(d.glob("*/result.json"))]
        if not folders:
            sys.exit(f"error: no results under {out / 'effect' / run_name}")
        rows = []
        for search_seed, folder in folders:
            result, search = json.loads((folder / "result.json").read_text()), _search_of(folder)
            rows.append({"competition_id": folder.name, "metric": search.get("metric", result.get("metric", "")),
                         "higher_is_better": search.get("higher_is_better", True), "score": result.get("score"),
                         "validation_score": result.get("validation_score"), "search_seed": search_seed,
                         **start_scores(search)})
        effects[run_name] = rows
    return effects


def over_seeds(rows: list[dict]) -> dict[str, dict]:
    """One row per task: its scores averaged over the search seeds that gave one (None where none did),
    with `seeds` the number of rows. One seed gives the row itself."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(str(r["competition_id"]), []).append(r)
    merged = {}
    for cid, group in by.items():
        row = dict(group[0], seeds=len(group))
        for key in ("score", "validation_score", "instruction_cv", "default_cv", "instruction_weight"):
            values = [float(r[key]) for r in group if r.get(key) is not None and r[key] == r[key]]
            if key in group[0] or values:
                row[key] = statistics.fmean(values) if values else None
        merged[cid] = row
    return merged


def best_start_cv(search: dict[str, Any], source: str) -> float | None:
    """The best cross-validated score of the search's completed full runs (rung 2) whose `source`
    starts with `source` ("instruction": the variant's warm starts; "default": the default starts)."""
    up = search.get("higher_is_better", True)
    scores = [float(t["cv_score"]) for t in search.get("trials") or []
              if str(t.get("source") or "").startswith(source) and t.get("status") == "completed"
              and t.get("cv_score") is not None and str(t.get("rung")) == "2"]
    return (max(scores) if up else min(scores)) if scores else None


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.0f}" if values else "-"


def table(tallies: dict[str, Tally]) -> str:
    head = ("| variant | tasks x seeds | grounded | copied | diverse | failed replies | prompt tokens / task "
            "(median) | LLM s / task (median) |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for name, t in tallies.items():
        n = max(t.instructions, 1)
        lines.append(f"| {name} | {t.tasks} | {t.grounded / n:.0%} ({t.grounded}/{t.instructions}) | "
                     f"{t.copied / n:.0%} ({t.copied}/{t.instructions}) | {t.diverse / max(t.tasks, 1):.0%} "
                     f"({t.diverse}/{t.tasks}) | {t.failed} | {_median(t.prompt_tokens)} | "
                     f"{statistics.median(t.seconds):.1f} |" if t.seconds else f"| {name} | 0 | - | - | - | - | - | - |")
    return "\n".join(lines)


def effect_table(effects: dict[str, list[dict]], budget_s: float) -> str:
    """Per task, each variant's validation / test score; per variant against the first, how many test
    scores are better, worse and equal, the median relative test-score gain over the tasks (positive:
    better, whatever the metric's direction; 0 where either is missing) and the two-sided sign-test p of
    better against worse. Scores of different metrics are never pooled, only their signed ratios. Rows of
    several search seeds are averaged per task first (over_seeds): the verdict counts tasks, not runs."""
    names = list(effects)
    by = {n: over_seeds(rows) for n, rows in effects.items()}
    seeds = max((r["seeds"] for r in by[names[0]].values()), default=1)
    lines = [f"effect at --budget-s {budget_s:.0f} (validation / test"
             + (f", each the mean over {seeds} search seeds)" if seeds > 1 else ")"),
             "| task | metric | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    gains: dict[str, list[float]] = {n: [] for n in names[1:]}
    for cid in sorted(by[names[0]]):
        rows = [by[n].get(cid, {}) for n in names]
        lines.append(f"| {cid} | {rows[0].get('metric', '')} | " + " | ".join(
            f"{_score(r.get('validation_score'))} / {_score(r.get('score'))}" for r in rows) + " |")
        for n, r in zip(names[1:], rows[1:]):
            gains[n].append(relative_gain(rows[0].get("score"), r.get("score"), rows[0].get("higher_is_better", True)))
    for n, g in gains.items():
        lines.append(_verdict(f"{n} against {names[0]} on {len(g)} tasks: test score", g))
        if seeds > 1:  # each search seed on its own: is the verdict the same run to run?
            for seed in sorted({r.get("search_seed") for r in effects[names[0]]} - {None}):
                one = {k: over_seeds([r for r in effects[k] if r.get("search_seed") == seed]) for k in (names[0], n)}
                lines.append("  " + _verdict(f"search seed {seed}:", [
                    relative_gain(r.get("score"), one[n].get(cid, {}).get("score"), r.get("higher_is_better", True))
                    for cid, r in sorted(one[names[0]].items())]))
    for n in names:  # how much of the submitted programs the instructions make
        weights = [r["instruction_weight"] for r in by[n].values() if r.get("instruction_weight") is not None]
        if weights:
            lines.append(f"{n}: share of the submitted program from its instructions (ensemble weight) "
                         f"{statistics.fmean(weights):.0%} on average over {len(weights)} tasks, "
                         f"above 0 on {sum(w > 0 for w in weights)}")
    firsts = by[names[0]]
    for n in names:  # the instructions alone: the best CV score of the variant's own warm starts
        rows = {cid: r for cid, r in by[n].items() if cid in firsts and r.get("instruction_cv") is not None}
        if not rows:  # `no instructions`, or none of its warm starts finished a full run
            continue
        up = {cid: firsts[cid].get("higher_is_better", True) for cid in rows}
        both = [cid for cid, r in rows.items() if r.get("default_cv") is not None]  # a short search may fit no default
        beat = sum(relative_gain(rows[cid]["default_cv"], rows[cid]["instruction_cv"], up[cid]) > 0 for cid in both)
        line = (f"{n}: its best instruction's CV beats the best default start's on {beat} of {len(both)} tasks "
                f"where both had a full run")
        if n != names[0]:
            paired = [cid for cid in rows if firsts[cid].get("instruction_cv") is not None]
            g = [relative_gain(firsts[cid]["instruction_cv"], rows[cid]["instruction_cv"], up[cid]) for cid in paired]
            line += "; " + _verdict(f"against {names[0]}'s on the {len(paired)} tasks where both had one, "
                                    "best instruction CV", g)
        lines.append(line)
    return "\n".join(lines)


def _verdict(what: str, gains: list[float]) -> str:
    better, worse = sum(x > 0 for x in gains), sum(x < 0 for x in gains)
    return (f"{what} better {better}, worse {worse}, equal {len(gains) - better - worse}; median relative gain "
            f"{statistics.median(gains or [0.0]):+.4%}; sign test p = {sign_test(better, worse):.2f}")


def relative_gain(base: float | None, score: float | None, higher_is_better: bool) -> float:
    """(score - base) / |base|, signed so that positive is better; 0.0 (a tie) when either is missing."""
    gain = metrics.relative_gain(base, score, higher_is_better)
    return 0.0 if gain is None else gain


def sign_test(better: int, worse: int) -> float:
    """Two-sided exact sign test of better against worse (ties dropped): P(as lopsided | p = 1/2)."""
    n, k = better + worse, min(better, worse)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def _score(v: Any) -> str:
    return "-" if v is None or v != v else f"{v:.4g}"


def save(tallies: dict[str, Tally], out: str) -> None:
    (Path(out) / "instructions.json").write_text(json.dumps([r for t in tallies.values() for r in t.rows], indent=1))


def from_saved(path: Path) -> dict[str, Tally]:
    """The tallies of an instructions.json (--table-from): the table of a run cut short, or of several runs."""
    tallies: dict[str, Tally] = {}
    for r in json.loads(path.read_text()):
        t = tallies.setdefault(r["variant"], Tally())
        t.tasks += 1
        t.failed += r["error"] is not None
        t.instructions += 3
        t.grounded += sum(g["grounded"] for g in r["grounding"])
        t.copied += sum(bool(g["copied"]) for g in r["grounding"])
        t.diverse += bool(r.get("diverse"))
        t.prompt_tokens.append(r["prompt_tokens"])
        t.seconds.append(r["seconds"])
    return tallies


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks-dir", nargs="+", type=Path, default=DEFAULT_DIRS, help="folders of task folders")
    p.add_argument("--only", nargs="+", default=None, help="only these task ids")
    p.add_argument("--model", default="qwen2.5-coder-0.5b", help="embedded model name")
    p.add_argument("--adapter", nargs="+", default=None, help="GGUF LoRA adapter(s), or `default` for the one "
                   "shipped for --model: adds the `adapter` variant (zero-shot, applied to the instructor's calls "
                   "only); with several, one variant each, `adapter <its folder>`")
    p.add_argument("--variants", nargs="+", default=None, help="run only these variants (default: all)")
    p.add_argument("--threads", type=int, default=2, help="embedded engine threads")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="instructor sampling seeds, same for all")
    p.add_argument("--exclude-pairs", default=None, help="training pairs Parquet: refuse tasks that are in it")
    p.add_argument("--out", default="bench-results/instructor", help="folder for instructions.json and effect runs")
    p.add_argument("--effect", action="store_true", help="also run the pipeline per variant (slow)")
    p.add_argument("--budget-s", type=float, default=60.0, help="--effect: the search's budget per task")
    p.add_argument("--search-seeds", nargs="+", type=int, default=None,
                   help="--effect: one search per seed from the same instructions (runs NAME-sSEED); the table "
                        "compares each task's mean over them (default: one search, seeded by the first --seeds)")
    p.add_argument("--table-from", nargs="+", type=Path, default=None,
                   help="print the table of saved instructions.json files (only tasks every variant has) and exit")
    p.add_argument("--effect-from", nargs="+", default=None, metavar=("OUT", "RUN"),
                   help="print the effect table of a saved --effect run: OUT, then its runs under OUT/effect "
                        "(e.g. base-few-shot adapter; the first is the reference) and exit")
    args = p.parse_args()
    if args.effect_from:
        if len(args.effect_from) < 3:
            sys.exit("error: --effect-from needs OUT and at least two of its runs (e.g. base-few-shot adapter)")
        out = Path(args.effect_from[0])
        first = next((out / "effect").glob(f"{args.effect_from[1]}*/*/search.json"), None)
        budget = json.loads(first.read_text()).get("budget_s", args.budget_s) if first else args.budget_s
        print(effect_table(saved_effects(out, args.effect_from[1:]), budget))
        return
    if args.table_from:
        rows = [r for f in args.table_from for r in json.loads(f.read_text())]
        variants_of: dict[tuple[str, int], set[str]] = {}
        for r in rows:
            variants_of.setdefault((r["task"], r["seed"]), set()).add(r["variant"])
        every = {k for k, v in variants_of.items() if len(v) == len({r["variant"] for r in rows})}
        merged = Path(args.out) / "merged.json"
        merged.parent.mkdir(parents=True, exist_ok=True)
        merged.write_text(json.dumps([r for r in rows if (r["task"], r["seed"]) in every]))
        print(f"{len(every)} task x seed pairs measured for every variant: {sorted(t for t, _ in every)}")
        print(table(from_saved(merged)))
        return
    adapters = [_adapter_path(a, args.model) for a in args.adapter or []]
    exclude = set(pd.read_parquet(args.exclude_pairs)["competition_id"]) if args.exclude_pairs else set()
    tasks = load_tasks(args.tasks_dir, args.only, exclude)
    variants = [Variant("base+few-shot", True), Variant("base zero-shot", False)]
    names = adapter_names(adapters)
    variants += [Variant(name, False, a) for name, a in zip(names, adapters, strict=True)]
    if args.effect:  # the search from the defaults alone: what any instructions add at all
        variants.append(Variant(NO_INSTRUCTIONS, False))
    else:
        variants = [v for v in variants if v.name != NO_INSTRUCTIONS]
    by_name = {v.name: v for v in variants}
    unknown = [n for n in args.variants or [] if n not in by_name]
    if unknown:
        sys.exit(f"error: unknown variant(s) {unknown} (here: {sorted(by_name)})")
    variants = [by_name[n] for n in args.variants] if args.variants else variants  # in the order asked
    Path(args.out).mkdir(parents=True, exist_ok=True)
    print(f"{len(tasks)} tasks, seeds {args.seeds}, model {args.model}, threads {args.threads}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)

    from actors.llm.build import build_llm

    tallies: dict[str, Tally] = {}
    effects: dict[str, list[dict]] = {}
    engines: dict[str | None, Metered] = {}
    for v in variants:
        if v.name == NO_INSTRUCTIONS:
            tallies[v.name] = Tally()
            effects[v.name] = effect(v, tallies[v.name], tasks, args)
            continue
        cfg = LLMConfig(model=args.model, n_threads=args.threads, lora_path=v.adapter,
                        lora_tags=["instructor"] if v.adapter else None)
        if v.adapter not in engines:  # the base variants share one loaded model
            engines = {v.adapter: Metered(build_llm(cfg))}
        tallies[v.name] = Tally()
        measure(v, engines[v.adapter], tasks, args.seeds, tallies[v.name], lambda: save(tallies, args.out))
        print(table({v.name: tallies[v.name]}), flush=True)
        if args.effect:
            effects[v.name] = effect(v, tallies[v.name], tasks, args)
    measured = {n: t for n, t in tallies.items() if n != NO_INSTRUCTIONS}
    if measured:
        print()
        print(table(measured))
    if effects:
        print()
        print(effect_table(effects, args.budget_s))

def _adapter_path(given: str, model: str) -> str:
    if given == "default":
        from actors.llm.adapters import shipped

        found = shipped(model)
        given = str(found.path) if found else sys.exit(f"error: no adapter is shipped for {model}")
    if not Path(given).is_file():
        sys.exit(f"error: adapter {given} is not a file")
    return given


def adapter_names(adapters: list[str]) -> list[str]:
    """`adapter` for one; `adapter <folder>` (`adapter <file>` where folders repeat) for several."""
    if len(adapters) <= 1:
        return ["adapter"] * len(adapters)
    folders = [Path(a).resolve().parent.name for a in adapters]
    if len(set(folders)) == len(folders):
        return [f"adapter {f}" for f in folders]
    return [f"adapter {Path(a).name}" for a in adapters]


if __name__ == "__main__":
    main()
