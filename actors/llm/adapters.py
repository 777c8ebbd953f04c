"""LoRA adapters shipped with the code: the fine-tuned instructor for an embedded base model.

An adapter lives in `actors/llm/adapters/` as `NAME.gguf` (llama.cpp LoRA, exported by `linguacodus
finetune`) beside `NAME.json`, its manifest: the base model it was trained on, the role it serves
(the LLM calls whose tag it is applied to), the file's sha256, and how it was made (the pairs and
their sha256, the command, the eval losses). The file is verified before a model loads it: a corrupt
or swapped adapter is a clear error, never a silent base model.

`--instructor-adapter default` picks the adapter shipped for `--model` (none for a model without one),
`none` turns it off (the base model with its few-shot example), a path uses that GGUF file (verified
against `FILE.json` beside it when there is one).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors.errors import ConfigError, ModelFileError
from actors.llm.weights import sha256_file

SHIPPED = Path(__file__).with_name("adapters")


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter file and what it is for."""

    path: Path
    sha256: str | None  # None: a user's file without a manifest (only its GGUF magic is checked)
    base: str | None  # the registry model it was trained on
    tags: tuple[str, ...]  # the ChatRequest tags it is applied to (the other calls see the base model)
    manifest: dict[str, Any]


def _manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"adapter manifest {path} is unreadable: {exc}") from exc


def _from_manifest(manifest_path: Path, gguf: Path) -> Adapter:
    m = _manifest(manifest_path)
    return Adapter(path=gguf, sha256=m.get("sha256"), base=m.get("base"), tags=tuple(m.get("tags") or ("instructor",)),
                   manifest=m)


def shipped(model: str, role: str = "instructor") -> Adapter | None:
    """The adapter shipped for `model` and `role`, or None."""
    for manifest_path in sorted(SHIPPED.glob("*.json")):
        m = _manifest(manifest_path)
        if m.get("base") == model and role in (m.get("tags") or ()):
            return _from_manifest(manifest_path, manifest_path.with_suffix(".gguf"))
    return None


def instructor_adapter(option: str | None, model: str, backend: str) -> Adapter | None:
    """What `--instructor-adapter OPTION` means for this model and backend, its file verified."""
    adapter = _choose(option, model, backend)
    if adapter is not None:
        verify(adapter.path, adapter.sha256)
        if adapter.base not in (None, model):
            raise ConfigError(f"--instructor-adapter {adapter.path} was trained on {adapter.base}, not --model {model}")
    return adapter


def _choose(option: str | None, model: str, backend: str) -> Adapter | None:
    if option is None or option == "none" or backend != "embedded":
        return None  # a served model (--llm-url) carries its own adapters (linguacodus serve --adapter)
    if option == "default":
        return shipped(model)
    path = Path(option).expanduser()
    if not path.is_file():
        raise ConfigError(f"--instructor-adapter {option}: no such file (give a GGUF LoRA, 'default' or 'none')")
    beside = path.with_suffix(".json")
    if beside.is_file():
        return _from_manifest(beside, path)
    return Adapter(path=path, sha256=None, base=None, tags=("instructor",), manifest={})


def verify(path: Path, sha256: str | None) -> None:
    """Raise ModelFileError unless `path` exists and (when given) has this sha256."""
    if not path.is_file():
        raise ModelFileError(f"LoRA adapter {path} does not exist")
    if sha256 is None:
        return
    got = sha256_file(path)
    if got != sha256:
        raise ModelFileError(f"LoRA adapter {path} is corrupt: sha256 {got[:16]}..., its manifest says "
                             f"{sha256[:16]}... (restore the file, or run with --instructor-adapter none)")
