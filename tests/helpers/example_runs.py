"""The two real runs of one example task that the `example_runs` fixture (tests/conftest.py) makes once
per session, for the report and results-index tests."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXAMPLE_TASK = "wine-cultivar"  # 133 rows, a leaderboard of 16 scikit-learn baselines, multiclass log loss


@dataclass(frozen=True)
class ExampleRuns:
    out: Path  # results root holding both runs
    staged: str  # linguacodus mode with the smallest embedded model and a 60 s budget (search included)
    vanilla: str  # vanilla mode replayed from an empty cache: no model, the floor grades the row
