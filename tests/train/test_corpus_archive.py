"""The searched corpora kept in the repository (train/corpus/*.tar.gz, train/archive.py): each unpacks to a
run folder that `linguacodus corpus pairs` reads without its original catalog, gives the pairs its manifest
counts, holds nothing but run.json, the catalog rows and each competition's result.json and search.json
(no data, no answers, no code), and is rebuilt byte for byte from what it unpacks to."""
from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from actors.context import TaskContext
from actors.facts import facts_from_dict
from actors.stages.grounding import ground
from actors.stages.instruction import instruction_from
from actors.task import Competition
from jobs.cli import main as cli
from train.archive import archive
from train.data import load_pairs

CORPUS = Path(__file__).resolve().parents[2] / "train" / "corpus"
ARCHIVES = sorted(CORPUS.glob("*.tar.gz"))


def test_at_least_one_corpus_is_kept():
    assert ARCHIVES, f"no *.tar.gz under {CORPUS}"


@pytest.mark.parametrize("path", ARCHIVES, ids=lambda p: p.name)
def test_a_kept_corpus_unpacks_to_the_pairs_its_manifest_counts(path: Path, tmp_path: Path):
    manifest = json.loads(path.with_suffix("").with_suffix(".json").read_text())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest["sha256"]
    with tarfile.open(path) as tar:
        names = tar.getnames()
        tar.extractall(tmp_path, filter="data")
    run = tmp_path / manifest["run_id"]
    allowed = {"run.json", "catalog.parquet", *(f"{c}/{f}" for c in manifest["competitions"]
                                                  for f in ("result.json", "search.json"))}
    assert {n.removeprefix(f"{manifest['run_id']}/") for n in names} == allowed

    out = tmp_path / "pairs.parquet"  # no --catalog: the archive's own rows
    assert cli(["corpus", "pairs", str(run), "-o", str(out)]) == 0
    pairs = load_pairs(str(out))
    assert len(pairs) == manifest["pairs"]["all"] >= 1
    rows = {r["competition_id"]: r for r in pd.read_parquet(run / "catalog.parquet").to_dict("records")}
    for _, pair in pairs.iterrows():  # every ranked instruction names only the task's columns and an estimator
        facts = json.loads((run / pair["competition_id"] / "result.json").read_text())["details"]["facts"]
        ctx = TaskContext(Competition.from_row(rows[pair["competition_id"]]), facts_from_dict(facts))
        for rank, item in enumerate(json.loads(pair["completion"])["instructions"], start=1):
            g = ground(ctx, instruction_from(item, rank))
            assert g.grounded and not g.copied, (pair["competition_id"], item, g)
    beat = tmp_path / "beat.parquet"
    assert cli(["corpus", "pairs", str(run), "-o", str(beat), "--beat-defaults", "0"]) == 0
    assert len(load_pairs(str(beat))) == manifest["pairs"]["beat_defaults_0"]

    again = tmp_path / path.name  # the same run folder gives the same bytes
    archive(run, again, run / "catalog.parquet")
    assert hashlib.sha256(again.read_bytes()).hexdigest() == manifest["sha256"]
