"""The LLM path's share of a competition's time budget: when it is spent, the path stops where it is and
hands the rest of the budget to the search (jobs/solve.py). Checked between steps, so a step is started
only when its expected cost (from the model calls already timed in this competition) fits in what is
left of the share; a model call gets what is left as its time limit and an execution of the fix loop
as its wall-clock limit (at least actors.fixloop.MIN_RUN_S)."""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic() when the share is spent
    share_s: float  # the share's length, for the message

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def left(self) -> float:
        return self.at - time.monotonic()

    def fits(self, expected_s: float) -> bool:
        """Whether a step expected to take `expected_s` ends before the share is spent."""
        return self.left() >= expected_s

    def why(self, where: str) -> str:
        """e.g. "out of its budget share (150 s) after refinement" (the row's error names it)."""
        return f"out of its budget share ({self.share_s:.0f} s) {where}"
