"""Every registered metric against values worked out by hand (the arithmetic is in the comments)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from actors.grading.metrics import METRICS, MetricError, get_metric, score_predictions
from actors.task import METRIC_NAMES, METRIC_TASK_TYPES, Competition

E = math.e


def test_registry_holds_exactly_the_catalog_metric_names():
    assert set(METRICS) == set(METRIC_NAMES)
    assert all(name == m.name for name, m in METRICS.items())


@pytest.mark.parametrize("name", METRIC_NAMES)
def test_metric_direction_agrees_with_the_catalog_row(name):
    row = Competition(
        competition_id="x", description="d", metric=name, task_type=METRIC_TASK_TYPES[name][0],
        target=["y"], id_column="id", data_uri="/tmp",
    )
    assert METRICS[name].higher_is_better is row.higher_is_better


def test_metric_kinds_say_what_a_prediction_is():
    kinds = {name: m.kind for name, m in METRICS.items()}
    assert kinds == {
        "accuracy": "label", "f1_macro": "label",
        "roc_auc": "proba", "mean_roc_auc": "proba", "multiclass_log_loss": "proba",
        "rmse": "value", "rmse_log": "value", "rmsle": "value", "mean_columnwise_rmsle": "value", "mae": "value",
    }


def test_unknown_metric_name_is_an_error_listing_the_registered_ones():
    with pytest.raises(MetricError, match="registered: accuracy"):
        get_metric("r2")


# --- labels -------------------------------------------------------------------------------------

def test_accuracy_is_the_share_of_equal_labels():
    # a=a, b=b, c!=a, a=a -> 3 of 4
    assert score_predictions(["a", "b", "c", "a"], ["a", "b", "a", "a"], "accuracy") == 0.75


def test_accuracy_compares_numeric_labels_numerically():
    # 1 == 1.0, 2 == "2", 3 != 4 -> 2 of 3
    assert score_predictions(np.array([1, 2, 3]), np.array([1.0, "2", 4], dtype=object), "accuracy") == pytest.approx(2 / 3)


def test_accuracy_compares_text_labels_after_stripping_spaces():
    # "Adelie " == "Adelie", "gentoo" != "Gentoo" (case matters) -> 1 of 2
    assert score_predictions(["Adelie", "Gentoo"], ["Adelie ", "gentoo"], "accuracy") == 0.5


def test_f1_macro_averages_per_class_f1():
    # class a: tp=1 fp=0 fn=1 -> P=1, R=1/2, F1=2/3; class b: tp=2 fp=1 fn=0 -> P=2/3, R=1, F1=4/5
    # macro = (2/3 + 4/5) / 2 = 11/15
    assert score_predictions(list("aabb"), list("abbb"), "f1_macro") == pytest.approx(11 / 15)


def test_f1_macro_counts_a_label_absent_from_the_answers_as_a_zero_class():
    # a: F1=1; b: tp=1 fp=0 fn=1 -> F1=2/3; z (only predicted): tp=0 -> F1=0; macro = (1 + 2/3 + 0)/3 = 5/9
    assert score_predictions(list("aabb"), list("aabz"), "f1_macro") == pytest.approx(5 / 9)


# --- probabilities ------------------------------------------------------------------------------

def test_roc_auc_is_the_share_of_correctly_ordered_positive_negative_pairs():
    # positives 0.35, 0.8; negatives 0.1, 0.4. Pairs: 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes
    # -> 3 / 4
    assert score_predictions([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], "roc_auc") == pytest.approx(0.75)


def test_roc_auc_counts_tied_pairs_half():
    # one pair, tied at 0.5 -> 1/2
    assert score_predictions([0, 1], [0.5, 0.5], "roc_auc") == pytest.approx(0.5)


def test_roc_auc_takes_the_larger_label_as_positive_for_text_and_bool_labels():
    # "yes" > "no" and True > False: same pairs as the 0/1 case above -> 3/4
    assert score_predictions(["no", "no", "yes", "yes"], [0.1, 0.4, 0.35, 0.8], "roc_auc") == pytest.approx(0.75)
    assert score_predictions(np.array([False, False, True, True]), [0.1, 0.4, 0.35, 0.8], "roc_auc") == 0.75


def test_roc_auc_with_one_class_in_the_answers_is_undefined():
    with pytest.raises(MetricError, match="only one class"):
        score_predictions([1, 1, 1], [0.2, 0.5, 0.9], "roc_auc")


def test_roc_auc_with_three_classes_in_the_answers_is_an_error():
    with pytest.raises(MetricError, match="3 classes"):
        score_predictions([0, 1, 2], [0.2, 0.5, 0.9], "roc_auc")


def test_mean_roc_auc_averages_the_per_column_auc():
    # column 1 as above: 3/4; column 2 perfectly ordered: 1; mean = 7/8
    y_true = np.array([[0, 0], [0, 0], [1, 1], [1, 1]])
    y_pred = np.array([[0.1, 0.1], [0.4, 0.2], [0.35, 0.7], [0.8, 0.9]])
    assert score_predictions(y_true, y_pred, "mean_roc_auc") == pytest.approx(0.875)


def test_multiclass_log_loss_is_the_mean_negative_log_probability_of_the_true_class():
    # rows give p(true) = 0.5 and 0.5 -> mean(-ln 0.5, -ln 0.5) = ln 2
    p = [[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]]
    assert score_predictions([0, 2], p, "multiclass_log_loss", classes=[0, 1, 2]) == pytest.approx(math.log(2))


def test_multiclass_log_loss_clips_a_zero_probability_to_1e_15():
    # [0, 1] -> clipped [1e-15, 1-1e-15], sum exactly 1 -> p(true)=1e-15 -> -ln 1e-15 = 15 ln 10 = 34.5388
    assert score_predictions([0], [[0.0, 1.0]], "multiclass_log_loss", classes=[0, 1]) == pytest.approx(15 * math.log(10))


def test_multiclass_log_loss_clips_before_renormalising():
    # [0, 1, 0] -> [1e-15, 1-1e-15, 1e-15], sum 1+1e-15; true class 1 -> p = (1-1e-15)/(1+1e-15) ~ 1-2e-15
    # -> -ln p ~ 2e-15 (2.1e-15 in floating point): a confident hit costs almost nothing, but not 0
    score = score_predictions([1], [[0.0, 1.0, 0.0]], "multiclass_log_loss", classes=[0, 1, 2])
    assert 1e-15 < score < 3e-15


def test_multiclass_log_loss_renormalises_rows_that_do_not_sum_to_one():
    # [0.2, 0.6] sums to 0.8 -> [0.25, 0.75]; true class 1 -> -ln 0.75 = 0.287682
    assert score_predictions([1], [[0.2, 0.6]], "multiclass_log_loss", classes=[0, 1]) == pytest.approx(-math.log(0.75))


def test_multiclass_log_loss_orders_text_classes_alphabetically_by_default():
    # columns [cat, dog]; p(true) = 0.8 and 0.6 -> (-ln 0.8 - ln 0.6)/2 = (0.223144 + 0.510826)/2 = 0.366985
    assert score_predictions(["cat", "dog"], [[0.8, 0.2], [0.4, 0.6]], "multiclass_log_loss") == pytest.approx(
        0.366985, abs=1e-6
    )


def test_multiclass_log_loss_follows_an_explicit_class_order():
    # columns [dog, cat]; same probabilities of the true class as above -> 0.366985
    score = score_predictions(["cat", "dog"], [[0.2, 0.8], [0.6, 0.4]], "multiclass_log_loss", classes=["dog", "cat"])
    assert score == pytest.approx(0.366985, abs=1e-6)


def test_multiclass_log_loss_orders_numeric_classes_numerically():
    # classes 2 < 10 (not "10" < "2"): p(10)=0.9 for row 1, p(2)=0.7 for row 2
    # -> (-ln 0.9 - ln 0.7)/2 = (0.105361 + 0.356675)/2 = 0.231018
    score = score_predictions([10, 2], [[0.1, 0.9], [0.7, 0.3]], "multiclass_log_loss")
    assert score == pytest.approx(0.231018, abs=1e-6)


def test_multiclass_log_loss_defaults_to_the_classes_present_in_the_answers():
    # answers hold only class 0, so the default class list is [0] and two columns do not fit it
    with pytest.raises(MetricError, match="2 probability columns for 1 classes"):
        score_predictions([0], [[0.5, 0.5]], "multiclass_log_loss")


def test_multiclass_log_loss_with_an_answer_class_outside_the_given_classes_is_an_error():
    with pytest.raises(MetricError, match="without a probability column: 7"):
        score_predictions([0, 7], [[0.5, 0.5]] * 2, "multiclass_log_loss", classes=[0, 1])


def test_multiclass_log_loss_with_fewer_columns_than_classes_is_an_error():
    with pytest.raises(MetricError, match="2 probability columns for 3 classes"):
        score_predictions([0, 1, 2], [[0.5, 0.5]] * 3, "multiclass_log_loss")


# --- values -------------------------------------------------------------------------------------

def test_rmse_is_the_root_of_the_mean_squared_difference():
    # d = 1, 0, 0, 2 -> mean(d^2) = 5/4 -> sqrt(1.25) = 1.118034
    assert score_predictions([1, 2, 3, 4], [2, 2, 3, 6], "rmse") == pytest.approx(math.sqrt(1.25))


def test_rmse_over_several_targets_uses_every_cell():
    # the same four cells as above, as two columns -> sqrt(1.25)
    assert score_predictions([[1, 2], [3, 4]], [[2, 2], [3, 6]], "rmse") == pytest.approx(math.sqrt(1.25))


def test_mae_is_the_mean_absolute_difference():
    # |d| = 1, 0, 0, 2 -> 3/4
    assert score_predictions([1, 2, 3, 4], [2, 2, 3, 6], "mae") == 0.75


def test_rmse_log_is_the_rmse_of_natural_logs():
    # ln(true) = 0, 1; ln(pred) = 1, 1 -> d = 1, 0 -> sqrt(1/2) = 0.707107
    assert score_predictions([1, E], [E, E], "rmse_log") == pytest.approx(math.sqrt(0.5))


def test_rmse_log_rejects_non_positive_predictions():
    with pytest.raises(MetricError, match="positive predictions"):
        score_predictions([1, 2], [0, 2], "rmse_log")


def test_rmsle_handles_zeros_through_log1p():
    # log1p(true) = 0, ln 2; log1p(pred) = 0, ln 4 -> d = 0, ln 2 -> sqrt(ln(2)^2 / 2) = ln 2 / sqrt 2 = 0.490129
    assert score_predictions([0, 1], [0, 3], "rmsle") == pytest.approx(math.log(2) / math.sqrt(2))


def test_rmsle_rejects_negative_predictions():
    with pytest.raises(MetricError, match="non-negative predictions"):
        score_predictions([0, 1], [-0.5, 1], "rmsle")


def test_mean_columnwise_rmsle_averages_per_column_rmsle():
    # column a: log1p(e-1) - log1p(0) = 1 on both rows -> RMSLE 1; column b exact -> 0; mean = 0.5
    # (RMSLE over all four cells would be sqrt(2/4) = 0.707, so the two metrics really differ)
    y_true = [[0, 1], [0, 3]]
    y_pred = [[E - 1, 1], [E - 1, 3]]
    assert score_predictions(y_true, y_pred, "mean_columnwise_rmsle") == pytest.approx(0.5)
    assert score_predictions(y_true, y_pred, "rmsle") == pytest.approx(math.sqrt(0.5))


def test_value_metrics_reject_predictions_of_another_shape():
    with pytest.raises(MetricError, match="shape"):
        score_predictions([[1, 2], [3, 4]], [1, 2], "rmse")


def test_scoring_different_numbers_of_rows_is_an_error():
    with pytest.raises(MetricError, match="3 true rows but 2 predicted"):
        score_predictions([1, 2, 3], [1, 2], "mae")
