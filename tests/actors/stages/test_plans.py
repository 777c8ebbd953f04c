"""Plan-style stages: the grammar names only this task's columns / installed estimators, and every
plan renders to stage code that runs (executed here with the real toolkit and libraries)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from actors.stages import plans
from actors.harness.integrate import StageCodeError, sanitize_stage
from tests.helpers.harness import toolkit_namespace
from tests.helpers.open_tasks import context



def _run(code: str, ns: dict) -> dict:
    exec(code, ns)
    return ns


def test_every_estimator_of_every_kind_renders_to_a_model_that_fits_and_predicts():
    import scipy.sparse as sp

    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.rand(60, 3), columns=["a", "b", "c"])
    tfidf_like = sp.random(60, 500, density=0.02, format="csr", random_state=0)
    for task, y in (("cars-mpg", rng.rand(60) * 30), ("penguins", np.arange(60) % 3), ("breast-cancer", np.arange(60) % 2)):
        ctx = context(task)
        for name, est in plans.ESTIMATORS[plans._family(ctx)].items():
            params = [{"name": p, "value": 3} for p in est.params][:6]  # out-of-range values are clipped
            code = sanitize_stage("model", plans.render(ctx, "model", {"estimator": name, "params": params}))
            model = _run(code, toolkit_namespace())["build_model"]()
            assert len(model.fit(X, y).predict(X)) == 60, name
            if ctx.kind != "value":
                assert model.predict_proba(X).shape == (60, len(set(y))), name
            if est.sparse_ok:  # TF-IDF input stays sparse all the way into the estimator
                assert len(model.fit(tfidf_like, y).predict(tfidf_like)) == 60, name


def test_the_preprocess_grammar_is_the_tasks_columns_and_a_plan_renders_to_toolkit_calls():
    ctx = context("cars-mpg")
    schema = plans.schema(ctx, "preprocess")
    # one key per operation, each over the columns it suits; numeric complete columns are in none
    assert {op: p["items"]["enum"] for op, p in schema["properties"].items() if op != "text_svd"} == {
        "fill_missing": ["Horsepower"], "tfidf_words": ["Name"], "tfidf_chars": ["Name"], "text_features": ["Name"],
        "encode_categories": ["Name", "Origin"], "one_hot": ["Origin"], "drop_columns": ["Name"]}
    assert schema["properties"]["text_svd"] == {"type": "boolean"}  # only where there is text
    assert schema["required"] == list(schema["properties"])
    assert plans.schema(context("breast-cancer"), "preprocess")["properties"] == {}
    code = plans.render(ctx, "preprocess", {"fill_missing": ["Horsepower"], "text_features": ["Name", "Name"],
                                            "encode_categories": [], "one_hot": ["Origin"], "drop_columns": []})
    train = pd.read_csv(f"{ctx.competition.data_uri}/train.csv").drop(columns=["id", "Miles_per_Gallon"])
    test = pd.read_csv(f"{ctx.competition.data_uri}/test.csv").drop(columns=["id"])
    a, b = _run(sanitize_stage("preprocess", code), toolkit_namespace())["preprocess"](train, test)
    assert list(a.columns) == list(b.columns) and len(a) == len(train) and len(b) == len(test)
    assert not a.isna().any().any() and all(pd.api.types.is_numeric_dtype(a[c]) for c in a.columns)
    with pytest.raises(StageCodeError, match="text_features cannot take columns"):
        plans.render(ctx, "preprocess", {"text_features": ["Horsepower"]})


def test_the_engine_accepts_the_plan_grammar_and_replies_within_it():
    import json

    from actors.llm.embedded import EmbeddedLLM
    from actors.llm.base import ChatRequest, LLMConfig

    llm = EmbeddedLLM(LLMConfig(model="smollm2-135m", n_ctx=2048, n_threads=2))
    for task in ("cars-mpg", "breast-cancer"):  # breast-cancer: nothing applies, the grammar admits only {}
        ctx = context(task)
        reply = llm.chat(ChatRequest(messages=[{"role": "user", "content": "Preprocessing plan as JSON."}],
                                     max_tokens=300, temperature=0.8, seed=3,
                                     json_schema=plans.schema(ctx, "preprocess")))
        plan = json.loads(reply.text)  # a 135M model, sampled hot: only the grammar keeps this valid
        assert list(plan) == list(plans.schema(ctx, "preprocess")["properties"])
        assert plans.render(ctx, "preprocess", plan).startswith("def preprocess(train, test):")


def test_train_plans_fit_with_class_weights_or_a_log_target():
    rng = np.random.RandomState(1)
    X = pd.DataFrame(rng.rand(80, 2), columns=["a", "b"])
    ns = toolkit_namespace()
    balanced = plans.render(context("penguins"), "train", {"fit_option": "balanced_class_weights"})
    y = (np.arange(80) % 4 == 0).astype(int)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    for model in (make_pipeline(StandardScaler(), LogisticRegression()), KNeighborsClassifier(3), LogisticRegression()):
        fitted = _run(sanitize_stage("train", balanced), ns)["train_model"](model, X, y)
        assert fitted.predict(X).shape == (80,)
    weighted = LogisticRegression().fit(X, y, sample_weight=np.where(y == 1, 80 / 40, 80 / 120))
    fitted = _run(sanitize_stage("train", balanced), ns)["train_model"](LogisticRegression(), X, y)
    assert np.allclose(fitted.coef_, weighted.coef_, atol=1e-4)  # balanced: n / (classes * count)
    log_target = plans.render(context("cars-mpg"), "train", {"fit_option": "log_target"})
    from sklearn.linear_model import LinearRegression
    y = np.expm1(X["a"].to_numpy() * 2)
    fitted = _run(sanitize_stage("train", log_target), ns)["train_model"](LinearRegression(), X, y)
    assert np.allclose(fitted.predict(X), y, rtol=1e-6)  # exact in log space, inverted when predicting
    far = pd.DataFrame({"a": [50.0], "b": [0.5]})  # log-space prediction 100: expm1 would give 2.7e43
    assert fitted.predict(far)[0] == pytest.approx(np.expm1(np.log1p(y).max() * 1.1 - np.log1p(y).min() * 0.1))
    negative = _run(sanitize_stage("train", log_target), ns)["train_model"](LinearRegression(), X, -y - 5)
    assert isinstance(negative, LinearRegression)
