"""What an LLM may propose as a search space for one task, and a default when it proposes nothing usable.

`search_space_schema(ctx)` is the JSON schema of a proposal (for the engine's grammar): enums of this
task's columns per operation, of the installed estimators of its family, of each estimator's
hyper-parameters, with the valid bounds stated. `parse_space(ctx, data)` turns a proposal into a
`SearchSpace`: ranges are clipped into the valid ones (a grammar cannot enforce float bounds), kinds
and log flags come from the estimator table, unknown names are dropped with a log line, and a part
left empty falls back to `default_space(ctx)`'s.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from actors.stages import plans
from actors.context import TaskContext
from actors.stages.estimators import ESTIMATORS, Estimator, family
from actors.search.space import EstimatorSpace, ParamRange, PreprocessConfig, SearchSpace, TextOptions

logger = logging.getLogger(__name__)
MAX_VARIANTS, MAX_ESTIMATORS = 4, 6
# Default candidates: gradient boosting, a linear model and a randomised tree ensemble behave
# differently enough to ensemble well; XGBoost grown leaf-wise (FLAML's form) was the winning model of
# FLAML on 3 of the 7 quality-bench tasks it won. NB-SVM and the linear SVM are the classic text baselines.
DEFAULT_ESTIMATORS = {"classifier": ["LGBMClassifier", "LogisticRegression", "ExtraTreesClassifier", "XGBClassifier"],
                      "regressor": ["LGBMRegressor", "Ridge", "ExtraTreesRegressor", "XGBRegressor"]}
TEXT_ESTIMATORS = {"classifier": ["NBSVM", "LinearSVC"], "regressor": []}


def default_ranges(est: Estimator, names: list[str] | None = None) -> dict[str, ParamRange]:
    """The table's default search ranges (max_iter of linear models is a budget, not a knob)."""
    keys = names if names is not None else [k for k in est.params if not (est.scaled and k == "max_iter")]
    return {k: ParamRange(kind=est.params[k].kind, low=est.params[k].search[0], high=est.params[k].search[1],
                          log=est.params[k].log) for k in keys if k in est.params}


def default_space(ctx: TaskContext) -> SearchSpace:
    """Variants from the data facts (one-hot vs integer codes; TF-IDF words, words + characters,
    SVD components when there is text), three estimator families, every fit option."""
    cols = plans.op_columns(ctx)
    base = {op: cols.get(op, []) for op in ("fill_missing", "to_number", "date_features")}
    text = cols.get("tfidf_words", [])
    categorical = cols.get("one_hot", [])
    variants = [PreprocessConfig(**base, one_hot=categorical, tfidf_words=text),
                PreprocessConfig(**base, encode_categories=categorical, tfidf_words=text,
                                 text=TextOptions(svd_components=50 if text else 0))]
    if text:
        variants.append(PreprocessConfig(**base, one_hot=categorical, tfidf_words=text, tfidf_chars=text))
    variants = [v for i, v in enumerate(variants) if v not in variants[:i]]
    fam = family(ctx.kind)
    names = DEFAULT_ESTIMATORS[fam] + (TEXT_ESTIMATORS[fam] if text else [])
    estimators = [EstimatorSpace(name=n, params=default_ranges(ESTIMATORS[fam][n])) for n in names]
    return SearchSpace(preprocess=variants, estimators=estimators, fit_options=list(plans.fit_options(ctx)))


def search_space_schema(ctx: TaskContext) -> dict[str, Any]:
    """JSON schema of a proposal: {"preprocess": [variant...], "estimators": [{"name", "params": {p: {low,
    high}}}...], "fit_options": [...]}, every name an enum valid for this task."""
    variant = plans.schema(ctx, "preprocess")
    variant_props = {k: v for k, v in variant["properties"].items() if k != "text_svd"}
    if "tfidf_words" in variant_props:
        variant_props["text"] = {"type": "object", "properties": {
            name: {"type": "integer", "minimum": _bound(f, "ge"), "maximum": _bound(f, "le")}
            for name, f in TextOptions.model_fields.items()},
            "additionalProperties": False}
    table = ESTIMATORS[family(ctx.kind)]
    choices = []
    for name, est in table.items():
        params = {k: {"type": "object", "properties": {"low": {"type": "number", "minimum": p.low, "maximum": p.high},
                                                       "high": {"type": "number", "minimum": p.low, "maximum": p.high}},
                      "required": ["low", "high"], "additionalProperties": False} for k, p in est.params.items()}
        choices.append({"type": "object", "properties": {
            "name": {"const": name}, "params": {"type": "object", "properties": params, "additionalProperties": False}},
            "required": ["name", "params"], "additionalProperties": False})
    return {"type": "object", "properties": {
        "preprocess": {"type": "array", "minItems": 1, "maxItems": MAX_VARIANTS,
                       "items": {"type": "object", "properties": variant_props, "additionalProperties": False}},
        "estimators": {"type": "array", "minItems": 1, "maxItems": MAX_ESTIMATORS, "items": {"anyOf": choices}},
        "fit_options": {"type": "array", "minItems": 1,
                        "items": {"type": "string", "enum": list(plans.fit_options(ctx))}}},
        "required": ["preprocess", "estimators", "fit_options"], "additionalProperties": False}


def _bound(field: Any, which: str) -> int:
    return next(int(getattr(m, which)) for m in field.metadata if hasattr(m, which))


def parse_space(ctx: TaskContext, data: dict[str, Any]) -> SearchSpace:
    """A proposal as a valid SearchSpace for this task (clipped, unknowns dropped, defaults for gaps)."""
    cid = ctx.competition.competition_id
    default = default_space(ctx)
    cols = plans.op_columns(ctx)
    variants = []
    for raw in (data.get("preprocess") or [])[:MAX_VARIANTS]:
        if not isinstance(raw, dict):
            continue
        ops = {op: [c for c in dict.fromkeys(raw.get(op) or []) if c in cols.get(op, [])] for op in plans.OPS}
        text = {k: v for k, v in (raw.get("text") or {}).items() if k in TextOptions.model_fields}
        text = {k: min(max(int(v), _bound(TextOptions.model_fields[k], "ge")), _bound(TextOptions.model_fields[k], "le"))
                for k, v in text.items() if isinstance(v, (int, float))}
        variants.append(PreprocessConfig(**ops, text=TextOptions(**text)))
    table = ESTIMATORS[family(ctx.kind)]
    estimators = []
    for raw in (data.get("estimators") or [])[:MAX_ESTIMATORS]:
        name = raw.get("name") if isinstance(raw, dict) else None
        if name not in table or any(e.name == name for e in estimators):
            logger.info("%s search space: estimator %r dropped (unknown for a %s or repeated)", cid, name,
                        family(ctx.kind))
            continue
        est = table[name]
        ranges = {}
        for key, r in (raw.get("params") or {}).items():
            if key not in est.params or not isinstance(r, dict):
                logger.info("%s search space: %s has no hyper-parameter %r", cid, name, key)
                continue
            p = est.params[key]
            low, high = sorted(p.clip(v) for v in (r.get("low", p.search[0]), r.get("high", p.search[1])))
            if p.log and low <= 0:  # a log range cannot start at 0: start at the default search low
                low = min(p.search[0], high)
            ranges[key] = ParamRange(kind=p.kind, low=low, high=high, log=p.log and low > 0)
        estimators.append(EstimatorSpace(name=name, params=ranges or default_ranges(est)))
    options = [o for o in dict.fromkeys(data.get("fit_options") or []) if o in plans.fit_options(ctx)]
    return SearchSpace(preprocess=variants or default.preprocess, estimators=estimators or default.estimators,
                       fit_options=options or default.fit_options)


def propose_space(llm: Any, ctx: TaskContext, instructions: list[Any], *, max_tokens: int = 700,
                  seed: int = 0, time_limit_s: float | None = None) -> tuple[SearchSpace, dict[str, Any]]:
    """The LLM's proposal for this task (one call under the schema's grammar), parsed and clipped; the
    default space when the call fails or proposes nothing usable. The record says which it was."""
    from actors.llm.base import ChatRequest
    from actors.templates import render

    messages = [{"role": "system", "content": render("system")},
                {"role": "user", "content": render("search_space", **ctx.prompt_vars(), instructions=instructions,
                                                   max_variants=MAX_VARIANTS, max_estimators=MAX_ESTIMATORS)}]
    try:
        reply = llm.chat(ChatRequest(messages=messages, max_tokens=max_tokens, temperature=0.0, seed=seed,
                                     json_schema=search_space_schema(ctx), tag="search_space",
                                     time_limit_s=time_limit_s))
        data = json.loads(reply.text)
        if not isinstance(data, dict):
            raise ValueError("the proposal is not a JSON object")
    except Exception as exc:  # noqa: BLE001 - no proposal: the data facts' default space
        logger.warning("%s search space: no usable proposal (%s: %s); default space", ctx.competition.competition_id,
                       type(exc).__name__, exc)
        return default_space(ctx), {"source": "default", "error": f"{type(exc).__name__}: {exc}"}
    return parse_space(ctx, data), {"source": "llm", "proposal": data}


def merge_spaces(first: SearchSpace, second: SearchSpace) -> SearchSpace:
    """`first`'s choices, then `second`'s that `first` lacks (an estimator keeps `first`'s ranges)."""
    variants = list(first.preprocess) + [v for v in second.preprocess if v not in first.preprocess]
    names = {e.name for e in first.estimators}
    estimators = list(first.estimators) + [e for e in second.estimators if e.name not in names]
    options = list(dict.fromkeys([*first.fit_options, *second.fit_options]))
    return SearchSpace(preprocess=variants[:MAX_VARIANTS * 2], estimators=estimators, fit_options=options)
