"""`linguacodus worker`: message-driven batches. Each JSON message dropped into the inbox is one
`linguacodus run`; the worker claims it atomically, runs it, and acknowledges it (done/) or, after
`--max-tries` failed tries, dead-letters it (dead/). Layout and claim protocol: storage/inbox.py.

A message:

    {"catalog": "s3://b/catalogs/open.parquet", "out": "s3://b/results", "run_id": "nightly-0001",
     "options": {"mode": "linguacodus", "max_fix": 3, "timeout": 600, "concurrency": 2,
                 "model": "linguacodus-instruct", "llm_url": "http://llm:8000/v1", "only": ["penguins"]}}

`run_id` defaults to the message's name; `options` are the flags of `linguacodus run` (jobs/run_options.py);
an option left out takes the worker's flag (`--llm-url`, `--model`, which default to the env
LINGUACODUS_LLM_URL / LINGUACODUS_LLM_MODEL, as the RayCronJob sets them; `--threads`), then run's own
default.
A message that is not JSON, lacks catalog/out, or has an unknown or ill-typed option is dead-lettered
at once with the reason. A run that raises, or ends without _SUCCESS (some competition has no row), is
a failed try; the next pass (or cron tick) retries it, resuming the same OUT/RUN_ID.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import storage
from jobs.config import RunConfig
from jobs.run_options import MessageOptions, RunOptions, to_config
from storage.inbox import Claim, Inbox, LeaseKeeper, message_id

logger = logging.getLogger(__name__)
MAX_BACKOFF_S = 600.0  # longest wait between passes while the inbox's store is unreachable


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    catalog: str = Field(min_length=1, description="Catalog Parquet URI.")
    out: str = Field(min_length=1, description="Results root URI.")
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                               description="Run id (default: the message name).")
    options: MessageOptions = Field(default_factory=MessageOptions,  # type: ignore[valid-type]
                                    description="`linguacodus run` flags, any of them (jobs/run_options.py).")


class MessageError(ValueError):
    """The message can never be run as written (dead-lettered at once)."""


@dataclass(frozen=True)
class WorkerSettings:
    llm_url: str | None = None
    model: str | None = None
    threads: int | None = None


def parse_message(raw: bytes) -> RunRequest:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MessageError(f"not a JSON object but {type(data).__name__}")
    try:
        return RunRequest.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in exc.errors())
        raise MessageError(f"invalid request: {problems}") from exc


def run_config(request: RunRequest, msg_id: str, settings: WorkerSettings) -> RunConfig:
    """The RunConfig of a request: the message's options over the worker's defaults over run's own."""
    opts = request.options.model_dump(exclude_none=True)
    if settings.threads is not None:
        opts.setdefault("threads", settings.threads)
    llm_url = opts.pop("llm_url", None) or settings.llm_url
    model = opts.pop("model", None) or settings.model
    if model is None and llm_url:
        model = os.environ.get("LINGUACODUS_LLM_MODEL")
    try:
        options = RunOptions(catalog=request.catalog, out=request.out, run_id=request.run_id or msg_id,
                             llm_url=llm_url, **({"model": model} if model is not None else {}), **opts)
        return to_config(options)
    except (ValidationError, ValueError) as exc:
        raise MessageError(f"invalid run options: {exc}") from exc


def handle(inbox: Inbox, message_uri: str, settings: WorkerSettings,
           runner: Callable[[Any], list[dict[str, Any]]] | None = None) -> str:
    """Claim and process one message: 'done', 'failed' (will be retried), 'dead' (out of tries),
    'malformed' (dead-lettered at once) or 'skipped' (held or finished by another worker)."""
    claim = inbox.claim(message_uri)
    if not isinstance(claim, Claim):
        return claim
    try:
        raw = storage.read_bytes(message_uri)
        request = parse_message(raw)
        config = run_config(request, claim.msg_id, settings)
    except storage.StorageNotFoundError:
        logger.info("%s: gone before it could be read (finished by another worker)", claim.msg_id)
        storage.delete(claim.uri)
        return "skipped"
    except MessageError as exc:
        reason = f"malformed message: {exc}"
        inbox.dead_letter(message_uri, reason, [{**claim.record, "status": "malformed", "error": reason}])
        return "malformed"
    except storage.StorageError as exc:  # e.g. S3 unreachable: a failed try, not a crashed worker
        return "dead" if inbox.fail(claim, f"reading the message: {exc}") else "failed"
    return _run(inbox, claim, request, config, runner)


def _run(inbox: Inbox, claim: Claim, request: RunRequest, config: Any,
         runner: Callable[[Any], list[dict[str, Any]]] | None) -> str:
    if runner is None:
        from jobs.run import run as runner
    layout = storage.RunLayout(config.out, config.run_id)
    logger.info("%s: try %d: run %s (catalog %s -> %s)", claim.msg_id, claim.n, config.run_id, config.catalog,
                layout.root)
    try:
        with LeaseKeeper(inbox, claim):
            rows = runner(config)
        if not storage.exists(layout.success):
            raise RuntimeError(f"run ended without {layout.success} (some competitions have no result)")
    except Exception as exc:  # noqa: BLE001 - any failure is one failed try, recorded on the claim
        logger.exception("%s: run %s failed", claim.msg_id, config.run_id)
        return "dead" if inbox.fail(claim, f"{type(exc).__name__}: {exc}") else "failed"
    counts = dict(Counter(str(r.get("status")) for r in rows))
    inbox.complete(claim, request.model_dump(mode="json", exclude_none=True), {
        "out": config.out, "run_id": config.run_id, "run_uri": layout.root,
        "results_parquet": layout.results_parquet, "rows": len(rows), "counts": counts})
    return "done"


def process_pass(inbox: Inbox, settings: WorkerSettings,
                 runner: Callable[[Any], list[dict[str, Any]]] | None = None) -> Counter[str]:
    """One pass over the inbox: every message this worker can claim is processed, in name order.
    A message whose claim or acknowledgement the store refused counts as 'storage_error' and is
    tried again on a later pass; a listing the store refuses raises StorageError."""
    outcomes: Counter[str] = Counter()
    for uri in inbox.pending():
        try:
            outcomes[handle(inbox, uri, settings, runner)] += 1
        except storage.StorageError as exc:
            logger.warning("%s: storage failed, will try again: %s", message_id(uri), exc)
            outcomes["storage_error"] += 1
    return outcomes


# Outcomes after which `worker --once` exits 1: something did not run to done/.
UNSUCCESSFUL = ("failed", "dead", "malformed", "storage_error")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("worker", help="run batch requests dropped into an inbox (local folder or s3:// prefix)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inbox", required=True, help="inbox folder URI, e.g. s3://bucket/inbox/ (claims/, done/, "
                   "dead/ are created beside it)")
    p.add_argument("--once", action="store_true", help="one pass over the inbox, then exit (1 if a message "
                   "failed, was dead-lettered or could not be claimed)")
    p.add_argument("--exclusive", action="store_true",
                   help="do nothing (exit 0) while another worker holds a live claim in this inbox, so cron "
                        "ticks never overlap (RayCronJob has no concurrency policy)")
    p.add_argument("--max-tries", type=int, default=3, help="failed tries before a message is dead-lettered")
    p.add_argument("--poll", type=float, default=30.0, help="seconds between passes (without --once)")
    p.add_argument("--lease", type=float, default=1800.0, help="claim lease in seconds; renewed while a run "
                   "lasts, so it expires only if the worker dies")
    p.add_argument("--llm-url", default=os.environ.get("LINGUACODUS_LLM_URL") or None,
                   help="default LLM endpoint for messages that name none (env LINGUACODUS_LLM_URL)")
    p.add_argument("--model", default=None, help="default model (with an endpoint: env LINGUACODUS_LLM_MODEL)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="default embedded engine threads for messages that set no options.threads (default: "
                        "every core)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    inbox = Inbox(args.inbox, lease_s=args.lease, max_tries=args.max_tries)
    settings = WorkerSettings(llm_url=args.llm_url, model=args.model, threads=args.threads)
    print(f"linguacodus worker {inbox.worker}: inbox {inbox.inbox} (root {inbox.root}), "
          f"LLM {settings.llm_url or 'embedded'}", flush=True)
    if args.exclusive and (live := inbox.live_claims()):
        print(f"another worker is running {len(live)} request(s) from this inbox ({live[0].get('worker')}); "
              "nothing to do until it finishes", flush=True)
        return 0
    outages = 0  # passes in a row that could not list the inbox
    try:
        while True:
            try:
                outcomes = process_pass(inbox, settings)
            except storage.StorageError as exc:  # the store is down or refuses: wait, never die
                if args.once:
                    print(f"linguacodus worker: error: inbox {inbox.inbox}: {exc}", file=sys.stderr, flush=True)
                    return 1
                outages += 1
                delay = min(args.poll * 2 ** (outages - 1), MAX_BACKOFF_S)
                logger.warning("inbox %s unreachable (%s); next pass in %.0fs", inbox.inbox, exc, delay)
                time.sleep(delay)
                continue
            outages = 0
            if outcomes:
                print("pass: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())), flush=True)
            if args.once:
                return 1 if any(outcomes.get(k) for k in UNSUCCESSFUL) else 0
            time.sleep(args.poll)
    except KeyboardInterrupt:
        return 0
