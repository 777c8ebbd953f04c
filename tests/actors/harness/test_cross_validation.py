"""The harness's cross-validation, raw outputs and per-metric formatting, run in the real sandbox.

Recording stages write down which rows each call of preprocess and train_model was given, so the
tests see exactly what every fold's model was fitted on and asked to predict."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actors.harness.integrate import assemble, floor_stages
from actors.sandbox.sandbox import Sandbox, SandboxConfig
from tests.helpers.harness import constants, harness_namespace

pytestmark = pytest.mark.sandbox

# `key` is a feature column equal to the id, so the stages can name the rows they receive.
RECORDING = {
    "preprocess": """
def preprocess(train, test):
    with open('seen.jsonl', 'a') as f:
        f.write(json.dumps({'fit': train['key'].tolist(), 'pred': test['key'].tolist()}) + '\\n')
    return train[['key', 'x']], test[['key', 'x']]
""",
    "model": "from sklearn.linear_model import LogisticRegression\n"
             "def build_model():\n    return LogisticRegression()\n",
    "train": """
def train_model(model, X, y):
    with open('trained.jsonl', 'a') as f:
        f.write(json.dumps(X['key'].tolist()) + '\\n')
    return model.fit(X[['x']], y)
""",
    # the model was fitted on x only: predict must see the same column
    "predict": "def predict(model, X):\n    return model.predict(X[['x']])\n",
}



def write_task(folder: Path) -> None:
    rng = np.random.RandomState(0)
    n = 60
    # class c has 2 rows: fewer than the 5 folds, the others stay stratified
    y = np.array(["a", "b"] * 29 + ["c", "c"])
    train = pd.DataFrame({"id": np.arange(n), "x": rng.rand(n) + (y == "b"), "y": y, "g": np.arange(n) % 7,
                          "t": pd.date_range("2020-01-01", periods=n, freq="D")[rng.permutation(n)].astype(str)})
    train["key"] = train["id"]
    test = pd.DataFrame({"id": np.arange(1000, 1020), "x": rng.rand(20), "g": 0, "t": "2021-01-01"})
    test["key"] = test["id"]
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)


def run(tmp_path: Path, script: str, *args: str):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    if not (data / "train.csv").exists():
        write_task(data)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / "solution.py").write_text(script)
    inputs = {n: data / n for n in ("train.csv", "test.csv")}
    return work, Sandbox(SandboxConfig(timeout_s=300)).run(work / "solution.py", work, inputs, args=args)


@pytest.mark.parametrize("split", ["stratified", "group", "time"])
def test_cv_folds_never_see_test_rows_and_a_fold_model_never_fits_on_its_own_validation_rows(split, tmp_path):
    over = {"group": {"group_column": "g"}, "time": {"time_column": "t"}}.get(split, {})
    work, result = run(tmp_path, assemble(constants(**over), RECORDING))
    assert result.ok, result.stderr[-2000:]
    train = pd.read_csv(tmp_path / "data" / "train.csv")
    test_ids = set(range(1000, 1020))
    calls = [json.loads(line) for line in (work / "seen.jsonl").read_text().splitlines()]
    trained = [json.loads(line) for line in (work / "trained.jsonl").read_text().splitlines()]
    *folds, final = calls
    assert len(folds) == 5 and len(trained) == 6
    for call, fitted in zip(folds, trained):
        fit, val = set(call["fit"]), set(call["pred"])
        assert not fit & val and not (fit | val) & test_ids  # CV never meets a test row
        assert set(fitted) == fit  # the fold's model was trained on the other folds only
        if split == "group":  # a group is never on both sides
            assert not set(train.set_index("id").loc[sorted(fit), "g"]) & set(train.set_index("id").loc[sorted(val), "g"])
        if split == "time":  # validation rows are later than every row the fold was fitted on
            t = train.set_index("id")["t"]
            assert t.loc[sorted(fit)].max() < t.loc[sorted(val)].min()
    assert set(final["fit"]) == set(train["id"]) and set(final["pred"]) == test_ids  # refit on all of train
    validated = [k for call in folds for k in call["pred"]]
    assert len(validated) == len(set(validated))  # each row validated at most once
    oof = pd.read_csv(work / "oof_raw.csv")
    val = pd.read_csv(work / "val_predictions.csv")
    assert list(oof["id"]) == list(val["id"]) == sorted(validated)
    if split != "time":
        assert set(validated) == set(train["id"])  # OOF predictions for every train row
    else:  # the first time block is never validated
        assert 0 < len(validated) < len(train)
    assert list(oof.columns) == ["id", "a", "b", "c"] and list(val.columns) == ["id", "y"]
    assert np.allclose(oof[["a", "b", "c"]].sum(axis=1), 1.0)  # labels from predict become one-hot rows
    sub, raw = pd.read_csv(work / "submission.csv"), pd.read_csv(work / "test_raw.csv")
    assert set(sub["id"]) == test_ids and list(raw.columns) == ["id", "a", "b", "c"]


@pytest.mark.parametrize("split, how", [("stratified", "flag"), ("time", "flag"), ("stratified", "task")])
def test_a_holdout_fits_once_and_validates_the_last_fold_only(split, how, tmp_path):
    # large data: one fit on (K-1)/K of the rows, scored on the rest; the same rows for every program
    over = {"time_column": "t"} if split == "time" else {}
    script = assemble(constants(**over, **({"holdout": 1} if how == "task" else {})), RECORDING)
    work, result = run(tmp_path, script, *(["--holdout"] if how == "flag" else []), "--folds", "4")
    assert result.ok, result.stderr[-2000:]
    train = pd.read_csv(tmp_path / "data" / "train.csv")
    calls = [json.loads(line) for line in (work / "seen.jsonl").read_text().splitlines()]
    assert len(calls) == 2  # one validation fit, then the refit on all of train for test
    fit, val = set(calls[0]["fit"]), set(calls[0]["pred"])
    assert not fit & val and fit | val == set(train["id"])
    assert (len(val) == 12 if split == "time" else len(val) == 15)  # TimeSeriesSplit(4): 60 // 5 rows
    if split == "time":  # the latest rows
        t = train.set_index("id")["t"]
        assert t.loc[sorted(fit)].max() < t.loc[sorted(val)].min()
    assert list(pd.read_csv(work / "oof_raw.csv")["id"]) == sorted(val)
    assert set(calls[1]["fit"]) == set(train["id"])
    # on a sample (the search's rung 1) the script cross-validates unless --holdout is given
    (tmp_path / "sample").mkdir()
    work, result = run(tmp_path / "sample", script, "--sample", "40", "--folds", "2", "--oof-only")
    assert result.ok and "holdout=0" in result.stdout, result.stdout[-500:]


def test_a_check_on_a_sample_uses_two_folds(tmp_path):
    work, result = run(tmp_path, assemble(constants(), floor_stages()), "--check", "predict", "--sample", "30")
    assert result.ok, result.stderr[-2000:]
    assert '"folds": 2' in result.stdout and not (work / "submission.csv").exists()
    assert len(pd.read_csv(work / "val_predictions.csv")) == 30


# A classifier sure of the last class, a regressor predicting -5: what the formatting must repair.
SURE = """
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
class Sure(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self
    def predict_proba(self, X):
        p = np.zeros((X.shape[0], len(self.classes_)))
        p[:, -1] = 1.0
        return p
    def predict(self, X):
        return np.full(X.shape[0], self.classes_[-1])
class Negative(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.n_ = 1
        return self
    def predict(self, X):
        return np.full(X.shape[0], -5.0)
def build_model():
    return Negative() if KIND == 'value' else Sure()
"""


@pytest.mark.parametrize(("metric", "kind", "task_type"), [
    ("multiclass_log_loss", "proba", "multiclass"), ("accuracy", "label", "multiclass"),
    ("roc_auc", "proba", "binary"), ("rmsle", "value", "regression")])
def test_the_harness_predicts_and_formats_the_submission_by_the_metric(metric, kind, task_type, tmp_path):
    classes = ["a", "b"] if task_type == "binary" else ["a", "b", "c"]
    c = constants(metric=metric, kind=kind, task_type=task_type, classes=[] if kind == "value" else classes)
    stages = {**floor_stages(), "model": SURE}
    data = tmp_path / "data"
    data.mkdir()
    write_task(data)
    train = pd.read_csv(data / "train.csv")
    train["y"] = np.arange(len(train)) % 4 if kind == "value" else train["y"].where(train["y"].isin(classes), "a")
    train.to_csv(data / "train.csv", index=False)
    work, result = run(tmp_path, assemble(c, stages))
    assert result.ok, result.stderr[-2000:]
    sub, raw = pd.read_csv(work / "submission.csv"), pd.read_csv(work / "test_raw.csv")
    if metric == "multiclass_log_loss":  # clipped away from 0 and 1, rows renormalised
        p = sub[classes].to_numpy()
        assert p.min() >= 1e-6 * 0.99 and p.max() <= 1 - 1e-6 and np.allclose(p.sum(axis=1), 1.0)
        assert p.min() < 1e-5  # the zeros were clipped, not smoothed away
    elif metric == "accuracy":  # labels are the argmax of the probabilities; raw keeps the probabilities
        assert set(sub["y"]) == {"c"} and list(raw.columns) == ["id", *classes] and (raw["c"] == 1.0).all()
    elif metric == "roc_auc":  # the positive-class probability
        assert list(sub.columns) == ["id", "y"] and (sub["y"] == 1.0).all()
    else:  # RMSLE needs non-negative predictions; raw keeps what the model said
        assert (sub["y"] == 0.0).all() and (raw["y"] == -5.0).all()



def test_sparse_features_are_checked_without_densifying_them():
    import scipy.sparse as sp

    ns = harness_namespace()
    # 200,000 x 1,000,000 would need 1.6 TB dense: any densifying fails with MemoryError
    rng = np.random.RandomState(0)
    big = sp.csr_matrix((rng.rand(500), (rng.randint(0, 200_000, 500), rng.randint(0, 1_000_000, 500))),
                        shape=(200_000, 1_000_000))
    a, b = ns["_lc_check_features"](big, big[:10], 200_000, 10)
    assert sp.issparse(a) and a.shape == (200_000, 1_000_000) and b.shape[0] == 10
    with pytest.raises(ns["ContractError"], match="same number of columns"):
        ns["_lc_check_features"](big[:5], big[:5, :10], 5, 5)
    with pytest.raises(ns["ContractError"], match="only one of train and test"):
        ns["_lc_check_features"](big[:5], big[:5].toarray(), 5, 5)
    with pytest.raises(ns["ContractError"], match="missing or infinite"):
        ns["_lc_check_features"](sp.csr_matrix([[np.nan, 1.0]]), sp.csr_matrix([[0.0, 1.0]]), 1, 1)


@pytest.mark.parametrize(("task_type", "metric", "kind", "targets"), [
    ("multilabel", "mean_roc_auc", "proba", ["t1", "t2"]),
    ("multi_regression", "mean_columnwise_rmsle", "value", ["v1", "v2"])])
def test_multi_target_tasks_get_one_raw_column_per_target_scored_alike_by_harness_and_host(
        task_type, metric, kind, targets, tmp_path):
    from actors.search.ensemble import select_ensemble
    from actors.harness.diagnose import validation_score_of

    rng = np.random.RandomState(0)
    x = rng.rand(80, 2)
    data = tmp_path / "data"
    data.mkdir()
    columns = {"t1": (x[:, 0] > 0.5).astype(int), "t2": (x[:, 1] > 0.3).astype(int), "v1": x[:, 0] * 10, "v2": x[:, 1]}
    train = pd.DataFrame({"id": range(80), "a": x[:, 0], "b": x[:, 1], **{t: columns[t] for t in targets}})
    train.to_csv(data / "train.csv", index=False)
    pd.DataFrame({"id": range(100, 120), "a": rng.rand(20), "b": rng.rand(20)}).to_csv(data / "test.csv", index=False)
    c = constants(targets=targets, task_type=task_type, metric=metric, kind=kind, classes=[])
    work, result = run(tmp_path, assemble(c, floor_stages()))
    assert result.ok, result.stderr[-2000:]
    oof = pd.read_csv(work / "oof_raw.csv")
    assert list(oof.columns) == ["id", *targets] and len(oof) == 80
    assert list(pd.read_csv(work / "submission.csv").columns) == ["id", *targets]
    harness = validation_score_of(work / "val_predictions.csv", train[["id", *targets]], metric=metric, id_column="id",
                               targets=targets, classes=None)
    host = select_ensemble([oof], train[["id", *targets]], metric=metric, id_column="id", targets=targets).score
    assert harness is not None and harness == pytest.approx(host)


def test_an_estimator_that_cannot_or_should_not_take_a_wide_sparse_matrix_is_blamed_on_the_model_stage(tmp_path):
    import scipy.sparse as sp
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier

    ns = harness_namespace()
    wide = sp.random(60, 6000, density=0.01, format="csr", random_state=0)
    y = np.arange(60) % 3
    for model, why in ((HistGradientBoostingClassifier(), "needs dense features"),
                       (ExtraTreesClassifier(), "would take minutes per fit")):
        with pytest.raises(SystemExit):
            ns["_lc_train"](lambda m, X, y: m.fit(X, y), model, wide, y, str(tmp_path))
        error = json.loads((tmp_path / "_lc_error.json").read_text())
        assert error["stage"] == "model" and why in error["message"] and "svd_components" in error["message"]
    # the floor reduces a sparse matrix to SVD components, so a TF-IDF preprocess can be checked against it
    floor = {}
    exec("\n".join(floor_stages().values()), ns, floor)
    fitted = ns["_lc_train"](floor["train_model"], HistGradientBoostingClassifier(max_iter=5), wide, y, str(tmp_path))
    assert fitted.predict(wide[:3]).shape == (3,)
