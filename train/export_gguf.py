"""PEFT LoRA adapter -> llama.cpp LoRA adapter GGUF, for serving with xllamacpp on CPU.

llama.cpp applies an adapter at run time as W x + scale * B (A x), scale = user_scale * alpha / r,
reading (from llama.cpp's convert_lora_to_gguf.py and llama-adapter.cpp, studied, not copied):
- metadata: general.architecture = the base's, general.type = "adapter", adapter.type = "lora",
  adapter.lora.alpha (float32);
- per adapted weight `W` of GGUF name N (e.g. blk.3.attn_q.weight): N.lora_a with PEFT's lora_A
  (torch shape [r, in] -> GGUF ne [in, r]) and N.lora_b with lora_B ([out, r] -> ne [r, out]).
  No transposition for linear layers: GGUF lists dims in reverse of torch, as llama.cpp expects.
- llama-arch GGUFs store q/k projections with their rows permuted for llama.cpp's RoPE layout
  (transformers undoes it when loading the GGUF, so our HF base is unpermuted); the row space of
  W is B's row space, so B of q/k gets the same permutation and A stays as is.
HF names map to GGUF names with the gguf package's own TensorNameMap, and every mapped name and
shape is checked against the base GGUF, so a mismatch fails here rather than in the server.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from actors.errors import ConfigError

log = logging.getLogger(__name__)

_PEFT_PREFIX = "base_model.model."
_PERMUTED_ARCHS = {"llama"}  # archs whose converter permutes q/k (and transformers un-permutes)


def _permute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp's q/k layout: within each head, interleave the two rotary halves.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _read_base(base_gguf: Path) -> tuple[str, dict[str, tuple[int, ...]], int, int, int]:
    from gguf import GGUFReader

    reader = GGUFReader(base_gguf)
    fields = reader.fields
    arch = fields["general.architecture"].contents()
    n_head = int(fields[f"{arch}.attention.head_count"].contents())
    kv = fields.get(f"{arch}.attention.head_count_kv")
    n_kv = int(kv.contents()) if kv is not None else n_head
    n_blocks = int(fields[f"{arch}.block_count"].contents())
    shapes = {t.name: tuple(int(s) for s in t.shape) for t in reader.tensors}  # GGUF order (ne)
    return arch, shapes, n_head, n_kv, n_blocks


def _adapter_alpha(cfg: dict) -> float:
    if cfg.get("use_dora"):
        raise ConfigError("DoRA adapters cannot be expressed as a llama.cpp LoRA")
    if cfg.get("alpha_pattern") or cfg.get("rank_pattern"):
        raise ConfigError("per-module alpha/rank patterns cannot be expressed with one GGUF alpha")
    if cfg.get("modules_to_save"):
        raise ConfigError(f"adapter also trains full modules {cfg['modules_to_save']}: not a pure LoRA")
    alpha, r = float(cfg["lora_alpha"]), int(cfg["r"])
    # llama.cpp scales by alpha / r; rsLoRA means alpha / sqrt(r), i.e. alpha * sqrt(r) / r.
    return alpha * math.sqrt(r) if cfg.get("use_rslora") else alpha


def _lora_pairs(adapter_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    from safetensors.numpy import load_file

    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in load_file(str(adapter_dir / "adapter_model.safetensors")).items():
        for part in ("lora_A", "lora_B"):
            suffix = f".{part}.weight"
            if key.endswith(suffix):
                module = key.removeprefix(_PEFT_PREFIX).removesuffix(suffix)
                pairs.setdefault(module, {})[part] = value.astype(np.float32)
                break
        else:
            raise ConfigError(f"adapter tensor {key} is not a lora_A/lora_B weight")
    return pairs


def peft_adapter_to_gguf(adapter_dir: Path, base_gguf: Path, out_path: Path) -> Path:
    """Write the PEFT adapter in `adapter_dir` as a llama.cpp LoRA GGUF for `base_gguf`."""
    import gguf

    adapter_dir, out_path = Path(adapter_dir), Path(out_path)
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    alpha = _adapter_alpha(cfg)
    arch, shapes, n_head, n_kv, n_blocks = _read_base(Path(base_gguf))
    arch_enum = {name: a for a, name in gguf.MODEL_ARCH_NAMES.items()}[arch]
    names = gguf.get_tensor_name_map(arch_enum, n_blocks)

    writer = gguf.GGUFWriter(str(out_path), arch=arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for module, ab in sorted(_lora_pairs(adapter_dir).items()):
        if set(ab) != {"lora_A", "lora_B"}:
            raise ConfigError(f"adapter module {module} lacks {({'lora_A', 'lora_B'} - set(ab)).pop()}")
        target = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if target is None or target not in shapes or target.startswith(("token_embd", "output.")):
            raise ConfigError(f"adapter module {module} has no linear layer {target} in {base_gguf.name}")
        a, b = ab["lora_A"], ab["lora_B"]
        if shapes[target] != (a.shape[1], b.shape[0]):
            raise ConfigError(f"{module}: adapter is {b.shape[0]}x{a.shape[1]}, base {target} is "
                              f"{shapes[target][1]}x{shapes[target][0]}")
        if arch in _PERMUTED_ARCHS and ".attn_q." in target:
            b = _permute_rows(b, n_head)
        elif arch in _PERMUTED_ARCHS and ".attn_k." in target:
            b = _permute_rows(b, n_kv)
        writer.add_tensor(target + ".lora_a", np.ascontiguousarray(a))
        writer.add_tensor(target + ".lora_b", np.ascontiguousarray(b))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    log.info("wrote llama.cpp LoRA %s (arch %s, alpha %g)", out_path, arch, alpha)
    return out_path
