"""Base checkpoints for fine-tuning: embedded GGUF weights -> a trainable Hugging Face checkpoint.

Nothing can be downloaded from the hub here, but every embedded model ships as a GGUF file.
transformers reads GGUF (`from_pretrained(dir, gguf_file=...)`, needs the `gguf` package) and
dequantizes it to float32; that model refuses `save_pretrained` because it is marked as
GGUF-quantized, so we copy its weights into a plain model built from the same config and save
that. The conversion (~30 s for 135M, a few minutes for 0.5B) is cached per GGUF file with a stamp
(source path, size, mtime, transformers version) and a file lock, so concurrent Ray workers on one
node convert once and later runs start at once.

Note the weights are the *quantized* ones, dequantized: fine-tuning starts from exactly the model
that serves (the same GGUF), which is what a LoRA adapter for that GGUF needs.

`resolve_base(base)` accepts what `linguacodus finetune --base` accepts:
- a registry name (smollm2-135m, qwen2.5-coder-0.5b, ...) -> its GGUF, converted;
- a path to a .gguf file -> converted;
- a local Hugging Face checkpoint dir (has config.json) -> used as is (the GPU profile's 7B);
- an s3:// folder holding a Hugging Face checkpoint -> downloaded once into the cache.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from actors.errors import ConfigError, ModelFileError

log = logging.getLogger(__name__)

STAMP = "linguacodus-stamp.json"
_FORMAT = 1  # bump when the conversion itself changes, so old caches are redone


def default_cache_dir() -> Path:
    root = os.environ.get("LINGUACODUS_CACHE")
    return Path(root) / "hf" if root else Path.home() / ".cache" / "linguacodus" / "hf"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_stamp(target: Path) -> dict | None:
    try:
        return json.loads((target / STAMP).read_text())
    except (OSError, ValueError):
        return None


def gguf_path_of(model: str | Path) -> Path:
    """The GGUF file behind a registry name or a .gguf path."""
    p = Path(model)
    if p.suffix == ".gguf":
        if not p.is_file():
            raise ModelFileError(f"GGUF file {p} does not exist")
        return p
    from actors.llm.weights import resolve_gguf

    return resolve_gguf(str(model))


def gguf_to_hf(model: str | Path, cache_dir: Path | None = None) -> Path:
    """Convert a registry model (or a .gguf path) to a float32 HF checkpoint dir, once; return it."""
    import transformers

    gguf = gguf_path_of(model).resolve()
    st = gguf.stat()
    want = {"source": str(gguf), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "transformers": transformers.__version__, "format": _FORMAT}
    key = hashlib.sha256(json.dumps(want, sort_keys=True).encode()).hexdigest()[:12]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / f"{gguf.stem}-{key}"
    with _locked(cache / f".{target.name}.lock"):
        if _read_stamp(target) == want:
            return target
        log.info("converting %s to a float32 Hugging Face checkpoint in %s (once)", gguf.name, target)
        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{target.name}."))
        try:
            _convert(gguf, tmp)
            (tmp / STAMP).write_text(json.dumps(want, indent=2))
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kw)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kw)
    config = loaded.config
    # The GGUF marker makes save_pretrained refuse; the weights themselves are plain fp32 tensors.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.generation_config = loaded.generation_config
    del loaded
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


def is_hf_checkpoint(path: Path) -> bool:
    return (path / "config.json").is_file()


def resolve_base(base: str, cache_dir: Path | None = None) -> Path:
    """A local HF checkpoint dir for `base` (registry name, .gguf path, HF dir or s3:// HF dir)."""
    import storage

    local = storage.local_path(base) if not storage.is_s3(base) else None
    if local is not None and local.is_dir():
        if not is_hf_checkpoint(local):
            raise ConfigError(f"--base {base} is a directory without config.json (not a HF checkpoint)")
        return local
    if storage.is_s3(base):
        return _download_checkpoint(base, cache_dir)
    return gguf_to_hf(base, cache_dir)


def _download_checkpoint(uri: str, cache_dir: Path | None) -> Path:
    import storage

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / ("s3-" + hashlib.sha256(uri.encode()).hexdigest()[:12])
    want = {"source": uri, "format": _FORMAT}
    with _locked(cache / f".{target.name}.lock"):
        if _read_stamp(target) == want:
            return target
        log.info("downloading base checkpoint %s to %s", uri, target)
        storage.download_dir(uri, target)
        if not is_hf_checkpoint(target):
            raise ConfigError(f"--base {uri} holds no config.json (not a HF checkpoint)")
        (target / STAMP).write_text(json.dumps(want))
    return target


def base_gguf(base: str) -> Path | None:
    """The GGUF file a base came from (needed to export a llama.cpp LoRA), or None for HF bases."""
    p = Path(base)
    if p.suffix == ".gguf":
        return p
    from actors.llm.models import MODELS

    return gguf_path_of(base) if base in MODELS else None
