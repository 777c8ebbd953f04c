"""The report as one HTML string: run records (load.py) + charts (charts.py) through Jinja templates
(templates/*.j2, StrictUndefined, autoescaped: code, errors and LLM replies are shown as text)."""
from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from jobs.reporting import charts
from jobs.reporting.load import CompetitionData, RunData

TEMPLATE_DIR = Path(__file__).parent / "templates"
SUMMARY_COLUMNS = ("status", "score", "validation_score", "leaderboard_percentile", "medal", "attempts",
                   "fallback_used", "prompt_tokens", "completion_tokens", "seconds_total")


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined,
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    return env


def _num(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_report(run: RunData, compare: RunData | None = None) -> str:
    """The whole self-contained page (inline CSS and SVG, no script, nothing fetched)."""
    return _env().get_template("report.html.j2").render(
        run=_run_view(run), competitions=[_competition_view(c) for c in run.competitions],
        overview=[c for c in (charts.time_breakdown(run.rows), *_validation_charts(run.rows)) if c is not None],
        compare=_compare_view(run, compare) if compare is not None else None, columns=SUMMARY_COLUMNS)


def _run_view(run: RunData) -> dict[str, Any]:
    config = run.info.get("config") or {}
    rows = run.rows
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[str(r.get("status"))] += 1
    return {
        "run_id": run.run_id, "uri": run.uri, "complete": run.complete, "problems": list(run.problems),
        "mode": config.get("mode") or _first(rows, "mode"), "model": run.info.get("model") or _first(rows, "model"),
        "catalog": config.get("catalog"), "started_at": run.info.get("started_at"),
        "finished_at": run.info.get("finished_at"), "schema_version": run.info.get("schema_version"),
        "versions": run.info.get("versions") or {}, "counts": dict(counts), "rows": rows,
        "valid": sum(1 for r in rows if r.get("valid_submission")),
        "llm_valid": sum(1 for r in rows if r.get("valid_submission") and not r.get("fallback_used")),
        "tokens": sum(int(r.get("prompt_tokens") or 0) + int(r.get("completion_tokens") or 0) for r in rows),
        "seconds": sum(float(r.get("seconds_total") or 0) for r in rows),
    }


def _first(rows: list[dict[str, Any]], key: str) -> Any:
    return next((r.get(key) for r in rows if r.get(key)), None)


def _validation_charts(rows: list[dict[str, Any]]) -> list[charts.Chart | None]:
    """One panel per metric: scores of different metrics do not share an axis."""
    by_metric: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for r in rows:
        if isinstance(r.get("validation_score"), int | float) and isinstance(r.get("score"), int | float):
            by_metric[str(r.get("metric") or "score")].append(
                (str(r["competition_id"]), float(r["validation_score"]), float(r["score"])))
    return [charts.validation_vs_test(points, metric) for metric, points in sorted(by_metric.items())]


def _competition_view(c: CompetitionData) -> dict[str, Any]:
    row = c.row
    hib = row.get("higher_is_better")
    search = c.search or {}
    original = search.get("original_score")  # older search.json; today's names the staged baseline
    if original is None and isinstance(search.get("baseline"), dict):
        original = search["baseline"].get("score")
    plots = [
        charts.leaderboard(c.leaderboard, row.get("score") if row.get("valid_submission") else None, hib,
                           row.get("leaderboard_percentile"), f"{c.competition_id}: position on the leaderboard"),
        charts.search_progress(c.trials, bool(hib) if hib is not None else True,
                               original if isinstance(original, int | float) else None,
                               f"{c.competition_id}: search progress"),
    ]
    total = float(row.get("seconds_total") or 0)
    llm, ex = float(row.get("seconds_llm") or 0), float(row.get("seconds_exec") or 0)
    return {
        "id": c.competition_id, "row": row, "charts": [p for p in plots if p is not None],
        "instructions": c.instructions, "stages": c.stages, "attempts": c.attempts,
        "stage_log": list(c.details.get("stage_log") or []), "facts": c.details.get("facts") or {},
        "search": c.search, "trials": [dict(t, score=charts.trial_score(t)) for t in c.trials],
        "timings": {"total": total, "llm": llm, "exec": ex, "overhead": max(0.0, total - llm - ex),
                    "search": search.get("seconds")},
    }


def _compare_view(a: RunData, b: RunData) -> dict[str, Any]:
    rows_a = {str(r["competition_id"]): r for r in a.rows}
    rows_b = {str(r["competition_id"]): r for r in b.rows}
    ids = [*rows_a, *(cid for cid in rows_b if cid not in rows_a)]
    table, wins = [], {"a": 0, "b": 0, "tie": 0}
    for cid in ids:
        ra, rb = rows_a.get(cid, {}), rows_b.get(cid, {})
        verdict = _better(ra, rb)
        if verdict:
            wins[verdict] += 1
        table.append({"id": cid, "a": ra, "b": rb, "verdict": verdict})
    pairs = [(t["id"], t["a"].get("leaderboard_percentile"), t["b"].get("leaderboard_percentile")) for t in table]
    return {"a": _run_view(a), "b": _run_view(b), "table": table, "wins": wins,
            "chart": charts.compare_percentiles(pairs, a.run_id, b.run_id)}


def _better(ra: dict[str, Any], rb: dict[str, Any]) -> str | None:
    """'a', 'b' or 'tie' on the graded score (a valid submission beats none); None if neither is graded."""
    sa = ra.get("score") if ra.get("valid_submission") else None
    sb = rb.get("score") if rb.get("valid_submission") else None
    if sa is None and sb is None:
        return None
    if sa is None or sb is None:
        return "a" if sb is None else "b"
    if sa == sb:
        return "tie"
    hib = ra.get("higher_is_better", rb.get("higher_is_better"))
    return "a" if (sa > sb) == (hib is not False) else "b"
