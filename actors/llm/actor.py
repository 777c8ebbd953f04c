"""The LLM as a Ray actor: the embedded model is loaded once and shared by every pipeline actor.
Pipeline actors talk to it through RemoteLLM, which has the plain LLM interface."""
from __future__ import annotations

import logging
from typing import Any

import ray

from actors.errors import LinguacodusError, LLMUnavailableError
from actors.llm.base import ChatRequest, ChatResponse, LLMConfig, llm_name
from actors.llm.build import build_llm
from actors.sandbox.cgroup import peak_rss_mb

logger = logging.getLogger(__name__)


class LLMServer:
    """Holds one LLM (loaded in __init__); chat() is called concurrently by pipeline actors."""

    def __init__(self, config: dict[str, Any]) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.llm = build_llm(LLMConfig(**config))
        self.name = self.llm.name

    def model_name(self) -> str:
        return self.name

    def chat(self, request: ChatRequest) -> ChatResponse:
        return self.llm.chat(request)

    def peak_rss_mb(self) -> float:
        """This actor's peak resident memory (the model's weights and KV caches), for run.json."""
        return peak_rss_mb()


class RemoteLLM:
    """The LLM interface over an LLMServer actor handle (picklable, so it can be sent to actors)."""

    def __init__(self, handle: ray.actor.ActorHandle, name: str) -> None:
        self.handle = handle
        self.name = name

    def chat(self, req: ChatRequest) -> ChatResponse:
        try:
            return ray.get(self.handle.chat.remote(req))
        except ray.exceptions.RayActorError as exc:
            raise LLMUnavailableError(f"the LLM actor died: {exc}") from exc
        except ray.exceptions.RayTaskError as exc:
            # the engine's own error as the engine raised it (its one-line message, its place in the error
            # tree): Ray's wrapper carries the actor's traceback, which landed in the row's error whole
            if isinstance(exc.cause, LinguacodusError):
                raise exc.cause from None
            raise

    def peak_rss_mb(self) -> float | None:
        try:
            return float(ray.get(self.handle.peak_rss_mb.remote(), timeout=30))
        except Exception:  # noqa: BLE001 - a measurement only: never the run's failure
            return None


def start_llm_actor(config: LLMConfig, *, num_cpus: float, max_concurrency: int) -> RemoteLLM:
    actor_cls = ray.remote(LLMServer)
    handle = actor_cls.options(num_cpus=num_cpus, max_concurrency=max_concurrency,
                               max_restarts=1, max_task_retries=0).remote(config.model_dump())
    name = ray.get(handle.model_name.remote())
    logger.info("LLM actor ready: %s", name)
    return RemoteLLM(handle, name or llm_name(config))
