"""Search configurations and search spaces: what one trial runs and what the LLM may propose.

A configuration (`ProgramConfig`) is one program: preprocess operations per column group, an
estimator with hyper-parameters, a fit option. `render_config` turns it into the stage code
{preprocess, model, train} with the plan renderers (actors/stages/plans.py), so the search and the staged
path produce the same kind of program; `integrate.assemble` makes it a script whose harness writes
out-of-fold predictions. A space (`SearchSpace`) is what a search samples from: preprocessing
variants, candidate estimators with a range per hyper-parameter, fit options; every choice is
categorical / int / float (with a log flag), so it maps onto Optuna distributions one to one.
`suggest_config(space, trial)` is define-by-run: an optuna.Trial works as `trial`, and
`sample_config(space, rng)` is the same function over a numpy Generator.
"""
from __future__ import annotations

import math
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from actors.context import TaskContext
from actors.errors import FatalError
from actors.stages.estimators import ESTIMATORS, Estimator, family
from actors.harness.integrate import sanitize_stage
from actors.stages import plans

ALL_ESTIMATORS: dict[str, Estimator] = {n: e for table in ESTIMATORS.values() for n, e in table.items()}
EstimatorName = Literal[tuple(ALL_ESTIMATORS)]  # type: ignore[valid-type]
FitOption = Literal["none", "balanced_class_weights", "log_target"]
# A dense-only estimator drawn with a sparse TF-IDF variant gets this many SVD components instead.
DENSE_SVD_COMPONENTS = 100


class InvalidConfig(ValueError, FatalError):
    """A configuration names something this task does not have; the message says what."""


class TextOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_features: int = Field(50000, ge=1000, le=200000, description="Vocabulary size of each TF-IDF vectorizer.")
    word_ngram_max: int = Field(2, ge=1, le=3, description="tfidf_words uses word 1..n-grams.")
    char_ngram_max: int = Field(5, ge=2, le=6, description="tfidf_chars uses character 2..n-grams.")
    min_df: int = Field(2, ge=1, le=10, description="Terms in fewer train rows are dropped.")
    svd_components: int = Field(0, ge=0, le=300, description="0: the sparse TF-IDF matrix (linear models, LightGBM); "
                                "> 0: that many dense SVD components (any estimator).")


class PreprocessConfig(BaseModel):
    """Toolkit operations per column group (actors/plans.OPS), applied in the toolkit's order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fill_missing: list[str] = Field([], description="Numbers: train median; other values: 'missing'.")
    to_number: list[str] = Field([], description="Booleans and yes/no strings -> 1/0.")
    date_features: list[str] = Field([], description="Dates -> year, month, day, weekday, day of year.")
    tfidf_words: list[str] = Field([], description="Free text -> sparse TF-IDF of word n-grams.")
    tfidf_chars: list[str] = Field([], description="Free text -> sparse TF-IDF of character n-grams.")
    text_features: list[str] = Field([], description="Free text -> length, word count, first-word code.")
    encode_categories: list[str] = Field([], description="Categories -> integer codes (trees).")
    one_hot: list[str] = Field([], description="Categories -> one 0/1 column per value (linear models).")
    drop_columns: list[str] = Field([], description="Columns left out.")
    text: TextOptions = Field(default_factory=TextOptions, description="TF-IDF settings.")

    @property
    def sparse(self) -> bool:
        """Whether the features reach the estimator as a sparse matrix."""
        return bool(self.tfidf_words or self.tfidf_chars) and self.text.svd_components == 0


class ProgramConfig(BaseModel):
    """One program of the search: what render_config turns into stage code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig, description="Feature operations.")
    estimator: EstimatorName = Field(description="An installed estimator (actors/stages/estimators.py).")
    params: dict[str, int | float] = Field({}, description="Hyper-parameters; values are clipped into valid ranges.")
    fit_option: FitOption = Field("none", description="How train_model fits (class weights, log target).")


class ParamRange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["int", "float"] = Field(description="Optuna IntDistribution or FloatDistribution.")
    low: float = Field(description="Lower bound (inclusive).")
    high: float = Field(description="Upper bound (inclusive).")
    log: bool = Field(False, description="Sample on a log scale (low > 0).")


class EstimatorSpace(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: EstimatorName = Field(description="The estimator.")
    params: dict[str, ParamRange] = Field({}, description="Searched hyper-parameters; others keep their defaults.")


class SearchSpace(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    preprocess: list[PreprocessConfig] = Field(min_length=1, description="Preprocessing variants (categorical).")
    estimators: list[EstimatorSpace] = Field(min_length=1, description="Candidate estimators (categorical).")
    fit_options: list[FitOption] = Field(["none"], min_length=1, description="Fit options (categorical).")


def validate_config(ctx: TaskContext, config: ProgramConfig) -> ProgramConfig:
    """The configuration if it fits this task; InvalidConfig naming the problem otherwise."""
    table = ESTIMATORS[family(ctx.kind)]
    if config.estimator not in table:
        raise InvalidConfig(f"{config.estimator} is not a {family(ctx.kind)}; use one of {', '.join(table)}")
    est = table[config.estimator]
    unknown = sorted(set(config.params) - set(est.params))
    if unknown:
        raise InvalidConfig(f"{est.name} has no hyper-parameters {unknown}; it takes {', '.join(est.params)}")
    if config.fit_option not in plans.fit_options(ctx):
        raise InvalidConfig(f"fit_option {config.fit_option!r} does not suit this task; use one of "
                            f"{', '.join(plans.fit_options(ctx))}")
    applicable = plans.op_columns(ctx)
    for op in plans.OPS:
        bad = [c for c in getattr(config.preprocess, op) if c not in applicable.get(op, [])]
        if bad:
            raise InvalidConfig(f"{op} cannot take columns {bad}; it applies to {applicable.get(op, [])[:40]}")
    if config.preprocess.sparse and not est.sparse_ok:
        ok = [n for n, e in table.items() if e.sparse_ok]
        raise InvalidConfig(f"{est.name} needs dense features but this preprocessing gives a sparse TF-IDF matrix: "
                            f"set text.svd_components > 0, or choose one of {', '.join(ok)}")
    return config


def render_config(ctx: TaskContext, config: ProgramConfig) -> dict[str, str]:
    """Stage code {preprocess, model, train} of one configuration (sanitised like any stage)."""
    validate_config(ctx, config)
    pre = config.preprocess
    plan: dict[str, Any] = {op: list(getattr(pre, op)) for op in plans.OPS if getattr(pre, op)}
    plan["text"] = pre.text.model_dump()
    params = [{"name": k, "value": v} for k, v in config.params.items()]
    return {
        "preprocess": sanitize_stage("preprocess", plans.render_preprocess(ctx, plan)),
        "model": sanitize_stage("model", plans.render_model(ctx, {"estimator": config.estimator, "params": params})),
        "train": sanitize_stage("train", plans.render_train(ctx, {"fit_option": config.fit_option})),
    }


class Suggest(Protocol):
    """What suggest_config needs of a trial: optuna.Trial's define-by-run methods."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...


class RandomSuggest:
    """Uniform (or log-uniform) draws from a numpy Generator, with Optuna's method names."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.params: dict[str, Any] = {}

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        self.params[name] = value = list(choices)[int(self.rng.integers(len(choices)))]
        return value

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        if log:
            value = int(math.floor(math.exp(self.rng.uniform(math.log(low), math.log(high + 1)))))
        else:
            value = int(self.rng.integers(low, high + 1))
        self.params[name] = value = min(max(value, low), high)
        return value

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        draw = math.exp(self.rng.uniform(math.log(low), math.log(high))) if log else self.rng.uniform(low, high)
        self.params[name] = value = float(min(max(draw, low), high))
        return value


def suggest_config(space: SearchSpace, trial: Suggest) -> ProgramConfig:
    """One configuration, define-by-run: "estimator", "preprocess" (variant index), "fit_option", and
    "<estimator>.<param>" for that estimator's ranges. A dense-only estimator drawn with a sparse
    variant gets the variant with SVD components (the pairing is converted, never rendered)."""
    name = trial.suggest_categorical("estimator", [e.name for e in space.estimators])
    est_space = next(e for e in space.estimators if e.name == name)
    params: dict[str, int | float] = {}
    for key, r in est_space.params.items():
        if r.low == r.high:
            params[key] = int(r.low) if r.kind == "int" else r.low
        elif r.kind == "int":
            params[key] = trial.suggest_int(f"{name}.{key}", int(r.low), int(r.high), log=r.log)
        else:
            params[key] = trial.suggest_float(f"{name}.{key}", r.low, r.high, log=r.log)
    variant = space.preprocess[trial.suggest_categorical("preprocess", list(range(len(space.preprocess))))]
    if variant.sparse and not ALL_ESTIMATORS[name].sparse_ok:
        text = variant.text.model_copy(update={"svd_components": DENSE_SVD_COMPONENTS})
        variant = variant.model_copy(update={"text": text})
    fit_option = trial.suggest_categorical("fit_option", list(space.fit_options))
    return ProgramConfig(preprocess=variant, estimator=name, params=params, fit_option=fit_option)


def sample_config(space: SearchSpace, rng: np.random.Generator) -> ProgramConfig:
    """A random valid configuration of the space."""
    return suggest_config(space, RandomSuggest(rng))


def config_params(space: SearchSpace, config: ProgramConfig) -> dict[str, Any]:
    """The trial parameters suggest_config would have drawn for `config` (Optuna's enqueue_trial
    format, for warm starts); the variant is matched ignoring a converted SVD setting."""
    def key(p: PreprocessConfig) -> dict[str, Any]:
        return p.model_dump(exclude={"text": {"svd_components"}})

    matches = [i for i, v in enumerate(space.preprocess) if key(v) == key(config.preprocess)]
    if not matches:
        raise InvalidConfig("the configuration's preprocessing is not one of the space's variants")
    return {"estimator": config.estimator, "preprocess": matches[0], "fit_option": config.fit_option,
            **{f"{config.estimator}.{k}": v for k, v in config.params.items()}}
