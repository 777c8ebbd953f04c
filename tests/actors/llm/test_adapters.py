"""The fine-tuned instructor adapter shipped with the code: verified, used by default for the instructor's
calls only (no few-shot turn: it learned without one), off with --instructor-adapter none, and never
trained on a task the benchmarks evaluate on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from actors.errors import ModelFileError
from actors.llm.adapters import SHIPPED, instructor_adapter, shipped
from actors.llm.weights import sha256_file
from jobs.run_options import RunOptions, to_config
from jobs.examples import TASKS
from jobs.rdatasets_dedup import EXCLUDED_NAMES, excluded_by_name

BASE = "qwen2.5-coder-0.5b"


def test_the_shipped_instructor_adapter_matches_its_manifest_and_is_small() -> None:
    adapter = shipped(BASE)
    assert adapter is not None, f"no adapter for {BASE} in {SHIPPED}"
    assert adapter.path.stat().st_size < 20 << 20
    assert adapter.path.read_bytes()[:4] == b"GGUF"
    assert sha256_file(adapter.path) == adapter.sha256 == adapter.manifest["sha256"]
    assert adapter.tags == ("instructor",) and adapter.manifest["finetune"]["steps"] > 0


def test_the_adapter_never_saw_a_task_that_the_benchmarks_grade() -> None:
    """No pair comes from an open benchmark or example task, nor from an R dataset that is one of them
    under another name (the catalog builder's own exclusion list, jobs/rdatasets_dedup.py)."""
    trained_on = shipped(BASE).manifest["pairs"]["competitions"]
    evaluated = set(EXCLUDED_NAMES) | {t.name for t in TASKS}
    assert trained_on and not set(trained_on) & evaluated
    for cid in trained_on:
        prefix, package, item = cid.split("-", 2)
        assert prefix == "rd" and excluded_by_name(package, item) is None, cid


def test_the_default_run_applies_the_adapter_to_the_instructor_without_few_shot(tmp_path: Path) -> None:
    config = to_config(RunOptions(catalog="c.parquet", out=str(tmp_path)))
    assert Path(config.llm.lora_path) == shipped(BASE).path and config.llm.lora_tags == ["instructor"]
    assert config.llm.lora_sha256 == shipped(BASE).sha256 and not config.instructor.few_shot
    off = to_config(RunOptions(catalog="c.parquet", out=str(tmp_path), instructor_adapter="none"))
    assert off.llm.lora_path is None and off.instructor.few_shot
    served = to_config(RunOptions(catalog="c.parquet", out=str(tmp_path), llm_url="http://x/v1"))
    assert served.llm.lora_path is None  # a served model carries its own adapters
    assert to_config(RunOptions(catalog="c.parquet", out=str(tmp_path), model="smollm2-135m")).llm.lora_path is None


def test_a_corrupt_copy_of_the_shipped_adapter_is_refused(tmp_path: Path) -> None:
    src = shipped(BASE)
    copy = tmp_path / "copy.gguf"
    data = bytearray(src.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    (tmp_path / "copy.json").write_text(json.dumps(src.manifest))
    with pytest.raises(ModelFileError, match="is corrupt"):
        instructor_adapter(str(copy), BASE, "embedded")
