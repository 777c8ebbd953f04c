"""Stage 1, data facts: what every prompt needs to know about train.csv / test.csv, summarised.

Small models break on raw example rows of wide tables (LESSONS.md #5), so facts are compact:
column roles and kinds, missingness, cardinalities, ranges, a few example values, and the target
distribution. Wide runs of same-kind numeric columns are collapsed into one line.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import pandas as pd

from actors.task import Competition

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ColumnFacts:
    name: str
    kind: str  # numeric | categorical | text | date | boolean
    dtype: str
    missing_train: int
    missing_test: int
    n_unique: int
    summary: str  # range or example values


@dataclass(frozen=True)
class DataFacts:
    n_train: int
    n_test: int
    id_column: str
    targets: list[str]
    columns: list[ColumnFacts]
    target_summary: str
    classes: list[str] = field(default_factory=list)  # sorted labels (strings) of a single-target classification
    train_only: list[str] = field(default_factory=list)  # columns in train but not test, besides the targets

    def by_kind(self, kind: str) -> list[str]:
        return [c.name for c in self.columns if c.kind == kind]

    def to_dict(self) -> dict:
        return asdict(self)

    def render(self, max_lines: int = 40) -> str:
        """Compact text for prompts; long runs of numeric columns are grouped."""
        lines = [f"train.csv: {self.n_train} rows; test.csv: {self.n_test} rows; id column: {self.id_column}; "
                 f"target: {', '.join(self.targets)} ({self.target_summary})"]
        if self.train_only:
            lines.append(f"Columns only in train (not features, ignore them): {', '.join(self.train_only)}")
        lines.append("Feature columns:")
        lines.extend(_group_lines(self.columns, max_lines))
        return "\n".join(lines)


def _group_lines(columns: list[ColumnFacts], max_lines: int) -> list[str]:
    plain = [c for c in columns if c.kind == "numeric" and c.missing_train == 0 and c.missing_test == 0]
    if len(columns) > max_lines and len(plain) > 5:
        rest = [c for c in columns if c not in plain]
        grouped = (f"- {len(plain)} numeric columns without missing values: {plain[0].name}, {plain[1].name}, ..., "
                   f"{plain[-1].name}")
        return [grouped] + [_line(c) for c in rest[: max_lines - 1]]
    lines = [_line(c) for c in columns[:max_lines]]
    if len(columns) > max_lines:
        lines.append(f"- ... and {len(columns) - max_lines} more columns")
    return lines


def _line(c: ColumnFacts) -> str:
    missing = ""
    if c.missing_train or c.missing_test:
        missing = f", missing {c.missing_train} in train / {c.missing_test} in test"
    return f"- {c.name}: {c.kind} ({c.dtype}), {c.n_unique} distinct, {c.summary}{missing}"


def _kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_numeric_dtype(s):
        return "numeric"
    text = s.dropna().astype(str)
    if len(text) and text.head(200).map(lambda v: bool(_DATE_RE.match(v))).mean() > 0.9:
        return "date"
    if text.nunique() > max(50, 0.2 * len(text)) and text.str.len().mean() > 8:
        return "text"
    return "categorical"


def _summary(s: pd.Series, kind: str) -> str:
    values = s.dropna()
    if not len(values):
        return "all missing"
    if kind == "numeric":
        return f"range {_num(values.min())}..{_num(values.max())}, mean {_num(values.mean())}"
    if kind == "date":
        return f"from {values.astype(str).min()} to {values.astype(str).max()}"
    if kind == "text":
        return f"free text, mean length {values.astype(str).str.len().mean():.0f}, e.g. {values.astype(str).iloc[0][:40]!r}"
    top = values.astype(str).value_counts().head(6).index.tolist()
    return "values " + ", ".join(repr(v[:20]) for v in top) + (" ..." if values.nunique() > 6 else "")


def _num(v: float) -> str:
    return f"{v:.4g}"


def class_labels(series: pd.Series) -> list[str]:
    """Sorted class labels as strings, numerically when the labels are numbers (as the harness encodes)."""
    values = series.dropna().unique()
    if pd.api.types.is_numeric_dtype(series):
        return [str(v) for v in sorted(values)]
    return sorted(str(v) for v in values)


def compute_facts(competition: Competition, train: pd.DataFrame, test: pd.DataFrame) -> DataFacts:
    targets = list(competition.target)
    features = [c for c in test.columns if c in train.columns and c != competition.id_column and c not in targets]
    columns = []
    for name in features:
        kind = _kind(pd.concat([train[name], test[name]], ignore_index=True))
        columns.append(ColumnFacts(
            name=name, kind=kind, dtype=str(train[name].dtype),
            missing_train=int(train[name].isna().sum()), missing_test=int(test[name].isna().sum()),
            n_unique=int(train[name].nunique()), summary=_summary(train[name], kind)))
    classes: list[str] = []
    if competition.task_type in ("binary", "multiclass") and len(targets) == 1:
        classes = class_labels(train[targets[0]])
        counts = train[targets[0]].astype(str).value_counts()
        target_summary = f"{len(classes)} classes: " + ", ".join(f"{k}={v}" for k, v in counts.head(12).items())
    else:
        y = train[targets].apply(pd.to_numeric, errors="coerce")
        target_summary = "; ".join(
            f"{t}: mean {_num(y[t].mean())}, std {_num(y[t].std())}, range {_num(y[t].min())}..{_num(y[t].max())}"
            for t in targets)
    train_only = [c for c in train.columns if c not in test.columns and c not in targets]
    return DataFacts(n_train=len(train), n_test=len(test), id_column=competition.id_column, targets=targets,
                     columns=columns, target_summary=target_summary, classes=classes, train_only=train_only)



def facts_from_dict(data: dict) -> DataFacts:
    """Inverse of DataFacts.to_dict (rows of Ray Data batches carry facts as plain dicts)."""
    data = dict(data)
    data["columns"] = [ColumnFacts(**c) for c in data.get("columns", [])]
    return DataFacts(**data)
