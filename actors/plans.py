"""Plan-style stages: the model writes a small program in a JSON grammar, rendered to the stage code.

For preprocessing and the model choice, the decisions are task-specific (which column gets which
treatment, which estimator with which hyper-parameters) while the code around them is not. A 0.5B
model makes those decisions well enough but, writing pandas freely, fails on 10 of 11 open tasks
(LESSONS.md; our runs: unseen-label encoders, 30-column lists cut off by max_tokens, ColumnTransformer
misuse). In plan style the reply is constrained by a JSON schema whose enums are this task's real
column names, the toolkit operations (actors/harness/toolkit.py) and the installed estimators, so
every reply parses and names only things that exist; it is rendered to ordinary Python, stored as
the stage's code, and checked on the sample exactly like free-form code. Errors still go back to
the model (a plan can forget a column with missing values, pick a model without predict_proba...).

`CoderConfig.styles` chooses per stage: "plan" or "code" (free-form function).
"""
from __future__ import annotations

import json
from typing import Any

from actors.context import TaskContext
from actors.integrate import StageCodeError

OPS = ("fill_missing", "to_number", "date_features", "text_features", "encode_categories", "one_hot", "drop_columns")
PLAN_STAGES = ("preprocess", "model", "train")

# Estimators a model plan may name, per metric kind, with the hyper-parameters it may set (name -> type).
_TREES = {"n_estimators": int, "max_depth": int, "min_samples_leaf": int, "max_features": float}
_BOOST = {"n_estimators": int, "learning_rate": float, "num_leaves": int, "max_depth": int,
          "min_child_samples": int, "subsample": float, "colsample_bytree": float, "reg_lambda": float}
_HGB = {"max_iter": int, "learning_rate": float, "max_leaf_nodes": int, "max_depth": int, "min_samples_leaf": int,
        "l2_regularization": float}
_GB = {"n_estimators": int, "learning_rate": float, "max_depth": int, "subsample": float, "min_samples_leaf": int}
ESTIMATORS: dict[str, dict[str, tuple[str, dict[str, type]]]] = {
    "classifier": {
        "LGBMClassifier": ("lightgbm", _BOOST),
        "HistGradientBoostingClassifier": ("sklearn.ensemble", _HGB),
        "RandomForestClassifier": ("sklearn.ensemble", _TREES),
        "ExtraTreesClassifier": ("sklearn.ensemble", _TREES),
        "GradientBoostingClassifier": ("sklearn.ensemble", _GB),
        "LogisticRegression": ("sklearn.linear_model", {"C": float, "max_iter": int}),
        "KNeighborsClassifier": ("sklearn.neighbors", {"n_neighbors": int}),
    },
    "regressor": {
        "LGBMRegressor": ("lightgbm", _BOOST),
        "HistGradientBoostingRegressor": ("sklearn.ensemble", _HGB),
        "RandomForestRegressor": ("sklearn.ensemble", _TREES),
        "ExtraTreesRegressor": ("sklearn.ensemble", _TREES),
        "GradientBoostingRegressor": ("sklearn.ensemble", _GB),
        "Ridge": ("sklearn.linear_model", {"alpha": float}),
        "KNeighborsRegressor": ("sklearn.neighbors", {"n_neighbors": int}),
    },
}
_SCALED = {"LogisticRegression", "KNeighborsClassifier", "Ridge", "KNeighborsRegressor"}  # need scaled inputs
_SEEDED = {"LGBMClassifier", "LGBMRegressor", "HistGradientBoostingClassifier", "HistGradientBoostingRegressor",
           "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
           "GradientBoostingClassifier", "GradientBoostingRegressor", "LogisticRegression"}


def _family(ctx: TaskContext) -> str:
    return "regressor" if ctx.kind == "value" else "classifier"


def schema(ctx: TaskContext, stage: str) -> dict[str, Any]:
    """The JSON schema (enforced by the engine's grammar) of one stage's plan for this task."""
    if stage == "preprocess":
        applicable = op_columns(ctx)
        # One key per operation that applies, all required (an empty list is "not used"), in a fixed
        # order: a list of steps let the 0.5B model loop ("drop_columns" six times over every column).
        return {"type": "object", "properties": {
            op: {"type": "array", "maxItems": len(cols), "items": {"type": "string", "enum": cols}}
            for op, cols in applicable.items()}, "required": list(applicable), "additionalProperties": False}
    if stage == "model":
        table = ESTIMATORS[_family(ctx)]
        names = sorted({p for _, params in table.values() for p in params})
        param = {"type": "object", "properties": {"name": {"type": "string", "enum": names},
                                                  "value": {"type": "number"}},
                 "required": ["name", "value"], "additionalProperties": False}
        return {"type": "object", "properties": {
            "estimator": {"type": "string", "enum": list(table)},
            "params": {"type": "array", "maxItems": 6, "items": param}},
            "required": ["estimator", "params"], "additionalProperties": False}
    if stage == "train":
        return {"type": "object", "properties": {"fit_option": {"type": "string", "enum": list(fit_options(ctx))}},
                "required": ["fit_option"], "additionalProperties": False}
    raise ValueError(f"stage {stage!r} has no plan style (plan stages: {PLAN_STAGES})")


def fit_options(ctx: TaskContext) -> tuple[str, str]:
    """What a train plan may choose: class weights for classification, a log target for regression."""
    return ("none", "log_target") if ctx.kind == "value" else ("none", "balanced_class_weights")


def op_columns(ctx: TaskContext) -> dict[str, list[str]]:
    """Which columns each toolkit operation may be applied to: the grammar admits only type-correct
    steps (r4, chile-vote: text_features on the numeric age and income replaced them by the length
    of their digits). Operations with no such column are left out."""
    f = ctx.facts
    missing = [c.name for c in f.columns if c.missing_train or c.missing_test]
    table = {
        "fill_missing": missing,
        "encode_categories": [c.name for c in f.columns if c.kind in ("categorical", "boolean", "text")],
        "one_hot": [c.name for c in f.columns if c.kind in ("categorical", "boolean")],
        "date_features": f.by_kind("date"),
        "text_features": f.by_kind("text"),
        "to_number": f.by_kind("boolean"),
        # dropping is an alternative to extracting features from text or dates; numbers and
        # categories are features as they are (r5: plans dropped every measurement of penguins)
        "drop_columns": f.by_kind("text") + f.by_kind("date"),
    }
    return {op: table[op] for op in OPS if table[op]}


def describe(ctx: TaskContext, stage: str) -> str:
    """What the reply must contain, for the prompt (the grammar enforces the shape)."""
    if stage == "preprocess":
        ops = list(op_columns(ctx))
        return ("Reply with JSON {" + ", ".join(f'"{op}": [...]' for op in ops) + "}: for each toolkit operation, "
                "the feature columns to apply it to ([] for none). Numeric columns without missing values "
                "need nothing.")
    if stage == "train":
        if ctx.kind == "value":
            return ('Reply with JSON {"fit_option": ...}: "none" (fit on the target as it is) or "log_target" '
                    "(fit on log(1 + target) and invert the transform when predicting; for skewed positive targets).")
        return ('Reply with JSON {"fit_option": ...}: "none" (plain fit) or "balanced_class_weights" (weight rows '
                "so that every class counts equally; for imbalanced classes).")
    table = ESTIMATORS[_family(ctx)]
    lines = [f"- {name}: {', '.join(params)}" for name, (_, params) in table.items()]
    return ("Reply with JSON {\"estimator\": ..., \"params\": [{\"name\": ..., \"value\": ...}]}: the estimator "
            "and up to 6 hyper-parameters. Estimators and the parameters each accepts:\n" + "\n".join(lines))


def parse(text: str, stage: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StageCodeError(f"the reply is not valid JSON ({exc.msg}); reply with the JSON plan only") from exc
    if not isinstance(data, dict):
        raise StageCodeError("the reply must be a JSON object")
    return data


def render(ctx: TaskContext, stage: str, plan: dict[str, Any]) -> str:
    """The stage function for a plan. Unknown values are refused with a message for the model."""
    if stage == "preprocess":
        return render_preprocess(ctx, plan)
    if stage == "train":
        return render_train(ctx, plan)
    return render_model(ctx, plan)


def render_train(ctx: TaskContext, plan: dict[str, Any]) -> str:
    option = plan.get("fit_option", "none")
    allowed = fit_options(ctx)
    if option not in allowed:
        raise StageCodeError(f"unknown fit_option {option!r}; use one of {', '.join(allowed)}")
    if option == "balanced_class_weights":
        return ("from sklearn.utils.class_weight import compute_sample_weight\n\n\n"
                "def train_model(model, X, y):\n"
                "    return fit_weighted(model, X, y, compute_sample_weight('balanced', y))\n")
    if option == "log_target":
        return ("from sklearn.compose import TransformedTargetRegressor\n\n\n"
                "def train_model(model, X, y):\n"
                "    if np.min(y) <= -1:  # log1p needs targets above -1: fit on the target as it is\n"
                "        return model.fit(X, y)\n"
                "    model = TransformedTargetRegressor(regressor=model, func=np.log1p, inverse_func=np.expm1)\n"
                "    return model.fit(X, y)\n")
    return "def train_model(model, X, y):\n    model.fit(X, y)\n    return model\n"


def render_preprocess(ctx: TaskContext, plan: dict[str, Any]) -> str:
    applicable = op_columns(ctx)
    unknown_ops = [op for op in plan if op not in applicable]
    if unknown_ops:
        raise StageCodeError(f"operations {unknown_ops} do not apply to this task; use {', '.join(applicable)}")
    lines = ["def preprocess(train, test):"]
    for op in OPS:  # the toolkit's order: fill, convert, extract, encode, drop
        cols = list(dict.fromkeys(plan.get(op) or []))
        unknown = [c for c in cols if c not in applicable.get(op, [])]
        if unknown:
            raise StageCodeError(f"{op} cannot take columns {unknown}; it applies to {applicable.get(op, [])[:40]}")
        if cols:
            lines.append(f"    train, test = {op}(train, test, {cols!r})")
    lines.append("    return train, test")
    return "\n".join(lines) + "\n"


def render_model(ctx: TaskContext, plan: dict[str, Any]) -> str:
    table = ESTIMATORS[_family(ctx)]
    name = plan.get("estimator")
    if name not in table:
        raise StageCodeError(f"unknown estimator {name!r} for a {_family(ctx)}; use one of {', '.join(table)}")
    module, allowed = table[name]
    kwargs: dict[str, Any] = {}
    for p in plan.get("params") or []:
        key, value = p.get("name"), p.get("value")
        if key in allowed and isinstance(value, (int, float)) and value == value:  # drop what it cannot take
            kwargs[key] = _bounded(key, allowed[key](value))
    if name.startswith("LGBM"):
        kwargs["verbose"] = -1
    args = ", ".join([f"{k}={v!r}" for k, v in kwargs.items()] + (["random_state=SEED"] if name in _SEEDED else []))
    imports = [f"from {module} import {name}"]
    body = f"{name}({args})"
    if name in _SCALED:
        imports += ["from sklearn.pipeline import make_pipeline", "from sklearn.preprocessing import StandardScaler"]
        body = f"make_pipeline(StandardScaler(), {body})"
    return "\n".join(imports) + f"\n\n\ndef build_model():\n    return {body}\n"


_BOUNDS = {"max_features": (0.05, 1.0), "subsample": (0.05, 1.0), "colsample_bytree": (0.05, 1.0),
           "learning_rate": (1e-4, 1.0), "n_estimators": (1, 2000), "max_iter": (1, 2000), "C": (1e-6, 1e6),
           "alpha": (0.0, 1e6), "reg_lambda": (0.0, 1e6), "l2_regularization": (0.0, 1e6), "num_leaves": (2, 4096),
           "max_leaf_nodes": (2, 4096)}


def _bounded(key: str, value: int | float) -> int | float:
    """Clip a hyper-parameter into the range the library accepts (ints default to at least 1)."""
    low, high = _BOUNDS.get(key, (1, 10**6))
    return type(value)(min(max(value, low), high))


def example_plans(stage: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(instruction part, plan) pairs for the made-up house task of the coder's few-shot turns. Two
    different pairs for model and train, so a small model learns to follow the instruction rather
    than to copy the one example's estimator (r4: every task got the example's extra-trees)."""
    if stage == "preprocess":
        return [("encode city, fill rooms, split built into year and month, use the length of notes",
                 {"fill_missing": ["rooms"], "date_features": ["built"], "text_features": ["notes"],
                  "encode_categories": [], "one_hot": ["city"], "drop_columns": []})]
    if stage == "train":
        second = (("train on the logarithm of price", {"fit_option": "log_target"}) if kind == "value" else
                  ("weight the classes so that rare ones count as much", {"fit_option": "balanced_class_weights"}))
        return [("fit on all training rows", {"fit_option": "none"}), second]
    suffix = "Regressor" if kind == "value" else "Classifier"
    return [("an extra-trees ensemble with 300 trees",
             {"estimator": f"ExtraTrees{suffix}", "params": [{"name": "n_estimators", "value": 300}]}),
            ("LightGBM with 500 trees, learning rate 0.03 and 15 leaves",
             {"estimator": f"LGBM{suffix}", "params": [{"name": "n_estimators", "value": 500},
                                                      {"name": "learning_rate", "value": 0.03},
                                                      {"name": "num_leaves", "value": 15}]})]
