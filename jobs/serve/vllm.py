"""The GPU backend of `linguacodus serve`: ray.serve.llm's OpenAI app with a vLLM engine per replica.

Only `build_vllm_app` imports ray.serve.llm (which needs vllm); `vllm_serving_args` is a pure mapping
from our ServeArgs to ray.serve.llm's LLMServingArgs, tested on CPU machines against the RayService.

How the RayService contract maps onto ray.serve.llm (Ray 2.60):
- `model` -> model_loading_config.model_source (a Hugging Face id, or {bucket_uri} for an s3:// folder);
  `served_model_name` -> model_id, the name clients use for the base model.
- `lora_adapters` -> lora_config.dynamic_lora_loading_path: ray.serve.llm serves every subfolder ADAPTER
  of that one folder as model `BASE:ADAPTER`, downloading it on a replica's first request. So all adapters
  must be subfolders of the same s3:// folder, and our ingress (jobs/serve/ingress.py) maps each
  adapter's own `name` (e.g. linguacodus-instruct) to `BASE:FOLDER` and checks the bearer key.
- max_model_len, tensor_parallel_size, gpu_memory_utilization (+ engine_kwargs) -> vLLM engine arguments;
  enable_lora / max_loras / max_lora_rank are set when there are adapters.
- replicas / autoscaling_config, max_ongoing_requests, max_queued_requests -> the LLMServer deployment;
  request_timeout_s -> RAY_SERVE_LLM_ROUTER_HTTP_TIMEOUT of the ingress (it answers 408 after that).
Not run here: there is no GPU and no vllm on the development machines.
"""
from __future__ import annotations

import posixpath
from typing import Any

from actors.errors import ConfigError
from jobs.serve.args import ServeArgs

INGRESS_CLS = "jobs.serve.ingress:AliasingIngress"
# our fine-tuning uses r=8 (train/config.py); vLLM's default cap is 16, raise it for larger adapters
DEFAULT_MAX_LORA_RANK = 16
_REMOTE = ("s3://", "gs://", "abfss://", "azure://")


def _adapter_layout(settings: ServeArgs, model_id: str) -> tuple[str | None, dict[str, str]]:
    """(dynamic_lora_loading_path, {public name: BASE:FOLDER})"""
    if not settings.lora_adapters:
        return None, {}
    parents, aliases = set(), {}
    for adapter in settings.lora_adapters:
        path = adapter.path.rstrip("/")
        if not path.startswith(_REMOTE):
            raise ConfigError(f"vLLM LoRA adapter {path}: must be an s3:// (or gs://, azure://) folder; "
                              "ray.serve.llm downloads adapters on the replicas")
        parent, folder = posixpath.split(path)
        parents.add(parent)
        aliases[adapter.name or folder] = f"{model_id}:{folder}"
    if len(parents) > 1:
        raise ConfigError(f"vLLM LoRA adapters must be subfolders of one folder (ray.serve.llm loads from one "
                          f"dynamic_lora_loading_path); got {sorted(parents)}")
    return parents.pop(), aliases


def vllm_serving_args(settings: ServeArgs) -> dict[str, Any]:
    """ray.serve.llm LLMServingArgs (as a dict) for our ServeArgs."""
    model_id = settings.served_model_name or settings.model.rstrip("/").rsplit("/", 1)[-1]
    source: Any = {"bucket_uri": settings.model} if settings.model.startswith(_REMOTE) else settings.model
    lora_path, aliases = _adapter_layout(settings, model_id)
    engine: dict[str, Any] = {"tensor_parallel_size": settings.tensor_parallel_size,
                              "gpu_memory_utilization": settings.gpu_memory_utilization}
    if settings.max_model_len:
        engine["max_model_len"] = settings.max_model_len
    if lora_path:
        engine.update(enable_lora=True, max_loras=len(aliases), max_lora_rank=DEFAULT_MAX_LORA_RANK)
    engine.update(settings.engine_kwargs)
    llm_config: dict[str, Any] = {
        "model_loading_config": {"model_id": model_id, "model_source": source},
        "engine_kwargs": engine,
        "deployment_config": settings.deployment_options(),
    }
    if lora_path:
        llm_config["lora_config"] = {"dynamic_lora_loading_path": lora_path,
                                     "max_num_adapters_per_replica": len(aliases)}
    if settings.accelerator_type:
        llm_config["accelerator_type"] = settings.accelerator_type
    if settings.runtime_env:
        llm_config["runtime_env"] = settings.runtime_env
    timeout = {"RAY_SERVE_LLM_ROUTER_HTTP_TIMEOUT": str(settings.request_timeout_s)}
    return {
        "llm_configs": [llm_config],
        "ingress_cls_config": {"ingress_cls": INGRESS_CLS,
                               "ingress_extra_kwargs": {"aliases": aliases, "api_key_env": settings.api_key_env}},
        "ingress_deployment_config": {"ray_actor_options": {"runtime_env": {"env_vars": timeout}}},
    }


def build_vllm_app(settings: ServeArgs) -> Any:
    try:
        from ray.serve.llm import build_openai_app
    except ImportError as exc:
        raise ConfigError(f"backend 'vllm' needs vllm (pip install '.[gpu]' on a GPU image): {exc}") from exc
    return build_openai_app(vllm_serving_args(settings))
