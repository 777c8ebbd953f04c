"""The ingress of the vLLM app (GPU path only; importing this module needs vllm): ray.serve.llm's
OpenAiIngress, plus (a) each LoRA adapter reachable under its own name, which ray.serve.llm would call
BASE:FOLDER, and (b) an optional bearer key, because Ray's token auth does not cover the Serve port.

It relies on OpenAiIngress internals of Ray 2.60 (`_get_response`, `_process_llm_request`); pin Ray
(pyproject does) and re-check these two hooks when upgrading. Not run here (no GPU, no vllm).
"""
from __future__ import annotations

import hmac
import os
from typing import Any

from fastapi import HTTPException
from ray.serve.llm.ingress import OpenAiIngress


class AliasingIngress(OpenAiIngress):
    def __init__(self, llm_deployments: dict, model_cards: dict, *, aliases: dict[str, str] | None = None,
                 api_key_env: str | None = None, **kwargs: Any) -> None:
        super().__init__(llm_deployments, model_cards, **kwargs)
        self._aliases = dict(aliases or {})
        self._api_key = os.environ.get(api_key_env) if api_key_env else None

    async def _process_llm_request(self, body: Any, call_method: str, raw_request: Any = None) -> Any:
        if self._api_key:
            given = (raw_request.headers.get("authorization", "") if raw_request is not None else "")
            if not hmac.compare_digest(given.removeprefix("Bearer ").strip().encode(), self._api_key.encode()):
                raise HTTPException(401, "missing or wrong API key (Authorization: Bearer ...)")
        return await super()._process_llm_request(body, call_method=call_method, raw_request=raw_request)

    async def _get_response(self, *, body: Any, call_method: str, raw_request: Any = None) -> Any:
        target = self._aliases.get(getattr(body, "model", None) or "")
        if target:  # vLLM matches the LoRA by the request's model name, so rewrite the body too
            body = body.model_copy(update={"model": target})
        async for response in super()._get_response(body=body, call_method=call_method, raw_request=raw_request):
            yield response

    async def models(self) -> Any:
        listing = await super().models()
        for alias, target in self._aliases.items():
            card = await self.model(target)
            if card is not None:
                listing.data.append(card.model_copy(update={"id": alias}))
        return listing
