"""Place a score on a competition's leaderboard: percentile, rank and medal (SPEC.md step 6).

Medal thresholds follow mle-bench (mlebench/grade_helpers.py, `Grader.rank_score`), which follows
kaggle.com/progression: the threshold of a medal is the score of the team at a given position, and
a score earns the medal when it is at least as good as that threshold.

    teams      gold                          silver                 bronze
    1-99       position max(1, int(0.1 n))   max(1, int(0.2 n))     max(1, int(0.4 n))
    100-249    position 10                   max(1, int(0.2 n))     max(1, int(0.4 n))
    250-999    position 10 + int(0.002 n)    position 50            position 100
    >= 1000    position 10 + int(0.002 n)    max(1, int(0.05 n))    max(1, int(0.1 n))

Unlike mle-bench we do not trust the file's row order (nor guess the direction from it): the
scores are sorted best first using the metric's higher_is_better.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from actors.errors import FatalError

Medal = Literal["gold", "silver", "bronze"]


class LeaderboardError(FatalError):
    """The leaderboard cannot be used; names the problem."""


@dataclass(frozen=True)
class Thresholds:
    """Scores needed for each medal (at least as good as), and the leaderboard median."""

    gold: float
    silver: float
    bronze: float
    median: float


@dataclass(frozen=True)
class Placement:
    """Where a score lands. percentile is in [0, 100]: the share of leaderboard teams the score
    beats, a tie counting half. rank is 1 + the number of teams strictly better. For a missing
    score (invalid submission) percentile and rank are None and there is no medal."""

    percentile: float | None
    medal: Medal | None
    rank: int | None
    n_teams: int
    thresholds: Thresholds
    above_median: bool = False

    def __post_init__(self) -> None:
        if self.percentile is not None and not 0 <= self.percentile <= 100:
            raise ValueError(f"percentile {self.percentile} outside [0, 100]")
        if self.rank is not None and not 1 <= self.rank <= self.n_teams + 1:
            raise ValueError(f"rank {self.rank} outside [1, {self.n_teams + 1}]")

    def to_dict(self) -> dict:
        return {
            "percentile": self.percentile,
            "medal": self.medal,
            "rank": self.rank,
            "n_teams": self.n_teams,
            "above_median": self.above_median,
            "thresholds": {
                "gold": self.thresholds.gold,
                "silver": self.thresholds.silver,
                "bronze": self.thresholds.bronze,
                "median": self.thresholds.median,
            },
        }


def leaderboard_position(score: float | None, leaderboard: pd.DataFrame, higher_is_better: bool) -> Placement:
    """Percentile, rank and medal of `score` among the teams of `leaderboard` (a `score` column)."""
    scores = leaderboard_scores(leaderboard, higher_is_better)
    n = len(scores)
    gold_pos, silver_pos, bronze_pos = medal_positions(n)
    thresholds = Thresholds(
        gold=float(scores[gold_pos - 1]),
        silver=float(scores[silver_pos - 1]),
        bronze=float(scores[bronze_pos - 1]),
        median=float(np.median(scores)),
    )
    if score is None or not np.isfinite(score):
        return Placement(percentile=None, medal=None, rank=None, n_teams=n, thresholds=thresholds)
    sign = 1.0 if higher_is_better else -1.0
    better = int(np.sum(sign * scores > sign * score))
    worse = int(np.sum(sign * scores < sign * score))
    ties = n - better - worse
    return Placement(
        percentile=100.0 * (worse + 0.5 * ties) / n,
        medal=_medal(sign * score, sign * thresholds.gold, sign * thresholds.silver, sign * thresholds.bronze),
        rank=better + 1,
        n_teams=n,
        thresholds=thresholds,
        above_median=bool(sign * score > sign * thresholds.median),
    )


def medal_positions(n_teams: int) -> tuple[int, int, int]:
    """1-based leaderboard positions whose scores are the gold, silver and bronze thresholds.
    The int() truncations and float products are mle-bench's, kept verbatim so that boundaries
    (e.g. int(70 * 0.1)) round exactly as it does."""
    if n_teams < 1:
        raise LeaderboardError("leaderboard has no teams")
    if n_teams < 100:
        gold = max(1, int(n_teams * 0.1))
        silver, bronze = max(1, int(n_teams * 0.2)), max(1, int(n_teams * 0.4))
    elif n_teams < 250:
        gold = 10
        silver, bronze = max(1, int(n_teams * 0.2)), max(1, int(n_teams * 0.4))
    elif n_teams < 1000:
        gold, silver, bronze = 10 + int(n_teams * 0.002), 50, 100
    else:
        gold = 10 + int(n_teams * 0.002)
        silver, bronze = max(1, int(n_teams * 0.05)), max(1, int(n_teams * 0.1))
    return gold, silver, bronze


def leaderboard_scores(leaderboard: pd.DataFrame, higher_is_better: bool) -> np.ndarray:
    """The leaderboard's scores as floats, best first; LeaderboardError naming what is wrong."""
    if not isinstance(leaderboard, pd.DataFrame):
        raise LeaderboardError(f"leaderboard is a {type(leaderboard).__name__}, not a table")
    if "score" not in leaderboard.columns:
        cols = ", ".join(map(str, leaderboard.columns)) or "none"
        raise LeaderboardError(f"leaderboard has no 'score' column (columns: {cols})")
    if len(leaderboard) == 0:
        raise LeaderboardError("leaderboard has no teams")
    raw = leaderboard["score"]
    num = pd.to_numeric(raw, errors="coerce")
    bad = raw.notna() & num.isna() & (raw.astype(str).str.strip().str.lower() != "nan")  # "nan" is missing
    if bad.any():
        raise LeaderboardError(
            f"leaderboard has {int(bad.sum())} non-numeric scores (e.g. {raw[bad].iloc[0]!r} in row {bad.idxmax()})"
        )
    # One definition for the catalog checks and the grader: a team without a finite score makes the
    # board unusable (dropping it would shift every percentile without anyone noticing).
    values = num.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        first = int(np.argmax(~np.isfinite(values)))
        raise LeaderboardError(f"leaderboard has {int((~np.isfinite(values)).sum())} missing or infinite scores "
                               f"(e.g. {values[first]} in row {leaderboard.index[first]})")
    return np.sort(values)[::-1] if higher_is_better else np.sort(values)


def _medal(s: float, gold: float, silver: float, bronze: float) -> Medal | None:
    # all values are sign-adjusted so that larger is better
    if s >= gold:
        return "gold"
    if s >= silver:
        return "silver"
    if s >= bronze:
        return "bronze"
    return None

