"""ServeArgs: the arguments of the Serve application (RayService `args`, or built from the CLI flags)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LoraAdapter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="Model name clients ask for to get this adapter. None: "
                             "embedded: reachable only as served_model_name; vLLM: the folder's name.")
    path: str = Field(description="Embedded: a GGUF LoRA file (local or s3://). vLLM: a PEFT adapter folder "
                      "(s3://); all adapters of one app must be subfolders of the same folder.")


class ServeArgs(BaseModel):
    """The arguments of `build_app` (RayService `args`, or built from the CLI flags)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    backend: Literal["embedded", "vllm"] = Field("embedded", description="embedded: xllamacpp on CPU; "
                                                 "vllm: vLLM on GPUs (needs the gpu extra).")
    model: str = Field("qwen2.5-coder-0.5b", description="Embedded: a name from actors.llm.models.MODELS. "
                       "vLLM: a Hugging Face id or an s3:// folder holding a merged checkpoint.")
    gguf: str | None = Field(None, description="Embedded: serve this GGUF file (local or s3://) instead of "
                             "`model`'s weights.")
    served_model_name: str | None = Field(None, description="Name clients use; default: the embedded "
                                          "model's name (actors.llm.llm_name), or `model` for vLLM.")
    lora_adapters: list[LoraAdapter] = Field(default_factory=list, description="Adapters, each served under "
                                             "its own name. Embedded: at most one, always applied.")
    replicas: int = Field(1, ge=1, description="Replicas (ignored when autoscaling_config is set).")
    autoscaling_config: dict[str, Any] | None = Field(None, description="Serve autoscaling (min_replicas, "
                                                      "max_replicas, target_ongoing_requests, ...).")
    max_ongoing_requests: int = Field(4, ge=1, description="Requests one replica works on at once.")
    max_queued_requests: int = Field(64, ge=-1, description="Requests waiting in Serve beyond that before "
                                     "callers get 503; -1 = no limit.")
    request_timeout_s: float = Field(600.0, gt=0, description="Longest a request may run in a replica "
                                     "(then 504 and the engine stops generating).")
    num_cpus: float = Field(1.0, gt=0, description="Embedded: logical CPUs reserved per replica (fractional ok).")
    n_threads: int | None = Field(None, ge=1, description="Embedded: engine threads; default: all usable cores.")
    n_ctx: int = Field(8192, ge=256, description="Embedded: context tokens per parallel slot.")
    n_parallel: int = Field(2, ge=1, description="Embedded: requests one engine decodes together (slots).")
    runtime_env: dict[str, Any] | None = Field(None, description="Ray runtime_env of the replicas, e.g. "
                                               "{env_vars: {...}} for the API key or S3 credentials of s3:// weights.")
    api_key_env: str | None = Field("OPENAI_API_KEY", description="If this env var is set (in the replica), "
                                    "requests must carry it as `Authorization: Bearer`; unset: no auth.")
    max_model_len: int | None = Field(None, ge=1, description="vLLM: context length.")
    tensor_parallel_size: int = Field(1, ge=1, description="vLLM: GPUs per replica.")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="vLLM: share of GPU memory for the engine.")
    accelerator_type: str | None = Field(None, description="vLLM: Ray accelerator type (e.g. A10G), optional.")
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="vLLM: extra engine arguments.")

    @model_validator(mode="after")
    def _check_backend_fields(self) -> ServeArgs:
        if self.backend == "embedded" and len(self.lora_adapters) > 1:
            raise ValueError("the embedded backend applies one LoRA adapter per engine; got "
                             f"{len(self.lora_adapters)}")
        if self.backend == "vllm" and self.gguf:
            raise ValueError("gguf is for the embedded backend; vLLM loads `model` (HF id or s3:// folder)")
        return self

    def deployment_options(self) -> dict[str, Any]:
        """Serve deployment options shared by both backends."""
        opts: dict[str, Any] = {"max_ongoing_requests": self.max_ongoing_requests,
                                "max_queued_requests": self.max_queued_requests}
        if self.autoscaling_config:
            opts["autoscaling_config"] = dict(self.autoscaling_config)
        else:
            opts["num_replicas"] = self.replicas
        return opts
