"""Embedded GGUF -> trainable Hugging Face checkpoint (real SmolLM2 weights, real llama.cpp)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from actors.errors import ConfigError
from train.convert import STAMP, base_gguf, gguf_to_hf, resolve_base

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    return gguf_to_hf("smollm2-135m", cache_dir=tmp_path_factory.mktemp("hf-cache"))


@pytest.mark.slow
def test_converted_smollm2_loads_and_greedily_picks_the_same_token_as_llama_cpp(converted: Path):
    import torch
    import xllamacpp
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(converted)
    model = AutoModelForCausalLM.from_pretrained(converted)
    assert model.dtype == torch.float32 and tok.chat_template
    ids = tok(PROMPT, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=1, do_sample=False)
    hf_token = tok.decode(out[0, -1])

    params = xllamacpp.CommonParams()
    params.model.path = str(base_gguf("smollm2-135m"))
    params.n_ctx, params.n_parallel, params.cpuparams.n_threads = 256, 1, 2
    reply = xllamacpp.Server(params).handle_completions({"prompt": PROMPT, "max_tokens": 1, "temperature": 0})
    assert hf_token == reply["choices"][0]["text"] == " Paris"


@pytest.mark.slow
def test_second_conversion_is_served_from_the_stamped_cache(converted: Path):
    weights = converted / "model.safetensors"
    before = weights.stat().st_mtime_ns
    again = gguf_to_hf("smollm2-135m", cache_dir=converted.parent)
    assert again == converted and weights.stat().st_mtime_ns == before
    assert json.loads((converted / STAMP).read_text())["source"] == str(base_gguf("smollm2-135m").resolve())


@pytest.mark.slow
def test_q_and_k_weights_differ_from_the_gguf_only_by_the_permutation_the_exporter_applies(converted: Path):
    # The GGUF-LoRA exporter assumes transformers un-permuted q/k when loading the GGUF; check it.
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from safetensors.numpy import load_file

    from train.export_gguf import _permute_rows

    reader = GGUFReader(base_gguf("smollm2-135m"))
    tensors = {t.name: t for t in reader.tensors}
    hf = load_file(str(converted / "model.safetensors"))
    for gguf_name, hf_name, heads in [("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", 9),
                                      ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", 3)]:
        t = tensors[gguf_name]
        stored = dequantize(t.data, t.tensor_type).reshape(hf[hf_name].shape)
        assert not np.array_equal(stored, hf[hf_name])
        np.testing.assert_array_equal(stored, _permute_rows(hf[hf_name], heads))


def test_hf_checkpoint_dir_is_used_as_it_is(tmp_path: Path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_base(str(tmp_path)) == tmp_path


def test_directory_without_config_is_not_a_base(tmp_path: Path):
    with pytest.raises(ConfigError, match="config.json"):
        resolve_base(str(tmp_path))


def test_unknown_model_name_is_a_config_error_naming_the_known_ones():
    with pytest.raises(ConfigError, match="smollm2-135m"):
        resolve_base("llama-9000")
