"""S3 operations on s3://bucket/key URIs, each one retried as a whole by s3client.call.

Atomicity: an object is written by one PUT (or a completed multipart upload), so a reader sees
the old object, the new one, or nothing, never a part. `move` is copy + delete (S3 has no
rename): two racing movers can both copy before either deletes, so claims use put_if_absent.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.errors import StorageError, StorageNotFoundError
from storage.local import TEMP_MARKER
from storage.s3client import call, get_client

if TYPE_CHECKING:
    import pandas as pd


def split(uri: str) -> tuple[str, str]:
    """s3://bucket/some/key -> ("bucket", "some/key")."""
    rest = uri[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise StorageError(uri, "S3 URI has no bucket")
    return bucket, key


def _folder_prefix(key: str) -> str:
    return key.rstrip("/") + "/" if key.strip("/") else ""


def read_bytes(uri: str) -> bytes:
    bucket, key = split(uri)
    # The body is read inside the retried call: a connection that breaks mid-body is retried too.
    return call(uri, "read", lambda: get_client().get_object(Bucket=bucket, Key=key)["Body"].read())


def read_csv(uri: str, **pandas_kw: Any) -> pd.DataFrame:
    """pandas.read_csv streaming from the object: nrows=0 (a header) fetches only the first chunk."""
    import pandas as pd

    bucket, key = split(uri)

    def read() -> pd.DataFrame:
        body = get_client().get_object(Bucket=bucket, Key=key)["Body"]
        with contextlib.closing(body):  # an unread rest is dropped with its connection
            return pd.read_csv(body, **pandas_kw)

    return call(uri, "read_csv", read)


def write_bytes(uri: str, data: bytes) -> None:
    bucket, key = split(uri)
    # One PUT (S3 allows 5 GiB) is atomic: readers never see a partial object.
    call(uri, "write", lambda: get_client().put_object(Bucket=bucket, Key=key, Body=data))


def put_if_absent(uri: str, data: bytes) -> bool:
    """Create the object only if absent (If-None-Match: *); True if this call created it.

    SeaweedFS (tested, also under concurrent writers), AWS S3 and recent MinIO honour the
    condition. A store that ignores it would let the last writer win; the head_object check
    before the PUT keeps that window small but does not close it. If our PUT succeeded but its
    reply was lost, the retry finds the object and returns False (an orphaned claim)."""
    import botocore.exceptions as bx

    bucket, key = split(uri)
    if exists_object(uri):
        return False

    def put() -> bool:
        try:
            get_client().put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        except bx.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return False
            raise
        return True

    return call(uri, "put_if_absent", put)


def exists_object(uri: str) -> bool:
    bucket, key = split(uri)

    def head() -> bool:
        try:
            get_client().head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return False
            raise
        return True

    return bool(key) and call(uri, "exists", head)


def is_dir(uri: str) -> bool:
    """True if any object lives below uri/ (S3 has no folders, only key prefixes)."""
    bucket, key = split(uri)
    prefix = _folder_prefix(key)
    resp = call(uri, "list", lambda: get_client().list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1))
    return bool(resp.get("KeyCount") or resp.get("Contents") or resp.get("CommonPrefixes"))


def exists(uri: str) -> bool:
    return exists_object(uri) or is_dir(uri)


def list_uris(uri: str, recursive: bool) -> list[str]:
    """Objects (and, unless recursive, sub-"folders") directly below uri, as full URIs."""
    bucket, key = split(uri)
    prefix = _folder_prefix(key)

    def listing() -> list[str]:
        kwargs = {"Bucket": bucket, "Prefix": prefix} | ({} if recursive else {"Delimiter": "/"})
        found: list[str] = []
        for page in get_client().get_paginator("list_objects_v2").paginate(**kwargs):
            found += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
            found += [p["Prefix"].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return found

    keys = call(uri, "list", listing)
    return sorted(f"s3://{bucket}/{k}" for k in keys if k != prefix.rstrip("/"))


def delete(uri: str, recursive: bool) -> None:
    """Delete one object (absent is fine, as on S3), or everything below uri if recursive."""
    bucket, key = split(uri)
    client = get_client()
    if not recursive:
        call(uri, "delete", lambda: client.delete_object(Bucket=bucket, Key=key))
        return
    keys = [split(u)[1] for u in list_uris(uri, recursive=True)]
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        batch = {"Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True}
        call(uri, "delete", lambda b=batch: client.delete_objects(Bucket=bucket, Delete=b))
    if key:
        call(uri, "delete", lambda: client.delete_object(Bucket=bucket, Key=key))


def copy(src: str, dst: str) -> None:
    """Server-side copy (managed: multipart for big objects, completed atomically)."""
    sb, sk = split(src)
    db, dk = split(dst)
    if not exists_object(src):
        raise StorageNotFoundError(src, "copy: no such object")
    call(dst, "copy", lambda: get_client().copy({"Bucket": sb, "Key": sk}, db, dk))


def upload_file(path: Path, uri: str) -> None:
    bucket, key = split(uri)
    call(uri, "upload", lambda: get_client().upload_file(str(path), bucket, key))


def download_file(uri: str, dest: Path) -> None:
    """Download to a temp file next to dest, then rename, so dest is complete or absent."""
    bucket, key = split(uri)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}{TEMP_MARKER}{uuid.uuid4().hex[:12]}"
    try:
        call(uri, "download", lambda: get_client().download_file(bucket, key, str(tmp)))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def download_dir(uri: str, dest: Path) -> Path:
    prefix = uri.rstrip("/") + "/"
    objects = list_uris(uri, recursive=True)
    if not objects:
        raise StorageNotFoundError(uri, "download_dir: no objects below this prefix")
    for obj in objects:
        download_file(obj, dest / obj[len(prefix):])
    return dest
