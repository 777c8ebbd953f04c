"""The stated rules that turn one R dataset into a competition, or into a skip with a reason.

Order of the checks (the first that fails names the skip reason):
1. non_tabular: not a data frame; documented as a time series, matrix, table, list, vector...;
   only `time`/`value` columns or one column; a contingency table (a `Freq` count column).
2. too_small (< min_rows rows), too_wide (> max_columns columns), too_many_missing (> max_missing_share
   of the cells empty).
3. the target, among the columns that can be one (not an id: `id`-named, or unique consecutive
   integers, or near-unique strings; not constant; not a date; not free text; at most
   max_target_missing empty), tried in this order:
   a. a column the documentation calls the response / outcome / dependent variable;
   b. the column most often on the left of a model formula (`lm(y ~ x)`) in the R examples;
   c. a column named like the dataset (`bwght` in `bwght`, `Width` in `LeafWidth`);
   d. a conventionally named one (y, response, outcome, target, class, label, ...);
   e. the first column, then the last, then the others in order.
   Its type gives the task: 2 values -> binary (roc_auc); 3..max_classes labels (text, or integers
   with at most max_int_classes values), each with min_class_rows rows -> multiclass (accuracy);
   other numbers -> regression (rmse, or rmsle when non-negative with skewness > rmsle_skew).
   A candidate is taken only if a small tree predicts it from the other columns better than chance
   (cross-validated), and not perfectly (a deterministic function of other columns is no contest).
   No candidate left: no_target.
4. too_narrow: fewer than 2 feature columns besides the target.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from jobs.rdatasets_docs import RDoc, normalise

_NON_TABULAR = re.compile(r"\b(time[- ]series|class\s*[`\"']*(ts|mts|msts|zoo|xts|matrix|table|list|dist|array|"
                          r"numeric|character|factor|integer|dendrogram|hclust)\b|(numeric|character) vector|"
                          r"\ba (matrix|list|vector|table|array)\b|contingency table)", re.IGNORECASE)
_FRAME = re.compile(r"data[ .]?frame|tibble|tsibble|dataset with", re.IGNORECASE)
_ID_TOKENS = {"id", "ids", "identifier", "uid", "idno", "rownames", "obs", "obsno", "caseid", "index", "no", "nr",
              "seq", "subject", "subj", "patient", "patnr", "studyid", "case", "code", "fips", "zip", "zipcode"}
# A documented meaning like "District code" or "identification number" marks an identifier.
_DOCUMENTED_ID = re.compile(r"\b(identifier|identification|id|code|serial number|id number)\b", re.IGNORECASE)
_DATE_NAMES = {"date", "dates", "datetime", "year", "years", "yr", "month", "day", "week", "hour", "minute",
               "quarter", "period", "timestamp", "time_stamp"}
CONVENTIONAL_TARGETS = ("y", "response", "outcome", "target", "class", "label", "result", "diagnosis",
                        "survived", "default", "churn")


class RulesConfig(BaseModel):
    """Limits behind the rules above."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_rows: int = Field(100, gt=0, description="Fewer rows (with a target value) than this: too_small.")
    max_rows: int = Field(10_000, gt=0, description="Larger datasets are subsampled to this many rows (seeded): "
                          "plenty for a competition, and it bounds the cost of the baselines.")
    max_columns: int = Field(100, gt=0, description="More columns than this: too_wide.")
    max_missing_share: float = Field(0.5, ge=0, le=1, description="Share of empty cells above which: too_many_missing.")
    max_target_missing: float = Field(0.2, ge=0, le=1, description="A column with more empty cells is no target.")
    max_classes: int = Field(20, ge=2, description="Most labels a classification target may have.")
    max_int_classes: int = Field(10, ge=2, description="Integer columns with at most this many values are classes.")
    min_class_rows: int = Field(10, gt=0, description="Rows each class needs (rarer classes may be dropped, below).")
    max_rare_share: float = Field(0.05, ge=0, le=1, description="Rows of too-rare classes that may be dropped.")
    rmsle_skew: float = Field(2.0, gt=0, description="Non-negative targets more skewed than this get rmsle.")
    min_features: int = Field(2, ge=1, description="Fewer feature columns than this: too_narrow.")
    max_candidates: int = Field(5, gt=0, description="Target candidates tried with the signal check.")


@dataclass(frozen=True)
class Skip:
    """Why a dataset makes no competition: a short reason code and a sentence."""

    reason: str
    detail: str


@dataclass(frozen=True)
class TargetChoice:
    """The chosen target, its task and metric, the rule that chose it, and how its values change."""

    column: str
    task_type: str
    metric: str
    rule: str
    positive_label: str | None = None  # binary: the original value now coded 1
    dropped_classes: tuple[str, ...] = ()  # classes too rare to keep (their rows are dropped)


def non_tabular(frame: object, doc: RDoc) -> Skip | None:
    if not isinstance(frame, pd.DataFrame):
        return Skip("non_tabular", f"not a data frame ({type(frame).__name__})")
    stated = (doc.section("Format") or doc.section("Value") or doc.section("Description"))[:300]
    m = _NON_TABULAR.search(stated)
    if m and not _FRAME.search(stated):
        return Skip("non_tabular", f"documented as {m.group(0)!r}, not a data frame")
    columns = {str(c).lower() for c in frame.columns} - {"rownames"}
    if columns <= {"time", "value"} or len(columns) <= 1:
        return Skip("non_tabular", f"a vector or series (columns: {', '.join(sorted(columns)) or 'none'})")
    if "freq" in columns and all(not pd.api.types.is_float_dtype(frame[c]) for c in frame.columns
                                  if str(c).lower() not in ("freq", "rownames")):
        return Skip("non_tabular", "a contingency table (Freq counts), not one row per observation")
    return None


def tidy_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """String column names, no R row numbers, no all-empty columns, unique names."""
    frame = frame.copy()
    frame.columns = [str(c).strip() or f"col{i}" for i, c in enumerate(frame.columns)]
    if "rownames" in frame.columns:
        names = frame["rownames"].astype(str)
        # R's row numbers carry nothing; meaningful row names (car models, countries) are kept.
        frame = frame.drop(columns="rownames") if names.str.fullmatch(r"\d+").all() else \
            frame.rename(columns={"rownames": "row_name"})
    frame = frame.loc[:, frame.notna().any()]
    seen: dict[str, int] = {}
    unique = []
    for c in frame.columns:
        seen[c] = seen.get(c, 0) + 1
        unique.append(c if seen[c] == 1 else f"{c}_{seen[c]}")
    frame.columns = unique
    return frame.reset_index(drop=True)


def size_problem(frame: pd.DataFrame, cfg: RulesConfig) -> Skip | None:
    if len(frame) < cfg.min_rows:
        return Skip("too_small", f"{len(frame)} rows (< {cfg.min_rows})")
    if frame.shape[1] > cfg.max_columns:
        return Skip("too_wide", f"{frame.shape[1]} columns (> {cfg.max_columns})")
    share = float(frame.isna().to_numpy().mean())
    if share > cfg.max_missing_share:
        return Skip("too_many_missing", f"{share:.0%} of the cells are empty (> {cfg.max_missing_share:.0%})")
    return None


def _tokens(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return {t for t in re.split(r"[^a-zA-Z0-9]+", spaced.lower()) if t}


def is_id_like(name: str, s: pd.Series) -> bool:
    """An identifier: named like one; unique consecutive integers; near-unique strings; more than 10
    codes or labels that each repeat equally often (the unit of a balanced panel: state, subject)."""
    if _tokens(name) & _ID_TOKENS or name.lower().endswith("_id"):
        return True
    values = s.dropna()
    if values.empty:
        return False
    unique = values.nunique()
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        if not bool((values == np.round(values)).all()):
            return False
        if unique == len(values):
            return float(values.max() - values.min()) + 1 == len(values)
    elif unique >= 0.95 * len(values) and len(values) >= 20:
        return True
    counts = values.value_counts()
    return unique > 10 and counts.min() == counts.max()


def _is_text(s: pd.Series) -> bool:
    values = s.dropna().astype(str)
    return values.str.split().str.len().mean() >= 3 or values.nunique() > 50


def is_date(name: str, s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s) or _tokens(name) & _DATE_NAMES:
        return True
    if s.dtype == object:
        sample = s.dropna().astype(str).head(50)
        return bool(len(sample)) and sample.str.fullmatch(r"\d{4}-\d{2}-\d{2}.*|\d{1,2}/\d{1,2}/\d{2,4}.*").all()
    return False


def why_not_target(name: str, s: pd.Series, cfg: RulesConfig, meaning: str = "") -> str | None:
    """None if the column may be a target, else the reason it may not. `meaning`: its documentation."""
    values = s.dropna()
    if values.nunique() < 2:
        return "constant"
    if s.isna().mean() > cfg.max_target_missing:
        return f"{s.isna().mean():.0%} missing"
    if is_id_like(name, s) or (_DOCUMENTED_ID.search(meaning) and values.nunique() > 0.5 * len(values)):
        return "id-like"
    if is_date(name, s):
        return "a date"
    numeric = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
    if not numeric and values.nunique() > 2 and _is_text(values):
        return "free text or too many labels"
    return None


def candidates(frame: pd.DataFrame, doc: RDoc, item: str, cfg: RulesConfig) -> list[tuple[str, str]]:
    """(column, rule) for each column that may be a target, in the order they are tried."""
    usable = [c for c in frame.columns
              if why_not_target(c, frame[c], cfg, doc.columns.get(normalise(c), "")) is None]
    ordered: list[tuple[str, str]] = []
    if (documented := doc.documented_response(usable)) is not None:
        ordered.append((documented, "documented-response"))
    if (in_formula := doc.formula_response(usable)) is not None:
        ordered.append((in_formula, "example-formula"))
    dataset = normalise(item)
    ordered += [(c, "named-like-dataset") for c in usable
                if len(normalise(c)) >= 3 and (normalise(c) in dataset or dataset in normalise(c))]
    by_name = {normalise(c): c for c in usable}
    ordered += [(by_name[n], "conventional-name") for n in CONVENTIONAL_TARGETS if n in by_name]
    if usable:
        ordered += [(usable[0], "first-column"), (usable[-1], "last-column")]
    ordered += [(c, "other-column") for c in usable]
    seen: set[str] = set()
    return [(c, r) for c, r in ordered if not (c in seen or seen.add(c))]  # type: ignore[func-returns-value]


def task_of(s: pd.Series, cfg: RulesConfig) -> TargetChoice | str:
    """Task type and metric for a target column (rule left blank), or why it makes no task."""
    values = s.dropna()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    counts = values.astype(str).value_counts() if not numeric else values.value_counts()
    k = len(counts)
    integer = numeric and bool((values == np.round(values)).all())
    if k == 2:
        if counts.min() < cfg.min_class_rows:
            return f"binary with a class of {counts.min()} rows"
        if pd.api.types.is_bool_dtype(values) or numeric:
            positive = str(max(values.unique()))
        else:  # the rarer label is the event to score; ties go to the later label
            positive = str(sorted(counts.index, key=lambda v: (counts[v], str(v)))[0]) \
                if counts.iloc[0] != counts.iloc[-1] else str(sorted(counts.index)[-1])
        return TargetChoice(str(s.name), "binary", "roc_auc", "", positive_label=positive)
    if not numeric or (integer and k <= cfg.max_int_classes):
        rare = counts[counts < cfg.min_class_rows]
        kept = k - len(rare)
        if rare.sum() > cfg.max_rare_share * len(values) or kept < 3:
            if numeric and k >= 5:
                return TargetChoice(str(s.name), "regression", _regression_metric(values, cfg), "")
            return f"{k} classes, {len(rare)} with fewer than {cfg.min_class_rows} rows"
        if kept > cfg.max_classes:
            return f"{kept} classes (> {cfg.max_classes})"
        return TargetChoice(str(s.name), "multiclass", "accuracy", "",
                            dropped_classes=tuple(sorted(str(r) for r in rare.index)))
    return TargetChoice(str(s.name), "regression", _regression_metric(values, cfg), "")


def _regression_metric(values: pd.Series, cfg: RulesConfig) -> str:
    v = values.astype(float)
    return "rmsle" if v.min() >= 0 and float(v.skew()) > cfg.rmsle_skew else "rmse"
