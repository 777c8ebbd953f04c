"""Ensembles: Caruana selection over OOF predictions, and the standalone ensemble script in the real sandbox."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actors.search.ensemble import assemble_ensemble, caruana, format_raw, score_raw, select_ensemble
from actors.grading.grader import grade_submission
from actors.harness.integrate import assemble
from actors.grading.metrics import rmse
from actors.sandbox.sandbox import Sandbox, SandboxConfig
from actors.search.space import PreprocessConfig, ProgramConfig, render_config
from actors.harness.diagnose import validation_score_of
from tests.helpers.open_tasks import context
from tests.helpers.paths import OPEN


def test_caruana_averages_complementary_trials_and_leaves_out_a_useless_one():
    rng = np.random.RandomState(0)
    y = rng.rand(500)
    a, b = y + rng.normal(0, 0.3, 500), y + rng.normal(0, 0.3, 500)  # independent errors: the mean is better
    useless = y + rng.normal(0, 3.0, 500)  # optimal weight ~0.005: below one of 25 rounds
    weights, score, singles = caruana([a, useless, b], lambda p: rmse(y, p), higher_is_better=False)
    assert weights[1] == 0 and 0.3 < weights[0] < 0.7 and weights.sum() == pytest.approx(1.0)
    assert score < min(singles) and score == pytest.approx(rmse(y, weights[0] * a + weights[2] * b))


def test_selection_aligns_trials_by_id_and_scores_raw_probabilities_like_the_harness():
    truth = pd.DataFrame({"id": [3, 1, 2, 0], "y": ["a", "b", "b", "a"]})
    good = pd.DataFrame({"id": [0, 1, 2, 3], "a": [0.9, 0.2, 0.4, 0.6], "b": [0.1, 0.8, 0.6, 0.4]})
    shuffled_bad = pd.DataFrame({"id": [3, 2, 1, 0, 9], "a": [0.1] * 5, "b": [0.9] * 5})  # row 9: not in every trial
    sel = select_ensemble([good, shuffled_bad], truth, metric="accuracy", id_column="id", targets=["y"],
                          classes=["a", "b"])
    assert sel.rows == 4 and sel.member_scores == (1.0, 0.5) and sel.weights == (1.0, 0.0) and sel.score == 1.0
    # log loss: clipped and renormalised as in the harness, so a confident miss costs -log(1e-6)
    assert score_raw(np.array([[1.0, 0.0]]), np.array(["b"]), "multiclass_log_loss", ["a", "b"]) == pytest.approx(
        -np.log(1e-6 / (1 + 1e-6)))
    assert format_raw(np.array([[-2.0], [3.0]]), "rmsle").tolist() == [0.0, 3.0]


def test_members_that_reuse_a_name_each_keep_their_own():
    from tests.helpers.harness import harness_namespace

    ns = harness_namespace()
    source = ("TREES = {n}\ndef preprocess(train, test):\n    return train, test\n"
              "def build_model():\n    return TREES\ndef train_model(model, X, y):\n    return model\n")
    first, second = (ns["_lc_member_stages"](source.format(n=n), i) for i, n in enumerate((100, 300)))
    assert first["model"]() == 100 and second["model"]() == 300 and first["predict"] is None
    assert "TREES" not in ns and "build_model" not in ns  # the script's own namespace is untouched


def test_the_extractor_sees_an_ensemble_script_without_its_harness():
    from actors.extractor import compact_code

    ctx = context("penguins")
    stages = render_config(ctx, ProgramConfig(estimator="LogisticRegression"))
    script = assemble_ensemble(ctx.harness_constants(), [(stages, 0.5), (stages, 0.5)])
    compact = compact_code(script, 100_000)
    assert "linguacodus harness omitted" in compact.text and "def _lc_folds" not in compact.text
    assert compact.text.count("def build_model") == 2 and "MEMBERS = [(0.5, MEMBER_0), (0.5, MEMBER_1)]" in compact.text


TASK = "breast-cancer"  # roc_auc: probabilities, and two members that complement each other
MEMBERS = [ProgramConfig(estimator="LGBMClassifier", params={"n_estimators": 200, "learning_rate": 0.05}),
           ProgramConfig(preprocess=PreprocessConfig(), estimator="LogisticRegression", params={"C": 0.5}),
           ProgramConfig(estimator="ExtraTreesClassifier", params={"n_estimators": 100})]


def run(script: str, work: Path, *args: str):
    work.mkdir(parents=True)
    (work / "solution.py").write_text(script)
    inputs = {n: OPEN / TASK / n for n in ("train.csv", "test.csv")}
    result = Sandbox(SandboxConfig(timeout_s=600)).run(work / "solution.py", work, inputs, args=args)
    assert result.ok, result.stderr[-2000:]
    return work


@pytest.mark.sandbox
def test_an_ensemble_script_runs_alone_reproduces_its_submission_and_its_oof_is_the_weighted_member_oof(tmp_path):
    ctx = context(TASK)
    comp = ctx.competition
    truth = pd.read_csv(OPEN / TASK / "train.csv")[[comp.id_column, *comp.target]]
    stages = [render_config(ctx, cfg) for cfg in MEMBERS]
    members = [run(assemble(ctx.harness_constants(), s), tmp_path / f"m{i}") for i, s in enumerate(stages)]
    oof = [pd.read_csv(m / "oof_raw.csv") for m in members]
    for m, frame in zip(members, oof):  # the host scores raw predictions exactly as the harness formats them
        harness_score = validation_score_of(m / "val_predictions.csv", truth, metric=comp.metric, id_column="id",
                                         targets=list(comp.target), classes=ctx.facts.classes)
        assert harness_score == pytest.approx(select_ensemble([frame], truth, metric=comp.metric, id_column="id",
                                                              targets=comp.target, classes=ctx.facts.classes).score)
    sel = select_ensemble(oof, truth, metric=comp.metric, id_column="id", targets=comp.target,
                          classes=ctx.facts.classes)
    assert sum(w > 0 for w in sel.weights) >= 2 and sel.score >= max(sel.member_scores)
    script = assemble_ensemble(ctx.harness_constants(), list(zip(stages, sel.weights)), folds=0)
    first = run(script, tmp_path / "ens1", "--folds", "5")
    second = run(script, tmp_path / "ens2", "--folds", "5")  # a fresh sandbox, the same bytes
    for name in ("submission.csv", "test_raw.csv", "oof_raw.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert not (run(script, tmp_path / "ens3") / "oof_raw.csv").exists()  # folds=0: test predictions only
    # each member ran in its own namespace: the ensemble's OOF is the weighted average of theirs
    expected = sum(w * f.drop(columns=["id"]).to_numpy() for w, f in zip(sel.weights, oof))
    assert np.allclose(pd.read_csv(first / "oof_raw.csv").drop(columns=["id"]).to_numpy(), expected, atol=1e-12)
    tests = [pd.read_csv(m / "test_raw.csv").drop(columns=["id"]).to_numpy() for m in members]
    blended = pd.read_csv(first / "test_raw.csv").drop(columns=["id"]).to_numpy()
    assert np.allclose(blended, sum(w * t for w, t in zip(sel.weights, tests)), atol=1e-12)
    assert validation_score_of(first / "val_predictions.csv", truth, metric=comp.metric, id_column="id",
                            targets=list(comp.target), classes=ctx.facts.classes) == pytest.approx(sel.score)
    graded = grade_submission(pd.read_csv(first / "submission.csv"), pd.read_csv(comp.answers_uri), metric=comp.metric,
                              id_column="id", targets=list(comp.target))
    assert graded.valid and graded.score > 0.95
