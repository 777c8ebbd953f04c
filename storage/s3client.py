"""The S3 client, its configuration from the standard AWS environment, and the retry wrapper.

Configuration is whatever boto3 would use (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE, ~/.aws/config and credentials),
plus AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for S3-compatible stores (SeaweedFS, MinIO, Ceph).
With an endpoint from the environment we use path-style addressing, which every S3-compatible
store understands; set `s3 = addressing_style = virtual` in ~/.aws/config to change that.

Retries happen at two levels: botocore's "standard" mode retries each HTTP request (connection
errors, 5xx, throttling), and `call` retries the whole operation with exponential backoff,
which also covers a response body that breaks while being read. `call` keeps retrying transient
errors for a window of time (RETRY_WINDOW_ENV, default 300 s), so a store that restarts or drops
off the network for a minute costs a pause, not the batch; permanent errors (4xx: NoSuchBucket,
AccessDenied, ...) are raised at once.
"""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlparse

from storage.errors import StorageError, StorageNotFoundError, StorageTransientError

log = logging.getLogger(__name__)
T = TypeVar("T")


# Seconds during which a transient storage error is retried (env, so that every process of a
# run, Ray workers included, gets the same window).
RETRY_WINDOW_ENV = "LINGUACODUS_STORAGE_RETRY_S"
DEFAULT_WINDOW_S = 300.0


def window_from_env() -> float:
    raw = os.environ.get(RETRY_WINDOW_ENV, "").strip()
    if not raw:
        return DEFAULT_WINDOW_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also rejects nan; read at import, where raising would be a traceback
        log.warning("%s=%r is not a number of seconds >= 0; using %.0f", RETRY_WINDOW_ENV, raw, DEFAULT_WINDOW_S)
        return DEFAULT_WINDOW_S
    return value


@dataclass(frozen=True)
class RetryPolicy:
    window_s: float = field(default_factory=window_from_env)  # keep retrying transient errors this long
    attempts: int | None = None  # optional cap on our attempts (None: as many as fit in window_s)
    base_delay_s: float = 0.5  # doubled after every failed attempt ...
    max_delay_s: float = 15.0  # ... up to this, with jitter so workers do not retry in step
    botocore_attempts: int = 3  # botocore's own attempts per HTTP request, inside each of ours
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0


# Module-level so tests (and ops) can swap it; clients are cached per policy.
RETRY = RetryPolicy()

_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "NotFound", "404"}
# Codes that mean "try again later" even when the HTTP status is not 5xx.
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
    "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable",
    "ConditionalRequestConflict",  # a concurrent conditional write is in flight
}

_clients: dict[tuple, Any] = {}
_lock = threading.Lock()


def endpoint_from_env() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def _client_key() -> tuple:
    env = os.environ
    return (
        os.getpid(),  # boto3 clients must not cross a fork
        endpoint_from_env(),
        env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_PROFILE"),
        RETRY,
    )


def get_client() -> Any:
    """A boto3 S3 client for the current environment, cached per (endpoint, credentials, pid)."""
    key = _client_key()
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _make_client(key[1])
            _clients[key] = client
    return client


def _make_client(endpoint: str | None) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()  # one per client: the default session is not thread-safe
    config = Config(
        retries={"total_max_attempts": RETRY.botocore_attempts, "mode": "standard"},
        connect_timeout=RETRY.connect_timeout_s,
        read_timeout=RETRY.read_timeout_s,
        max_pool_connections=32,
        s3={"addressing_style": "path"} if endpoint else None,
    )
    log.debug("new S3 client endpoint=%s pid=%d", endpoint, os.getpid())
    return session.client(
        "s3", endpoint_url=endpoint, region_name=session.region_name or "us-east-1", config=config
    )


def _classify_client_error(exc: Exception, uri: str, action: str) -> StorageError:
    response = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    message = response.get("Error", {}).get("Message", "") or str(exc)
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "NoSuchBucket":  # the store's message does not say which bucket
        message = f"bucket {uri[len('s3://'):].split('/', 1)[0]!r} does not exist"
    text = f"{action}: {code or 'error'} (HTTP {status}): {message}"
    if status >= 500 or status == 429 or code in _TRANSIENT_CODES:
        return StorageTransientError(uri, text)
    if code in _NOT_FOUND_CODES or status == 404:
        return StorageNotFoundError(uri, text)
    return StorageError(uri, text)


def classify(exc: BaseException, uri: str, action: str) -> StorageError | None:
    """Map a boto/urllib3 exception to a StorageError (transient or permanent); None if foreign."""
    import botocore.exceptions as bx
    import urllib3.exceptions
    from boto3.exceptions import S3UploadFailedError

    if isinstance(exc, bx.ClientError):
        return _classify_client_error(exc, uri, action)
    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, bx.ClientError):
        return _classify_client_error(exc.__context__, uri, action)
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return StorageError(
            uri, f"{action}: no S3 credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws)"
        )
    transient = (
        bx.ConnectionError, bx.HTTPClientError, bx.IncompleteReadError,
        urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, S3UploadFailedError,
    )
    if isinstance(exc, transient):
        return StorageTransientError(uri, f"{action}: {type(exc).__name__}: {exc}")
    if isinstance(exc, bx.BotoCoreError):
        return StorageError(uri, f"{action}: {type(exc).__name__}: {exc}")
    return None


def call(uri: str, action: str, fn: Callable[[], T]) -> T:
    """Run fn (one whole S3 operation), retrying transient errors with exponential backoff until
    RETRY.window_s has passed (or RETRY.attempts were made); permanent errors are raised at once."""
    policy = RETRY
    deadline = time.monotonic() + policy.window_s
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            err = classify(exc, uri, action)
            if err is None:
                raise
            left = deadline - time.monotonic()
            if not err.retryable or left <= 0 or (policy.attempts is not None and attempt >= policy.attempts):
                if err.retryable and attempt > 1:
                    err = StorageTransientError(uri, f"{err.message} (still failing after {attempt} attempts)")
                raise err from exc
            delay = min(policy.max_delay_s, policy.base_delay_s * 2 ** min(attempt - 1, 16))
            delay = min(delay * (0.5 + random.random() / 2), left)
            log.warning("%s (attempt %d, retrying in %.1fs, giving up in %.0fs)", err, attempt, delay, left)
            time.sleep(delay)


def pyarrow_s3_filesystem() -> Any:
    """A pyarrow S3FileSystem configured like get_client() (same endpoint, region, credentials)."""
    import boto3
    from pyarrow import fs

    client = get_client()
    creds = boto3.session.Session().get_credentials()  # same chain as the client: env, profile, ...
    kwargs: dict[str, Any] = {
        "region": client.meta.region_name,
        "connect_timeout": RETRY.connect_timeout_s,
        "request_timeout": RETRY.read_timeout_s,
        "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=(RETRY.attempts or 4) * RETRY.botocore_attempts),
    }
    if creds is not None:
        frozen = creds.get_frozen_credentials()
        kwargs.update(access_key=frozen.access_key, secret_key=frozen.secret_key,
                      session_token=frozen.token)
    endpoint = endpoint_from_env()
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs.update(endpoint_override=parsed.netloc or parsed.path, scheme=parsed.scheme or "https")
    return fs.S3FileSystem(**kwargs)
