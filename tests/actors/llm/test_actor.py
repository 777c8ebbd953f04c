"""RemoteLLM over a real Ray actor: the engine's errors reach the caller as the engine raised them."""
from __future__ import annotations

import pytest

from actors.errors import LLMTimeoutError
from actors.llm.actor import RemoteLLM
from actors.llm.base import ChatRequest

MSGS = [{"role": "user", "content": "hi"}]


class Engine:
    """Stands in for LLMServer's engine: what it raises is the subject here, not how it generates."""

    def chat(self, req: ChatRequest) -> None:
        if req.time_limit_s is not None:
            raise LLMTimeoutError("embedded model m: stopped after 3 s, its time limit 2 s (5 tokens written)")
        raise ValueError("not one of ours")


def test_an_engine_error_of_ours_reaches_the_caller_whole_and_one_line(ray_session):
    import ray

    ray.init(num_cpus=1, include_dashboard=False)
    llm = RemoteLLM(ray.remote(num_cpus=0)(Engine).remote(), "m")
    with pytest.raises(LLMTimeoutError) as info:
        llm.chat(ChatRequest(messages=MSGS, time_limit_s=2))
    # the row's error is f"LLM path: {type}: {message}": before, Ray's wrapper put the actor's traceback there
    assert str(info.value) == "embedded model m: stopped after 3 s, its time limit 2 s (5 tokens written)"
    with pytest.raises(ray.exceptions.RayTaskError):  # anything else stays Ray's, with its traceback
        llm.chat(ChatRequest(messages=MSGS))
