"""The real embedded engine (xllamacpp) with the real installed models: chat, usage, schema-constrained
JSON, determinism, LoRA, errors, threads, the engine's HTTP endpoint, and cache record/replay."""
from __future__ import annotations

import dataclasses
import json
import time
import threading
import urllib.error
import urllib.request

import jsonschema
import pytest

from actors.llm.embedded import EmbeddedLLM, check_config
from actors.errors import LLMResponseError, LLMTimeoutError, ModelFileError
from actors.llm.base import ChatRequest, LLMConfig
from actors.llm.build import build_llm
from actors.llm.openai_client import OpenAILLM
from actors.llm.models import missing_packages

pytestmark = pytest.mark.slow

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "languages": {
        "type": "array", "items": {"type": "string"}, "maxItems": 3}},
    "required": ["name", "age", "languages"],
    "additionalProperties": False,
}


def _require(model: str) -> None:
    if missing_packages(model):
        pytest.skip(f"{model} weights are not installed")


@pytest.fixture(scope="module")
def smol():
    _require("smollm2-135m")
    with EmbeddedLLM(LLMConfig(model="smollm2-135m", n_ctx=2048, n_parallel=2)) as llm:
        yield llm


@pytest.fixture(scope="module")
def qwen():
    _require("qwen2.5-coder-0.5b")
    # prompt_cache=False: bit-exact replies for a seed (smol keeps the default, caching on)
    with EmbeddedLLM(LLMConfig(model="qwen2.5-coder-0.5b", n_ctx=4096, prompt_cache=False)) as llm:
        yield llm


@pytest.mark.parametrize("which", ["smol", "qwen"])
def test_the_embedded_model_answers_a_chat_with_usage(which, request):
    llm = request.getfixturevalue(which)
    resp = llm.chat(ChatRequest(messages=HELLO, max_tokens=24, temperature=0.0))
    assert resp.text.strip()
    assert resp.prompt_tokens > 0 and 0 < resp.completion_tokens <= 24
    assert resp.finish_reason in ("stop", "length") and resp.seconds > 0 and resp.model == llm.name


@pytest.mark.parametrize("which", ["smol", "qwen"])
def test_a_json_schema_constrained_reply_parses_and_validates(which, request):
    llm = request.getfixturevalue(which)
    resp = llm.chat(ChatRequest(
        messages=[{"role": "user", "content": "Describe a fictional programmer as JSON."}],
        max_tokens=120, temperature=0.7, seed=5, json_schema=PERSON_SCHEMA))
    assert resp.finish_reason == "stop", resp.text
    jsonschema.validate(json.loads(resp.text), PERSON_SCHEMA)


def test_same_seed_gives_the_same_text_at_temperature_zero_and_above(qwen):
    for temperature in (0.0, 0.9):
        req = ChatRequest(messages=[{"role": "user", "content": "Write a haiku about pandas."}],
                          max_tokens=40, temperature=temperature, seed=1234)
        assert qwen.chat(req).text == qwen.chat(req).text, f"temperature {temperature}"


def test_a_call_with_a_time_limit_gives_the_same_reply_within_it_and_is_stopped_past_it(qwen):
    req = ChatRequest(messages=[{"role": "user", "content": "Describe a fictional programmer as JSON."}],
                      max_tokens=120, temperature=0.7, seed=5, json_schema=PERSON_SCHEMA)
    plain = qwen.chat(req)
    limited = qwen.chat(dataclasses.replace(req, time_limit_s=120))  # streamed, assembled as one reply
    assert (limited.text, limited.finish_reason) == (plain.text, plain.finish_reason)
    assert (limited.prompt_tokens, limited.completion_tokens) == (plain.prompt_tokens, plain.completion_tokens)
    long = ChatRequest(messages=[{"role": "user", "content": "Count from 1 to 500, one number per line."}],
                       max_tokens=2000, temperature=0.0, time_limit_s=1.0)
    t0 = time.perf_counter()
    with pytest.raises(LLMTimeoutError, match=r"stopped after \d+ s, its time limit 1 s \(\d+ tokens written\)"):
        qwen.chat(long)
    # stopped at its first token past the limit (the prompt's evaluation is not cut), not after 2,000
    # tokens (~90 s on 2 idle cores)
    assert time.perf_counter() - t0 < 30
    assert qwen.chat(ChatRequest(messages=HELLO, max_tokens=8, temperature=0.0)).text  # the engine serves on


def test_a_different_seed_gives_a_different_sample(qwen):
    texts = {qwen.chat(ChatRequest(messages=[{"role": "user", "content": "Invent a name for a cat."}],
                                   max_tokens=16, temperature=1.0, seed=s)).text for s in range(4)}
    assert len(texts) > 1


def test_a_prompt_longer_than_the_context_is_a_response_error():
    _require("smollm2-135m")
    with EmbeddedLLM(LLMConfig(model="smollm2-135m", n_ctx=256)) as llm, \
            pytest.raises(LLMResponseError, match="exceed"):
        llm.chat(ChatRequest(messages=[{"role": "user", "content": "word " * 600}], max_tokens=8))


def test_concurrent_calls_from_threads_all_succeed(smol):
    results: dict[int, str] = {}

    def ask(i: int) -> None:
        req = ChatRequest(messages=[{"role": "user", "content": f"What is {i} plus {i}?"}], max_tokens=12)
        results[i] = smol.chat(req).text

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == [0, 1, 2, 3] and all(results.values())


def test_the_engine_http_endpoint_speaks_openai_and_requires_the_key(smol, monkeypatch):
    monkeypatch.setenv("EMBEDDED_KEY", smol.http_api_key)
    remote = OpenAILLM(LLMConfig(backend="openai", base_url=smol.http_base_url + "/v1",
                                 api_key_env="EMBEDDED_KEY", model="smollm2-135m"))
    resp = remote.chat(ChatRequest(messages=HELLO, max_tokens=8, temperature=0.0))
    assert resp.text and resp.completion_tokens > 0 and resp.model == "smollm2-135m"
    keyless = urllib.request.Request(smol.http_base_url + "/v1/chat/completions", method="POST",
                                     data=json.dumps({"messages": HELLO}).encode(),
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(keyless, timeout=30)


def _tiny_lora(path, scale: float) -> None:
    """A random rank-4 LoRA on every attn_q of SmolLM2 (576 wide, 30 blocks), in llama.cpp's adapter GGUF."""
    gguf = pytest.importorskip("gguf")
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", 4.0)
    for i in range(30):
        w.add_tensor(f"blk.{i}.attn_q.weight.lora_a", (rng.standard_normal((4, 576)) * scale).astype(np.float32))
        w.add_tensor(f"blk.{i}.attn_q.weight.lora_b", (rng.standard_normal((576, 4)) * scale).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_a_lora_adapter_is_applied_and_named(smol, tmp_path):
    lora = tmp_path / "noise-lora.gguf"
    _tiny_lora(lora, scale=0.5)
    req = ChatRequest(messages=HELLO, max_tokens=16, temperature=0.0)
    with EmbeddedLLM(LLMConfig(model="smollm2-135m", n_ctx=1024, lora_path=str(lora))) as tuned:
        assert tuned.name == "smollm2-135m+lora:noise-lora"
        assert tuned.chat(req).text != smol.chat(req).text


def test_a_tagged_lora_applies_to_its_tags_only(tmp_path):
    """The instructor's adapter changes the instructor's calls and leaves every other call to the base."""
    _require("smollm2-135m")
    lora = tmp_path / "noise-lora.gguf"
    _tiny_lora(lora, scale=0.5)
    base_cfg = LLMConfig(model="smollm2-135m", n_ctx=1024, prompt_cache=False)
    with EmbeddedLLM(base_cfg) as base:
        plain = base.chat(ChatRequest(messages=HELLO, max_tokens=16, temperature=0.0)).text
    cfg = base_cfg.model_copy(update={"lora_path": str(lora), "lora_tags": ["instructor"]})
    with EmbeddedLLM(cfg) as tuned:
        assert tuned.chat(ChatRequest(messages=HELLO, max_tokens=16, temperature=0.0, tag="coder")).text == plain
        assert tuned.chat(ChatRequest(messages=HELLO, max_tokens=16, temperature=0.0, tag="instructor")).text != plain


def test_a_lora_whose_sha256_differs_from_its_manifest_is_refused(tmp_path):
    _require("smollm2-135m")
    lora = tmp_path / "noise-lora.gguf"
    _tiny_lora(lora, scale=0.5)
    cfg = LLMConfig(model="smollm2-135m", lora_path=str(lora), lora_sha256="0" * 64)
    with pytest.raises(ModelFileError, match="is corrupt: sha256"):
        check_config(cfg)
    with pytest.raises(ModelFileError, match="is corrupt: sha256"):
        EmbeddedLLM(cfg)


def test_a_lora_that_is_not_gguf_fails_with_a_model_file_error(tmp_path):
    _require("smollm2-135m")
    bad = tmp_path / "adapter_model.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        EmbeddedLLM(LLMConfig(model="smollm2-135m", lora_path=str(bad)))


def test_a_recorded_embedded_run_replays_without_the_model(tmp_path):
    _require("smollm2-135m")
    req = ChatRequest(messages=HELLO, max_tokens=12, temperature=0.0)
    live = build_llm(LLMConfig(model="smollm2-135m", n_ctx=1024, cache_dir=str(tmp_path)))
    first = live.chat(req)
    assert live.chat(req).cached and not first.cached
    replay = build_llm(LLMConfig(backend="replay", model="smollm2-135m", cache_dir=str(tmp_path)))
    again = replay.chat(req)
    assert (again.text, again.completion_tokens, again.cached) == (first.text, first.completion_tokens, True)
