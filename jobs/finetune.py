"""`linguacodus finetune`: LoRA fine-tuning of the instruction model on prompt/completion pairs,
with Ray Train (TorchTrainer) + DeepSpeed ZeRO + PEFT.

Writes OUT/<run>/checkpoint_*/ (Ray Train), OUT/adapter/ (PEFT), OUT/adapter.gguf (llama.cpp LoRA,
for GGUF bases) and OUT/metrics.json, then prints a JSON summary. Settings come from the defaults,
then a --config YAML (e.g. train/configs/gpu_7b.yaml), then the flags given. Exit code 0 on
success, 2 when the configuration or inputs are unusable, 1 when training failed.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import asdict
from typing import Any

from actors.errors import FatalError

log = logging.getLogger(__name__)

# flag -> (FinetuneConfig field, type, help); every flag defaults to None = "not given"
_FLAGS: dict[str, tuple[str, type, str]] = {
    "--pairs": ("pairs", str, "Parquet of prompt/completion rows (path, file:// or s3://)"),
    "--base": ("base", str, "model name (smollm2-135m, qwen2.5-coder-0.5b), .gguf path, or HF checkpoint dir"),
    "--out": ("out", str, "output URI (path, file:// or s3://)"),
    "--workers": ("workers", int, "Ray Train workers (default 2)"),
    "--cpus-per-worker": ("cpus_per_worker", float, "CPUs reserved per worker (default 0.9)"),
    "--deepspeed": ("deepspeed", str, "DeepSpeed JSON: a name in train/configs or a path (default ds_zero2_cpu.json)"),
    "--lora-r": ("lora_r", int, "LoRA rank (default 8)"),
    "--lora-alpha": ("lora_alpha", float, "LoRA alpha (default 16)"),
    "--lora-dropout": ("lora_dropout", float, "LoRA dropout (default 0)"),
    "--lr": ("lr", float, "peak learning rate (default 2e-4)"),
    "--warmup-steps": ("warmup_steps", int, "linear warm-up steps (default 0)"),
    "--max-steps": ("max_steps", int, "optimizer steps in total (default 100)"),
    "--batch-size": ("batch_size", int, "micro-batch per worker (default 4)"),
    "--grad-accum": ("grad_accum", int, "micro-batches per optimizer step (default 1)"),
    "--max-seq-len": ("max_seq_len", int, "tokens per example (default 1024)"),
    "--checkpoint-every": ("checkpoint_every", int, "steps between checkpoints (default 50)"),
    "--keep-checkpoints": ("keep_checkpoints", int, "checkpoints kept (default 2)"),
    "--seed": ("seed", int, "random seed (default 0)"),
    "--system-prompt": ("system_prompt", str, "system message before every prompt"),
    "--run-name": ("run_name", str, "run folder under OUT (default finetune)"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("finetune", help="LoRA fine-tune the instruction model (Ray Train + DeepSpeed)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="YAML", help="settings file (FinetuneConfig fields); flags override it")
    for flag, (dest, typ, help_) in _FLAGS.items():
        p.add_argument(flag, dest=dest, type=typ, default=None, help=help_)
    p.add_argument("--target-modules", dest="target_modules", default=None,
                   help="comma-separated layers to adapt (default q_proj,k_proj,v_proj,o_proj)")
    p.add_argument("--gpu", dest="use_gpu", action="store_const", const=True, default=None,
                   help="one GPU per worker, nccl backend")
    p.add_argument("--gradient-checkpointing", dest="gradient_checkpointing", action="store_const",
                   const=True, default=None, help="recompute activations to save memory")
    p.add_argument("--no-gguf", dest="export_gguf", action="store_const", const=False, default=None,
                   help="skip the llama.cpp adapter export")
    p.add_argument("--resume", action="store_const", const=True, default=None,
                   help="continue the run in OUT from its last checkpoint")
    p.set_defaults(func=run)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """Merge a --config YAML and the flags that were given (flags win)."""
    import yaml

    merged: dict[str, Any] = {}
    if args.config:
        import storage

        loaded = yaml.safe_load(storage.read_text(args.config)) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.config} is not a mapping of settings")
        merged.update(loaded)
    names = [dest for dest, _, _ in _FLAGS.values()]
    names += ["target_modules", "use_gpu", "gradient_checkpointing", "export_gguf", "resume"]
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            merged[name] = value.split(",") if name == "target_modules" else value
    return merged


def own_state_api() -> dict[str, Any]:
    """ray.init options for a local cluster whose Ray Train can ask its own state API.

    Ray Train's PlacementGroupCleaner (a detached actor) asks the state API once a second whether the
    training controller still lives, and removes the run's placement group -- killing the workers --
    when the answer is "not found". The state API is a dashboard module, and without an address the
    client picks *any* Ray on the machine. With the dashboard off, every ask failed and logged "Failed
    to query Ray Train Controller actor state" (~2,400 lines over a 40 min fine-tune); and when another
    Ray with a dashboard started beside it (a test, a second job), the cleaner asked that one, did not
    find the controller and killed the fine-tune (2026-11-30 13:55:36, ft-v5 before its first step).
    So: this cluster's dashboard on a port chosen here, and its workers told that address."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return {"include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": port,
            "runtime_env": {"env_vars": {"RAY_API_SERVER_ADDRESS": f"http://127.0.0.1:{port}"}}}


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from train.config import FinetuneConfig

    try:
        cfg = FinetuneConfig.model_validate(settings(args))
    except (ValidationError, ValueError, FatalError) as exc:
        log.error("bad fine-tuning settings: %s", exc)
        return 2
    import ray
    from ray.train import TrainingFailedError

    from train.launcher import run_finetune

    if not ray.is_initialized():
        # As `linguacodus run` does: RAY_ADDRESS joins a cluster; otherwise a fresh local one, never the
        # cluster /tmp/ray/ray_current_cluster names (TorchTrainer's implicit init would join it).
        address = os.environ.get("RAY_ADDRESS")
        ray.init(address=address or "local", logging_level=logging.WARNING,
                 **({"include_dashboard": False} if address else
                    {"num_cpus": max(2, os.cpu_count() or 2), **own_state_api()}))

    try:
        result = run_finetune(cfg)
    except FatalError as exc:
        log.error("cannot fine-tune: %s", exc)
        return 2
    except TrainingFailedError as exc:  # a worker crashed; the message names the rank
        log.error("fine-tuning failed: %s", exc)
        return 1
    print(json.dumps(asdict(result), indent=2))
    return 0
