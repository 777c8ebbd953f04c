"""grade(): valid submissions score like score_predictions; every invalid one grades to None with a
named reason; answers-side problems raise GradingError. Also the file-level helpers and the CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import storage
from actors.grading.grader import GradeResult, GradingError, grade, grade_submission
from jobs.grade import grade_competition, grade_files
from actors.task import Competition
from jobs.cli import main


def labels_answers() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2, 3, 4], "y": ["a", "b", "a", "c"]})


def values_answers() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2, 3, 4], "y": [1.0, 2.0, 3.0, 4.0]})


def proba_answers() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2, 3, 4], "y": [0, 0, 1, 1]})


def grade_as(metric: str, sub: pd.DataFrame, answers: pd.DataFrame, targets=("y",), **kw) -> GradeResult:
    return grade_submission(sub, answers, metric=metric, id_column="id", targets=list(targets), **kw)


def assert_invalid(result: GradeResult, *fragments: str) -> None:
    assert result.valid is False and result.score is None, result
    for fragment in fragments:
        assert fragment in result.reason, (fragment, result.reason)


# --- valid submissions ---------------------------------------------------------------------------

def test_valid_label_submission_in_shuffled_order_scores_by_id():
    # rows reordered; ids 1..4 predicted a, b, b, c vs truth a, b, a, c -> 3/4
    sub = pd.DataFrame({"id": [4, 3, 2, 1], "y": ["c", "b", "b", "a"]})
    result = grade_as("accuracy", sub, labels_answers())
    assert result == GradeResult(score=0.75, valid=True, reason=None, warnings=())


def test_ids_match_by_value_whether_int_text_or_integral_float():
    # same predictions as above with ids as text and as floats (a column read with gaps)
    for ids in (["4", "3", "2", "1"], [4.0, 3.0, 2.0, 1.0], [" 4", "3 ", "2", "1"]):
        sub = pd.DataFrame({"id": ids, "y": ["c", "b", "b", "a"]})
        assert grade_as("accuracy", sub, labels_answers()).score == 0.75, ids


def test_numeric_labels_compare_numerically_so_1_equals_1_point_0():
    answers = pd.DataFrame({"id": [1, 2], "y": [1, 0]})
    sub = pd.DataFrame({"id": [1, 2], "y": [1.0, 0.0]})
    assert grade_as("accuracy", sub, answers).score == 1.0


def test_label_absent_from_the_answers_is_valid_but_wrong_with_a_warning():
    # ids 1..4: a, b, zebra, c vs a, b, a, c -> 3/4 and one warning naming 'zebra'
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": ["a", "b", "zebra", "c"]})
    result = grade_as("accuracy", sub, labels_answers())
    assert result.valid and result.score == 0.75
    assert len(result.warnings) == 1 and "'zebra'" in result.warnings[0] and "count as wrong" in result.warnings[0]


def test_valid_regression_submission_scores_rmse():
    # d = 0, 0, 0, 2 -> sqrt(4/4) = 1
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [1, 2, 3, 6]})
    assert grade_as("rmse", sub, values_answers()).score == pytest.approx(1.0)


def test_valid_binary_submission_scores_roc_auc_on_the_positive_probability():
    # positives 0.35, 0.8; negatives 0.1, 0.4 -> 3 of 4 pairs ordered -> 0.75
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [0.1, 0.4, 0.35, 0.8]})
    assert grade_as("roc_auc", sub, proba_answers()).score == pytest.approx(0.75)


def test_valid_multilabel_submission_scores_mean_roc_auc():
    # column y: 0.75 (as above); column z: perfectly ordered -> 1; mean 0.875
    answers = pd.DataFrame({"id": [1, 2, 3, 4], "y": [0, 0, 1, 1], "z": [False, False, True, True]})
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [0.1, 0.4, 0.35, 0.8], "z": [0.1, 0.2, 0.7, 0.9]})
    assert grade_as("mean_roc_auc", sub, answers, targets=("y", "z")).score == pytest.approx(0.875)


def test_valid_multiclass_submission_scores_log_loss_with_columns_in_any_order():
    # truth a, b, a, c; columns given as c, a, b; p(true) = 0.5 on every row -> ln 2
    sub = pd.DataFrame({
        "id": [1, 2, 3, 4],
        "c": [0.25, 0.25, 0.25, 0.5], "a": [0.5, 0.25, 0.5, 0.25], "b": [0.25, 0.5, 0.25, 0.25],
    })
    assert grade_as("multiclass_log_loss", sub, labels_answers()).score == pytest.approx(math.log(2))


def test_log_loss_class_columns_match_numeric_classes_by_value():
    # classes 0 and 1 written as columns "0" and "1.0"; p(true) = 0.8, 0.8 -> -ln 0.8 = 0.223144
    answers = pd.DataFrame({"id": [1, 2], "y": [0, 1]})
    sub = pd.DataFrame({"id": [1, 2], "0": [0.8, 0.2], "1.0": [0.2, 0.8]})
    assert grade_as("multiclass_log_loss", sub, answers).score == pytest.approx(-math.log(0.8))


def test_log_loss_accepts_a_train_class_absent_from_the_answers_when_classes_are_given():
    # class c exists in train only; p(true) = 0.5 on both rows -> ln 2
    answers = pd.DataFrame({"id": [1, 2], "y": ["a", "b"]})
    sub = pd.DataFrame({"id": [1, 2], "a": [0.5, 0.3], "b": [0.3, 0.5], "c": [0.2, 0.2]})
    assert grade_as("multiclass_log_loss", sub, answers, classes=["a", "b", "c"]).score == pytest.approx(math.log(2))


def test_log_loss_accepts_rows_summing_within_the_tolerance_and_renormalises_them():
    # [0.5, 0.495] sums to 0.995 (|0.005| <= 0.01): p(true a) = 0.5/0.995 -> -ln(0.502513) = 0.688135
    answers = pd.DataFrame({"id": [1], "y": ["a"]})
    sub = pd.DataFrame({"id": [1], "a": [0.5], "b": [0.495]})
    result = grade_as("multiclass_log_loss", sub, answers, classes=["a", "b"])
    assert result.score == pytest.approx(-math.log(0.5 / 0.995))


def test_grade_uses_the_competition_metric_id_column_and_targets():
    comp = Competition(
        competition_id="toy", description="d", metric="mae", task_type="regression",
        target=["y"], id_column="id", data_uri="/nowhere",
    )
    # |d| = 0, 0, 0, 2 -> 2/4
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [1, 2, 3, 6]})
    assert grade(sub, values_answers(), comp).score == 0.5


# --- invalid submissions: ids --------------------------------------------------------------------

def test_invalid_submission_with_missing_ids_grades_to_none():
    sub = pd.DataFrame({"id": [1, 2], "y": ["a", "b"]})
    assert_invalid(grade_as("accuracy", sub, labels_answers()),
                   "submission has 2 rows, expected 4", "missing 2 of 4 ids (e.g. '3')")


def test_invalid_submission_with_extra_ids_grades_to_none():
    sub = pd.DataFrame({"id": [1, 2, 3, 4, 99], "y": ["a", "b", "a", "c", "a"]})
    assert_invalid(grade_as("accuracy", sub, labels_answers()), "5 rows, expected 4", "1 ids are not in the answers (e.g. '99')")


def test_invalid_submission_with_duplicate_ids_grades_to_none():
    # right row count, but id 1 twice and id 4 never
    sub = pd.DataFrame({"id": [1, 1, 2, 3], "y": ["a", "a", "b", "a"]})
    assert_invalid(grade_as("accuracy", sub, labels_answers()),
                   "1 ids appear more than once (e.g. '1')", "missing 1 of 4 ids (e.g. '4')")


def test_invalid_submission_with_empty_ids_grades_to_none():
    sub = pd.DataFrame({"id": [1, 2, 3, None], "y": ["a", "b", "a", "c"]})
    assert_invalid(grade_as("accuracy", sub, labels_answers()), "1 rows have an empty id")


def test_empty_submission_grades_to_none():
    sub = pd.DataFrame({"id": [], "y": []})
    assert_invalid(grade_as("rmse", sub, values_answers()), "0 rows, expected 4")


# --- invalid submissions: columns ----------------------------------------------------------------

def test_invalid_submission_without_the_id_column_grades_to_none():
    sub = pd.DataFrame({"ID": [1, 2, 3, 4], "y": ["a", "b", "a", "c"]})
    assert_invalid(grade_as("accuracy", sub, labels_answers()), "missing columns: id", "unexpected columns: ID")


def test_invalid_submission_without_a_target_column_grades_to_none():
    sub = pd.DataFrame({"id": [1, 2, 3, 4]})
    assert_invalid(grade_as("accuracy", sub, labels_answers()), "missing columns: y")


def test_invalid_submission_with_an_extra_column_names_it():
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [1, 2, 3, 4], "Unnamed: 0": [0, 1, 2, 3]})
    assert_invalid(grade_as("rmse", sub, values_answers()), "unexpected columns: Unnamed: 0")


def test_invalid_submission_with_duplicate_column_names_grades_to_none():
    sub = pd.DataFrame([[1, 1.0, 1.0]] * 4, columns=["id", "y", "y"])
    assert_invalid(grade_as("rmse", sub, values_answers()), "duplicate column names: y")


def test_invalid_log_loss_submission_missing_a_class_column_names_the_class():
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "a": [0.5] * 4, "b": [0.5] * 4})
    assert_invalid(grade_as("multiclass_log_loss", sub, labels_answers()), "missing probability columns for classes: c")


def test_invalid_log_loss_submission_with_an_unknown_class_column_names_it():
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "a": [0.25] * 4, "b": [0.25] * 4, "c": [0.25] * 4, "d": [0.25] * 4})
    assert_invalid(grade_as("multiclass_log_loss", sub, labels_answers()), "unexpected columns: d")


def test_invalid_log_loss_submission_with_two_columns_for_one_class_grades_to_none():
    answers = pd.DataFrame({"id": [1, 2], "y": [0, 1]})
    sub = pd.DataFrame({"id": [1, 2], "0": [0.5, 0.5], "0.0": [0.5, 0.5], "1": [0.5, 0.5]})
    assert_invalid(grade_as("multiclass_log_loss", sub, answers), "columns name the same class: 0 and 0.0")


# --- invalid submissions: values -----------------------------------------------------------------

def test_invalid_submission_with_missing_values_names_column_and_id():
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [1.0, np.nan, 3.0, 4.0]})
    assert_invalid(grade_as("rmse", sub, values_answers()), "column 'y' has 1 missing values (e.g. id '2')")


def test_invalid_label_submission_with_missing_labels_grades_to_none():
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": ["a", None, "a", "c"]})
    assert_invalid(grade_as("accuracy", sub, labels_answers()), "column 'y' has 1 missing values (e.g. id '2')")


def test_invalid_submission_with_infinite_values_grades_to_none():
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [1.0, 2.0, np.inf, 4.0]})
    assert_invalid(grade_as("mae", sub, values_answers()), "column 'y' has 1 infinite values (e.g. id '3')")


def test_invalid_submission_with_text_where_numbers_are_needed_grades_to_none():
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": ["1", "2", "three", "4"]})
    assert_invalid(grade_as("rmse", sub, values_answers()), "column 'y' has 1 non-numeric values (e.g. 'three' at id '3')")


def test_invalid_submission_with_probabilities_outside_zero_one_grades_to_none():
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [0.1, 1.2, -0.1, 0.8]})
    assert_invalid(grade_as("roc_auc", sub, proba_answers()), "2 probabilities outside [0, 1] (e.g. 1.2 at id '2')")


def test_invalid_log_loss_submission_with_rows_not_summing_to_one_grades_to_none():
    # row 2 sums to 0.5 + 0.5 + 0.5 = 1.5: far outside 1 +- 0.01
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "a": [0.5, 0.5, 0.5, 0.2], "b": [0.25, 0.5, 0.25, 0.2],
                        "c": [0.25, 0.5, 0.25, 0.6]})
    assert_invalid(grade_as("multiclass_log_loss", sub, labels_answers()),
                   "1 rows of class probabilities do not sum to 1 within 0.01 (e.g. id '2' sums to 1.5)")


def test_invalid_rmse_log_submission_with_non_positive_predictions_grades_to_none():
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [1.0, 0.0, -3.0, 4.0]})
    assert_invalid(grade_as("rmse_log", sub, values_answers()), "2 values <= 0 (rmse_log takes the log", "id '2'")


@pytest.mark.parametrize("metric", ["rmsle", "mean_columnwise_rmsle"])
def test_invalid_rmsle_submission_with_negative_predictions_grades_to_none(metric):
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [0.0, 2.0, -0.5, 4.0]})
    assert_invalid(grade_as(metric, sub, values_answers()), "1 negative values", "id '3'")


def test_rmsle_submission_with_zero_predictions_is_valid():
    # log1p: truth ln2, ln3, ln4, ln5; preds 0 for id 1 -> d = ln 2, others exact -> sqrt(ln(2)^2 / 4) = ln2 / 2
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [0.0, 2.0, 3.0, 4.0]})
    assert grade_as("rmsle", sub, values_answers()).score == pytest.approx(math.log(2) / 2)


def test_a_table_that_is_not_a_dataframe_grades_to_none():
    assert_invalid(grade_as("rmse", [[1, 2]], values_answers()), "not a table")


# --- answers-side problems -----------------------------------------------------------------------

def test_answers_without_the_target_column_raise_grading_error():
    with pytest.raises(GradingError, match="answers lack columns 'y'"):
        grade_as("rmse", values_answers(), values_answers().rename(columns={"y": "z"}))


def test_roc_auc_on_one_class_answers_raises_grading_error():
    answers = pd.DataFrame({"id": [1, 2], "y": [1, 1]})
    sub = pd.DataFrame({"id": [1, 2], "y": [0.3, 0.6]})
    with pytest.raises(GradingError, match="only one class"):
        grade_as("roc_auc", sub, answers)


def test_rmse_log_on_non_positive_answers_raises_grading_error():
    answers = pd.DataFrame({"id": [1, 2], "y": [0.0, 2.0]})
    with pytest.raises(GradingError, match="positive true values"):
        grade_as("rmse_log", pd.DataFrame({"id": [1, 2], "y": [1.0, 2.0]}), answers)


def test_grade_result_refuses_inconsistent_fields():
    with pytest.raises(ValueError):
        GradeResult(score=None, valid=True)
    with pytest.raises(ValueError):
        GradeResult(score=0.5, valid=False, reason="x")
    with pytest.raises(ValueError):
        GradeResult(score=None, valid=False, reason=None)


# --- files and CLI -------------------------------------------------------------------------------

def write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_grade_files_reads_csvs_keeps_na_labels_as_text_and_places_on_the_leaderboard(tmp_path):
    # "NA" is a real class here (not a missing value): 3 of 4 right -> 0.75
    answers = write(tmp_path / "answers.csv", "id,y\n1,NA\n2,b\n3,NA\n4,c\n")
    sub = write(tmp_path / "sub.csv", "id,y\n1,NA\n2,b\n3,b\n4,c\n")
    # leaderboard (higher is better) sorted: 0.9, 0.8, 0.75, 0.5 -> beats 1, ties 1 -> (1 + 0.5)/4 = 37.5
    board = write(tmp_path / "lb.csv", "team_id,score\nt1,0.5\nt2,0.9\nt3,0.75\nt4,0.8\n")
    report = grade_files(sub, answers, metric="accuracy", id_column="id", targets=["y"], leaderboard_uri=board)
    assert report.result.score == 0.75
    assert report.placement.percentile == 37.5 and report.placement.rank == 3


def test_grade_files_turns_a_missing_submission_file_into_an_invalid_grade(tmp_path):
    answers = write(tmp_path / "answers.csv", "id,y\n1,a\n")
    report = grade_files(str(tmp_path / "nope.csv"), answers, metric="accuracy", id_column="id", targets=["y"])
    assert_invalid(report.result, "cannot read submission", "nope.csv")


def test_grade_competition_reads_the_train_classes_for_log_loss(tmp_path):
    # train has classes a, b, c; answers only a, b; the submission's c column is therefore expected
    (tmp_path / "train.csv").write_text("id,y\n10,a\n11,b\n12,c\n")
    answers = write(tmp_path / "answers.csv", "id,y\n1,a\n2,b\n")
    sub = write(tmp_path / "sub.csv", "id,a,b,c\n1,0.5,0.3,0.2\n2,0.3,0.5,0.2\n")
    comp = Competition(
        competition_id="toy", description="d", metric="multiclass_log_loss", task_type="multiclass",
        target=["y"], id_column="id", data_uri=str(tmp_path), answers_uri=answers,
    )
    report = grade_competition(comp, sub)
    assert report.result.score == pytest.approx(math.log(2)) and report.placement is None


def test_cli_prints_the_grade_and_placement_as_json(tmp_path, capsys):
    answers = write(tmp_path / "answers.csv", "id,y\n1,1.0\n2,2.0\n")
    sub = write(tmp_path / "sub.csv", "id,y\n2,2.0\n1,3.0\n")
    board = write(tmp_path / "lb.csv", "team_id,score\nt1,0.5\nt2,1.0\nt3,2.0\n")
    # |d| = 2, 0 -> MAE 1.0; lower is better: beats 2.0, ties 1.0 -> (1 + 0.5)/3 = 50; 3 teams -> no medal
    code = main(["grade", "--submission", sub, "--answers", answers, "--metric", "mae",
                 "--id-column", "id", "--target", "y", "--leaderboard", board])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["score"] == 1.0 and out["valid"] is True
    assert out["placement"]["percentile"] == 50.0 and out["placement"]["rank"] == 2


def test_cli_exits_1_with_the_reason_for_an_invalid_submission(tmp_path, capsys):
    answers = write(tmp_path / "answers.csv", "id,y\n1,1.0\n2,2.0\n")
    sub = write(tmp_path / "sub.csv", "id,y\n1,1.0\n")
    code = main(["grade", "--submission", sub, "--answers", answers, "--metric", "rmse",
                 "--id-column", "id", "--target", "y"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["valid"] is False and "missing 1 of 2 ids (e.g. '2')" in out["reason"]


def test_cli_exits_2_when_the_leaderboard_is_unusable(tmp_path):
    answers = write(tmp_path / "answers.csv", "id,y\n1,1.0\n")
    board = write(tmp_path / "lb.csv", "team_id,points\nt1,3\n")
    code = main(["grade", "--submission", answers, "--answers", answers, "--metric", "rmse",
                 "--id-column", "id", "--target", "y", "--leaderboard", board])
    assert code == 2


def test_grade_files_reads_submission_answers_and_leaderboard_from_s3(s3_bucket):
    storage.write_text(f"{s3_bucket}/answers.csv", "id,y\n1,0\n2,0\n3,1\n4,1\n")
    storage.write_text(f"{s3_bucket}/sub.csv", "id,y\n1,0.1\n2,0.4\n3,0.35\n4,0.8\n")
    storage.write_text(f"{s3_bucket}/lb.csv", "team_id,score\nt1,0.9\nt2,0.7\n")
    # AUC 0.75 (3 of 4 pairs); beats 0.7, below 0.9 -> 50th percentile, rank 2
    report = grade_files(f"{s3_bucket}/sub.csv", f"{s3_bucket}/answers.csv", metric="roc_auc", id_column="id",
                         targets=["y"], leaderboard_uri=f"{s3_bucket}/lb.csv")
    assert report.result.score == pytest.approx(0.75)
    assert report.placement.percentile == 50.0 and report.placement.rank == 2


def test_a_missing_submission_object_on_s3_is_an_invalid_grade(s3_bucket):
    storage.write_text(f"{s3_bucket}/answers.csv", "id,y\n1,1.0\n")
    report = grade_files(f"{s3_bucket}/missing.csv", f"{s3_bucket}/answers.csv", metric="rmse",
                         id_column="id", targets=["y"])
    assert_invalid(report.result, "cannot read submission", "missing.csv")


# --- one definition with the catalog; values that must grade, not raise ---------------------------

def test_a_finite_prediction_whose_error_overflows_grades_invalid_with_the_reason(tmp_path, capsys):
    sub = pd.DataFrame({"id": [1, 2, 3, 4], "y": [1.0, 2.0, 3.0, 1e200]})
    assert_invalid(grade_as("rmse", sub, values_answers()), "rmse is not a finite number", "1e+200")
    answers = write(tmp_path / "answers.csv", "id,y\n1,1.0\n2,2.0\n")
    code = main(["grade", "--submission", write(tmp_path / "sub.csv", "id,y\n1,1e200\n2,2.0\n"),
                 "--answers", answers, "--metric", "rmse", "--id-column", "id", "--target", "y"])
    assert code == 1 and "not a finite number" in json.loads(capsys.readouterr().out)["reason"]


def test_ids_007_and_7_are_two_ids_for_the_catalog_and_the_grader(tmp_path):
    from jobs.catalog import build_catalog

    task = tmp_path / "tasks" / "toy"
    task.mkdir(parents=True)
    (task / "meta.json").write_text(json.dumps({"target": "y", "metric": "accuracy", "id_column": "id",
                                                "task_type": "binary"}))
    (task / "description.md").write_text("# Toy\n")
    (task / "train.csv").write_text("id,x,y\n1,0,a\n2,1,b\n")
    (task / "test.csv").write_text("id,x\n007,0\n7,1\n")
    (task / "answers.csv").write_text("id,y\n007,a\n7,b\n")
    rows, problems = build_catalog(str(tmp_path / "tasks"))
    assert problems == []  # the catalog reads ids as text: two distinct ids
    comp = Competition(**rows.iloc[0].to_dict())
    sub = write(tmp_path / "sub.csv", "id,y\n7,b\n007,a\n")
    assert grade_competition(comp, sub).result == GradeResult(score=1.0, valid=True)
    swapped = write(tmp_path / "swapped.csv", "id,y\n7,a\n007,b\n")  # were 007 == 7, this would score 1.0 too
    assert grade_competition(comp, swapped).result.score == 0.0
