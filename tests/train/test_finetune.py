"""End to end on CPU: SmolLM2-135M + LoRA through Ray Train (2 workers, gloo) + DeepSpeed ZeRO-2,
via the `linguacodus finetune` CLI; then resume, and serve the exported GGUF adapter in xllamacpp.

One module-scoped training run (4 steps, checkpoint every 2) feeds most tests; ~2-3 min on 2 cores.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actors.errors import ConfigError
from jobs.cli import main
from train.config import FinetuneConfig
from train.launcher import run_finetune

pytestmark = pytest.mark.slow

COMPLETION = "1. Impute missing values.\n2. Gradient boosting.\n3. 5-fold CV.\n4. Predict test.csv."
STEPS = 4


def make_pairs(path: Path) -> Path:
    rows = [{"competition_id": f"task-{i}", "rank": 1, "score": 0.9,
             "prompt": f"Task {i}: tabular data, target column y, metric accuracy. Plan the solution.",
             "completion": COMPLETION} for i in range(16)]
    pd.DataFrame(rows).to_parquet(path)
    return path


def cli_args(pairs: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return ["finetune", "--pairs", str(pairs), "--base", "smollm2-135m", "--out", str(out),
            "--workers", "2", "--max-steps", str(steps), "--checkpoint-every", "2", "--batch-size", "2",
            "--lr", "2e-3", "--max-seq-len", "128", "--seed", "0", *extra]


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def trained(ray_cluster, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("finetune")
    pairs, out = make_pairs(root / "pairs.parquet"), root / "out"
    assert main(cli_args(pairs, out, STEPS)) == 0
    return {"pairs": pairs, "out": out, "metrics": json.loads((out / "metrics.json").read_text())}


def test_training_lowers_the_loss_on_the_training_pairs(trained):
    m = trained["metrics"]
    assert m["steps"] == STEPS and m["world_size"] == 2
    assert [row["step"] for row in m["loss_curve"]] == list(range(1, STEPS + 1))
    assert m["eval_loss_end"] < 0.8 * m["eval_loss_start"]
    assert m["loss_curve"][-1]["loss"] < m["loss_curve"][0]["loss"]
    assert all(row["tokens_per_s"] > 0 for row in m["loss_curve"])


def test_checkpoints_hold_the_adapter_trainer_state_and_each_ranks_optimizer_partition(trained):
    ckpt = trained["out"] / "finetune" / f"checkpoint_{STEPS:06d}"
    assert (ckpt / "adapter" / "adapter_model.safetensors").is_file()
    config = json.loads((ckpt / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["base_model_name_or_path"] == "smollm2-135m"
    assert json.loads((ckpt / "trainer_state.json").read_text())["step"] == STEPS
    partitions = sorted(p.name for p in (ckpt / "deepspeed" / "state").glob("zero_pp_rank_*optim_states.pt"))
    assert len(partitions) == 2
    assert (trained["out"] / "finetune" / "checkpoint_000002").is_dir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (trained["out"] / "adapter" / name).is_file()


def test_existing_run_is_not_overwritten_without_resume(trained):
    cfg = FinetuneConfig(pairs=str(trained["pairs"]), base="smollm2-135m", out=str(trained["out"]))
    with pytest.raises(ConfigError, match="--resume"):
        run_finetune(cfg)


def test_exported_gguf_adapter_changes_llama_cpp_output_and_matches_peft(trained):
    import torch
    import xllamacpp
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from train.convert import base_gguf, resolve_base

    gguf_adapter = trained["out"] / "adapter.gguf"
    assert trained["metrics"]["adapter_gguf"] == str(gguf_adapter) and gguf_adapter.is_file()
    tok = AutoTokenizer.from_pretrained(resolve_base("smollm2-135m"))
    prompt = tok.apply_chat_template([{"role": "user", "content": "Task 99: tabular data, target column y, "
                                       "metric accuracy. Plan the solution."}],
                                     tokenize=False, add_generation_prompt=True)

    def llama_cpp(lora: bool) -> dict:
        params = xllamacpp.CommonParams()
        params.model.path = str(base_gguf("smollm2-135m"))
        params.n_ctx, params.n_parallel, params.cpuparams.n_threads = 512, 1, 2
        if lora:
            params.lora_adapters = [xllamacpp.CommonAdapterLoraInfo(str(gguf_adapter), 1.0)]
        server = xllamacpp.Server(params)
        return server.handle_completions({"prompt": prompt, "max_tokens": 16, "temperature": 0,
                                          "n_probs": 1})["choices"][0]

    base, tuned = llama_cpp(False), llama_cpp(True)
    assert tuned["text"] != base["text"]  # the adapter is applied

    # The same adapter in PEFT gives the same log-probabilities to llama.cpp's continuation, up to
    # Q4_1 rounding noise (a wrong q/k permutation or scale shows as differences of ~0.2-1.0).
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    tokens = [t["id"] for t in tuned["logprobs"]["content"]]
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(resolve_base("smollm2-135m")),
                                      trained["out"] / "adapter")
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids + tokens])).logits[0], -1)
    peft_lp = np.array([float(logp[len(ids) - 1 + i, t]) for i, t in enumerate(tokens)])
    llama_lp = np.array([t["logprob"] for t in tuned["logprobs"]["content"]])
    assert np.abs(peft_lp - llama_lp).mean() < 0.05


def test_resume_continues_from_the_last_checkpoint_step(trained):
    out = trained["out"]
    assert main(cli_args(trained["pairs"], out, STEPS + 1, "--resume")) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == STEPS + 1
    assert [row["step"] for row in m["loss_curve"]] == list(range(1, STEPS + 2))
    # a restart from scratch would be back near the first step's loss
    assert m["loss_curve"][-1]["loss"] < m["loss_curve"][0]["loss"]
    assert json.loads((out / "finetune" / f"checkpoint_{STEPS + 1:06d}" / "trainer_state.json").read_text())[
        "step"] == STEPS + 1

