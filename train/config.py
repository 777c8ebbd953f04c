"""The one configuration of a fine-tuning run: CLI -> launcher -> every Ray Train worker.

`FinetuneConfig` is validated at the boundary (the CLI or a Python caller) and travels to the
workers as `train_loop_config` (a plain dict), where `train_func` validates it again; nothing else
reaches a worker. `deepspeed` is a config name/path on the driver and the loaded dict on workers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from actors.errors import ConfigError

CONFIG_DIR = Path(__file__).parent / "configs"
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


class FinetuneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # -- data and model
    pairs: str = Field(description="Parquet file/folder (local, file://, s3://) of prompt/completion rows")
    base: str = Field(description="registry model name (smollm2-135m, qwen2.5-coder-0.5b), a .gguf path, "
                                  "or a Hugging Face checkpoint dir (local or s3://)")
    out: str = Field(description="output URI: Ray Train run dir, adapter/, adapter.gguf, metrics.json")
    system_prompt: str | None = Field(None, description="system message before each prompt (None: the "
                                                        "chat template's default); serve with the same one")
    max_seq_len: int = Field(1024, ge=8, description="tokens per example; longer ones are cut at the end")

    # -- LoRA: small rank suffices to steer style/format; alpha/r is the effective update scale
    lora_r: int = Field(8, ge=1, description="LoRA rank")
    lora_alpha: float = Field(16.0, gt=0, description="LoRA alpha (update scaled by alpha / r)")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the LoRA input (0: deterministic)")
    target_modules: list[str] = Field(list(DEFAULT_TARGET_MODULES),
                                      description="linear layers that get adapters (attention projections)")

    # -- optimisation
    lr: float = Field(2e-4, gt=0, description="peak learning rate (LoRA tolerates ~10x full-FT rates)")
    warmup_steps: int = Field(0, ge=0, description="linear warm-up steps before the constant rate")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay on the adapter weights")
    max_steps: int = Field(100, ge=1, description="optimizer steps in total (a resumed run continues to it)")
    batch_size: int = Field(4, ge=1, description="micro-batch per worker")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    gradient_checkpointing: bool = Field(False, description="recompute activations (7B on GPU: yes)")
    seed: int = Field(0, description="seeds LoRA init, data order and dropout on every worker")

    # -- scale and engine
    workers: int = Field(2, ge=1, description="Ray Train workers (data-parallel ranks)")
    use_gpu: bool = Field(False, description="one GPU per worker and the nccl backend")
    cpus_per_worker: float = Field(0.9, gt=0, description="fractional so N workers fit on N cores")
    deepspeed: str | dict[str, Any] = Field(
        "ds_zero2_cpu.json", description="DeepSpeed config: a file in train/configs, a path, or a dict")

    # -- checkpoints and output
    checkpoint_every: int = Field(50, ge=1, description="steps between checkpoints (the last step always)")
    keep_checkpoints: int = Field(2, ge=1, description="checkpoints kept in storage")
    log_every: int = Field(1, ge=1, description="steps between metric reports")
    eval_loss: bool = Field(True, description="loss before and after training, on the held-out pairs (split "
                                              "\"validation\") when there are any, else on the training pairs")
    resume: bool = Field(False, description="continue the run already in OUT from its last checkpoint")
    run_name: str = Field("finetune", description="Ray Train run name (folder under OUT)")
    export_gguf: bool = Field(True, description="also write adapter.gguf for llama.cpp when the base is GGUF")
    cache_dir: str | None = Field(None, description="where converted base checkpoints are cached")


def load_ds_config(spec: str | dict[str, Any]) -> dict[str, Any]:
    """A DeepSpeed config dict from a dict, a name in train/configs, or a JSON file path."""
    if isinstance(spec, dict):
        return json.loads(json.dumps(spec))  # deep copy, JSON-clean
    path = Path(spec)
    if not path.is_file():
        path = CONFIG_DIR / spec
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in CONFIG_DIR.glob("*.json")))
        raise ConfigError(f"DeepSpeed config {spec!r} is neither a file nor one of: {known}")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise ConfigError(f"DeepSpeed config {path} is not valid JSON: {e}") from e


def resolve_ds_config(ds: dict[str, Any], cfg: FinetuneConfig, world_size: int) -> dict[str, Any]:
    """Fill the "auto" values (HF-style) from the run config; reject contradictions."""
    ds = json.loads(json.dumps(ds))
    sizes = {
        "train_micro_batch_size_per_gpu": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "train_batch_size": cfg.batch_size * cfg.grad_accum * world_size,
    }
    for key, value in sizes.items():
        given = ds.get(key, "auto")
        if given != "auto" and given != value:
            raise ConfigError(f"DeepSpeed config sets {key}={given}, but the run needs {value}; use \"auto\"")
        ds[key] = value
    for section in ("bf16", "fp16"):
        if ds.get(section, {}).get("enabled") == "auto":
            ds[section]["enabled"] = cfg.use_gpu and section == "bf16"
    auto = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "warmup_max_lr": cfg.lr,
            "warmup_num_steps": cfg.warmup_steps, "total_num_steps": cfg.max_steps, "warmup_min_lr": 0.0}
    for section in ("optimizer", "scheduler"):
        params = ds.get(section, {}).get("params", {})
        for key, value in params.items():
            if value == "auto":
                if key not in auto:
                    raise ConfigError(f"DeepSpeed {section}.params.{key} is \"auto\", which we cannot fill")
                params[key] = auto[key]
    return ds


def ds_dtype_name(ds: dict[str, Any]) -> str:
    """The dtype the model is loaded in: bf16/fp16 when DeepSpeed trains in it, else float32."""
    if ds.get("bf16", {}).get("enabled") is True:
        return "bfloat16"
    if ds.get("fp16", {}).get("enabled") is True:
        return "float16"
    return "float32"


def zero_stage(ds: dict[str, Any]) -> int:
    return int(ds.get("zero_optimization", {}).get("stage", 0))
