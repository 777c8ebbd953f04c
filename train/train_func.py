"""`train_func(config)`: the per-worker loop Ray Train's TorchTrainer runs on every rank.

Reads top to bottom like nanoGPT's train.py: config -> data -> model + LoRA -> DeepSpeed ->
(resume) -> loop -> checkpoints. Everything arrives through `config` (a FinetuneConfig dict whose
`deepspeed` is already a dict); Ray Train has set up the torch process group (gloo on CPU, nccl on
GPU) before we are called, so DeepSpeed reuses it (`dist_init_required=False`).

Choices, and why:
- Optimizer on CPU: a plain torch AdamW handed to DeepSpeed as a client optimizer (ZeRO-2 wraps
  it; `zero_allow_untested_optimizer` in ds_zero2_cpu.json). DeepSpeedCPUAdam would JIT-compile
  the cpu_adam op (~1 min, per machine) for no gain on a few million LoRA weights. GPU configs
  name DeepSpeed's AdamW in their "optimizer" section, which we then leave to DeepSpeed.
  (DeepSpeed still JIT-compiles its small shared-memory all-reduce op for CPU once per machine,
  ~40 s, cached in ~/.cache/torch_extensions.)
- Data: every worker reads the pairs and takes its shard with a DistributedSampler (seeded,
  reshuffled per epoch). Deterministic and exactly resumable (we skip the batches already seen),
  and it needs no extra CPUs, unlike Ray Data read tasks on a 2-core machine.
- Loss and tokens/s are all-reduced, so every rank holds the same curve; rank 0 logs and writes.
"""
from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from train.checkpoint import (
    TrainerState,
    load_adapter_weights,
    load_engine_state,
    save_checkpoint,
)
from train.config import FinetuneConfig, ds_dtype_name, load_ds_config, resolve_ds_config, zero_stage
from train.data import build_examples, collate, load_pairs, pad_id_of, split_pairs

log = logging.getLogger(__name__)


def train_func(config: dict[str, Any]) -> None:
    import deepspeed
    import ray.train
    import torch
    import torch.distributed as dist
    from torch.utils.data import DataLoader, DistributedSampler
    from transformers import AutoTokenizer

    from train.convert import resolve_base

    if not logging.getLogger().handlers:  # a fresh Ray worker process: make our INFO lines visible
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = FinetuneConfig.model_validate(config)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    ds_config = resolve_ds_config(load_ds_config(cfg.deepspeed), cfg, world)
    torch.manual_seed(cfg.seed)  # same LoRA init on every rank (DeepSpeed also broadcasts rank 0's)

    # -- data: this rank's shard of the tokenized pairs
    base_dir = resolve_base(cfg.base, Path(cfg.cache_dir) if cfg.cache_dir else None)
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    train_pairs, held_pairs = split_pairs(load_pairs(cfg.pairs))
    examples, stats = build_examples(train_pairs, tokenizer, cfg.max_seq_len, cfg.system_prompt)
    # The eval loss is the held-out split's when the pairs have one (unseen tasks), else the training pairs'.
    eval_examples = (build_examples(held_pairs, tokenizer, cfg.max_seq_len, cfg.system_prompt)[0]
                     if held_pairs is not None else examples)
    sampler = DistributedSampler(examples, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(examples, batch_size=cfg.batch_size, sampler=sampler,
                        collate_fn=partial(collate, pad_id=pad_id_of(tokenizer)))
    batches_per_epoch = len(loader)
    if rank == 0:
        log.info("data: %s; %d micro-batches/epoch/worker of %d; %d workers; eval loss on %d %s pairs", stats,
                 batches_per_epoch, cfg.batch_size, world, len(eval_examples),
                 "held-out" if held_pairs is not None else "training")

    # -- model: the base, frozen, with LoRA adapters on the attention projections
    zero3 = None
    if zero_stage(ds_config) == 3:
        # ZeRO-3 shards the weights while they load (a 7B base does not fit one GPU in fp32);
        # transformers finds this object through a weak reference: keep it for the whole run.
        from transformers.integrations import HfDeepSpeedConfig

        zero3 = HfDeepSpeedConfig(ds_config)
    model = _lora_model(cfg, base_dir, ds_config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if rank == 0:
        n_train, n_all = sum(p.numel() for p in trainable), sum(p.numel() for p in model.parameters())
        log.info("LoRA r=%d alpha=%g on %s: %d trainable of %d params (%.3f%%)", cfg.lora_r,
                 cfg.lora_alpha, cfg.target_modules, n_train, n_all, 100 * n_train / n_all)

    # -- resume: adapter weights go in before DeepSpeed copies them into its fp32 partitions
    state = TrainerState(world_size=world)
    checkpoint = ray.train.get_checkpoint()
    resume_dir = None
    if checkpoint is not None:
        # A private copy per rank: without a path, to_directory() hands every rank on a node the
        # same temp dir, and one rank's cleanup below would delete files another is still loading.
        resume_dir = Path(checkpoint.to_directory(tempfile.mkdtemp(prefix=f"lc-resume-rank{rank}-")))
    if resume_dir is not None:
        state = TrainerState.from_dir(resume_dir)
        load_adapter_weights(model, resume_dir)
        state.eval_loss_end = None  # belongs to the end of the previous run, not to this one

    # -- DeepSpeed: ZeRO over the trainable (LoRA) parameters
    optimizer = scheduler = None
    if "optimizer" not in ds_config:
        optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if "scheduler" not in ds_config:
            warm = max(cfg.warmup_steps, 1)
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warm))
    engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=trainable, optimizer=optimizer,
                                           lr_scheduler=scheduler, config=ds_config,
                                           dist_init_required=False)
    if resume_dir is not None:
        restored = load_engine_state(engine, resume_dir, state)
        shutil.rmtree(resume_dir, ignore_errors=True)
        log.info("rank %d resumed at step %d (optimizer state %s)", rank, state.step,
                 "restored" if restored else "fresh")
    state.world_size = world

    def all_sum(*values: float) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=engine.device)
        dist.all_reduce(t)
        return t.tolist()

    def eval_loss() -> float:
        # Token-weighted mean loss over this rank's shard, then over all ranks.
        eval_loader = DataLoader(eval_examples, batch_size=cfg.batch_size, collate_fn=loader.collate_fn,
                                 sampler=DistributedSampler(eval_examples, world, rank, shuffle=False))
        return _ratio(all_sum(*_loss_sums(engine, eval_loader)))

    if cfg.eval_loss and state.eval_loss_start is None:
        state.eval_loss_start = eval_loss()
        if rank == 0:
            log.info("eval loss before training: %.4f", state.eval_loss_start)

    # -- the loop: one optimizer step = grad_accum micro-batches per worker
    micro = state.step * cfg.grad_accum  # micro-batches consumed so far, across epochs
    epoch, skip = divmod(micro, batches_per_epoch)
    loss_sum = label_tokens = tokens = 0.0
    t0, step0 = time.perf_counter(), state.step
    engine.train()
    while state.step < cfg.max_steps:
        sampler.set_epoch(epoch)
        for i, batch in enumerate(loader):
            if i < skip:
                continue  # already trained on before the checkpoint we resumed from
            batch = {name: t.to(engine.device) for name, t in batch.items()}
            out = engine(**batch)
            engine.backward(out.loss)
            engine.step()
            k = float((batch["labels"][:, 1:] != -100).sum())  # labels shift by one inside the model
            loss_sum += float(out.loss.detach()) * k
            label_tokens += k
            tokens += float(batch["attention_mask"].sum())
            micro += 1
            if micro % cfg.grad_accum:
                continue
            state.step += 1
            last = state.step >= cfg.max_steps
            if state.step % cfg.log_every == 0 or state.step % cfg.checkpoint_every == 0 or last:
                loss_sum, label_tokens, tokens = all_sum(loss_sum, label_tokens, tokens)
                seconds = time.perf_counter() - t0
                row = {"step": state.step, "loss": loss_sum / max(label_tokens, 1.0),
                       "tokens_per_s": tokens / seconds, "seconds_per_step": seconds / (state.step - step0),
                       "lr": float(engine.get_lr()[0]), "epoch": epoch}
                state.history.append(row)
                state.tokens_seen += int(tokens)
                if last and cfg.eval_loss:
                    state.eval_loss_end = eval_loss()
                _report(engine, state, row, rank, checkpoint_now=state.step % cfg.checkpoint_every == 0 or last)
                loss_sum = label_tokens = tokens = 0.0
                t0, step0 = time.perf_counter(), state.step
            if last:
                break
        epoch, skip = epoch + 1, 0
    del zero3


def _lora_model(cfg: FinetuneConfig, base_dir: Path, ds_config: dict[str, Any]) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=getattr(torch, ds_dtype_name(ds_config)))
    model.config.use_cache = False  # the KV cache only costs memory during training
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.target_modules), task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.peft_config["default"].base_model_name_or_path = cfg.base  # not our cache path
    return model


def _loss_sums(engine: Any, loader: Any) -> tuple[float, float]:
    """(sum of token losses, number of label tokens) over `loader`, without gradients."""
    import torch

    engine.eval()
    total = n = 0.0
    with torch.no_grad():
        for batch in loader:
            batch = {name: t.to(engine.device) for name, t in batch.items()}
            k = float((batch["labels"][:, 1:] != -100).sum())  # labels shift by one inside the model
            total += float(engine(**batch).loss) * k
            n += k
    engine.train()
    return total, n


def _ratio(sums: list[float]) -> float:
    return sums[0] / max(sums[1], 1.0)


def _report(engine: Any, state: TrainerState, row: dict[str, float], rank: int, checkpoint_now: bool) -> None:
    import ray.train

    metrics = dict(row)
    if state.eval_loss_start is not None:
        metrics["eval_loss_start"] = state.eval_loss_start
    if state.eval_loss_end is not None:
        metrics["eval_loss_end"] = state.eval_loss_end
    if rank == 0:
        log.info("step %d loss %.4f %.0f tok/s", row["step"], row["loss"], row["tokens_per_s"])
        if not math.isfinite(row["loss"]):
            log.warning("loss is not finite at step %d", row["step"])
    if not checkpoint_now:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="lc-ckpt-") as tmp:
        save_checkpoint(engine, state, Path(tmp), rank)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp),
                         checkpoint_dir_name=f"checkpoint_{state.step:06d}")
