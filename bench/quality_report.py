"""Tables and counts of bench/quality.py, computed only from PairResults (the grader's scores).

- winner of a task: the best graded score (the metric's direction); ties name every tied contestant;
- score rank on a task: 1 = best among the contestants that ran on it, tied scores share the mean
  rank, a contestant without a graded score (invalid, failed, timeout) ranks last;
- "A beats B": A's graded score is strictly better than B's; "the untuned baseline" of a task is the
  better of its baselines (HGB, and TF-IDF on tasks with text), so beating it means beating both.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable

from bench.quality_run import PairResult

BASELINES = ("baseline-hgb", "baseline-tfidf")
Table = dict[str, dict[str, PairResult]]  # task -> contestant -> result


def better(a: float, b: float, higher: bool) -> bool:
    return a > b if higher else a < b


def best(results: Iterable[PairResult]) -> PairResult | None:
    graded = [r for r in results if r.score is not None]
    if not graded:
        return None
    sign = 1.0 if graded[0].higher_is_better else -1.0
    return max(graded, key=lambda r: sign * r.score)  # type: ignore[operator]


def winners(row: dict[str, PairResult]) -> list[str]:
    top = best(row.values())
    return [] if top is None else [c for c, r in row.items() if r.score == top.score]


def ranks(row: dict[str, PairResult]) -> dict[str, float]:
    """Score rank of each contestant on one task (1 = best; ties share the mean rank)."""
    sign = {c: (1.0 if r.higher_is_better else -1.0) for c, r in row.items()}
    keys = {c: (0, -sign[c] * r.score) if r.score is not None else (1, 0.0) for c, r in row.items()}
    order = sorted(keys.values())
    out = {}
    for c, key in keys.items():
        first = order.index(key) + 1
        out[c] = first + (order.count(key) - 1) / 2
    return out


def beats(table: Table, a: str, others: tuple[str, ...]) -> tuple[int, int]:
    """(tasks where `a` strictly beats the best graded score of `others`, tasks where both ran and
    `others` has a graded score). A task where `a` has no graded score counts as not beaten."""
    wins = total = 0
    for row in table.values():
        if a not in row:
            continue
        ref = best(r for c, r in row.items() if c in others)
        if ref is None:
            continue
        total += 1
        mine = row[a].score
        wins += mine is not None and better(mine, ref.score, ref.higher_is_better)  # type: ignore[arg-type]
    return wins, total


def _cell(r: PairResult | None) -> str:
    if r is None:
        return f"{'-':>9} {'-':>5} {'-':>6}"
    score = f"{r.score:.4g}" if r.score is not None else r.status
    if r.details.get("results_row", {}).get("fallback_used"):
        score += "*"
    pct = f"{r.percentile:.0f}" if r.percentile is not None else "-"
    return f"{score:>9} {pct:>5} {r.seconds:6.0f}"


def render(table: Table, contestants: list[str]) -> str:
    """The per-task table, the medians and the counts, as printed."""
    width = 22
    head1 = f"{'':{width}} {'':19} " + " ".join(f"{c:^22}" for c in contestants)
    head2 = f"{'task':{width}} {'metric':19} " + " ".join(f"{'score':>9} {'pct':>5} {'s':>6}" for _ in contestants)
    lines = [head1, head2 + "  winner"]
    for task, row in table.items():
        metric = next(iter(row.values())).metric if row else "-"
        arrow = "" if not row else (" ^" if next(iter(row.values())).higher_is_better else " v")
        cells = " ".join(_cell(row.get(c)) for c in contestants)
        lines.append(f"{task:{width}} {metric + arrow:19} {cells}  {'/'.join(winners(row)) or '-'}")
    lines.append("(score: the grader's; pct: leaderboard percentile where the task has leaderboard.csv; "
                 "s: wall seconds of the contestant's process; ^ higher / v lower is better; "
                 "* linguacodus's floor model: every LLM attempt failed)")
    lines += ["", *summary_lines(table, contestants)]
    problems = [f"  {t} {c}: {r.status}: {r.reason}" for t, row in table.items() for c, r in row.items()
                if r.status != "graded"]
    if problems:
        lines += ["", "not graded:", *problems]
    return "\n".join(lines)


def summary_lines(table: Table, contestants: list[str]) -> list[str]:
    lines = [f"{'contestant':24} {'tasks':>5} {'graded':>6} {'wins':>4} {'median rank':>11} "
             f"{'median pct':>10} {'median s':>8}"]
    all_ranks = {t: ranks(row) for t, row in table.items()}
    for c in contestants:
        results = [row[c] for row in table.values() if c in row]
        if not results:
            continue
        rk = [all_ranks[t][c] for t in table if c in all_ranks[t]]
        pct = [r.percentile for r in results if r.percentile is not None]
        wins = sum(c in winners(row) for row in table.values())
        lines.append(f"{c:24} {len(results):5} {sum(r.score is not None for r in results):6} {wins:4} "
                     f"{statistics.median(rk):11.1f} {_median(pct):>10} {statistics.median(r.seconds for r in results):8.0f}")
    lines.append("")
    for c in [c for c in contestants if c not in BASELINES]:
        n, m = beats(table, c, BASELINES)
        lines.append(f"{c} beats the untuned baseline on {n} of {m} tasks")
        if c != "flaml":
            n, m = beats(table, c, ("flaml",))
            lines.append(f"{c} beats FLAML on {n} of {m} tasks")
    if "linguacodus" not in contestants:
        lines.append("linguacodus was not among the contestants of this run: no linguacodus counts")
    for variant in [c for c in contestants if c.startswith("linguacodus-")]:  # ablations: what a step adds
        if "linguacodus" in contestants:
            n, m = beats(table, "linguacodus", (variant,))
            k, _ = beats(table, variant, ("linguacodus",))
            lines.append(f"ablation: linguacodus beats {variant} on {n} of {m} tasks, loses on {k}")
    return lines


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.0f}" if values else "-"
