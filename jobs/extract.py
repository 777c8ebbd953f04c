"""`linguacodus extract`: a solutions corpus -> ranked (task prompt, instruction) pairs for fine-tuning.

    linguacodus extract --corpus corpus.parquet --out pairs.parquet [--model M] [--llm-url URL] [--concurrency K]

1. The corpus is validated (actors/corpus.py): unusable rows (empty code, no score, ...) are errors.
2. Solutions are ranked by score within their competition, respecting higher_is_better (rank 1 = best;
   ties share a rank). Ranks are fixed before extraction: a failed extraction leaves a gap, it does not
   promote the solutions below it.
3. On Ray Data, a pool of Extractor actors (actors/extractor.py) asks the LLM for each solution's
   instruction; the embedded model is loaded once, in one shared LLM actor with fractional CPUs.
4. Pairs go to OUT (one Parquet file: prompt, completion, competition_id, rank, score, ...), and every
   row that gave no pair to OUT.errors.json beside it (stage "corpus" or "extract", with the reason).
"""
from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, Field

import storage
from actors.corpus import rank_solutions, validate_corpus, with_solution_ids
from actors.extractor import ExtractorConfig
from actors.llm.base import LLM, LLMConfig
from storage.uri import sidecar

logger = logging.getLogger(__name__)
LLM_ACTOR_CPUS = 0.5  # logical CPUs, as in jobs/run.py: whole-CPU actors would starve Ray Data on 2 cores
EXTRACTOR_CPUS = 0.25  # an extractor only waits on the LLM
# Columns the extractors need; the rest of the corpus stays on the driver.
_INPUT_COLUMNS = ("solution_id", "competition_id", "rank", "title", "description", "metric", "higher_is_better",
                  "task_type", "data_type", "facts", "code")
PAIRS_SCHEMA = pa.schema([
    pa.field("prompt", pa.string(), nullable=False),
    pa.field("completion", pa.string(), nullable=False),  # JSON {"rank", "preprocessing", "model", "training", "submission"}
    pa.field("competition_id", pa.string(), nullable=False),
    pa.field("rank", pa.int64(), nullable=False),  # 1 = best score of its competition
    pa.field("score", pa.float64()),
    pa.field("n_solutions", pa.int64()),  # ranked solutions of the competition
    pa.field("higher_is_better", pa.bool_()),
    pa.field("metric", pa.string()),
    pa.field("solution_id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("code_truncated", pa.bool_()),  # the extractor saw shortened code
    pa.field("extractor_model", pa.string()),
])


class ExtractConfig(BaseModel):
    corpus: str = Field(description="Solutions corpus Parquet URI (file or folder; local, file:// or s3://).")
    out: str = Field(description="Pairs Parquet URI to write; errors go to OUT.errors.json beside it.")
    concurrency: int = Field(2, ge=1, description="Extractor actors (solutions in flight at once).")
    llm: LLMConfig = Field(default_factory=LLMConfig, description="Which model extracts and how to reach it.")
    extractor: ExtractorConfig = Field(default_factory=ExtractorConfig, description="Extraction prompt limits.")


@dataclass(frozen=True)
class ExtractResult:
    pairs: pd.DataFrame  # PAIRS_SCHEMA columns, sorted by competition and rank
    errors: list[dict[str, Any]]  # solution_id, competition_id, stage, rank, score, reason
    rows_read: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float


def prepare(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """(ranked usable rows, an error for every unusable one)."""
    valid, problems = validate_corpus(frame)  # raises ConfigError when required columns are missing
    scores = dict(zip(with_solution_ids(frame)["solution_id"], frame["score"].tolist()))
    errors = [{**p.to_dict(), "stage": "corpus", "rank": None, "score": _num(scores.get(p.solution_id))}
              for p in problems]
    return rank_solutions(valid), errors


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def _extract_on_ray(config: ExtractConfig, ranked: pd.DataFrame, llm: LLM | None) -> list[dict[str, Any]]:
    import ray

    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, include_dashboard=False, logging_level=logging.WARNING,
                 **({} if os.environ.get("RAY_ADDRESS") else {"num_cpus": max(2, os.cpu_count() or 2)}))
    started = None
    if llm is None and config.llm.backend == "embedded":
        from actors.llm.actor import start_llm_actor

        llm = started = start_llm_actor(config.llm, num_cpus=LLM_ACTOR_CPUS, max_concurrency=config.concurrency + 1)
    try:
        return _map(config, ranked, llm)
    finally:
        if started is not None:  # free the model's memory now, not when the handle is collected
            ray.kill(started.handle)


def _map(config: ExtractConfig, ranked: pd.DataFrame, llm: LLM | None) -> list[dict[str, Any]]:
    import ray.data

    from actors.extractor import Extractor

    ray.data.DataContext.get_current().enable_progress_bars = True
    items = ranked[list(_INPUT_COLUMNS)].astype(object).where(ranked[list(_INPUT_COLUMNS)].notna(), None)
    rows = items.to_dict(orient="records")
    ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), 200))
    ds = ds.map_batches(Extractor, fn_constructor_kwargs={"llm": llm, "config": config.extractor,
                                                          "llm_config": config.llm.model_dump()},
                        batch_size=1, num_cpus=EXTRACTOR_CPUS,
                        compute=ray.data.ActorPoolStrategy(size=min(config.concurrency, len(rows))))
    ds = ds.drop_columns(["code", "description", "facts"])  # large, and already on the driver
    return list(ds.iter_rows())


def extract(config: ExtractConfig, llm: LLM | None = None) -> ExtractResult:
    """Read, rank, extract on Ray Data, write pairs and errors. `llm` replaces the configured model
    (it is shipped to the extractor actors, so it must pickle)."""
    started = time.monotonic()
    frame = storage.read_parquet(config.corpus)
    ranked, errors = prepare(frame)
    logger.info("corpus %s: %d rows, %d usable in %d competitions", config.corpus, len(frame), len(ranked),
                ranked["competition_id"].nunique() if len(ranked) else 0)
    outputs = _extract_on_ray(config, ranked, llm) if len(ranked) else []
    by_id = ranked.set_index("solution_id")
    pairs, tokens = [], [0, 0]
    for out in outputs:
        sid = str(out["solution_id"])
        source = by_id.loc[sid]
        if out.get("error") or not out.get("completion"):
            errors.append({"solution_id": sid, "competition_id": str(out["competition_id"]), "stage": "extract",
                           "rank": int(out["rank"]), "score": float(source["score"]),
                           "reason": str(out.get("error") or "no completion")})
            continue
        tokens[0] += int(out.get("prompt_tokens") or 0)
        tokens[1] += int(out.get("completion_tokens") or 0)
        pairs.append({**{k: out.get(k) for k in ("prompt", "completion", "competition_id", "rank", "solution_id",
                                                 "code_truncated", "extractor_model")},
                      **{k: source[k] for k in ("score", "n_solutions", "higher_is_better", "metric", "source")}})
    table = pairs_table(pairs)
    storage.write_parquet(config.out, table)
    errors.sort(key=lambda e: (e["competition_id"], e["stage"], e["solution_id"]))
    storage.write_json(sidecar(config.out, ".errors.json"), errors)
    return ExtractResult(table.to_pandas(), errors, len(frame), tokens[0], tokens[1],
                         round(time.monotonic() - started, 1))


def pairs_table(pairs: list[dict[str, Any]]) -> pa.Table:
    pairs = sorted(pairs, key=lambda p: (p["competition_id"], int(p["rank"]), p["solution_id"]))
    columns = {f.name: pa.array([_plain(p.get(f.name)) for p in pairs], type=f.type) for f in PAIRS_SCHEMA}
    return pa.table(columns, schema=PAIRS_SCHEMA)


def _plain(value: Any) -> Any:
    # numpy scalars from pandas / Ray rows -> Python values pyarrow casts without surprises
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


# -- CLI -----------------------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract", help="turn a solutions corpus into ranked prompt/instruction pairs (Parquet)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="solutions corpus URI (see `linguacodus corpus`)")
    p.add_argument("--out", required=True, help="pairs Parquet URI; errors go to OUT.errors.json beside it")
    p.add_argument("--model", default="qwen2.5-coder-0.5b",
                   help="embedded model name, or the served model name with --llm-url")
    p.add_argument("--llm-url", default=None, help="OpenAI-compatible base URL (e.g. Ray Serve, vLLM)")
    p.add_argument("--concurrency", type=int, default=2, help="solutions extracted at once")
    p.add_argument("--n-ctx", type=int, default=8192, help="context tokens per slot (embedded)")
    p.add_argument("--max-code-chars", type=int, default=None,
                   help="shorten longer code (default: ~3 chars/token of what the context leaves)")
    p.add_argument("--cache-dir", default=None, help="LLM response cache folder")
    p.set_defaults(func=_main)


def config_from_args(args: argparse.Namespace) -> ExtractConfig:
    extractor = ExtractorConfig()
    # Room for code: the context minus the reply and ~1000 tokens of instructions and description.
    max_code = args.max_code_chars or max(500, 3 * (args.n_ctx - extractor.max_tokens - 1000))
    llm = LLMConfig(backend="openai" if args.llm_url else "embedded", model=args.model, base_url=args.llm_url,
                    n_ctx=args.n_ctx, cache_dir=args.cache_dir, n_parallel=1 if args.llm_url else args.concurrency)
    return ExtractConfig(corpus=args.corpus, out=args.out, concurrency=args.concurrency, llm=llm,
                         extractor=extractor.model_copy(update={"max_code_chars": max_code}))


def _main(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    result = extract(config)
    print_summary(result, config)
    if result.pairs.empty:
        return 1
    return 2 if result.errors else 0


def print_summary(result: ExtractResult, config: ExtractConfig) -> None:
    from rich.console import Console
    from rich.table import Table

    if result.errors:
        table = Table(title=f"rows without a pair (all in {sidecar(config.out, '.errors.json')})")
        for col in ("competition", "solution", "stage", "rank", "reason"):
            table.add_column(col, overflow="fold")
        for e in result.errors[:50]:
            table.add_row(e["competition_id"], e["solution_id"], e["stage"], str(e["rank"] or "-"), e["reason"][:300])
        Console().print(table)
    pairs = result.pairs
    stages = {s: sum(1 for e in result.errors if e["stage"] == s) for s in ("corpus", "extract")}
    print(f"{len(pairs)} pairs from {pairs['competition_id'].nunique() if len(pairs) else 0} competitions written "
          f"to {config.out} ({int(pairs['code_truncated'].sum()) if len(pairs) else 0} from truncated code); "
          f"{len(result.errors)} of {result.rows_read} corpus rows gave no pair ({stages['corpus']} unusable, "
          f"{stages['extract']} extraction failures); tokens {result.prompt_tokens} prompt + "
          f"{result.completion_tokens} completion; {result.seconds:.1f}s")
