"""Leaderboard placement: percentile (ties half), rank, and mle-bench's medal bands, checked by hand.

The boards below give the team at position p (1 = best) the score n + 1 - p when higher is better
and p when lower is better, so the threshold at position p can be read off directly. Rows are
shuffled: the file's order must not matter.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from actors.grading.leaderboard import LeaderboardError, Thresholds, leaderboard_position, medal_positions


def board(n: int) -> pd.DataFrame:
    scores = np.arange(1, n + 1, dtype=float)  # higher better: position p has n+1-p; lower: p
    np.random.default_rng(n).shuffle(scores)
    return pd.DataFrame({"team_id": [f"t{i}" for i in range(n)], "score": scores})


def medal(score: float, n: int, higher_is_better: bool = True) -> str | None:
    return leaderboard_position(score, board(n), higher_is_better).medal


# --- positions of the thresholds: each band and its edges -----------------------------------------

@pytest.mark.parametrize(
    ("n_teams", "positions", "why"),
    [
        (1, (1, 1, 1), "int(0.1), int(0.2), int(0.4) are 0 -> max(1, .) = 1"),
        (5, (1, 1, 2), "int(0.5)=0 -> 1, int(1.0)=1, int(2.0)=2"),
        (50, (5, 10, 20), "10%, 20%, 40% of 50"),
        (99, (9, 19, 39), "int(9.9), int(19.8), int(39.6) truncate"),
        (100, (10, 20, 40), "second band: gold fixed at 10, 20% and 40% of 100"),
        (150, (10, 30, 60), "10, 20% of 150, 40% of 150"),
        (249, (10, 49, 99), "int(49.8), int(99.6)"),
        (250, (10, 50, 100), "third band: 10 + int(0.5) = 10, then 50 and 100"),
        (500, (11, 50, 100), "10 + int(1.0) = 11"),
        (999, (11, 50, 100), "10 + int(1.998) = 11"),
        (1000, (12, 50, 100), "fourth band: 10 + int(2.0) = 12, 5% = 50, 10% = 100"),
        (2000, (14, 100, 200), "10 + int(4.0) = 14, 5% = 100, 10% = 200"),
    ],
)
def test_medal_positions_follow_mle_bench_bands(n_teams, positions, why):
    assert medal_positions(n_teams) == positions, why


# --- medals in each band, exactly at and just past each threshold ---------------------------------

def test_50_teams_gold_is_top_10_percent_silver_20_bronze_40():
    # positions 5, 10, 20 -> scores 46, 41, 31
    assert [medal(s, 50) for s in (46, 45.5, 41, 40.9, 31, 30.5)] == [
        "gold", "silver", "silver", "bronze", "bronze", None]


def test_150_teams_gold_is_position_10_silver_top_20_percent_bronze_top_40():
    # positions 10, 30, 60 -> scores 141, 121, 91
    assert [medal(s, 150) for s in (141, 140.5, 121, 120.5, 91, 90.5)] == [
        "gold", "silver", "silver", "bronze", "bronze", None]


def test_500_teams_gold_is_position_11_silver_50_bronze_100():
    # positions 11, 50, 100 -> scores 490, 451, 401
    assert [medal(s, 500) for s in (490, 489.5, 451, 450.5, 401, 400.5)] == [
        "gold", "silver", "silver", "bronze", "bronze", None]


def test_2000_teams_gold_is_position_14_silver_top_5_percent_bronze_top_10():
    # positions 14, 100, 200 -> scores 1987, 1901, 1801
    assert [medal(s, 2000) for s in (1987, 1986.5, 1901, 1900.5, 1801, 1800.5)] == [
        "gold", "silver", "silver", "bronze", "bronze", None]


def test_lower_is_better_medals_need_a_score_at_most_the_threshold():
    # 50 teams, position p has score p: thresholds 5, 10, 20
    assert [medal(s, 50, False) for s in (5, 5.5, 10, 10.5, 20, 20.5)] == [
        "gold", "silver", "silver", "bronze", "bronze", None]


def test_thresholds_are_the_scores_at_the_medal_positions_and_the_median():
    # 50 teams higher-better: scores at positions 5, 10, 20 are 46, 41, 31; median of 1..50 = 25.5
    assert leaderboard_position(None, board(50), True).thresholds == Thresholds(46.0, 41.0, 31.0, 25.5)


def test_tied_teams_at_a_threshold_all_share_its_score():
    # 10 teams, gold at position 1: scores 0.9, 0.9, 0.9, 0.5 ... -> threshold 0.9 reached by a tie
    scores = [0.9, 0.9, 0.9] + [0.5] * 7
    placed = leaderboard_position(0.9, pd.DataFrame({"score": scores}), True)
    assert placed.medal == "gold" and placed.rank == 1


def test_a_single_team_board_gives_gold_to_a_score_as_good_as_it():
    one = pd.DataFrame({"team_id": ["t"], "score": [0.8]})
    assert leaderboard_position(0.8, one, True).medal == "gold"
    assert leaderboard_position(0.7, one, True).medal is None


# --- percentile and rank ----------------------------------------------------------------------------

def test_percentile_counts_ties_half():
    # scores 10, 9, 9, 8 (higher better); 9 beats one team (8) and ties two -> (1 + 2/2)/4 = 50%
    placed = leaderboard_position(9, pd.DataFrame({"score": [8, 9, 10, 9]}), True)
    assert placed.percentile == 50.0 and placed.rank == 2 and placed.n_teams == 4


def test_percentile_is_100_above_everyone_and_0_below_everyone():
    lb = board(50)
    top, bottom = leaderboard_position(99, lb, True), leaderboard_position(0, lb, True)
    assert (top.percentile, top.rank) == (100.0, 1)
    assert (bottom.percentile, bottom.rank, bottom.medal) == (0.0, 51, None)


def test_lower_is_better_percentile_counts_teams_with_larger_scores_as_beaten():
    # 50 teams scoring 1..50, lower better: 10.5 beats 11..50 = 40 teams -> 80%; 10 teams better -> rank 11
    placed = leaderboard_position(10.5, board(50), False)
    assert placed.percentile == 80.0 and placed.rank == 11


def test_above_median_is_strict():
    # median of 1..50 is 25.5
    assert leaderboard_position(25.5, board(50), True).above_median is False
    assert leaderboard_position(26, board(50), True).above_median is True


def test_a_missing_score_gets_thresholds_but_no_percentile_rank_or_medal():
    placed = leaderboard_position(None, board(50), True)
    assert (placed.percentile, placed.rank, placed.medal, placed.n_teams) == (None, None, None, 50)


# --- invalid leaderboards -----------------------------------------------------------------------------

def test_leaderboard_without_a_score_column_is_an_error_naming_the_columns():
    with pytest.raises(LeaderboardError, match=r"no 'score' column \(columns: team_id, points\)"):
        leaderboard_position(1.0, pd.DataFrame({"team_id": ["a"], "points": [1]}), True)


def test_empty_leaderboard_is_an_error():
    with pytest.raises(LeaderboardError, match="no teams"):
        leaderboard_position(1.0, pd.DataFrame({"team_id": [], "score": []}), True)


def test_leaderboard_with_text_scores_is_an_error_naming_one():
    with pytest.raises(LeaderboardError, match="1 non-numeric scores \\(e.g. 'DNF' in row 1\\)"):
        leaderboard_position(1.0, pd.DataFrame({"score": ["0.5", "DNF", "0.7"]}), True)


def test_leaderboard_with_missing_scores_is_an_error():
    with pytest.raises(LeaderboardError, match="1 missing or infinite scores"):
        leaderboard_position(1.0, pd.DataFrame({"score": [0.5, np.nan, 0.7]}), True)
