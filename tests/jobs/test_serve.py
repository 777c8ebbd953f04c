"""`linguacodus serve`: the real Ray Serve application over the embedded SmolLM2-135M, spoken to with the
openai client and with the pipeline's own OpenAILLM; overload, timeouts, auth and a dead endpoint; and
the GPU (vLLM) configuration checked without vllm."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from actors.errors import ConfigError, LLMResponseError, LLMUnavailableError
from actors.llm.base import ChatRequest, LLMConfig
from actors.llm.openai_client import OpenAILLM
from jobs.serve.args import ServeArgs
from jobs.serve.command import args_from_cli, start
from jobs.serve.app import build_app
from tests.helpers.net import free_port
from tests.helpers.paths import REPO

MODEL = "smollm2-135m"
KEY_ENV = "LINGUACODUS_TEST_SERVE_KEY"
KEY = "test-key-4f1c"
# One engine thread per replica: two small replicas share 2 cores with the rest of the machine.
MAIN = {"model": MODEL, "n_threads": 1, "num_cpus": 0.5, "n_ctx": 2048, "n_parallel": 2, "api_key_env": None}
# Tiny: one request at a time, one waiting, 3 s per request, and a bearer key.
TINY = {**MAIN, "n_parallel": 1, "max_ongoing_requests": 1, "max_queued_requests": 1, "request_timeout_s": 3.0,
        "api_key_env": KEY_ENV, "runtime_env": {"env_vars": {KEY_ENV: KEY}}}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
HELLO = [{"role": "user", "content": "Say hello in five words."}]



@pytest.fixture(scope="module")
def serve_urls() -> Iterator[dict[str, str]]:
    """Ray (in-process, local) + Serve on a free port with two apps: main at /main, tiny at /tiny."""
    import ray
    from ray import serve

    if ray.is_initialized():  # another module's Ray: we need our own, started with this test's settings
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 << 20,
             logging_level=logging.WARNING)
    port = free_port()
    try:
        yield {"main": start(MAIN, host="127.0.0.1", port=port, name="main", route_prefix="/main"),
               "tiny": start(TINY, host="127.0.0.1", port=port, name="tiny", route_prefix="/tiny")}
    finally:
        serve.shutdown()
        ray.shutdown()


def client(url: str, key: str = "EMPTY") -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=120)


def pipeline_llm(url: str, **kw: object) -> OpenAILLM:
    return OpenAILLM(LLMConfig(backend="openai", base_url=url, model=MODEL, api_key_env=KEY_ENV, **kw))


@pytest.mark.slow
def test_models_endpoint_lists_the_served_model(serve_urls: dict[str, str]) -> None:
    assert [m.id for m in client(serve_urls["main"]).models.list().data] == [MODEL]


@pytest.mark.slow
def test_non_streaming_completion_has_text_and_usage(serve_urls: dict[str, str]) -> None:
    reply = client(serve_urls["main"]).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=24)
    assert reply.model == MODEL and reply.choices[0].message.content.strip()
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0


@pytest.mark.slow
def test_streaming_chunks_concatenate_to_the_same_greedy_reply(serve_urls: dict[str, str]) -> None:
    c = client(serve_urls["main"])
    args = {"model": MODEL, "messages": HELLO, "max_tokens": 24, "temperature": 0.0, "seed": 1,
            "extra_body": {"cache_prompt": False}}  # bit-exact only without prompt caching (actors/llm.py)
    chunks = list(c.chat.completions.create(stream=True, stream_options={"include_usage": True}, **args))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content) >= 2
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert text == c.chat.completions.create(**args).choices[0].message.content


@pytest.mark.slow
def test_stream_is_server_sent_events_ending_with_done(serve_urls: dict[str, str]) -> None:
    body = json.dumps({"model": MODEL, "messages": HELLO, "max_tokens": 8, "stream": True}).encode()
    req = urllib.request.Request(f"{serve_urls['main']}/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [e for e in resp.read().decode().split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    first = json.loads(events[0].removeprefix("data: "))
    assert first["object"] == "chat.completion.chunk" and first["model"] == MODEL
    assert not any("usage" in json.loads(e[6:]) for e in events[:-1])  # not asked for: not sent


@pytest.mark.slow
def test_json_schema_response_format_is_enforced(serve_urls: dict[str, str]) -> None:
    reply = client(serve_urls["main"]).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What is 2+3? Reply in JSON."}], max_tokens=40,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}})
    assert isinstance(json.loads(reply.choices[0].message.content)["answer"], int)


@pytest.mark.slow
def test_the_pipelines_openai_client_uses_serve_like_any_endpoint(serve_urls: dict[str, str]) -> None:
    llm = pipeline_llm(serve_urls["main"])
    resp = llm.chat(ChatRequest(messages=[{"role": "user", "content": "Pick a number as JSON."}],
                                max_tokens=40, json_schema=SCHEMA))
    assert isinstance(json.loads(resp.text)["answer"], int)
    assert resp.prompt_tokens > 0 and resp.completion_tokens > 0 and resp.model == MODEL


@pytest.mark.slow
def test_unknown_model_and_context_overflow_are_fatal_not_retried(serve_urls: dict[str, str]) -> None:
    llm = OpenAILLM(LLMConfig(backend="openai", base_url=serve_urls["main"], model="no-such-model"))
    with pytest.raises(LLMResponseError, match="404"):
        llm.chat(ChatRequest(messages=HELLO, max_tokens=4))
    with pytest.raises(LLMResponseError, match="400.*context"):
        pipeline_llm(serve_urls["main"]).chat(ChatRequest(messages=[{"role": "user", "content": "word " * 3000}]))


@pytest.mark.slow
def test_the_api_key_is_required_when_configured(serve_urls: dict[str, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(serve_urls["tiny"]).models.list()
    assert [m.id for m in client(serve_urls["tiny"], KEY).models.list().data] == [MODEL]
    monkeypatch.setenv(KEY_ENV, "wrong")
    with pytest.raises(LLMResponseError, match="401"):
        pipeline_llm(serve_urls["tiny"]).chat(ChatRequest(messages=HELLO, max_tokens=4))


@pytest.mark.slow
@pytest.mark.parametrize("change,param,code", [
    ({"max_tokens": -1}, "max_tokens", "integer_below_min_value"),  # llama.cpp: generate until the context is full
    ({"max_tokens": 0}, "max_tokens", "integer_below_min_value"),
    ({"max_completion_tokens": -1}, "max_completion_tokens", "integer_below_min_value"),
    ({"temperature": -5}, "temperature", "decimal_below_minimum_value"),
    ({"temperature": "hot"}, "temperature", "invalid_type"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role", "invalid_value"),
    ({"model": None}, "model", "missing_required_parameter"),
], ids=["max_tokens=-1", "max_tokens=0", "max_completion_tokens=-1", "temperature=-5", "temperature=text",
        "unknown-role", "no-model"])
def test_a_request_the_engine_would_run_wrongly_is_an_openai_style_400(serve_urls: dict[str, str], change: dict,
                                                                      param: str, code: str) -> None:
    body = {k: v for k, v in ({"model": MODEL, "messages": HELLO, "max_tokens": 4} | change).items() if v is not None}
    req = urllib.request.Request(f"{serve_urls['tiny']}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=60)
    assert err.value.code == 400
    error = json.loads(err.value.read())["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["code"] == code
    assert error["message"]
    if "model" in body:  # the openai client itself refuses to send a request without one
        with pytest.raises(openai.BadRequestError):  # what the openai client (and OpenAILLM: fatal) make of it
            client(serve_urls["tiny"], KEY).chat.completions.create(**body)


def burst(llm: OpenAILLM, n: int) -> list[BaseException | None]:
    outcomes: list[BaseException | None] = [None] * n

    def one(i: int) -> None:
        try:
            llm.chat(ChatRequest(messages=HELLO, max_tokens=16, seed=i))
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            outcomes[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.mark.slow
def test_a_burst_beyond_the_queue_gets_503_which_the_pipeline_sees_as_retryable(
        serve_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    outcomes = burst(pipeline_llm(serve_urls["tiny"], max_retries=0), 6)
    rejected = [e for e in outcomes if e is not None]
    assert rejected and len(rejected) < 6  # one running + one queued get through, the rest are shed
    assert all(isinstance(e, LLMUnavailableError) and "HTTP 503" in str(e) for e in rejected), rejected
    # with retries and backoff the same burst completes: overload is survivable, not a crashed batch
    assert burst(pipeline_llm(serve_urls["tiny"], max_retries=8, retry_backoff_s=0.5), 6) == [None] * 6


@pytest.mark.slow
def test_a_request_over_the_timeout_gets_504_and_frees_the_engine(serve_urls: dict[str, str]) -> None:
    c = client(serve_urls["tiny"], KEY)
    t0 = time.monotonic()
    with pytest.raises(openai.InternalServerError) as err:  # 5xx: OpenAILLM retries, then LLMUnavailableError
        c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=1500, extra_body={"ignore_eos": True})
    assert err.value.status_code == 504 and time.monotonic() - t0 < 15
    # the only slot was released at the timeout: a short request right after is answered at once
    t1 = time.monotonic()
    assert c.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=4).choices
    assert time.monotonic() - t1 < 10


def test_a_dead_endpoint_is_llm_unavailable() -> None:
    llm = OpenAILLM(LLMConfig(backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1", model=MODEL,
                              max_retries=1, retry_backoff_s=0.01, timeout_s=5))
    with pytest.raises(LLMUnavailableError, match="after 2 attempt"):
        llm.chat(ChatRequest(messages=HELLO))


@pytest.mark.slow
def test_serve_cli_prints_the_base_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "OPENAI_API_KEY")}
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "jobs.cli", "serve", "--model", MODEL, "--port", str(port),
                                 "--n-threads", "1", "--num-cpus", "0.5", "--n-ctx", "1024"],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                start_new_session=True)
    try:
        banner = _read_line(proc, "OpenAI-compatible API at", timeout=240)
        url = f"http://127.0.0.1:{port}/v1"
        assert url in banner and MODEL in banner
        assert [m.id for m in client(url).models.list().data] == [MODEL]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _read_line(proc: subprocess.Popen, marker: str, timeout: float) -> str:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.extend(ln for ln in proc.stdout if marker in ln), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert found, f"no line with {marker!r} (exit code {proc.poll()})"
    return found[0]


# -- configuration (no model, no Ray cluster) ---------------------------------------------------

def test_building_the_cpu_app_never_imports_vllm() -> None:
    code = ("import sys; from jobs.serve.app import build_app; build_app({'model': 'smollm2-135m'}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'vllm' or m.startswith('ray.serve.llm')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def rayservice_args() -> dict:
    doc = next(d for d in yaml.safe_load_all((REPO / "k8s" / "rayservice.yaml").read_text())
               if d and d.get("kind") == "RayService")
    (app,) = yaml.safe_load(doc["spec"]["serveConfigV2"])["applications"]
    return app["args"]


def test_the_rayservice_args_map_onto_ray_serve_llm() -> None:
    from jobs.serve.vllm import vllm_serving_args

    args = rayservice_args()
    serving = vllm_serving_args(ServeArgs.model_validate(args))
    (cfg,) = serving["llm_configs"]
    assert cfg["model_loading_config"] == {"model_id": args["served_model_name"], "model_source": args["model"]}
    assert cfg["engine_kwargs"]["max_model_len"] == args["max_model_len"]
    assert cfg["engine_kwargs"]["tensor_parallel_size"] == args["tensor_parallel_size"]
    assert cfg["engine_kwargs"]["enable_lora"] is True
    assert cfg["deployment_config"]["autoscaling_config"] == args["autoscaling_config"]
    assert "num_replicas" not in cfg["deployment_config"]  # Serve rejects both
    (adapter,) = args["lora_adapters"]
    assert cfg["lora_config"]["dynamic_lora_loading_path"] == adapter["path"].rstrip("/").rsplit("/", 1)[0]
    aliases = serving["ingress_cls_config"]["ingress_extra_kwargs"]["aliases"]
    assert aliases == {adapter["name"]: f"{args['served_model_name']}:{adapter['path'].rstrip('/').rsplit('/', 1)[1]}"}


def test_vllm_adapters_must_share_one_s3_folder() -> None:
    from jobs.serve.vllm import vllm_serving_args

    two = {"backend": "vllm", "model": "m", "lora_adapters": [{"name": "a", "path": "s3://b/x/a"},
                                                             {"name": "b", "path": "s3://b/y/b"}]}
    with pytest.raises(ConfigError, match="one folder"):
        vllm_serving_args(ServeArgs.model_validate(two))
    with pytest.raises(ConfigError, match="s3://"):
        vllm_serving_args(ServeArgs.model_validate({**two, "lora_adapters": [{"name": "a", "path": "/local/a"}]}))


def test_the_vllm_backend_without_vllm_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="vllm"):
        build_app({"backend": "vllm", "model": "meta-llama/Llama-2-7b-chat-hf"})


def test_unknown_serve_args_are_rejected() -> None:
    with pytest.raises(ConfigError, match="replicaz"):
        build_app({"replicaz": 2})


def test_cli_flags_become_serve_args() -> None:
    from jobs.cli import build_parser

    argv = ["serve", "--gguf", "s3://b/m.gguf", "--adapter", "instruct=s3://b/a.gguf", "--replicas", "2",
            "--max-ongoing-requests", "3", "--request-timeout", "30", "--num-cpus", "0.5"]
    args = ServeArgs.model_validate(args_from_cli(build_parser(argv).parse_args(argv)))
    assert args.gguf == "s3://b/m.gguf" and args.lora_adapters[0].name == "instruct"
    assert args.deployment_options() == {"max_ongoing_requests": 3, "max_queued_requests": 64, "num_replicas": 2}
    assert args.request_timeout_s == 30 and args.num_cpus == 0.5
