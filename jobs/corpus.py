"""`linguacodus corpus`: build a solutions corpus (actors/corpus.py) from graded runs, or check one.

    linguacodus corpus from-runs OUT/RUN_ID [OUT/RUN_ID2 ...] -o corpus.parquet [--catalog URI]
    linguacodus corpus validate corpus.parquet
    linguacodus corpus pairs OUT/RUN_ID [...] -o pairs.parquet [--holdout 0.1]   (jobs/corpus_pairs.py)

from-runs takes, per competition of each run, the final solution.py and its private score
(results.parquet), the metric and direction, and the description / title / task and data type from
the run's catalog (run.json config.catalog, or --catalog when it moved); the data facts come from
result.json. Rows written by the floor (fallback_used) are kept with source "floor", the others have
source "linguacodus-llm"; a row's solution_id is its competition folder (OUT/RUN_ID/COMPETITION_ID),
unique across runs and pointing at every artifact of the solution. A competition without a score or
without solution.py is skipped with its reason: printed and written to CORPUS.skipped.json beside
the corpus.
"""
from __future__ import annotations

import argparse
import logging
import posixpath
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import storage
from storage.uri import sidecar
from actors.corpus import corpus_table, missing, validate_corpus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skipped:
    run: str
    competition_id: str
    reason: str


def from_runs(run_uris: list[str], catalog: str | None = None) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Corpus rows of every graded competition of the runs, and every competition skipped with why."""
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for uri in run_uris:
        uri = _absolute(uri.rstrip("/"))
        if uri in seen:
            skipped.append(Skipped(uri, "*", "run given twice: its solutions are already in the corpus"))
            continue
        seen.add(uri)
        got, missed = _from_run(uri, catalog)
        rows += got
        skipped += missed
    return rows, skipped


def _absolute(uri: str) -> str:
    # Plain local paths become absolute: solution ids stay meaningful from any directory, and the same
    # run given as a relative and an absolute path is recognised as given twice.
    return str(Path(uri).absolute()) if "://" not in uri else uri


def _from_run(run_uri: str, catalog_override: str | None) -> tuple[list[dict[str, Any]], list[Skipped]]:
    layout = storage.RunLayout.at(run_uri)
    results_uri = layout.results_parquet
    if not storage.exists(results_uri):
        return [], [Skipped(run_uri, "*", "no results.parquet: not OUT/RUN_ID of a finished `linguacodus run`")]
    run_json = layout.run_json
    info = storage.read_json(run_json) if storage.exists(run_json) else {}
    run_id = str(info.get("run_id") or posixpath.basename(run_uri))
    catalog_uri = catalog_override or (info.get("config") or {}).get("catalog")
    catalog, catalog_error = _read_catalog(catalog_uri)
    rows, skipped = [], []
    for result in storage.read_parquet(results_uri).to_dict(orient="records"):
        cid = str(result["competition_id"])
        try:
            row = _corpus_row(run_uri, result, catalog.get(cid), catalog_error)
        except Exception as exc:  # noqa: BLE001 - an unreadable artifact skips its competition, not the run
            row = f"{type(exc).__name__}: {exc}"
        if isinstance(row, str):
            logger.warning("%s (run %s) skipped: %s", cid, run_id, row)
            skipped.append(Skipped(run_uri, cid, row))
        else:
            rows.append(row)
    return rows, skipped


def _read_catalog(uri: str | None) -> tuple[dict[str, dict[str, Any]], str | None]:
    if not uri:
        return {}, "run.json names no catalog (pass --catalog)"
    try:
        frame = storage.read_parquet(uri)
    except Exception as exc:  # noqa: BLE001 - reported on every row of the run
        return {}, f"catalog {uri} unreadable ({exc}); pass --catalog if it moved"
    return {str(r["competition_id"]): r for r in frame.to_dict(orient="records")}, None


def _corpus_row(run_uri: str, result: dict[str, Any], comp: dict[str, Any] | None,
                catalog_error: str | None) -> dict[str, Any] | str:
    """The corpus row, or the reason this competition cannot give one."""
    cid = str(result["competition_id"])
    where = storage.CompetitionLayout(storage.join(run_uri, cid))
    if missing(result.get("score")):
        error = f": {' '.join(str(result['error']).split())[:240]}" if not missing(result.get("error")) else ""
        return f"no score (status {result.get('status')}){error}"
    if not storage.exists(where.solution_py):
        return f"no solution.py at {where.solution_py}"
    if catalog_error:
        return catalog_error
    if comp is None:
        return "not in the run's catalog: no description"
    code = storage.read_text(where.solution_py)
    if not code.strip():
        return "solution.py is empty"
    metric = result.get("metric") if not missing(result.get("metric")) else comp.get("metric")
    higher = result.get("higher_is_better")
    if missing(higher):
        from actors.grading.metrics import get_metric

        higher = get_metric(str(metric)).higher_is_better
    return {
        "competition_id": cid, "description": comp.get("description"), "metric": metric,
        "data_type": comp.get("data_type") if not missing(comp.get("data_type")) else "tabular",
        "code": code, "score": float(result["score"]), "higher_is_better": bool(higher),
        "solution_id": where.root, "source": "floor" if result.get("fallback_used") else "linguacodus-llm",
        "title": comp.get("title"), "task_type": comp.get("task_type"), "facts": _facts(where.result_json),
    }


def _facts(result_json: str) -> str | None:
    """The data facts text the run's prompts showed, so pair prompts frame the task the same way."""
    from actors.facts import facts_from_dict

    try:
        facts = (storage.read_json(result_json).get("details") or {}).get("facts")
        return facts_from_dict(facts).render() if facts else None
    except Exception as exc:  # noqa: BLE001 - facts are optional in a corpus
        logger.warning("no data facts from %s: %s", result_json, exc)
        return None


# -- CLI -----------------------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("corpus", help="build or check a solutions corpus (input of `extract`)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = p.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    what = "a corpus from graded runs (OUT/RUN_ID folders of `linguacodus run`)"
    fr = cmds.add_parser("from-runs", help=what, description=what)
    fr.add_argument("runs", nargs="+", metavar="RUN_URI", help="OUT/RUN_ID folder(s), local or s3://")
    fr.add_argument("-o", "--out", required=True, help="corpus Parquet URI to write")
    fr.add_argument("--catalog", default=None, help="catalog URI, when the one in run.json has moved")
    fr.set_defaults(func=_from_runs_main)
    what = "check a corpus; every unusable row is named with its reason"
    va = cmds.add_parser("validate", help=what, description=what)
    va.add_argument("corpus", help="corpus Parquet URI (file or folder)")
    va.set_defaults(func=_validate_main)
    from jobs import corpus_pairs

    corpus_pairs.register(cmds)


def _from_runs_main(args: argparse.Namespace) -> int:
    rows, skipped = from_runs(args.runs, args.catalog)
    storage.write_parquet(args.out, corpus_table(rows))
    skipped_uri = sidecar(args.out, ".skipped.json")
    storage.write_json(skipped_uri, [asdict(s) for s in skipped])
    floor = sum(1 for r in rows if r["source"] == "floor")
    _print_reasons("skipped competitions", [(s.run, s.competition_id, s.reason) for s in skipped])
    print(f"{len(rows)} rows written to {args.out} ({len(rows) - floor} linguacodus-llm, {floor} floor: "
          f"written by the built-in baseline, not by the LLM); {len(skipped)} skipped with reasons "
          f"(also in {skipped_uri})")
    return 0 if rows else 1


def _validate_main(args: argparse.Namespace) -> int:
    frame = storage.read_parquet(args.corpus)
    valid, problems = validate_corpus(frame)
    _print_reasons("unusable rows", [(p.solution_id, p.competition_id, p.reason) for p in problems])
    print(f"{args.corpus}: {len(frame)} rows, {len(valid)} usable, {len(problems)} with problems")
    return 2 if problems else 0


def _print_reasons(title: str, items: list[tuple[str, str, str]]) -> None:
    if not items:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("where", "competition", "reason"):
        table.add_column(col, overflow="fold")
    for item in items:
        table.add_row(*item)
    Console().print(table)

