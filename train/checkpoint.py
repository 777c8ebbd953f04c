"""What a fine-tuning checkpoint holds and how each rank writes and reads its part.

Layout of one checkpoint directory (as Ray Train stores it, merged from all workers):
  adapter/                     PEFT adapter (adapter_config.json + adapter_model.safetensors), rank 0
  trainer_state.json           step, world size, loss curve, eval losses, rank 0
  deepspeed/state/...          DeepSpeed engine checkpoint: ZeRO optimizer partitions (one file per
                               rank, each written by its rank) + scheduler + trainable weights

Why every rank writes: ZeRO partitions the optimizer state, so rank r is the only holder of
partition r. Each worker reports its own directory and Ray Train merges them into one (file names
do not collide). Everything else is written by rank 0 only.

Why we slim DeepSpeed's model-states file: with `exclude_frozen_parameters=True` DeepSpeed still
keeps tied weights (the input embedding doubling as lm_head: 113 MB for SmolLM2, 545 MB for
Qwen2.5-0.5B), so rank 0 rewrites it with the trainable tensors only; loading uses strict=False.
"""
from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
STATE_FILE = "trainer_state.json"
DS_DIR = "deepspeed"
DS_TAG = "state"


@dataclass
class TrainerState:
    """Mutable on purpose: the training loop appends to `history` as it goes."""

    step: int = 0
    world_size: int = 1
    tokens_seen: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    eval_loss_start: float | None = None
    eval_loss_end: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dir(cls, ckpt_dir: Path) -> TrainerState:
        return cls(**json.loads((ckpt_dir / STATE_FILE).read_text()))


def _gathered(engine: Any, params: list[Any]) -> Any:
    # Under ZeRO-3 each rank holds a shard of every parameter; gather the (small) adapter weights
    # on all ranks for the save. ZeRO-0/1/2 keep full parameters: nothing to gather.
    if engine.zero_optimization_stage() == 3:
        import deepspeed

        return deepspeed.zero.GatheredParameters(params, modifier_rank=None)
    return nullcontext()


def save_checkpoint(engine: Any, state: TrainerState, out_dir: Path, rank: int) -> None:
    """Write this rank's part of a checkpoint into `out_dir` (a local temp dir). Collective."""
    model = engine.module
    trainable = [p for p in model.parameters() if p.requires_grad]
    engine.save_checkpoint(str(out_dir / DS_DIR), tag=DS_TAG, exclude_frozen_parameters=True)
    with _gathered(engine, trainable):
        if rank == 0:
            # save_embedding_layers=False: "auto" looks the base up on the hub to compare vocabularies
            model.save_pretrained(out_dir / ADAPTER_DIR, save_embedding_layers=False)
    if rank == 0:
        _slim_model_states(engine, out_dir / DS_DIR / DS_TAG)
        (out_dir / STATE_FILE).write_text(state.to_json())


def _slim_model_states(engine: Any, tag_dir: Path) -> None:
    import torch

    keep = {name for name, p in engine.module.named_parameters() if p.requires_grad}
    for path in tag_dir.glob("mp_rank_*_model_states.pt"):
        sd = torch.load(path, map_location="cpu", weights_only=False)
        sd["module"] = {k: v for k, v in sd["module"].items() if k in keep}
        torch.save(sd, path)


def load_adapter_weights(model: Any, ckpt_dir: Path) -> None:
    """Load the adapter tensors of a checkpoint into a PEFT model (before DeepSpeed wraps it)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(ckpt_dir / ADAPTER_DIR / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, weights)
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise ValueError(f"checkpoint adapter has tensors the model lacks: {unexpected[:3]}")


def load_engine_state(engine: Any, ckpt_dir: Path, state: TrainerState) -> bool:
    """Restore optimizer/scheduler state; False (adapter weights only) when that is impossible."""
    ds_dir = ckpt_dir / DS_DIR
    if not (ds_dir / DS_TAG).is_dir():
        log.warning("checkpoint has no DeepSpeed state: resuming with a fresh optimizer")
        return False
    if state.world_size != engine.world_size:
        # ZeRO partitions depend on the number of ranks; DeepSpeed cannot re-split them here.
        log.warning("checkpoint was written by %d workers, this run has %d: fresh optimizer state",
                    state.world_size, engine.world_size)
        return False
    engine.load_checkpoint(str(ds_dir), tag=DS_TAG, load_module_strict=False)
    return True
