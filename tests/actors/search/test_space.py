"""Search configurations and spaces: every sampled configuration is valid and renders to stage code;
proposals are clipped into valid ranges; dense-only estimators never meet a sparse TF-IDF matrix."""
from __future__ import annotations

import numpy as np
import pytest

from actors.stages.estimators import ESTIMATORS
from actors.search.proposal import default_space, parse_space, search_space_schema
from actors.search.space import (
    InvalidConfig,
    PreprocessConfig,
    ProgramConfig,
    RandomSuggest,
    config_params,
    render_config,
    sample_config,
    suggest_config,
    validate_config,
)
from tests.helpers.open_tasks import context


@pytest.mark.parametrize("task", ["cars-mpg", "penguins", "movie-rating", "breast-cancer", "seattle-weather"])
def test_every_sampled_configuration_is_valid_and_renders_to_stage_code(task):
    ctx = context(task)
    space = default_space(ctx)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        config = sample_config(space, rng)
        est = ESTIMATORS["regressor" if ctx.kind == "value" else "classifier"][config.estimator]
        assert est.sparse_ok or not config.preprocess.sparse  # converted to SVD components, never paired
        stages = render_config(ctx, config)
        for stage, fn in (("preprocess", "def preprocess("), ("model", "def build_model("), ("train", "def train_model(")):
            assert fn in stages[stage]
            compile(stages[stage], stage, "exec")
        for key, r in next(e for e in space.estimators if e.name == config.estimator).params.items():
            assert r.low <= config.params[key] <= r.high
        seen.add(config.estimator)
    assert seen == {e.name for e in space.estimators}


def test_a_dense_only_estimator_on_sparse_text_is_refused_with_what_to_do_instead():
    ctx = context("cars-mpg")  # Name is free text
    sparse = PreprocessConfig(fill_missing=["Horsepower"], one_hot=["Origin"], tfidf_words=["Name"])
    with pytest.raises(InvalidConfig, match="set text.svd_components > 0, or choose one of LGBMRegressor"):
        validate_config(ctx, ProgramConfig(preprocess=sparse, estimator="HistGradientBoostingRegressor"))
    with pytest.raises(InvalidConfig, match="is not a regressor"):
        validate_config(ctx, ProgramConfig(estimator="LogisticRegression"))
    with pytest.raises(InvalidConfig, match="tfidf_words cannot take columns"):
        validate_config(ctx, ProgramConfig(preprocess=PreprocessConfig(tfidf_words=["Weight_in_lbs"]), estimator="Ridge"))
    dense = sparse.model_copy(update={"text": sparse.text.model_copy(update={"svd_components": 20})})
    code = render_config(ctx, ProgramConfig(preprocess=dense, estimator="HistGradientBoostingRegressor"))["preprocess"]
    assert "svd_components(block, 20)" in code and "stack_features(train, test, blocks)" in code


def test_a_proposal_is_validated_by_its_schema_and_clipped_into_valid_ranges():
    import jsonschema

    ctx = context("movie-rating")
    schema = search_space_schema(ctx)
    proposal = {"preprocess": [{"fill_missing": ["budget", "mpaa"], "tfidf_words": ["title"], "one_hot": ["mpaa"],
                                "text": {"svd_components": 30, "word_ngram_max": 1}}],
                "estimators": [{"name": "LGBMRegressor", "params": {"learning_rate": {"low": 0.3, "high": 0.01},
                                                                    "num_leaves": {"low": 8, "high": 64}}},
                               {"name": "Ridge", "params": {}}],
                "fit_options": ["log_target"]}
    jsonschema.validate(proposal, schema)
    with pytest.raises(jsonschema.ValidationError):  # a classifier is no estimator for a regression
        jsonschema.validate({**proposal, "estimators": [{"name": "LogisticRegression", "params": {}}]}, schema)
    space = parse_space(ctx, proposal)
    lgbm = space.estimators[0].params
    assert (lgbm["learning_rate"].low, lgbm["learning_rate"].high, lgbm["learning_rate"].log) == (0.01, 0.3, True)
    assert lgbm["num_leaves"].kind == "int" and space.fit_options == ["log_target"]
    assert space.preprocess[0].text.svd_components == 30 and space.estimators[1].params  # empty -> default ranges
    # what a grammar cannot stop: out-of-range numbers, unknown names, nothing proposed at all
    odd = parse_space(ctx, {"estimators": [{"name": "LGBMRegressor", "params": {"learning_rate": {"low": -1, "high": 9},
                                                                               "nope": {"low": 1, "high": 2}}},
                                           {"name": "CatBoostRegressor", "params": {}}],
                            "preprocess": [{"one_hot": ["title", "mpaa"], "text": {"max_features": 10**9}}]})
    lr = odd.estimators[0].params["learning_rate"]
    assert [e.name for e in odd.estimators] == ["LGBMRegressor"] and set(odd.estimators[0].params) == {"learning_rate"}
    assert lr.low == pytest.approx(1e-4) and lr.high == 1.0  # clipped into LightGBM's valid range
    assert odd.preprocess[0].one_hot == ["mpaa"] and odd.preprocess[0].text.max_features == 200000
    assert parse_space(ctx, {}) == default_space(ctx)


def test_the_drawn_parameters_of_a_configuration_can_be_recovered_for_a_warm_start():
    space = default_space(context("cars-mpg"))
    rng = np.random.default_rng(3)
    for _ in range(20):
        trial = RandomSuggest(rng)
        config = suggest_config(space, trial)
        assert config_params(space, config) == trial.params


def test_an_optuna_trial_draws_configurations_directly():
    optuna = pytest.importorskip("optuna")  # the host search's optimiser; not a dependency of this module
    ctx = context("penguins")
    space = default_space(ctx)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    configs = []
    for _ in range(5):
        trial = study.ask()
        configs.append(suggest_config(space, trial))
        study.tell(trial, 0.5)
    assert all(render_config(ctx, c)["model"] for c in configs)
    study.enqueue_trial(config_params(space, configs[0]))
    assert suggest_config(space, study.ask()) == configs[0]
