"""`linguacodus corpus pairs` on a real searched run: `linguacodus run --mode search` on one open task
(Ray Tune trials in the sandbox, no model), then ranked instructor pairs from its search.json."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from actors.stages.estimators import ESTIMATORS
from actors.stages.grounding import EXAMPLE_COLUMNS, ground
from actors.stages.instruction import instruction_from, messages_for
from jobs.cli import main as cli
from tests.helpers.catalogs import write_catalog
from tests.helpers.open_tasks import catalog_row, context
from train.data import load_pairs

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]
TASK = "penguins"  # multiclass, categorical columns with missing values: trials take ~2 s


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 90 s: penguins trials take ~3 s on an idle machine, but the pairs need 3 distinct completed trials
    # even on a loaded one (20 s gave only 2 beside a benchmark, load 10; 45 s none beside a benchmark
    # and a fine-tune's bench)
    root = tmp_path_factory.mktemp("pairs-run")
    catalog = write_catalog(root / "c.parquet", [catalog_row(TASK)])
    try:
        assert cli(["run", "--catalog", catalog, "--out", str(root / "out"), "--run-id", "s", "--mode", "search",
                    "--budget-s", "90", "--cv-folds", "3", "--concurrency", "1", "--model", "no-such-model"]) == 0
    finally:
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
    return root / "out" / "s"


def pairs_cli(*args: str) -> int:
    return cli(["corpus", "pairs", *args])


def test_a_searched_competition_becomes_one_pair_of_the_instructors_prompt_and_its_three_best_programs(
        run_dir, tmp_path):
    out = tmp_path / "pairs.parquet"
    assert pairs_cli(str(run_dir), "-o", str(out)) == 0
    pairs = load_pairs(str(out))  # what `linguacodus finetune` reads
    assert len(pairs) == 1
    pair = pairs.iloc[0]
    ctx = context(TASK)
    system, user = messages_for("instructor", ctx)
    assert pair["prompt"] == user["content"] and pair["system"] == system["content"]  # no few-shot turn
    assert pair["split"] in ("train", "validation") and pair["source"] == "search" and pair["rank"] == 1

    # the completion is the instructor's JSON: three instructions that ground on this task's own columns
    items = json.loads(pair["completion"])["instructions"]
    ranked = [instruction_from(item, rank) for rank, item in enumerate(items, start=1)]
    assert len(ranked) == 3
    for ins in ranked:
        g = ground(ctx, ins)
        assert g.grounded and not g.copied, (ins, g)
        assert not set(EXAMPLE_COLUMNS) & set(g.columns)
    assert [ground(ctx, ins).estimator for ins in ranked] == list(pair["estimators"])

    # ranked by the cross-validated score of the search, best first; the graded test score is not used
    search = json.loads((run_dir / TASK / "search.json").read_text())
    best = max(t["cv_score"] for t in search["trials"] if t["status"] == "completed")
    assert pair["score"] == pytest.approx(best) and list(pair["scores"]) == sorted(pair["scores"], reverse=True)
    test_score = pd.read_parquet(run_dir / "results.parquet")["score"].iloc[0]
    assert "score" not in pair["prompt"].lower() or str(test_score) not in pair["prompt"]


def test_coarse_pairs_state_hyper_parameters_on_their_levels_and_rank_the_same_programs(run_dir, tmp_path):
    exact, coarse = tmp_path / "exact.parquet", tmp_path / "coarse.parquet"
    assert pairs_cli(str(run_dir), "-o", str(exact)) == 0 and pairs_cli(str(run_dir), "-o", str(coarse), "--coarse") == 0
    exact_pair, coarse_pair = load_pairs(str(exact)).iloc[0], load_pairs(str(coarse)).iloc[0]
    assert list(coarse_pair["estimators"]) == list(exact_pair["estimators"])
    assert list(coarse_pair["scores"]) == list(exact_pair["scores"]) and coarse_pair["prompt"] == exact_pair["prompt"]
    ctx = context(TASK)
    exact_items = json.loads(exact_pair["completion"])["instructions"]
    for rank, (item, exact_item) in enumerate(zip(json.loads(coarse_pair["completion"])["instructions"],
                                                  exact_items, strict=True), start=1):
        g, exact_g = ground(ctx, instruction_from(item, rank)), ground(ctx, instruction_from(exact_item, rank))
        params = ESTIMATORS["classifier"][g.estimator].params
        assert g.grounded and g.estimator == exact_g.estimator and g.operations == exact_g.operations, (item, g)
        assert g.params == {k: params[k].snap(v) for k, v in exact_g.params.items()}, (item, exact_item)
        assert all(v in params[k].levels() for k, v in g.params.items())


def test_pairs_read_nothing_of_the_private_answers(run_dir, tmp_path):
    """The same pair when the answers are gone from the catalog and from the task folder."""
    assert pairs_cli(str(run_dir), "-o", str(tmp_path / "a.parquet")) == 0
    task = Path(shutil.copytree(Path(catalog_row(TASK)["data_uri"]), tmp_path / TASK))
    (task / "answers.csv").unlink()
    catalog = write_catalog(tmp_path / "no-answers.parquet",
                            [catalog_row(TASK, data_uri=str(task), answers_uri=None)])
    assert pairs_cli(str(run_dir), "-o", str(tmp_path / "b.parquet"), "--catalog", catalog) == 0
    a, b = (pd.read_parquet(tmp_path / f"{n}.parquet").drop(columns=["solution_id"]) for n in "ab")
    pd.testing.assert_frame_equal(a, b)


def test_competitions_without_a_pair_are_skipped_with_their_reason_and_counted(run_dir, tmp_path, capsys):
    run = Path(shutil.copytree(run_dir, tmp_path / "s"))
    few = Path(shutil.copytree(run / TASK, run / "few-trials"))
    search = json.loads((few / "search.json").read_text())
    search["trials"] = [t for t in search["trials"] if t["status"] == "completed"][:2]
    (few / "search.json").write_text(json.dumps(search))
    shutil.copytree(run / TASK, run / "not-searched")
    (run / "not-searched" / "search.json").unlink()
    catalog = write_catalog(tmp_path / "c.parquet", [catalog_row(TASK), catalog_row(TASK, competition_id="few-trials"),
                                                     catalog_row(TASK, competition_id="not-searched")])
    out = tmp_path / "pairs.parquet"

    assert pairs_cli(str(run), "-o", str(out), "--catalog", catalog, "--holdout", "0") == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"1 pairs written to {out} (1 train, 0 validation); 2 competitions skipped: ")
    assert "1 fewer than 3 distinct completed trials" in line and "1 no search.json (not searched)" in line
    skipped = json.loads((tmp_path / "pairs.skipped.json").read_text())
    assert {s["competition_id"]: s["reason"] for s in skipped} == {
        "few-trials": "fewer than 3 distinct completed trials", "not-searched": "no search.json (not searched)"}

    # a competition of two runs is paired once, from the first run given
    assert pairs_cli(str(run), str(run_dir), "-o", str(out), "--catalog", catalog) == 0
    assert list(pd.read_parquet(out)["competition_id"]) == [TASK]
    skipped = json.loads((tmp_path / "pairs.skipped.json").read_text())
    assert {"run": str(run_dir), "competition_id": TASK, "reason": "paired from an earlier run", "detail": ""} in skipped


def _with_default_start(source: Path, run: Path, cid: str, delta: float) -> list[dict]:
    """Competition `cid`: the searched trials relabelled as TPE's, plus one default start scoring `delta`
    from the search's best (the real default starts can tie the best on penguins: not deterministic)."""
    folder = Path(shutil.copytree(source / TASK, run / cid))
    search = json.loads((folder / "search.json").read_text())
    done = [t for t in search["trials"] if t["status"] == "completed"]
    best = max(done, key=lambda t: t["cv_score"])  # accuracy: higher is better
    trials = [{**t, "source": "tpe"} for t in search["trials"]]
    trials.append({**best, "trial_id": "default-start", "source": "default LGBMClassifier",
                   "cv_score": best["cv_score"] + delta})
    search["trials"] = trials
    (folder / "search.json").write_text(json.dumps(search))
    return trials


def test_beat_defaults_keeps_competitions_whose_search_beat_every_default_start_and_ranks_without_them(
        run_dir, tmp_path, capsys):
    run = Path(shutil.copytree(run_dir, tmp_path / "s"))
    shutil.rmtree(run / TASK)
    _with_default_start(run_dir, run, "beaten", -0.01)
    _with_default_start(run_dir, run, "not-beaten", +0.001)
    catalog = write_catalog(tmp_path / "c.parquet", [catalog_row(TASK, competition_id="beaten"),
                                                     catalog_row(TASK, competition_id="not-beaten")])
    out = tmp_path / "pairs.parquet"
    assert pairs_cli(str(run), "-o", str(out), "--catalog", catalog, "--beat-defaults", "0") == 0
    pairs = pd.read_parquet(out)
    assert list(pairs["competition_id"]) == ["beaten"]
    pair = pairs.iloc[0]
    assert pair["gain_over_defaults"] > 0
    default_score = json.loads((run / "beaten" / "search.json").read_text())["trials"][-1]["cv_score"]
    assert default_score not in list(pair["scores"])  # the default start is no rank
    skipped = json.loads((tmp_path / "pairs.skipped.json").read_text())
    assert [(s["competition_id"], s["reason"]) for s in skipped] == [
        ("not-beaten", "the search found nothing better than its default starts")]
    assert "needed > +0.0000" in skipped[0]["detail"]

    # without the rule both are paired, and the default start that leads is rank 1
    assert pairs_cli(str(run), "-o", str(out), "--catalog", catalog) == 0
    pairs = pd.read_parquet(out).set_index("competition_id")
    assert pairs.loc["not-beaten", "scores"][0] == pytest.approx(
        json.loads((run / "not-beaten" / "search.json").read_text())["trials"][-1]["cv_score"])
    # a gain above what the search found skips both
    assert pairs_cli(str(run), "-o", str(out), "--catalog", catalog, "--beat-defaults", "0.5") == 1
    assert "2 the search found nothing better than its default starts" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pairs_cli(str(run), "-o", str(out), "--beat-defaults", "-1")
    assert "-1.0 is not a relative gain in [0, 1)" in capsys.readouterr().err


def test_bad_input_is_one_line_and_writes_nothing(run_dir, tmp_path, capsys):
    out = tmp_path / "pairs.parquet"
    assert pairs_cli(str(run_dir), str(tmp_path / "no-run"), "-o", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'no-run'}: no run.json, not the OUT/RUN_ID folder of a `linguacodus run`"
    assert pairs_cli(str(run_dir), "-o", str(out), "--catalog", str(tmp_path / "moved.parquet")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "moved.parquet unreadable" in err and "--catalog" in err
    with pytest.raises(SystemExit) as exit_:
        pairs_cli(str(run_dir), "-o", str(out), "--holdout", "1.5")
    assert exit_.value.code == 2 and "1.5 is not a share in [0, 1)" in capsys.readouterr().err
    assert not out.exists()
