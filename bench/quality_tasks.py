"""The tasks of bench/quality.py: catalog rows from task folders (or catalog files), each with a
catalog file of its own source (for `linguacodus run`) and the column kinds of actors/facts.py."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from actors.facts import compute_facts
from jobs.grade import read_table
from actors.task import Competition
from jobs.catalog import build_catalog, write_catalog
from jobs.catalog_read import load_catalog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchTask:
    """One task of the bench: its catalog row and where `linguacodus run` finds it."""

    key: str  # the task's name in tables and in OUT/pairs/: the competition id, made unique across catalogs
    competition: Competition
    catalog_uri: str  # a catalog Parquet holding this competition
    kinds: dict[str, str] = field(default_factory=dict)  # feature column -> kind, as actors/facts.py finds it

    @property
    def text_columns(self) -> list[str]:
        return [c for c, kind in self.kinds.items() if kind == "text"]


def load_tasks(sources: list[str], work: Path) -> tuple[list[BenchTask], list[str]]:
    """Every valid task of every source (a folder of task folders, or a catalog Parquet), and one
    line per invalid task or unusable source (the bench goes on without them)."""
    tasks: list[BenchTask] = []
    problems: list[str] = []
    seen: set[str] = set()
    for i, source in enumerate(sources):
        try:
            comps, catalog_uri, bad = _read_source(source, work / "catalogs" / f"{i:02d}-{Path(source).stem}.parquet")
        except Exception as exc:  # noqa: BLE001 - one unusable catalog must not stop the others
            problems.append(f"{source}: cannot read: {exc}")
            continue
        problems += [f"{source}: {p}" for p in bad]
        for comp in comps:
            key = comp.competition_id if comp.competition_id not in seen else f"{Path(source).name}/{comp.competition_id}"
            seen.add(key)
            tasks.append(BenchTask(key=key, competition=comp, catalog_uri=catalog_uri))
    return tasks, problems


def _read_source(source: str, catalog_out: Path) -> tuple[list[Competition], str, list[str]]:
    path = Path(source)
    if path.is_dir() and not any(path.glob("*.parquet")):
        frame, problems = build_catalog(str(path))
        catalog_out.parent.mkdir(parents=True, exist_ok=True)
        write_catalog(frame, str(catalog_out))
        return [Competition(**row) for row in frame.to_dict("records")], str(catalog_out), [str(p) for p in problems]
    return load_catalog(source), source, []


def with_kinds(task: BenchTask) -> BenchTask:
    """The task with its feature columns' kinds (numeric, categorical, text, date, boolean), found by
    the project's own facts on train.csv and test.csv (answers are not read)."""
    comp = task.competition
    train = read_table(f"{comp.data_uri.rstrip('/')}/train.csv")
    test = read_table(f"{comp.data_uri.rstrip('/')}/test.csv")
    facts = compute_facts(comp, train, test)
    return BenchTask(task.key, comp, task.catalog_uri, {c.name: c.kind for c in facts.columns})


def select(tasks: list[BenchTask], names: list[str] | None) -> tuple[list[BenchTask], list[str]]:
    """The tasks named (by key or competition id), and the names that match none."""
    if not names:
        return tasks, []
    chosen = [t for t in tasks if t.key in names or t.competition.competition_id in names]
    known = {t.key for t in tasks} | {t.competition.competition_id for t in tasks}
    return chosen, [n for n in names if n not in known]
