"""One contestant of bench/quality.py on one task, run as its own process:

    python bench/contestants.py SPEC.json

SPEC.json (written by bench/quality_run.py) names the contestant, train.csv / test.csv, the
task's id column, targets, task type, metric, budget and the column kinds the project's facts
found. This process writes OUT_DIR/submission.csv (the grader's submission contract, see
actors/grading/grader.py) and OUT_DIR/info.json (library version, fit seconds, chosen model); the parent
grades the file with the project's grader. It never sees answers.csv.

Why a standalone script that imports nothing from the project: AutoGluon may live in another
virtualenv (it pins its own scikit-learn / torch), so the same file must run under any Python that
has pandas, numpy, scikit-learn and the contestant's library; and a separate process gets a hard,
process-group-wide timeout from the parent, so a hanging AutoML library cannot stop the bench.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("bench.contestants")
# Probability metrics: the submission holds probabilities, everything else labels or values.
PROBA_METRICS = ("roc_auc", "mean_roc_auc", "multiclass_log_loss")
LABEL_METRICS = ("accuracy", "f1_macro")
# Regression metrics on logs: AutoML contestants fit the transformed target (and invert it), as the
# metric asks; FLAML and AutoGluon have no rmsle of their own.
LOG1P_METRICS = ("rmsle", "mean_columnwise_rmsle")
FLAML_METRIC = {"roc_auc": "roc_auc", "mean_roc_auc": "roc_auc", "accuracy": "accuracy", "f1_macro": "macro_f1",
                "multiclass_log_loss": "log_loss", "rmse": "rmse", "rmse_log": "rmse", "rmsle": "rmse",
                "mean_columnwise_rmsle": "rmse", "mae": "mae"}
AUTOGLUON_METRIC = {"roc_auc": "roc_auc", "mean_roc_auc": "roc_auc", "accuracy": "accuracy", "f1_macro": "f1_macro",
                    "multiclass_log_loss": "log_loss", "rmse": "root_mean_squared_error",
                    "rmse_log": "root_mean_squared_error", "rmsle": "root_mean_squared_error",
                    "mean_columnwise_rmsle": "root_mean_squared_error", "mae": "mean_absolute_error"}


@dataclass(frozen=True)
class Spec:
    """What the parent asks for; field names match the JSON keys."""

    contestant: str
    train: str
    test: str
    id_column: str
    targets: list[str]
    task_type: str
    metric: str
    budget_s: float
    kinds: dict[str, str]  # feature column -> numeric | categorical | text | date | boolean (actors/facts.py)
    out_dir: str
    seed: int = 0
    threads: int | None = None  # None: each library's default (all cores)


@dataclass(frozen=True)
class Fitted:
    """Predictions for one target: labels, values, or probabilities with their class order."""

    values: np.ndarray
    classes: list | None = None  # set for probabilities: the column order of `values`
    model: str = ""


def read_csv(path: str) -> pd.DataFrame:
    # The project's reader (actors/grading.read_table): only empty cells are missing, so a label
    # such as "NA" or "None" stays text on both sides.
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def is_classification(spec: Spec) -> bool:
    return spec.task_type in ("binary", "multiclass", "multilabel")


def sort_classes(values: list) -> list:
    """Class order of the grader: numeric order for numbers, text order otherwise."""
    try:
        return sorted(values, key=float)
    except (TypeError, ValueError):
        return sorted(values, key=str)


# -- contestants: each fits one target and predicts test -------------------------------------------

def fit_flaml(spec: Spec, x: pd.DataFrame, y: pd.Series, x_test: pd.DataFrame, budget: float) -> Fitted:
    from flaml import AutoML

    automl = AutoML()
    task = "classification" if is_classification(spec) else "regression"
    # FLAML sees the raw columns (its own preprocessing turns text into categories), dates parsed.
    x, x_test = _parse_dates(x, spec.kinds), _parse_dates(x_test, spec.kinds)
    automl.fit(X_train=x, y_train=y, task=task, metric=FLAML_METRIC[spec.metric], time_budget=budget,
               seed=spec.seed, verbose=0, n_jobs=spec.threads or -1)
    model = f"{automl.best_estimator} {automl.best_config}"
    if spec.metric in PROBA_METRICS:
        return Fitted(automl.predict_proba(x_test), list(automl.classes_), model)
    return Fitted(np.asarray(automl.predict(x_test)), None, model)


def fit_autogluon(spec: Spec, x: pd.DataFrame, y: pd.Series, x_test: pd.DataFrame, budget: float) -> Fitted:
    from autogluon.tabular import TabularPredictor

    label = "__target__"
    problem = {"binary": "binary", "multiclass": "multiclass", "multilabel": "binary"}.get(spec.task_type, "regression")
    if problem == "binary" and y.nunique() > 2:
        problem = "multiclass"
    # Short budgets: medium_quality trains a handful of fast models and skips bagging/stacking, which
    # would not finish a single fold in a minute on 2 cores; good_quality needs several minutes.
    presets = "medium_quality" if budget < 600 else "good_quality"
    x, x_test = _parse_dates(x, spec.kinds), _parse_dates(x_test, spec.kinds)
    predictor = TabularPredictor(label=label, problem_type=problem, eval_metric=AUTOGLUON_METRIC[spec.metric],
                                 path=str(Path(spec.out_dir) / "autogluon"), verbosity=2)
    predictor.fit(x.assign(**{label: y.to_numpy()}), time_limit=budget, presets=presets,
                  num_cpus=spec.threads or "auto")
    model = f"{presets}: {predictor.model_best}"
    if spec.metric in PROBA_METRICS:
        proba = predictor.predict_proba(x_test)
        return Fitted(proba.to_numpy(), list(proba.columns), model)
    return Fitted(predictor.predict(x_test).to_numpy(), None, model)


def fit_hgb(spec: Spec, x: pd.DataFrame, y: pd.Series, x_test: pd.DataFrame, budget: float) -> Fitted:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from_kinds = _hgb_features(x, x_test, spec.kinds)
    cls = HistGradientBoostingClassifier if is_classification(spec) else HistGradientBoostingRegressor
    model = cls(categorical_features=from_kinds[2] or None, random_state=spec.seed)
    model.fit(from_kinds[0], y)
    return _sklearn_predict(spec, model, from_kinds[1], "HistGradientBoosting (defaults)")


def fit_tfidf(spec: Spec, x: pd.DataFrame, y: pd.Series, x_test: pd.DataFrame, budget: float) -> Fitted:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    kinds = spec.kinds
    text = [c for c in x.columns if kinds.get(c) == "text"]
    cats = [c for c in x.columns if kinds.get(c) in ("categorical", "boolean")]
    nums = [c for c in x.columns if kinds.get(c) == "numeric"]
    dates = [c for c in x.columns if kinds.get(c) == "date"]
    x, x_test = _date_parts(x, dates), _date_parts(x_test, dates)
    nums += [c for c in x.columns if c.startswith(tuple(f"{d}__" for d in dates))]
    parts: list[tuple[str, Any, Any]] = [
        (f"tfidf_{c}", make_pipeline(FunctionTransformer(_as_text), TfidfVectorizer()), [c]) for c in text]
    if cats:
        parts.append(("onehot", make_pipeline(FunctionTransformer(_as_text_frame),
                                              OneHotEncoder(handle_unknown="ignore")), cats))
    if nums:
        parts.append(("scaled", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums))
    est = LogisticRegression(max_iter=1000) if is_classification(spec) else Ridge()
    model = make_pipeline(ColumnTransformer(parts), est)
    model.fit(x, y)
    return _sklearn_predict(spec, model, x_test, f"TF-IDF + {type(est).__name__} (defaults), text: {', '.join(text)}")


def _parse_dates(x: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Date columns (as the project's facts see them) as datetime64. read_csv leaves them text, and
    FLAML expands only datetime64 columns into date parts; a text date would be one category per row."""
    dates = [c for c in x.columns if kinds.get(c) == "date"]
    return x.assign(**{c: pd.to_datetime(x[c], errors="coerce") for c in dates}) if dates else x


def _sklearn_predict(spec: Spec, model: Any, x_test: pd.DataFrame, name: str) -> Fitted:
    if spec.metric in PROBA_METRICS:
        return Fitted(model.predict_proba(x_test), list(model.classes_), name)
    return Fitted(np.asarray(model.predict(x_test)), None, name)


def _as_text(frame: pd.DataFrame) -> np.ndarray:
    return frame.iloc[:, 0].fillna("").astype(str).to_numpy()


def _as_text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), "__missing__").astype(str)


def _date_parts(x: pd.DataFrame, dates: list[str]) -> pd.DataFrame:
    """Dates as numbers (year, month, day of year): the plain encoding any baseline would use."""
    out = x.drop(columns=dates)
    for c in dates:
        d = pd.to_datetime(x[c], errors="coerce")
        out[f"{c}__year"], out[f"{c}__month"], out[f"{c}__doy"] = d.dt.year, d.dt.month, d.dt.day_of_year
    return out


def _hgb_features(x: pd.DataFrame, x_test: pd.DataFrame, kinds: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """Tabular columns only (text dropped), dates as numbers, categoricals ordinal-encoded on train
    and declared categorical to HGB (which takes at most 255 categories; wider ones stay ordinal)."""
    from sklearn.preprocessing import OrdinalEncoder

    keep = [c for c in x.columns if kinds.get(c) != "text"]
    dates = [c for c in keep if kinds.get(c) == "date"]
    x, x_test = _date_parts(x[keep], dates), _date_parts(x_test[keep], dates)
    cats = [c for c in x.columns if kinds.get(c) == "categorical"]
    categorical: list[str] = []
    if cats:
        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)
        enc.fit(_cat_strings(x[cats]))
        x[cats], x_test[cats] = enc.transform(_cat_strings(x[cats])), enc.transform(_cat_strings(x_test[cats]))
        categorical = [c for c, values in zip(cats, enc.categories_) if len(values) <= 250]
    return x.astype(float), x_test.astype(float), [list(x.columns).index(c) for c in categorical]


def _cat_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories as text with NaN for missing: the one mix OrdinalEncoder sorts without error."""
    return frame.astype(str).where(frame.notna(), np.nan)


FITTERS = {"flaml": fit_flaml, "autogluon": fit_autogluon, "baseline-hgb": fit_hgb, "baseline-tfidf": fit_tfidf}


# -- one task: every target, then the submission -------------------------------------------------

def target_transform(spec: Spec) -> tuple[Any, Any]:
    """(forward, inverse) applied around an AutoML fit so its rmse optimises the task's log metric."""
    if spec.contestant in ("flaml", "autogluon") and spec.metric in LOG1P_METRICS:
        return np.log1p, lambda v: np.clip(np.expm1(v), 0, None)
    if spec.contestant in ("flaml", "autogluon") and spec.metric == "rmse_log":
        return np.log, np.exp
    return (lambda v: v), (lambda v: v)


def submission_columns(spec: Spec, target: str, fitted: Fitted, y: pd.Series) -> dict[str, np.ndarray]:
    """This target's columns in the grader's contract (actors/grading/grader.py module docstring)."""
    if spec.metric == "multiclass_log_loss":
        proba = np.clip(np.asarray(fitted.values, dtype=float), 0, 1)
        proba = proba / proba.sum(axis=1, keepdims=True)
        return {str(c): proba[:, i] for i, c in enumerate(fitted.classes or [])}
    if spec.metric in ("roc_auc", "mean_roc_auc"):
        positive = str(sort_classes(list(y.unique()))[-1])  # the grader's positive: the larger label
        index = [str(c) for c in fitted.classes or []].index(positive)
        return {target: np.clip(np.asarray(fitted.values, dtype=float)[:, index], 0, 1)}
    if spec.metric in LABEL_METRICS:
        return {target: np.asarray(fitted.values)}
    values = np.asarray(fitted.values, dtype=float)
    # Keep an untuned model's submission gradable: the log metrics reject negative predictions.
    if spec.metric in LOG1P_METRICS:
        values = np.clip(values, 0, None)
    elif spec.metric == "rmse_log":
        values = np.clip(values, 1e-9, None)
    return {target: values}


def run(spec: Spec) -> dict[str, Any]:
    train, test = read_csv(spec.train), read_csv(spec.test)
    features = [c for c in test.columns if c in train.columns and c != spec.id_column and c not in spec.targets]
    fitter = FITTERS[spec.contestant]
    forward, inverse = target_transform(spec)
    columns: dict[str, np.ndarray] = {spec.id_column: test[spec.id_column].to_numpy()}
    models, start = [], time.monotonic()
    for target in spec.targets:
        known = train[target].notna()
        x, y = train.loc[known, features].reset_index(drop=True), train.loc[known, target].reset_index(drop=True)
        if not is_classification(spec):
            y = pd.Series(forward(y.astype(float).to_numpy()), name=target)
        # Several targets share the task's budget: one fit each, one after the other.
        fitted = fitter(spec, x, y, test[features], spec.budget_s / len(spec.targets))
        if not is_classification(spec):
            fitted = Fitted(inverse(np.asarray(fitted.values, dtype=float)), None, fitted.model)
        columns |= submission_columns(spec, target, fitted, y)
        models.append(f"{target}: {fitted.model}")
        log.info("%s %s: fitted %s", spec.contestant, target, fitted.model)
    out = Path(spec.out_dir)
    pd.DataFrame(columns).to_csv(out / "submission.csv", index=False)
    return {"contestant": spec.contestant, "library": library_version(spec.contestant),
            "fit_seconds": round(time.monotonic() - start, 2), "models": models}


def library_version(contestant: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    package = {"flaml": "flaml", "autogluon": "autogluon.tabular"}.get(contestant, "scikit-learn")
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return package


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    spec = Spec(**json.loads(Path(argv[1]).read_text()))
    info = run(spec)
    (Path(spec.out_dir) / "info.json").write_text(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
