"""The ranked targets of the instructor pairs: distinct programs, another estimator for each rank first."""
from __future__ import annotations

from train.pairs import best_distinct


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
