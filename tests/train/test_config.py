"""Fine-tuning settings: DeepSpeed "auto" values, shipped configs, CLI/YAML merging."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from actors.errors import ConfigError
from jobs.cli import build_parser
from jobs.finetune import settings
from train.config import CONFIG_DIR, FinetuneConfig, ds_dtype_name, load_ds_config, resolve_ds_config, zero_stage

BASE = {"pairs": "p.parquet", "base": "smollm2-135m", "out": "out"}


def test_auto_batch_sizes_are_filled_from_the_run_and_world_size():
    cfg = FinetuneConfig(**BASE, batch_size=3, grad_accum=2)
    ds = resolve_ds_config(load_ds_config("ds_zero2_cpu.json"), cfg, world_size=4)
    assert ds["train_micro_batch_size_per_gpu"] == 3
    assert ds["gradient_accumulation_steps"] == 2
    assert ds["train_batch_size"] == 3 * 2 * 4
    assert zero_stage(ds) == 2 and ds_dtype_name(ds) == "float32"
    assert "optimizer" not in ds  # CPU: the client torch AdamW, no cpu_adam compile


def test_contradicting_batch_size_in_a_deepspeed_config_is_refused():
    cfg = FinetuneConfig(**BASE, batch_size=4)
    with pytest.raises(ConfigError, match="train_micro_batch_size_per_gpu"):
        resolve_ds_config({"train_micro_batch_size_per_gpu": 8}, cfg, world_size=1)


def test_gpu_config_gets_lr_and_schedule_length_from_the_run():
    cfg = FinetuneConfig(**BASE, lr=1e-4, max_steps=500, warmup_steps=20, use_gpu=True)
    ds = resolve_ds_config(load_ds_config("ds_zero3_gpu.json"), cfg, world_size=8)
    assert ds["optimizer"]["params"]["lr"] == 1e-4
    assert ds["scheduler"]["params"]["total_num_steps"] == 500
    assert ds["scheduler"]["params"]["warmup_num_steps"] == 20
    assert zero_stage(ds) == 3 and ds_dtype_name(ds) == "bfloat16"
    assert "auto" not in json.dumps(ds)


def test_unknown_deepspeed_config_names_the_shipped_ones():
    with pytest.raises(ConfigError, match="ds_zero2_cpu.json"):
        load_ds_config("ds_zero9.json")


def test_gpu_profile_yaml_is_a_valid_finetune_config():
    profile = yaml.safe_load((CONFIG_DIR / "gpu_7b.yaml").read_text())
    cfg = FinetuneConfig(**profile, pairs="s3://b/pairs.parquet", out="s3://b/run")
    assert cfg.use_gpu and cfg.lora_r == 16 and cfg.max_seq_len == 2048 and 4 <= cfg.workers <= 8
    assert zero_stage(load_ds_config(cfg.deepspeed)) in (2, 3)


def test_cli_flags_override_the_yaml_profile(tmp_path: Path):
    profile = tmp_path / "p.yaml"
    profile.write_text("base: qwen2.5-coder-0.5b\nlora_r: 16\nmax_steps: 100\n")
    argv = ["finetune", "--config", str(profile), "--pairs", "p.parquet", "--out", "o", "--max-steps", "7",
            "--target-modules", "q_proj,v_proj", "--resume"]
    args = build_parser(argv).parse_args(argv)
    cfg = FinetuneConfig.model_validate(settings(args))
    assert (cfg.base, cfg.lora_r, cfg.max_steps) == ("qwen2.5-coder-0.5b", 16, 7)
    assert cfg.target_modules == ["q_proj", "v_proj"] and cfg.resume
    assert cfg.batch_size == FinetuneConfig.model_fields["batch_size"].default


def test_misspelled_setting_is_rejected():
    with pytest.raises(ValueError, match="lora_rank"):
        FinetuneConfig(**BASE, lora_rank=8)
