"""The grade of a competition from bytes and frames only: valid, invalid, placed, or graded without a
place when the board is unreadable or unusable (the grade is never lost to the board)."""
from __future__ import annotations

import pandas as pd

from actors.grading.verdict import judge

ANSWERS = pd.DataFrame({"id": ["1", "2", "3", "4"], "y": ["a", "b", "a", "b"]})
BOARD = pd.DataFrame({"team_id": range(4), "score": [0.25, 0.5, 0.75, 1.0]})
KW = {"metric": "accuracy", "id_column": "id", "targets": ["y"], "classes": None, "higher_is_better": True}


def test_a_valid_submission_is_graded_and_placed_on_the_board() -> None:
    verdict = judge(b"id,y\n1,a\n2,b\n3,a\n4,a\n", ANSWERS, board=BOARD, **KW)
    assert verdict.status == "graded" and verdict.score == 0.75 and verdict.valid_submission
    assert verdict.leaderboard_percentile == 62.5 and verdict.error is None  # beats 2 of 4, ties 1 (half)


def test_ids_are_text_so_007_is_not_7() -> None:
    verdict = judge(b"id,y\n001,a\n2,b\n3,a\n4,b\n", ANSWERS, **KW)
    assert verdict.status == "invalid_submission" and "ids" in verdict.error and verdict.score is None


def test_an_unreadable_submission_or_board_costs_the_grade_or_only_the_place() -> None:
    assert judge(b"\xff\xfe\x00", ANSWERS, **KW).status == "invalid_submission"
    verdict = judge(b"id,y\n1,a\n2,b\n3,a\n4,b\n", ANSWERS, board_error="cannot read leaderboard x", **KW)
    assert verdict.status == "graded" and verdict.score == 1.0 and verdict.leaderboard_note == "cannot read leaderboard x"
    bad_board = pd.DataFrame({"team_id": [1], "score": [float("inf")]})
    verdict = judge(b"id,y\n1,a\n2,b\n3,a\n4,b\n", ANSWERS, board=bad_board, **KW)
    assert verdict.status == "graded" and verdict.leaderboard_percentile is None and verdict.leaderboard_note
