"""The options of a run, written once: `RunOptions` is every flag of `linguacodus run` (name, type,
default, help). The CLI's argparse flags and the worker's message options are derived from it, and
`to_config` turns it into the RunConfig the pipeline actors get, so a new flag is one field here.
"""
from __future__ import annotations

import argparse
import types
import typing
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from actors.errors import ConfigError
from actors.llm.adapters import instructor_adapter
from actors.llm.base import LLMConfig
from jobs.config import RunConfig


class RunOptions(BaseModel):
    """`linguacodus run` flags (names as in the flags, with underscores)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    catalog: str = Field(min_length=1, description="catalog Parquet URI (local, file:// or s3://)")
    out: str = Field(min_length=1, description="results root URI; the run writes OUT/RUN_ID/")
    run_id: str | None = Field(None, description="resume this run (default: a new timestamped id)")
    model: str = Field("qwen2.5-coder-0.5b", description="embedded model name (qwen2.5-coder-0.5b, "
                       "qwen2.5-coder-1.5b, smollm2-135m) or the served model name with --llm-url")
    llm_url: str | None = Field(None, description="OpenAI-compatible base URL (e.g. Ray Serve, vLLM)")
    mode: Literal["linguacodus", "vanilla", "search"] = Field(
        "linguacodus", description="linguacodus: instructions, refinement, staged code, fix loop, then the search; "
        "vanilla: one prompt writes the whole script (the comparison); search: the search alone, no LLM at all")
    max_fix: int = Field(3, ge=0, description="fix rounds after the first execution")
    timeout: float = Field(600.0, gt=0, description="wall-clock seconds of one execution")
    memory_mb: int = Field(3072, gt=0, description="memory limit of one execution")
    concurrency: int = Field(2, ge=1, description="competitions solved at once")
    seed: int = Field(0, description="seed for sampling and the harness's folds")
    only: list[str] | None = Field(None, description="solve only these competition ids")
    cache_dir: str | None = Field(None, description="LLM response cache folder (record / replay)")
    replay: bool = Field(False, description="answer only from --cache-dir, with no model")
    n_ctx: int = Field(8192, ge=256, description="context tokens per slot (embedded)")
    stage_style: Literal["plan", "code"] = Field(
        "plan", description="preprocess, model and train stages: a JSON plan under a grammar of the task's columns "
        "and the installed estimators, rendered to code (default), or free-form code (for stronger models)")
    threads: int | None = Field(None, ge=1, description="embedded engine threads (default: every core; fewer on a "
                                "host shared with other work)")
    search: Literal["on", "off"] = Field(
        "on", description="Text-to-ML search on Ray Tune after the staged solution (Optuna TPE over programs and "
        "hyper-parameters, cross-validated, ensembled)")
    budget_s: float = Field(300.0, gt=0, description="wall-clock budget of one competition in seconds, LLM included; "
                            "the search gets what the earlier steps leave (at least 30 s)")
    llm_share: float = Field(0.5, gt=0, le=1, description="share of --budget-s the LLM path may use before the "
                             "search starts (checked between its steps; the instructions are always kept as the "
                             "search's first trials); the search gets the rest")
    cv_folds: int | None = Field(None, ge=2, le=20, description="cross-validation folds of every search trial (the "
                                 "validation score of the graded solution); default: 5, or 3 on more than 50,000 "
                                 "training rows; given, every task is cross-validated on K folds (with --validation "
                                 "holdout: validated on 1/K)", json_schema_extra={"metavar": "K"})
    validation: Literal["auto", "cv", "holdout"] = Field(
        "auto", description="how the search and the staged solution are validated: K-fold cross-validation, a "
        "holdout (one fit, validated on 1/10 of train), or auto: a holdout on large data by FLAML's rule (100,000+ "
        "rows, or rows x features over 10 million per hour of --budget-s; never below 20,000 rows), else "
        "cross-validation")
    trials_at_once: int = Field(2, ge=1, description="at most this many search trials of one competition at once "
                                "(fewer when the free CPUs are shared by competitions searching beside it)")
    search_space: Literal["llm+default", "llm", "default"] = Field(
        "llm+default", description="who proposes the search space: the LLM then the data facts' defaults, the LLM "
        "alone, or the facts alone")
    instructor_adapter: str = Field(
        "default", description="LoRA adapter (GGUF) applied to the instructor's calls only: default = the fine-tuned "
        "adapter shipped for --model (actors/llm/adapters/), none = the base model with its few-shot example, or a "
        "path", json_schema_extra={"metavar": "default|none|PATH"})
    instructions: str | None = Field(
        None, description="with --mode search: a JSON file {competition id: [up to 3 ranked instructions, each "
        "{preprocessing, model, training, submission}]} whose instructions are that competition's first trials, as "
        "the instructor's would be (an earlier run's, another model's, your own); no LLM runs",
        json_schema_extra={"metavar": "FILE"})


# What a worker's message may set: every flag but where the run comes from and goes (the message's
# own catalog, out and run_id), all optional, so a message names only what it changes.
def _optional(f: Any) -> Any:
    """The field's type with None allowed, keeping its constraints (ge=0 and the like)."""
    return Annotated[(f.annotation | None, *f.metadata)] if f.metadata else f.annotation | None


MessageOptions = create_model(
    "MessageOptions", __config__=ConfigDict(extra="forbid", protected_namespaces=()),
    **{name: (_optional(f), Field(None, description=f.description))
       for name, f in RunOptions.model_fields.items() if name not in ("catalog", "out", "run_id")})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One --flag per RunOptions field, with its type, default and help."""
    for name, f in RunOptions.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kind = _kind(f.annotation)
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        kw: dict[str, Any] = {"help": f.description, **({"metavar": extra["metavar"]} if "metavar" in extra else {})}
        if f.is_required():
            kw["required"] = True
        else:
            kw["default"] = f.default
        if kind is bool:
            parser.add_argument(flag, action="store_true", **kw)
        elif typing.get_origin(kind) is Literal:
            parser.add_argument(flag, choices=typing.get_args(kind), **kw)
        elif typing.get_origin(kind) is list:
            parser.add_argument(flag, nargs="+", **kw)
        else:
            parser.add_argument(flag, type=kind, **kw)


def _kind(annotation: Any) -> Any:
    """The flag's type: X of `X | None`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def from_args(args: argparse.Namespace) -> RunOptions:
    """The options of parsed `linguacodus run` flags (other attributes of the namespace are ignored)."""
    return RunOptions(**{name: getattr(args, name) for name in RunOptions.model_fields if hasattr(args, name)})


def to_config(options: RunOptions) -> RunConfig:
    """The RunConfig these options mean (the form the pipeline actors get)."""
    o = options
    backend = "openai" if o.llm_url else ("replay" if o.replay else "embedded")
    # replay answers from the cache under the names of the recording run: the same adapter, not loaded
    adapter = None if o.mode == "search" else instructor_adapter(
        o.instructor_adapter, o.model, "embedded" if backend == "replay" else backend)
    llm = LLMConfig(backend=backend, model=o.model, base_url=o.llm_url, cache_dir=o.cache_dir, n_ctx=o.n_ctx,
                    n_threads=o.threads, n_parallel=o.concurrency if not o.llm_url else 1,
                    **({"lora_path": str(adapter.path), "lora_sha256": adapter.sha256, "lora_tags": list(adapter.tags)}
                       if adapter else {}))
    return RunConfig(
        instructions=given_instructions(o.instructions, o.mode) if o.instructions else None,
        catalog=o.catalog, out=o.out, mode=o.mode, concurrency=o.concurrency, seed=o.seed, only=o.only, llm=llm,
        run_id=o.run_id or datetime.now(UTC).strftime("run-%Y%m%d-%H%M%S"),
        executor={"max_fix": o.max_fix}, sandbox={"timeout_s": o.timeout, "memory_mb": o.memory_mb},
        search={"enabled": o.search == "on", "budget_s": o.budget_s, "llm_share": o.llm_share, "space": o.search_space,
                "max_concurrent": o.trials_at_once,
                "validation": "cv" if o.cv_folds and o.validation == "auto" else o.validation,
                **({"folds": o.cv_folds, "large_folds": o.cv_folds, "holdout_folds": o.cv_folds} if o.cv_folds else {})},
        # the fine-tuned instructor learned without the few-shot turn (train/pairs.py): it gets none
        instructor={"few_shot": adapter is None},
        coder={"styles": {"preprocess": o.stage_style, "model": o.stage_style, "train": o.stage_style,
                          "predict": "code" if o.stage_style == "code" else "harness"}})


def given_instructions(uri: str, mode: str) -> dict[str, list[dict[str, str]]]:
    """The --instructions file, checked: {competition id: [1-3 objects with the four parts as text]}.
    ConfigError (one line) names what is wrong."""
    import storage
    from actors.stages.instruction import PARTS

    where = f"--instructions {uri}"
    if mode != "search":
        raise ConfigError(f"{where}: given instructions are read with --mode search only (the instructor writes "
                          f"them in the other modes)")
    try:
        data = storage.read_json(uri)
    except storage.StorageError as exc:
        raise ConfigError(f"{where}: cannot read it: {exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object of competition id -> list of instructions")
    for cid, items in data.items():
        ok = (isinstance(items, list) and 1 <= len(items) <= 3
              and all(isinstance(i, dict) and all(isinstance(i.get(p), str) for p in PARTS) for i in items))
        if not ok:
            raise ConfigError(f"{where}: competition {cid!r}: expected 1-3 instructions, each an object with "
                              f"text for {', '.join(PARTS)}")
    return {str(cid): [{p: str(i[p]) for p in PARTS} for i in items] for cid, items in data.items()}
