"""A message inbox on object storage (local folder or s3:// prefix) with atomic claims, leases,
acknowledgement and dead-lettering. Used by `linguacodus worker` (jobs/worker.py).

Layout under INBOX_ROOT, the parent of the inbox folder (`--inbox s3://b/x/inbox/` -> ROOT = s3://b/x/):

    ROOT/inbox/<id>.json        requests waiting (dropped there by whoever wants a run)
    ROOT/claims/<id>/<n>.json   try n of message <id>: created with put_if_absent (exactly one worker
                                wins try n), then renewed while the run lasts, and marked failed if it fails
    ROOT/done/<id>.json         acknowledged: the request plus a pointer to its results
    ROOT/dead/<id>.json         dead-lettered: the request (or its raw text) plus the reason and the tries

A message is claimable when it has no claim, or its latest claim failed, or that claim's lease expired
(its worker died: no renewal). Taking try n+1 is again a create-only put, so of two workers that both
see a stale claim only one proceeds. After `max_tries` failed or expired tries the message goes to dead/.
Finishing writes done/ (or dead/) first and removes inbox/ and claims/ after, so a crash in between
leaves a message whose done/ record exists; the next pass just finishes the clean-up.
"""
from __future__ import annotations

import json
import logging
import os
import posixpath
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import storage

logger = logging.getLogger(__name__)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def inbox_root(inbox_uri: str) -> str:
    """The parent of the inbox folder (where claims/, done/, dead/ live)."""
    uri = str(inbox_uri).rstrip("/")
    if storage.is_s3(uri) or uri.startswith("file://"):
        return posixpath.dirname(uri)
    return os.path.dirname(os.path.abspath(uri))


def message_id(uri: str) -> str:
    name = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(os.sep, 1)[-1]
    return name[: -len(".json")] if name.endswith(".json") else name


@dataclass(frozen=True)
class Claim:
    """Try `n` of message `msg_id`, held by this worker."""

    msg_id: str
    message_uri: str
    uri: str
    n: int
    record: dict[str, Any]


class Inbox:
    def __init__(self, inbox_uri: str, *, lease_s: float = 1800.0, max_tries: int = 3,
                 worker: str | None = None) -> None:
        self.inbox = str(inbox_uri).rstrip("/")
        self.root = inbox_root(self.inbox)
        self.lease_s = lease_s
        self.max_tries = max_tries
        self.worker = worker or worker_id()

    def path(self, folder: str, *parts: str) -> str:
        return storage.join(self.root, folder, *parts)

    def pending(self) -> list[str]:
        """Message URIs waiting in the inbox, in name order (files in sub-folders are not messages)."""
        prefix = storage.join(self.inbox, "x")[:-1]  # the inbox URI plus its separator
        return [u for u in storage.list_uris(self.inbox, recursive=True)
                if u.startswith(prefix) and not any(sep in u[len(prefix):] for sep in ("/", os.sep))]

    def tries(self, msg_id: str) -> list[dict[str, Any]]:
        """Every claim record of a message, in try order."""
        records = []
        for uri in storage.list_uris(self.path("claims", msg_id)):
            try:
                records.append(storage.read_json(uri))
            except storage.StorageError as exc:  # a torn/garbled claim still counts as a try
                records.append({"try": _try_number(uri), "status": "unreadable", "error": str(exc)})
        return sorted(records, key=lambda r: int(r.get("try") or 0))

    def live_claims(self) -> list[dict[str, Any]]:
        """Claims of other workers that are running with an unexpired lease: a run in progress."""
        live = []
        for folder in storage.list_uris(self.path("claims")):
            tries = self.tries(message_id(folder))
            last = tries[-1] if tries else {}
            if (last.get("status") == "running" and last.get("worker") != self.worker
                    and float(last.get("lease_expires_at", 0)) > time.time()):
                live.append(last)
        return live

    def claim(self, message_uri: str) -> Claim | str:
        """Take the next try of a message; else why not: 'skipped' (another worker holds it or it is
        finished) or 'dead' (its last try expired and it has no tries left: dead-lettered now)."""
        msg_id = message_id(message_uri)
        if self._finished(msg_id, message_uri):
            return "skipped"
        history = self.tries(msg_id)
        if history:
            last = history[-1]
            if last.get("status") == "running" and float(last.get("lease_expires_at", 0)) > time.time():
                return "skipped"  # held by a live worker
            if last.get("status") == "running":
                logger.warning("%s: try %s of worker %s expired its lease; taking over", msg_id,
                               last.get("try"), last.get("worker"))
                last = {**last, "status": "expired", "error": last.get("error") or "lease expired (worker died?)"}
                history[-1] = last
            if len(history) >= self.max_tries:
                failed_at = float(last.get("failed_at_ts") or 0)
                if last.get("status") == "failed" and time.time() - failed_at < self.lease_s:
                    return "skipped"  # its worker is dead-lettering it right now (see fail())
                # The failing worker died before acknowledging (or the last try expired): finish for it.
                reason = f"failed {len(history)} time(s); last error: {last.get('error')}"
                return "dead" if self.dead_letter(message_uri, reason, history) else "skipped"
        n = int(history[-1].get("try") or len(history)) + 1 if history else 1
        record = {"try": n, "worker": self.worker, "status": "running", "claimed_at": _now_iso(),
                  "lease_expires_at": time.time() + self.lease_s}
        uri = self.path("claims", msg_id, f"{n:04d}.json")
        if not storage.put_if_absent(uri, _dump(record)):
            return "skipped"  # another worker took try n first
        logger.info("%s: claimed try %d as %s", msg_id, n, self.worker)
        return Claim(msg_id, message_uri, uri, n, record)

    def _finished(self, msg_id: str, message_uri: str) -> bool:
        """A done/ or dead/ record exists: a previous worker crashed during clean-up; finish it."""
        for folder in ("done", "dead"):
            if storage.exists(self.path(folder, f"{msg_id}.json")):
                logger.info("%s: already in %s/; removing the leftover inbox message", msg_id, folder)
                self._cleanup(msg_id, message_uri)
                return True
        return False

    def renew(self, claim: Claim) -> None:
        storage.write_json(claim.uri, {**claim.record, "lease_expires_at": time.time() + self.lease_s,
                                       "renewed_at": _now_iso()})

    def complete(self, claim: Claim, message: dict[str, Any], result: dict[str, Any]) -> str:
        """Acknowledge: done/<id>.json = the request + the result pointer; then clean up."""
        uri = self.path("done", f"{claim.msg_id}.json")
        storage.write_json(uri, {"id": claim.msg_id, "request": message, "result": result, "try": claim.n,
                                 "worker": self.worker, "finished_at": _now_iso()})
        self._cleanup(claim.msg_id, claim.message_uri)
        logger.info("%s: done -> %s", claim.msg_id, uri)
        return uri

    def fail(self, claim: Claim, error: str) -> bool:
        """Record a failed try; dead-letter the message if it has used all its tries. True if dead."""
        storage.write_json(claim.uri, {**claim.record, "status": "failed", "error": error,
                                       "failed_at": _now_iso(), "failed_at_ts": time.time()})
        if claim.n >= self.max_tries:
            self.dead_letter(claim.message_uri, f"failed {claim.n} time(s); last error: {error}",
                             self.tries(claim.msg_id))
            return True
        logger.warning("%s: try %d of %d failed: %s", claim.msg_id, claim.n, self.max_tries, error)
        return False

    def dead_letter(self, message_uri: str, reason: str, tries: list[dict[str, Any]] | None = None) -> str | None:
        """dead/<id>.json, created once (create-only): of racing workers exactly one dead-letters a
        message; the others get None. The message and its claims are removed either way."""
        msg_id = message_id(message_uri)
        try:
            raw = storage.read_text(message_uri)
        except (storage.StorageError, UnicodeDecodeError) as exc:
            raw = f"(unreadable: {exc})"
        try:
            request: Any = json.loads(raw)
        except ValueError:
            request = None
        uri = self.path("dead", f"{msg_id}.json")
        won = storage.put_if_absent(uri, _dump({"id": msg_id, "reason": reason, "request": request,
                                                "raw": raw if request is None else None, "tries": tries or [],
                                                "worker": self.worker, "dead_at": _now_iso()}))
        self._cleanup(msg_id, message_uri)
        if not won:
            logger.info("%s: already dead-lettered by another worker", msg_id)
            return None
        logger.error("%s: dead-lettered -> %s: %s", msg_id, uri, reason)
        return uri

    def _cleanup(self, msg_id: str, message_uri: str) -> None:
        storage.delete(message_uri)
        storage.delete(self.path("claims", msg_id), recursive=True)


class LeaseKeeper:
    """Renews a claim's lease every lease/4 seconds while a run lasts, so only a dead worker's claim
    expires (a long run is not taken over by the next cron tick)."""

    def __init__(self, inbox: Inbox, claim: Claim) -> None:
        self.inbox, self.claim = inbox, claim
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{claim.msg_id}", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(max(self.inbox.lease_s / 4, 0.05)):
            try:
                self.inbox.renew(self.claim)
            except Exception as exc:  # noqa: BLE001 - a missed renewal is retried at the next tick
                logger.warning("%s: could not renew the lease: %s", self.claim.msg_id, exc)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _dump(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, default=str) + "\n").encode()


def _try_number(uri: str) -> int:
    try:
        return int(message_id(uri))
    except ValueError:
        return 0
