"""Launch a fine-tuning run on Ray Train and export its result.

`run_finetune(cfg)` builds a TorchTrainer (N workers, gloo on CPU / nccl on GPU, fractional CPUs
so 2 workers fit on 2 cores), stores checkpoints under OUT/<run_name>/ (local or s3:// through a
pyarrow filesystem), and at the end exports the last checkpoint:

  OUT/<run_name>/checkpoint_NNNNNN/   Ray Train checkpoints (the last `keep_checkpoints`)
  OUT/adapter/                        adapter_config.json + adapter_model.safetensors (PEFT)
  OUT/adapter.gguf                    the same adapter for llama.cpp/xllamacpp (GGUF bases only)
  OUT/metrics.json                    loss curve, eval loss before/after, tokens/s, config

Resuming: Ray Train restores a run from its storage folder when the name and path match, so
`resume=True` simply reuses them; a run folder that exists without `resume` is refused rather
than silently continued or overwritten.
"""
from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import storage
from actors.errors import ConfigError, FatalError
from train.checkpoint import ADAPTER_DIR, TrainerState
from train.config import FinetuneConfig, load_ds_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneResult:
    out: str
    adapter_uri: str
    gguf_uri: str | None
    metrics_uri: str
    checkpoint_uri: str
    steps: int
    final_loss: float | None
    eval_loss_start: float | None
    eval_loss_end: float | None
    seconds: float


def _absolute(uri: str) -> str:
    # Workers may run in another cwd: hand them absolute paths.
    if storage.is_s3(uri):
        return uri
    local = storage.local_path(uri)
    return str(local.absolute()) if local is not None else uri


def _checkpoint_uri(checkpoint: Any) -> str:
    fs_type = getattr(checkpoint.filesystem, "type_name", "local")
    return f"s3://{checkpoint.path}" if fs_type == "s3" else checkpoint.path


def _worker_config(cfg: FinetuneConfig) -> dict[str, Any]:
    base = cfg.base
    if Path(base).exists():
        base = str(Path(base).absolute())
    fixed = cfg.model_copy(update={"pairs": _absolute(cfg.pairs), "out": _absolute(cfg.out), "base": base,
                                   "deepspeed": load_ds_config(cfg.deepspeed)})
    return fixed.model_dump()


def build_trainer(cfg: FinetuneConfig) -> Any:
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from train.train_func import train_func

    resources: dict[str, float] = {"CPU": cfg.cpus_per_worker}
    if cfg.use_gpu:
        resources["GPU"] = 1
    fs, path = storage.pyarrow_filesystem(cfg.out)
    return TorchTrainer(
        train_func,
        train_loop_config=_worker_config(cfg),
        scaling_config=ScalingConfig(num_workers=cfg.workers, use_gpu=cfg.use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=cfg.run_name, storage_path=path, storage_filesystem=fs,
                             checkpoint_config=CheckpointConfig(num_to_keep=cfg.keep_checkpoints)),
        torch_config=TorchConfig(backend="nccl" if cfg.use_gpu else "gloo"),
    )


def check_run_dir(cfg: FinetuneConfig) -> None:
    run_uri = storage.join(cfg.out, cfg.run_name)
    present = storage.exists(run_uri)
    if present and not cfg.resume:
        raise ConfigError(f"{run_uri} already holds a fine-tuning run: pass --resume to continue it, "
                          "or choose another --out")
    if cfg.resume and not present:
        raise ConfigError(f"--resume given, but there is no run to resume at {run_uri}")


def run_finetune(cfg: FinetuneConfig) -> FinetuneResult:
    """Train (or resume) on Ray Train, then export adapter, GGUF adapter and metrics to OUT."""
    from train.convert import resolve_base

    check_run_dir(cfg)
    # Convert/verify the base here first: errors surface before any worker starts, and the cache
    # is warm for workers on this node.
    resolve_base(cfg.base, Path(cfg.cache_dir) if cfg.cache_dir else None)
    from ray.train import TrainingFailedError

    started = time.perf_counter()
    try:
        result = build_trainer(cfg).fit()
    except TrainingFailedError as exc:
        cause = _fatal_cause(exc)
        if cause is None:
            raise
        raise cause from exc
    if result.checkpoint is None:
        raise ConfigError(f"the run in {cfg.out} finished without a checkpoint (max_steps={cfg.max_steps} "
                          "already reached?)")
    return export_result(cfg, result.checkpoint, time.perf_counter() - started)


def _fatal_cause(exc: Exception) -> FatalError | None:
    """A FatalError a worker raised (bad pairs, unknown model...), unwrapped from Ray's group error,
    so callers can tell bad input from a crash."""
    failures = getattr(exc, "worker_failures", None) or {}
    for _rank, failure in sorted(failures.items()):
        cause = getattr(failure, "cause", failure)  # RayTaskError keeps the original as .cause
        if isinstance(cause, FatalError):
            return cause
    return None


def export_result(cfg: FinetuneConfig, checkpoint: Any, seconds: float) -> FinetuneResult:
    """Copy the adapter of `checkpoint` to OUT/adapter/, write OUT/adapter.gguf and metrics.json."""
    from train.convert import base_gguf

    adapter_uri = storage.join(cfg.out, ADAPTER_DIR)
    gguf_uri = None
    with checkpoint.as_directory() as d:
        ckpt = Path(d)
        state = TrainerState.from_dir(ckpt)
        for f in sorted((ckpt / ADAPTER_DIR).iterdir()):
            if f.is_file():
                storage.write_bytes(storage.join(adapter_uri, f.name), f.read_bytes())
        gguf = base_gguf(cfg.base) if cfg.export_gguf else None
        if gguf is not None:
            from train.export_gguf import peft_adapter_to_gguf

            with tempfile.TemporaryDirectory() as tmp:
                out = peft_adapter_to_gguf(ckpt / ADAPTER_DIR, gguf, Path(tmp) / "adapter.gguf")
                gguf_uri = storage.join(cfg.out, "adapter.gguf")
                storage.write_bytes(gguf_uri, out.read_bytes())
    metrics_uri = storage.join(cfg.out, "metrics.json")
    final_loss = state.history[-1]["loss"] if state.history else None
    storage.write_json(metrics_uri, {
        "base": cfg.base, "steps": state.step, "world_size": state.world_size,
        "tokens_seen": state.tokens_seen, "final_loss": final_loss,
        "eval_loss_start": state.eval_loss_start, "eval_loss_end": state.eval_loss_end,
        "seconds": round(seconds, 1), "checkpoint": _checkpoint_uri(checkpoint), "adapter": adapter_uri,
        "adapter_gguf": gguf_uri, "loss_curve": state.history,
        "config": json.loads(cfg.model_dump_json()),
    })
    log.info("exported adapter to %s (step %d, loss %s)", adapter_uri, state.step, final_loss)
    return FinetuneResult(cfg.out, adapter_uri, gguf_uri, metrics_uri, _checkpoint_uri(checkpoint), state.step,
                          final_loss, state.eval_loss_start, state.eval_loss_end, seconds)
