"""Plan-style stages: the model writes a small program in a JSON grammar, rendered to the stage code.

For preprocessing and the model choice, the decisions are task-specific (which column gets which
treatment, which estimator with which hyper-parameters) while the code around them is not. A 0.5B
model makes those decisions well enough but, writing pandas freely, fails on 10 of 11 open tasks
(LESSONS.md; our runs: unseen-label encoders, 30-column lists cut off by max_tokens, ColumnTransformer
misuse). In plan style the reply is constrained by a JSON schema whose enums are this task's real
column names, the toolkit operations (actors/harness/fragments/toolkit*.py) and the installed estimators
(actors/stages/estimators.py), so every reply parses and names only things that exist; it is rendered to
ordinary Python, stored as the stage's code, and checked on the sample exactly like free-form code.
Errors still go back to the model (a plan can forget a column with missing values, pair a dense-only
estimator with TF-IDF...). The search (actors/search/space.py) renders its configurations with the
same functions, so both paths produce the same kind of program.

What the reply must contain is written in actors/prompts/plan_reply.j2, the few-shot plans are in
actors/prompts/examples/house.json. `CoderConfig.styles` chooses per stage: "plan" or "code" (free-form function).
"""
from __future__ import annotations

import json
from typing import Any

from actors.context import TaskContext
from actors.stages.estimators import ESTIMATORS, Estimator, family, render_estimator
from actors.harness.integrate import StageCodeError

# Column operations in the order they run: fill, convert, extract (TF-IDF reads the raw text before
# text_features / drop_columns remove it), encode, drop.
OPS = ("fill_missing", "to_number", "date_features", "tfidf_words", "tfidf_chars", "text_features",
       "encode_categories", "one_hot", "drop_columns")
TFIDF_OPS = ("tfidf_words", "tfidf_chars")
PLAN_STAGES = ("preprocess", "model", "train")
# TF-IDF settings of a plan (the search varies them; an LLM plan only says whether to use SVD).
TEXT_DEFAULTS: dict[str, int] = {"max_features": 50000, "word_ngram_max": 2, "char_ngram_max": 5, "min_df": 2,
                                 "svd_components": 0}
PLAN_SVD_COMPONENTS = 100


def _family(ctx: TaskContext) -> str:
    return family(ctx.kind)


def estimator_table(ctx: TaskContext) -> dict[str, Estimator]:
    """The estimators a model plan may name for this task (its kind's family)."""
    return ESTIMATORS[_family(ctx)]


def schema(ctx: TaskContext, stage: str) -> dict[str, Any]:
    """The JSON schema (enforced by the engine's grammar) of one stage's plan for this task."""
    if stage == "preprocess":
        applicable = op_columns(ctx)
        # One key per operation that applies, all required (an empty list is "not used"), in a fixed
        # order: a list of steps let the 0.5B model loop ("drop_columns" six times over every column).
        props: dict[str, Any] = {op: {"type": "array", "maxItems": len(cols), "items": {"type": "string", "enum": cols}}
                                 for op, cols in applicable.items()}
        if any(op in applicable for op in TFIDF_OPS):
            props["text_svd"] = {"type": "boolean"}
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
    if stage == "model":
        table = ESTIMATORS[_family(ctx)]
        names = sorted({p for est in table.values() for p in est.params})
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
        "tfidf_words": f.by_kind("text"),
        "tfidf_chars": f.by_kind("text"),
        "text_features": f.by_kind("text"),
        "to_number": f.by_kind("boolean"),
        # dropping is an alternative to extracting features from text or dates; numbers and
        # categories are features as they are (r5: plans dropped every measurement of penguins)
        "drop_columns": f.by_kind("text") + f.by_kind("date"),
    }
    return {op: table[op] for op in OPS if table[op]}


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
                "    z = np.log1p(np.asarray(y, dtype=float))\n"
                "    pad = 0.1 * (z.max() - z.min())  # predictions stay near the targets seen: a linear model's\n"
                "    low, high = z.min() - pad, z.max() + pad  # log-space outlier would explode in expm1\n\n"
                "    def inverse(p):\n"
                "        return np.expm1(np.clip(p, low, high))\n\n"
                "    model = TransformedTargetRegressor(regressor=model, func=np.log1p, inverse_func=inverse)\n"
                "    return model.fit(X, y)\n")
    return "def train_model(model, X, y):\n    model.fit(X, y)\n    return model\n"


def text_options(plan: dict[str, Any]) -> dict[str, int]:
    """TF-IDF settings of a plan: a search configuration's "text" dict, or an LLM plan's text_svd flag."""
    options = {**TEXT_DEFAULTS, **{k: int(v) for k, v in (plan.get("text") or {}).items() if k in TEXT_DEFAULTS}}
    if plan.get("text_svd") is True and not options["svd_components"]:
        options["svd_components"] = PLAN_SVD_COMPONENTS
    return options


def render_preprocess(ctx: TaskContext, plan: dict[str, Any]) -> str:
    applicable = op_columns(ctx)
    unknown_ops = [op for op in plan if op not in applicable and op not in ("text_svd", "text")]
    if unknown_ops:
        raise StageCodeError(f"operations {unknown_ops} do not apply to this task; use {', '.join(applicable)}")
    cols_of: dict[str, list[str]] = {}
    for op in OPS:
        cols = list(dict.fromkeys(plan.get(op) or []))
        unknown = [c for c in cols if c not in applicable.get(op, [])]
        if unknown:
            raise StageCodeError(f"{op} cannot take columns {unknown}; it applies to {applicable.get(op, [])[:40]}")
        cols_of[op] = cols
    text = text_options(plan)
    def steps(ops: tuple[str, ...]) -> list[str]:
        return [f"    train, test = {op}(train, test, {cols_of[op]!r})" for op in ops if cols_of[op]]

    before, after = steps(OPS[:OPS.index("tfidf_words")]), steps(OPS[OPS.index("tfidf_chars") + 1:])
    blocks = []
    if cols_of["tfidf_words"]:
        blocks.append(f"tfidf_words(train, test, {cols_of['tfidf_words']!r}, max_features={text['max_features']}, "
                      f"ngram_max={text['word_ngram_max']}, min_df={text['min_df']})")
    if cols_of["tfidf_chars"]:
        blocks.append(f"tfidf_chars(train, test, {cols_of['tfidf_chars']!r}, max_features={text['max_features']}, "
                      f"ngram_max={text['char_ngram_max']}, min_df={text['min_df']})")
    if not blocks:
        return "\n".join(["def preprocess(train, test):", *before, *after, "    return train, test"]) + "\n"
    lines = ["def preprocess(train, test):", *before, *_block_lines(blocks, text["svd_components"]), *after]
    consumed = {c for op in ("text_features", "encode_categories", "one_hot", "drop_columns") for c in cols_of[op]}
    leftover = [c for c in dict.fromkeys(cols_of["tfidf_words"] + cols_of["tfidf_chars"]) if c not in consumed]
    if leftover:  # the raw text is in the blocks now; the frame keeps only numbers
        lines.append(f"    train, test = drop_columns(train, test, {leftover!r})")
    lines.append("    return stack_features(train, test, blocks)")
    return "\n".join(lines) + "\n"


def _block_lines(blocks: list[str], svd_components: int) -> list[str]:
    lines = ["    blocks = [" + (",\n              ".join(blocks)) + "]"]
    if svd_components:  # dense components for models that cannot take a sparse matrix
        lines.append(f"    blocks = [svd_components(block, {int(svd_components)}) for block in blocks]")
    return lines


def render_model(ctx: TaskContext, plan: dict[str, Any]) -> str:
    table = ESTIMATORS[_family(ctx)]
    name = plan.get("estimator")
    if name not in table:
        raise StageCodeError(f"unknown estimator {name!r} for a {_family(ctx)}; use one of {', '.join(table)}")
    params = {p.get("name"): p.get("value") for p in plan.get("params") or [] if isinstance(p, dict)}
    imports, expr = render_estimator(table[name], params)
    return "\n".join(imports) + f"\n\n\ndef build_model():\n    return {expr}\n"
