"""The LLM layer without a model: extract_code, CachedLLM, RecordingLLM, build_llm, and OpenAILLM against
a real local HTTP server speaking the OpenAI wire format."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from actors.errors import ConfigError, LLMResponseError, LLMTimeoutError, LLMUnavailableError, RetryableError
from actors.llm.base import ChatRequest, LLMConfig, extract_code, llm_name
from actors.llm.build import build_llm
from actors.llm.cache import CachedLLM, cache_key
from actors.llm.recording import RecordingLLM
from actors.llm.openai_client import OpenAILLM
from tests.helpers.fakes import ScriptedLLM

MSGS = [{"role": "system", "content": "You write Python."}, {"role": "user", "content": "Add two numbers."}]


# ---------------------------------------------------------------- extract_code

def test_a_stray_empty_fence_before_the_code_does_not_leak_into_it():
    # measured: qwen 0.5B in vanilla mode replied "```\n\n```python\n...```" (SyntaxError at line 1)
    text = "```\n\n```python\nimport os\nprint(1)\n\n```"
    assert extract_code(text) == "import os\nprint(1)\n"


def test_extract_code_takes_the_python_block_out_of_prose():
    text = "Here is the code:\n```python\nimport os\nprint(1)\n```\nIt prints 1."
    assert extract_code(text) == "import os\nprint(1)\n"


def test_extract_code_takes_the_longest_of_several_python_blocks():
    text = "```python\nx = 1\n```\nthen\n```py\nimport pandas as pd\ndf = pd.DataFrame()\n```\n"
    assert extract_code(text) == "import pandas as pd\ndf = pd.DataFrame()\n"


def test_extract_code_prefers_python_over_a_longer_shell_block():
    text = "```bash\npip install lightgbm scikit-learn pandas numpy\n```\n```python\nimport lightgbm\n```"
    assert extract_code(text) == "import lightgbm\n"


def test_extract_code_keeps_a_block_whose_closing_fence_was_cut_off():
    text = "Sure.\n```python\nimport numpy as np\n\ndef f(x):\n    return np.log1p(x)"
    assert extract_code(text) == "import numpy as np\n\ndef f(x):\n    return np.log1p(x)\n"


def test_extract_code_treats_a_reply_without_fences_as_code():
    assert extract_code("\nimport sys\nprint(sys.argv)\n\n") == "import sys\nprint(sys.argv)\n"


def test_extract_code_accepts_untagged_fences_and_falls_back_to_other_languages():
    assert extract_code("```\na = 2\n```") == "a = 2\n"
    assert extract_code("```json\n{\"a\": 1}\n```") == '{"a": 1}\n'


def test_extract_code_of_an_empty_reply_is_empty():
    assert extract_code("   \n") == ""


# ---------------------------------------------------------------- CachedLLM

def test_cached_llm_answers_a_repeated_request_from_disk(tmp_path):
    inner = ScriptedLLM(["first", "second"])
    llm = CachedLLM(inner, tmp_path)
    a = llm.chat(ChatRequest(messages=MSGS, seed=1))
    b = llm.chat(ChatRequest(messages=MSGS, seed=1))
    assert (a.text, a.cached) == ("first", False)
    assert (b.text, b.cached) == ("first", True)
    assert (b.prompt_tokens, b.completion_tokens) == (a.prompt_tokens, a.completion_tokens)
    assert len(inner.requests) == 1
    assert llm.path_for(cache_key("scripted", ChatRequest(messages=MSGS, seed=1))).is_file()


def test_cached_llm_misses_when_any_keyed_parameter_changes(tmp_path):
    inner = ScriptedLLM(lambda req: f"reply {len(inner.requests)}")
    llm = CachedLLM(inner, tmp_path)
    base = ChatRequest(messages=MSGS)
    variants = [base, ChatRequest(messages=MSGS, seed=2), ChatRequest(messages=MSGS, max_tokens=7),
                ChatRequest(messages=MSGS, temperature=0.0), ChatRequest(messages=MSGS, stop=["\n"]),
                ChatRequest(messages=MSGS, json_schema={"type": "object"}),
                ChatRequest(messages=MSGS[:1])]
    texts = [llm.chat(r).text for r in variants]
    assert len(set(texts)) == len(variants)
    # the tag is metadata only: same key
    assert llm.chat(ChatRequest(messages=MSGS, tag="critic")).cached


def test_cached_llm_does_not_reuse_replies_that_are_random_by_intent(tmp_path):
    inner = ScriptedLLM(["one", "two"])
    llm = CachedLLM(inner, tmp_path)
    req = ChatRequest(messages=MSGS, seed=None, temperature=0.8)
    assert [llm.chat(req).text, llm.chat(req).text] == ["one", "two"]


def test_replay_without_a_model_answers_recorded_calls_and_names_the_key_of_a_miss(tmp_path):
    recorder = CachedLLM(ScriptedLLM(["recorded"]), tmp_path)
    recorder.chat(ChatRequest(messages=MSGS))
    replay = CachedLLM(None, tmp_path, mode="replay", model_name="scripted")
    assert replay.chat(ChatRequest(messages=MSGS)).text == "recorded"
    missing = ChatRequest(messages=MSGS, seed=99)
    with pytest.raises(LLMResponseError, match=cache_key("scripted", missing)):
        replay.chat(missing)


def test_replay_with_a_model_asks_it_on_a_miss_but_writes_nothing(tmp_path):
    replay = CachedLLM(ScriptedLLM(["live"]), tmp_path, mode="replay")
    assert replay.chat(ChatRequest(messages=MSGS)).text == "live"
    assert not any(tmp_path.rglob("*.json"))


def test_a_damaged_cache_entry_is_a_miss(tmp_path):
    inner = ScriptedLLM(["a", "b"])
    llm = CachedLLM(inner, tmp_path)
    req = ChatRequest(messages=MSGS)
    llm.chat(req)
    llm.path_for(cache_key("scripted", req)).write_text("{not json")
    assert llm.chat(req).text == "b"


def test_cached_llm_refuses_a_model_free_readwrite_cache(tmp_path):
    with pytest.raises(ConfigError):
        CachedLLM(None, tmp_path, model_name="x")


# ---------------------------------------------------------------- RecordingLLM

def test_recording_llm_keeps_one_record_per_call_and_drain_empties_it():
    rec = RecordingLLM(ScriptedLLM(["hello world!"]))
    rec.chat(ChatRequest(messages=MSGS, temperature=0.5, seed=3, tag="instructor"))
    totals = rec.totals()
    calls = rec.drain()
    assert len(calls) == 1 and rec.calls == []
    c = calls[0]
    assert c["messages"] == MSGS and c["reply"] == "hello world!" and c["tag"] == "instructor"
    assert (c["temperature"], c["seed"], c["cached"], c["model"]) == (0.5, 3, False, "scripted")
    assert c["completion_tokens"] == 3 and c["prompt_tokens"] > 0 and c["ts"] > 0 and c["error"] is None
    assert totals["n_calls"] == 1 and totals["completion_tokens"] == 3


def test_recording_llm_records_a_failed_call_and_reraises():
    def boom(req):
        raise LLMUnavailableError("down")

    rec = RecordingLLM(ScriptedLLM(boom))
    with pytest.raises(LLMUnavailableError):
        rec.chat(ChatRequest(messages=MSGS))
    assert rec.calls[0]["error"] == "LLMUnavailableError: down" and rec.calls[0]["reply"] is None


def test_one_recording_llm_shared_by_threads_loses_no_call():
    rec = RecordingLLM(ScriptedLLM(lambda req: req.messages[0]["content"]))

    def work(i):
        for j in range(50):
            rec.chat(ChatRequest(messages=[{"role": "user", "content": f"{i}-{j}"}]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(c["reply"] for c in rec.drain()) == sorted(f"{i}-{j}" for i in range(8) for j in range(50))


def test_a_recording_llm_survives_pickling_with_its_calls():
    import pickle

    rec = RecordingLLM(ScriptedLLM(["a", "b"]))
    rec.chat(ChatRequest(messages=MSGS))
    copy = pickle.loads(pickle.dumps(rec))
    copy.chat(ChatRequest(messages=MSGS))
    assert [c["reply"] for c in copy.drain()] == ["a", "b"]


# ---------------------------------------------------------------- build_llm

def test_build_llm_replay_needs_a_cache_dir_and_then_needs_no_model(tmp_path):
    with pytest.raises(ConfigError, match="cache_dir"):
        build_llm(LLMConfig(backend="replay"))
    llm = build_llm(LLMConfig(backend="replay", cache_dir=str(tmp_path), lora_path="/x/adapter-v1.gguf"))
    assert isinstance(llm, CachedLLM) and llm.inner is None
    assert llm.name == "qwen2.5-coder-0.5b+lora:adapter-v1"


def test_build_llm_openai_without_any_url_is_a_config_error(monkeypatch):
    monkeypatch.delenv("LINGUACODUS_LLM_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="base_url"):
        build_llm(LLMConfig(backend="openai"))


def test_openai_model_name_comes_from_env_unless_set_in_config(monkeypatch):
    monkeypatch.setenv("LINGUACODUS_LLM_MODEL", "served-name")
    assert llm_name(LLMConfig(backend="openai")) == "served-name"
    assert llm_name(LLMConfig(backend="openai", model="explicit")) == "explicit"


def test_llm_config_rejects_unknown_fields():
    with pytest.raises(ValueError):
        LLMConfig(modle="typo")


# ---------------------------------------------------------------- OpenAILLM over real HTTP

class FakeOpenAI:
    """A local HTTP server with a queue of (status, body) replies; records every request it gets."""

    def __init__(self):
        self.replies: list[tuple[int, dict]] = []
        self.requests: list[dict] = []
        self.delay_s = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                      "body": body})
                time.sleep(fake.delay_s)
                status, reply = fake.replies.pop(0) if fake.replies else (200, completion("default"))
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def completion(text: str, prompt_tokens: int = 11, completion_tokens: int = 5) -> dict:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "served-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


@pytest.fixture
def fake_openai():
    fake = FakeOpenAI()
    yield fake
    fake.close()


def _openai(url: str, **kw) -> OpenAILLM:
    return OpenAILLM(LLMConfig(backend="openai", base_url=url, model="served-model", retry_backoff_s=0.01, **kw))


def test_openai_llm_sends_schema_seed_and_limits_and_reads_usage(fake_openai, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sekret")
    fake_openai.replies.append((200, completion('{"a": 1}')))
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    resp = _openai(fake_openai.url, api_key_env="MY_KEY").chat(
        ChatRequest(messages=MSGS, max_tokens=77, temperature=0.0, seed=42, json_schema=schema, stop=["END"]))
    assert (resp.text, resp.prompt_tokens, resp.completion_tokens) == ('{"a": 1}', 11, 5)
    assert resp.finish_reason == "stop" and resp.model == "served-model" and resp.seconds > 0
    sent = fake_openai.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sekret"
    body = sent["body"]
    assert (body["model"], body["max_tokens"], body["seed"], body["temperature"]) == ("served-model", 77, 42, 0.0)
    assert body["messages"] == MSGS and body["stop"] == ["END"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema


def test_openai_llm_without_a_key_sends_empty(fake_openai, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _openai(fake_openai.url).chat(ChatRequest(messages=MSGS))
    assert fake_openai.requests[0]["auth"] == "Bearer EMPTY"
    assert "seed" in fake_openai.requests[0]["body"] and "response_format" not in fake_openai.requests[0]["body"]


def test_openai_llm_retries_a_503_and_then_succeeds(fake_openai):
    fake_openai.replies += [(503, {"error": {"message": "overloaded"}}), (200, completion("ok"))]
    assert _openai(fake_openai.url).chat(ChatRequest(messages=MSGS)).text == "ok"
    assert len(fake_openai.requests) == 2


def test_openai_llm_gives_up_after_max_retries_with_a_retryable_error(fake_openai):
    fake_openai.replies += [(429, {"error": {"message": "slow down"}})] * 3
    with pytest.raises(LLMUnavailableError, match="429") as info:
        _openai(fake_openai.url, max_retries=2).chat(ChatRequest(messages=MSGS))
    assert isinstance(info.value, RetryableError) and len(fake_openai.requests) == 3


def test_openai_llm_does_not_retry_a_bad_request(fake_openai):
    fake_openai.replies.append((400, {"error": {"message": "context too long"}}))
    with pytest.raises(LLMResponseError, match="400"):
        _openai(fake_openai.url).chat(ChatRequest(messages=MSGS))
    assert len(fake_openai.requests) == 1


def test_openai_llm_treats_a_timeout_as_unavailable(fake_openai):
    fake_openai.delay_s = 1.0
    with pytest.raises(LLMUnavailableError):
        _openai(fake_openai.url, timeout_s=0.2, max_retries=0).chat(ChatRequest(messages=MSGS))


def test_openai_llm_stops_a_call_at_its_time_limit_and_does_not_retry_it(fake_openai):
    fake_openai.delay_s = 3.0
    t0 = time.perf_counter()
    with pytest.raises(LLMTimeoutError, match=r"stopped after 1 s, its time limit 1 s") as info:
        _openai(fake_openai.url, timeout_s=60, max_retries=3).chat(ChatRequest(messages=MSGS, time_limit_s=1.0))
    assert not isinstance(info.value, RetryableError) and len(fake_openai.requests) == 1
    assert time.perf_counter() - t0 < 2.5
    fake_openai.delay_s = 0.0  # within its limit, a call is a call
    assert _openai(fake_openai.url).chat(ChatRequest(messages=MSGS, time_limit_s=30)).text == "default"


def test_openai_llm_on_a_dead_port_raises_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(LLMUnavailableError, match="unavailable after 2 attempt"):
            _openai(f"http://127.0.0.1:{port}/v1", max_retries=1).chat(ChatRequest(messages=MSGS))


def test_openai_llm_takes_the_url_from_the_environment(fake_openai, monkeypatch):
    monkeypatch.setenv("LINGUACODUS_LLM_URL", fake_openai.url)
    llm = build_llm(LLMConfig(backend="openai", retry_backoff_s=0.01))
    assert llm.chat(ChatRequest(messages=MSGS)).text == "default"
