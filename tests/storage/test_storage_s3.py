"""storage/ against a real S3 server (SeaweedFS from tests/conftest.py)."""
from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import storage
from storage import StorageError, StorageNotFoundError, StorageTransientError, s3client
from tests.helpers.storage import race_put_if_absent

pytestmark = pytest.mark.s3
WINDOW_ENV = "LINGUACODUS_STORAGE_RETRY_S"  # documented in the README


def test_bytes_json_csv_and_parquet_round_trip(s3_bucket: str) -> None:
    storage.write_bytes(storage.join(s3_bucket, "a/b.bin"), b"\x00\x01")
    storage.write_json(storage.join(s3_bucket, "run.json"), {"n": 1})
    df = pd.DataFrame({"id": [1, 2], "y": ["a", "b"]})
    storage.write_csv(storage.join(s3_bucket, "sub.csv"), df)
    storage.write_parquet(storage.join(s3_bucket, "t.parquet"), df)
    assert storage.read_bytes(storage.join(s3_bucket, "a/b.bin")) == b"\x00\x01"
    assert storage.read_json(storage.join(s3_bucket, "run.json")) == {"n": 1}
    pd.testing.assert_frame_equal(storage.read_csv(storage.join(s3_bucket, "sub.csv")), df, check_dtype=False)
    assert list(storage.read_csv(storage.join(s3_bucket, "sub.csv"), nrows=0).columns) == ["id", "y"]
    pd.testing.assert_frame_equal(storage.read_parquet(storage.join(s3_bucket, "t.parquet")), df,
                                  check_dtype=False)


def test_listing_gives_children_or_all_objects(s3_bucket: str) -> None:
    for key in ("d/a.txt", "d/sub/b.txt", "d/sub/c.txt", "other.txt"):
        storage.write_text(storage.join(s3_bucket, key), key)
    d = storage.join(s3_bucket, "d")
    assert storage.list_uris(d) == [f"{d}/a.txt", f"{d}/sub"]
    assert storage.list_uris(d + "/", recursive=True) == [f"{d}/a.txt", f"{d}/sub/b.txt", f"{d}/sub/c.txt"]
    assert storage.list_uris(storage.join(s3_bucket, "missing")) == []
    assert storage.list_uris(s3_bucket) == [f"{s3_bucket}/d", f"{s3_bucket}/other.txt"]


def test_exists_for_object_prefix_and_missing(s3_bucket: str) -> None:
    storage.write_text(storage.join(s3_bucket, "d/f"), "x")
    assert storage.exists(storage.join(s3_bucket, "d/f"))
    assert storage.exists(storage.join(s3_bucket, "d")) and storage.is_dir(storage.join(s3_bucket, "d"))
    assert not storage.exists(storage.join(s3_bucket, "d/g"))
    assert not storage.is_dir(storage.join(s3_bucket, "d/f"))


def test_move_copies_then_deletes_the_source(s3_bucket: str) -> None:
    src, dst = storage.join(s3_bucket, "inbox/j.json"), storage.join(s3_bucket, "claimed/j.json")
    storage.write_json(src, {"job": 1})
    storage.move(src, dst)
    assert not storage.exists(src) and storage.read_json(dst) == {"job": 1}
    with pytest.raises(StorageNotFoundError, match="inbox/j.json"):
        storage.move(src, dst)


def test_copy_between_local_and_s3_both_ways(s3_bucket: str, tmp_path: Path) -> None:
    (tmp_path / "up.txt").write_text("up")
    storage.copy(tmp_path / "up.txt", storage.join(s3_bucket, "x/up.txt"))
    storage.copy(storage.join(s3_bucket, "x/up.txt"), tmp_path / "down" / "up.txt")
    assert (tmp_path / "down" / "up.txt").read_text() == "up"
    assert [p.name for p in (tmp_path / "down").iterdir()] == ["up.txt"]  # no temp left


def test_delete_recursive_removes_everything_below_a_prefix(s3_bucket: str) -> None:
    for key in ("d/a", "d/b/c", "keep"):
        storage.write_text(storage.join(s3_bucket, key), "x")
    storage.delete(storage.join(s3_bucket, "d"), recursive=True)
    assert storage.list_uris(s3_bucket, recursive=True) == [storage.join(s3_bucket, "keep")]
    storage.delete(storage.join(s3_bucket, "keep"))
    storage.delete(storage.join(s3_bucket, "keep"))  # absent is fine, as on S3


def test_download_dir_copies_a_prefix_to_a_local_folder(s3_bucket: str, tmp_path: Path) -> None:
    storage.write_text(storage.join(s3_bucket, "task/train.csv"), "a\n1\n")
    storage.write_text(storage.join(s3_bucket, "task/extra/x.txt"), "x")
    dest = storage.download_dir(storage.join(s3_bucket, "task"), tmp_path / "task")
    assert (dest / "train.csv").read_text() == "a\n1\n" and (dest / "extra" / "x.txt").read_text() == "x"
    with pytest.raises(StorageNotFoundError, match="nothing"):
        storage.download_dir(storage.join(s3_bucket, "nothing"), tmp_path / "n")


def test_put_if_absent_creates_exactly_once_under_concurrent_attempts(s3_bucket: str) -> None:
    uri = storage.join(s3_bucket, "claims/task-1")
    won = race_put_if_absent(uri, 8)
    assert len(won) == 1
    assert storage.read_text(uri) == f"worker-{won[0]}"
    assert storage.put_if_absent(uri, b"late") is False


def test_conditional_put_is_honoured_by_the_server_itself(s3_bucket: str, s3_env) -> None:
    # Without our head_object pre-check: the server must reject the second If-None-Match PUT.
    client = s3client.get_client()
    bucket = s3_bucket.removeprefix("s3://")
    client.put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")
    with pytest.raises(client.exceptions.ClientError, match="PreconditionFailed"):
        client.put_object(Bucket=bucket, Key="k", Body=b"2", IfNoneMatch="*")


def test_reading_from_a_missing_bucket_is_a_permanent_error_naming_the_uri(s3_env) -> None:
    uri = "s3://no-such-bucket-here/x.json"
    with pytest.raises(StorageNotFoundError, match="s3://no-such-bucket-here/x.json: read: NoSuchBucket"):
        storage.read_json(uri)


def test_writing_to_a_missing_bucket_is_a_permanent_error_naming_the_uri(s3_env) -> None:
    with pytest.raises(StorageError, match="s3://no-such-bucket-here/y: write: NoSuchBucket") as info:
        storage.write_text("s3://no-such-bucket-here/y", "x")
    assert not info.value.retryable


def test_a_missing_key_is_not_found(s3_bucket: str) -> None:
    with pytest.raises(StorageNotFoundError, match="NoSuchKey"):
        storage.read_bytes(storage.join(s3_bucket, "absent"))


def test_wrong_credentials_are_a_permanent_error(s3_bucket: str, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    with pytest.raises(StorageError, match=s3_bucket) as info:
        storage.write_text(storage.join(s3_bucket, "x"), "x")
    assert not info.value.retryable


def test_pyarrow_filesystem_writes_parquet_that_read_parquet_reads_back(s3_bucket: str) -> None:
    fs, path = storage.pyarrow_filesystem(storage.join(s3_bucket, "t.parquet"))
    pq.write_table(pa.table({"x": [1, 2, 3]}), path, filesystem=fs)
    assert list(storage.read_parquet(storage.join(s3_bucket, "t.parquet"))["x"]) == [1, 2, 3]
    # A folder of part files, as Ray Data writes them.
    fs, folder = storage.pyarrow_filesystem(storage.join(s3_bucket, "ds"))
    ds.write_dataset(pa.table({"x": list(range(10))}), folder, filesystem=fs, format="parquet",
                     max_rows_per_file=4, max_rows_per_group=4)
    assert len(storage.list_uris(storage.join(s3_bucket, "ds"))) == 3
    assert sorted(storage.read_parquet(storage.join(s3_bucket, "ds"))["x"]) == list(range(10))


# -- retries -----------------------------------------------------------------------------------

@pytest.fixture
def fast_retries(monkeypatch) -> None:
    monkeypatch.setattr(s3client, "RETRY", s3client.RetryPolicy(attempts=3, base_delay_s=0.01,
                                                                 botocore_attempts=1))


def test_connection_errors_are_retried_until_the_call_succeeds(s3_bucket: str, fast_retries,
                                                               monkeypatch) -> None:
    import botocore.exceptions as bx

    real = s3client.get_client()
    calls: list[str] = []

    class FlakyClient:
        def __getattr__(self, name: str):
            return getattr(real, name)

        def put_object(self, **kw):
            calls.append(kw["Key"])
            if len(calls) <= 2:
                raise bx.EndpointConnectionError(endpoint_url="http://s3.example")
            return real.put_object(**kw)

    monkeypatch.setattr(storage.s3, "get_client", lambda: FlakyClient())
    storage.write_text(storage.join(s3_bucket, "r.txt"), "ok")
    assert calls == ["r.txt"] * 3
    assert storage.read_text(storage.join(s3_bucket, "r.txt")) == "ok"


class FlakyProxy:
    """An HTTP proxy in front of the S3 server that answers 503 SlowDown to the first
    `fail_first` requests (all of them if None) and forwards the rest unchanged."""

    def __init__(self, upstream: str, fail_first: int | None) -> None:
        self.upstream = urlparse(upstream)
        self.fail_first = fail_first
        self.requests = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _should_fail(self) -> bool:
        with self.lock:
            self.requests += 1
            return self.fail_first is None or self.requests <= self.fail_first

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def handle_one(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy._should_fail():
                    payload = b"<Error><Code>SlowDown</Code><Message>busy</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in self.headers.items():
                    if key.lower() != "expect":
                        conn.putheader(key, value)
                conn.endheaders(body or None)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status, resp.reason)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "date", "server"):
                        self.send_header(key, value)
                if resp.getheader("Content-Length") is None:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one

        return Handler

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy_factory(s3_env, monkeypatch) -> Iterator:
    def make(fail_first: int | None) -> FlakyProxy:
        proxy = FlakyProxy(s3_env.endpoint_url, fail_first)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # storage now talks through the proxy
        return proxy

    yield make


@pytest.mark.parametrize("policy", [
    s3client.RetryPolicy(attempts=3, base_delay_s=0.01, botocore_attempts=1),  # our loop retries
    s3client.RetryPolicy(attempts=1, botocore_attempts=3),  # botocore's standard mode retries
], ids=["own-backoff", "botocore-retries"])
def test_503_from_the_server_is_retried_over_the_wire(s3_bucket: str, s3_env, proxy_factory, monkeypatch,
                                                      policy: s3client.RetryPolicy) -> None:
    monkeypatch.setattr(s3client, "RETRY", policy)
    with proxy_factory(fail_first=2) as proxy:
        storage.write_text(storage.join(s3_bucket, "via-proxy.txt"), "made it")
        assert proxy.requests == 3
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_env.endpoint_url)  # straight to the server again
    assert storage.read_text(storage.join(s3_bucket, "via-proxy.txt")) == "made it"


def test_a_server_that_keeps_failing_gives_a_transient_error_after_all_attempts(
        s3_bucket: str, proxy_factory, monkeypatch) -> None:
    monkeypatch.setattr(s3client, "RETRY", s3client.RetryPolicy(attempts=3, base_delay_s=0.01,
                                                                botocore_attempts=1))
    uri = storage.join(s3_bucket, "never.txt")
    with proxy_factory(fail_first=None) as proxy:
        with pytest.raises(StorageTransientError, match=f"{uri}: write: SlowDown \\(HTTP 503\\)") as info:
            storage.write_text(uri, "x")
        assert proxy.requests == 3
    assert info.value.retryable


def test_clients_are_cached_per_endpoint(s3_env, monkeypatch) -> None:
    first = s3client.get_client()
    assert s3client.get_client() is first
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert s3client.get_client() is not first
    assert s3client.get_client().meta.endpoint_url == "http://127.0.0.1:1"


def test_an_outage_shorter_than_the_retry_window_costs_a_pause_and_a_longer_one_a_named_error(
        s3_restartable, monkeypatch, caplog) -> None:
    bucket = f"s3://{s3_restartable.make_bucket()}"
    s3_restartable.kill()
    monkeypatch.setenv(WINDOW_ENV, "1")
    monkeypatch.setattr(s3client, "RETRY", s3client.RetryPolicy(base_delay_s=0.1, botocore_attempts=1))
    with pytest.raises(StorageTransientError, match=f"{bucket}/early.txt: write: .*{s3_restartable.endpoint_url}"):
        storage.write_text(f"{bucket}/early.txt", "x")

    # The store comes back ~8 s later: longer than the old fixed 4 attempts (~4 s), well inside the window.
    monkeypatch.setenv(WINDOW_ENV, "120")
    monkeypatch.setattr(s3client, "RETRY", s3client.RetryPolicy(base_delay_s=0.2, botocore_attempts=1))
    failed: list[BaseException] = []

    def write() -> None:
        try:
            storage.write_text(f"{bucket}/during.txt", "made it")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failed.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(8.0)  # the store is down meanwhile; the writer backs off and tries again
    s3_restartable.restart()
    writer.join()
    assert not failed, failed
    assert storage.read_text(f"{bucket}/during.txt") == "made it"
    assert any("retrying in" in r.getMessage() for r in caplog.records)

    caplog.clear()  # a 4xx is permanent: raised at once, never retried for the window's two minutes
    with pytest.raises(StorageNotFoundError, match="NoSuchBucket"):
        storage.write_text("s3://no-such-bucket-here/x.txt", "x")
    assert not any("retrying in" in r.getMessage() for r in caplog.records)


def test_the_retry_window_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(WINDOW_ENV, "42")
    assert s3client.RetryPolicy().window_s == 42.0
    monkeypatch.setenv(WINDOW_ENV, "soon")  # a typo falls back to the default, with a warning
    assert s3client.RetryPolicy().window_s == s3client.DEFAULT_WINDOW_S
