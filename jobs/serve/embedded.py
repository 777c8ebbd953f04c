"""The CPU backend of `linguacodus serve`: one xllamacpp engine per Serve replica behind a FastAPI
ingress speaking the OpenAI chat API (/v1/models, /v1/chat/completions, /health).

Every request runs in the engine in streaming mode, whatever the client asked: the engine hands each
token to a callback (in the engine's calling thread), which lets us (a) stream it as SSE, and (b) stop
generation at the next token when the client goes away or `request_timeout_s` passes, so an abandoned
request does not keep a slot busy. Non-streaming replies are assembled from the same chunks.

No `from __future__ import annotations` here: Serve's ingress wrapper hands FastAPI the methods in a way
that leaves string annotations unresolved, and `request: Request` then parses as a query parameter (422).
"""
import asyncio
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ray import serve

import storage
from actors.llm.stream import Assembly
from jobs.serve.args import ServeArgs
from jobs.serve.requests import APIError, check_chat_request

logger = logging.getLogger(__name__)

api = FastAPI(title="linguacodus instruct (embedded)")
# Fields the ingress decides itself; everything else in the request goes to llama.cpp as is
# (temperature, top_p, seed, stop, max_tokens, response_format -> grammar, penalties, ...).
_OWN_FIELDS = ("model", "stream", "stream_options", "n", "user", "max_completion_tokens")


@dataclass
class _End:
    error: BaseException | None = None


def local_copy(uri: str) -> Path:
    """A local path for a model/adapter file given as a path, file:// or s3:// URI (downloaded once
    into $LINGUACODUS_CACHE/serve, keeping the file name so the model name derived from it is stable)."""
    path = storage.local_path(uri)
    if path is not None:
        return path
    root = Path(os.environ.get("LINGUACODUS_CACHE") or Path.home() / ".cache" / "linguacodus") / "serve"
    dest = root / hashlib.sha256(uri.encode()).hexdigest()[:16] / uri.rstrip("/").rsplit("/", 1)[-1]
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f"{dest.name}.part-{os.getpid()}")
        storage.copy(uri, str(part))
        os.replace(part, dest)  # replicas on one node may race: each renames a complete file
    return dest


def _put_all(queue: asyncio.Queue, items: list[Any]) -> None:
    for item in items:
        queue.put_nowait(item)


def _event(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n"


def _engine_error(chunk: dict[str, Any]) -> APIError:
    err = chunk.get("error") or {}
    status = int(err.get("code") or 500)
    return APIError(status, str(err.get("message")), str(err.get("type") or "server_error"))


# Helpers above the class: Serve serializes the decorated class when the module is imported, so names
# defined below it would be missing in the replica.
@serve.deployment(name="EmbeddedInstruct", health_check_period_s=10, graceful_shutdown_timeout_s=30)
@serve.ingress(api)
class EmbeddedInstruct:
    def __init__(self, settings: dict[str, Any]) -> None:
        from actors.llm.embedded import EmbeddedLLM
        from actors.llm.base import LLMConfig

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.settings = s = ServeArgs.model_validate(settings)
        adapter = s.lora_adapters[0] if s.lora_adapters else None
        cfg = LLMConfig(model=s.model, n_ctx=s.n_ctx, n_parallel=s.n_parallel, n_threads=s.n_threads,
                        gguf_path=str(local_copy(s.gguf)) if s.gguf else None,
                        lora_path=str(local_copy(adapter.path)) if adapter else None)
        self.llm = EmbeddedLLM(cfg)
        self.names = [s.served_model_name or self.llm.name] + ([adapter.name] if adapter and adapter.name else [])
        self.created = int(time.time())
        self.pool = ThreadPoolExecutor(max_workers=s.max_ongoing_requests, thread_name_prefix="engine")
        self.api_key = os.environ.get(s.api_key_env) if s.api_key_env else None
        logger.info("serving %s as %s (%d slot(s), %s auth)", self.llm.gguf_path, self.names, s.n_parallel,
                    "bearer" if self.api_key else "no")

    def check_health(self) -> None:
        if getattr(self.llm, "_server", None) is None:
            raise RuntimeError("the engine is closed")

    def _authorize(self, request: Request) -> None:
        if not self.api_key:
            return
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.api_key.encode()):
            raise APIError(401, "missing or wrong API key (Authorization: Bearer ...)", "authentication_error")

    @api.get("/health")
    async def health(self) -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/v1/models")
    async def models(self, request: Request) -> Response:
        try:
            self._authorize(request)
        except APIError as e:
            return e.response()
        return JSONResponse({"object": "list", "data": [self._card(n) for n in self.names]})

    @api.get("/v1/models/{name:path}")
    async def model(self, name: str, request: Request) -> Response:
        try:
            self._authorize(request)
            return JSONResponse(self._card(self._model_name(name)))
        except APIError as e:
            return e.response()

    def _card(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self.created, "owned_by": "linguacodus"}

    def _model_name(self, asked: Any) -> str:
        if asked is None:
            return self.names[0]
        if asked not in self.names:
            raise APIError(404, f"model {asked!r} is not served here; models: {self.names}", "model_not_found")
        return str(asked)

    @api.post("/v1/chat/completions")
    async def chat(self, request: Request) -> Response:
        deadline = time.monotonic() + self.settings.request_timeout_s
        try:
            self._authorize(request)
            try:
                body = await request.json()
            except ValueError as e:
                raise APIError(400, f"the request body is not JSON: {e}") from e
            name, engine_body, stream, include_usage = self._engine_request(body)
        except APIError as e:
            return e.response()
        chunks = self._generate(engine_body, per_token=stream)
        streaming = False
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                first = await self._first(chunks)  # may wait for a free engine slot
                if not stream:
                    return JSONResponse(await self._assemble(first, chunks, name))
            streaming = True
            return StreamingResponse(self._sse(first, chunks, name, include_usage, deadline),
                                     media_type="text/event-stream")
        except TimeoutError:
            return APIError(504, f"no reply within {self.settings.request_timeout_s:g}s", "timeout").response()
        except APIError as e:
            return e.response()
        finally:
            if not streaming:
                await chunks.aclose()

    def _engine_request(self, body: Any) -> tuple[str, dict[str, Any], bool, bool]:
        check_chat_request(body)
        name = self._model_name(body.get("model"))
        if body.get("n", 1) != 1:
            raise APIError(400, "only n=1 is supported")
        engine = {k: v for k, v in body.items() if k not in _OWN_FIELDS}
        if "max_tokens" not in engine and body.get("max_completion_tokens") is not None:
            engine["max_tokens"] = body["max_completion_tokens"]
        engine.setdefault("cache_prompt", True)
        engine.update(stream=True, stream_options={"include_usage": True})
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return name, engine, bool(body.get("stream")), include_usage

    async def _generate(self, body: dict[str, Any], per_token: bool) -> AsyncIterator[list[dict[str, Any]]]:
        """Batches of the engine's chunks. Streaming: whatever arrived since the last read. Otherwise one
        batch when the engine is done, so no event-loop wake-up per token. Closing this generator (client
        gone, timeout) stops the engine at its next token."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | _End] = asyncio.Queue()
        stop = threading.Event()
        server = self.llm._server  # the xllamacpp Server; EmbeddedLLM.chat has no streaming callback
        held: list[dict[str, Any]] = []

        def on_chunk(chunk: dict[str, Any]) -> bool:  # runs in the engine's calling thread
            if per_token:
                loop.call_soon_threadsafe(queue.put_nowait, chunk)
            else:
                held.append(chunk)
            return stop.is_set()  # True asks llama.cpp to stop this request

        def work() -> None:
            end = _End()
            try:
                server.handle_chat_completions(body, on_chunk)
            except Exception as e:  # noqa: BLE001 - handed to the event loop below
                end.error = e
            loop.call_soon_threadsafe(_put_all, queue, [*held, end])

        loop.run_in_executor(self.pool, work)
        try:
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                chunks: list[dict[str, Any]] = [c for c in batch if not isinstance(c, _End)]
                if chunks:
                    yield chunks
                if isinstance(end := batch[-1], _End):
                    if end.error is not None:
                        status = 400 if isinstance(end.error, ValueError) else 500
                        raise APIError(status, f"engine: {end.error}",
                                       "invalid_request_error" if status == 400 else "server_error")
                    return
        finally:
            stop.set()

    @staticmethod
    async def _first(batches: AsyncIterator[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The first batch, so that an immediate engine error becomes an HTTP status, not a 200 stream."""
        first = await anext(batches, [])
        if first and "error" in first[0]:
            raise _engine_error(first[0])
        return first

    @staticmethod
    async def _assemble(first: list[dict[str, Any]], batches: AsyncIterator[list[dict[str, Any]]],
                        name: str) -> dict[str, Any]:
        head, reply = first[0] if first else {}, Assembly()
        batch: list[dict[str, Any]] | None = first
        while batch is not None:
            for item in batch:
                if error := reply.add(item):
                    raise _engine_error(error)
            batch = await anext(batches, None)
        return {"id": head.get("id", "chatcmpl"), "object": "chat.completion",
                "created": head.get("created", int(time.time())), "model": name, "choices": [reply.choice()],
                "usage": reply.usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}

    @staticmethod
    async def _sse(first: list[dict[str, Any]], batches: AsyncIterator[list[dict[str, Any]]], name: str,
                   include_usage: bool, deadline: float) -> AsyncIterator[str]:
        batch: list[dict[str, Any]] | None = first
        try:
            while batch is not None:
                events = []
                for item in batch:
                    if "error" in item:
                        yield "".join(events) + _event({"error": item["error"]})
                        return
                    if item.get("choices") or include_usage:
                        item.pop("timings", None)
                        events.append(_event({**item, "model": name}))
                if events:
                    yield "".join(events)  # one write for the tokens that arrived together
                if time.monotonic() > deadline:
                    yield _event({"error": {"message": "generation timed out", "type": "timeout", "code": 504}})
                    return
                batch = await anext(batches, None)
            yield "data: [DONE]\n\n"
        except APIError as e:
            yield _event({"error": {"message": e.message, "type": e.kind, "code": e.status}})
        finally:
            await batches.aclose()


def build_embedded_app(settings: ServeArgs) -> Any:
    actor = {"num_cpus": settings.num_cpus} | ({"runtime_env": settings.runtime_env} if settings.runtime_env else {})
    return EmbeddedInstruct.options(ray_actor_options=actor, **settings.deployment_options()).bind(
        settings.model_dump(mode="json"))
