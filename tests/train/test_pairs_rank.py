"""The ranked targets of the instructor pairs: distinct programs, another estimator for each rank first."""
from __future__ import annotations

import pytest

from actors.search.space import ProgramConfig
from actors.stages.estimators import ESTIMATORS
from tests.helpers.open_tasks import context
from train.pairs import best_distinct, coarse_program, gain_over_defaults


def _trial(estimator: str, score: float, preprocess: str = "a", status: str = "completed", C: float = 1.0) -> dict:
    return {"status": status, "cv_score": score,
            "program": {"estimator": estimator, "preprocess": {"variant": preprocess}, "fit_option": "none",
                        "params": {"C": C}}}


def test_each_rank_is_another_estimator_while_the_search_completed_one():
    trials = [_trial("LogisticRegression", 0.90), _trial("LogisticRegression", 0.89, C=3.0),
              _trial("LogisticRegression", 0.88, preprocess="b"), _trial("LGBMClassifier", 0.85),
              _trial("ExtraTreesClassifier", 0.80), _trial("RandomForestClassifier", 0.99, status="failed")]
    best = best_distinct(trials, higher_is_better=True)
    assert [t["program"]["estimator"] for t in best] == ["LogisticRegression", "LGBMClassifier",
                                                         "ExtraTreesClassifier"]


def test_with_fewer_estimators_the_best_other_preprocessing_fills_the_ranks_in_score_order():
    trials = [_trial("Ridge", 3.0), _trial("Ridge", 2.5, C=3.0), _trial("Ridge", 2.8, preprocess="b"),
              _trial("LGBMRegressor", 2.9), _trial("Ridge", 2.7, preprocess="c")]
    best = best_distinct(trials, higher_is_better=False)  # rmse: lower is better
    assert [(t["program"]["estimator"], t["cv_score"]) for t in best] == [("Ridge", 2.5), ("Ridge", 2.7),
                                                                           ("LGBMRegressor", 2.9)]


def _start(source: str, estimator: str, score: float) -> dict:
    return {**_trial(estimator, score), "source": source}


def test_the_gain_over_the_default_starts_compares_the_best_other_program_with_the_best_default():
    trials = [_start("default LGBMRegressor", "LGBMRegressor", 2.0), _start("default Ridge", "Ridge", 2.5),
              _start("tpe", "LGBMRegressor", 1.9), _start("tpe", "Ridge", 3.0),
              {**_start("tpe", "ExtraTreesRegressor", 0.1), "status": "failed"}]
    assert gain_over_defaults(trials, higher_is_better=False) == pytest.approx(0.05)  # rmse 2.0 -> 1.9
    assert gain_over_defaults(trials, higher_is_better=True) == pytest.approx(0.2)  # 2.5 -> 3.0
    assert gain_over_defaults([t for t in trials if t["source"] == "tpe"], higher_is_better=True) is None
    assert gain_over_defaults([t for t in trials if t["source"] != "tpe"], higher_is_better=True) is None


def test_a_coarse_program_states_every_hyper_parameter_on_the_nearest_level_of_its_range():
    xgb = ESTIMATORS["regressor"]["XGBRegressor"]
    assert xgb.params["learning_rate"].levels() == (0.01, 0.023, 0.055, 0.13, 0.3)  # geometric over (0.01, 0.3)
    assert xgb.params["subsample"].levels() == (0.5, 0.62, 0.75, 0.88, 1.0)  # linear over (0.5, 1.0)
    program = ProgramConfig.model_validate(
        {"estimator": "XGBRegressor", "fit_option": "none",
         "params": {"n_estimators": 964, "learning_rate": 0.01038, "max_leaves": 4, "min_child_weight": 17.56,
                    "reg_alpha": 8.641}})
    coarse = coarse_program(context("cars-mpg"), program)
    assert coarse.params == {"n_estimators": 1000, "learning_rate": 0.01, "max_leaves": 4, "min_child_weight": 20,
                             "reg_alpha": 10}
    assert coarse.estimator == program.estimator and coarse.preprocess == program.preprocess
    # 518 trees lie between the levels 380 and 1000: nearer 380 on the log scale (ratios 1.36 and 1.93)
    assert xgb.params["n_estimators"].snap(518) == 380 and xgb.params["n_estimators"].snap(5000) == 1000
