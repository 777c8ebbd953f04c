"""`build_app(args)`: the Serve application builder used by the CLI and by the RayService
(k8s/rayservice.yaml: `import_path: jobs.serve.app:build_app`). The backend modules are imported
inside it, so vllm and ray.serve.llm load only on the vLLM path."""
from __future__ import annotations

from typing import Any

from actors.errors import ConfigError
from jobs.serve.args import ServeArgs


def build_app(args: dict[str, Any]) -> Any:
    """The Serve application for `args` (a ServeArgs dict); not started."""
    try:
        settings = ServeArgs.model_validate(dict(args or {}))
    except ValueError as exc:
        raise ConfigError(f"invalid serve args: {exc}") from exc
    if settings.backend == "vllm":
        from jobs.serve.vllm import build_vllm_app  # the only way vllm / ray.serve.llm get imported

        return build_vllm_app(settings)
    from jobs.serve.embedded import build_embedded_app

    return build_embedded_app(settings)
