"""One API over local paths, file:// URIs and s3:// URIs.

Every write is atomic (a reader sees the old content, the new content or nothing); every error
is a StorageError naming the URI (see storage/errors.py for how they map onto the project's
retryable / fatal roots).
"""
from __future__ import annotations

import io
import json
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from storage import local, s3
from storage.errors import StorageError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.fs


def is_s3(uri: str) -> bool:
    return str(uri).startswith("s3://")


def local_path(uri: str | Path) -> Path | None:
    """The local path behind a plain path or file:// URI; None for s3://."""
    uri = str(uri)
    if is_s3(uri):
        return None
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise StorageError(uri, f"file:// URI names a remote host {parsed.netloc!r}")
        return Path(unquote(parsed.path))
    if "://" in uri:
        raise StorageError(uri, "unsupported URI scheme (use a local path, file:// or s3://)")
    return Path(uri)


def _path(uri: str) -> Path:
    path = local_path(uri)
    assert path is not None  # callers checked is_s3 first
    return path


def sidecar(uri: str, suffix: str) -> str:
    """corpus.parquet -> corpus<suffix> in the same folder (JSON, so folder readers of Parquet skip it)."""
    return (uri[: -len(".parquet")] if uri.endswith(".parquet") else uri.rstrip("/")) + suffix


def join(base: str | Path, *parts: str) -> str:
    """URI-aware join: s3:// and file:// join with '/', local paths with the OS separator."""
    base = str(base)
    parts = tuple(p.strip("/") for p in parts if p)  # a part never restarts at the root
    if is_s3(base) or base.startswith("file://"):
        return posixpath.join(base, *parts)
    return str(Path(base, *parts))


def _child_uri(base: str, path: Path) -> str:
    """Render a local path found below `base` in the same style as `base`."""
    if base.startswith("file://"):
        return "file://" + str(path)
    return str(path)


# -- bytes -------------------------------------------------------------------------------------

def read_bytes(uri: str | Path) -> bytes:
    uri = str(uri)
    return s3.read_bytes(uri) if is_s3(uri) else local.read_bytes(_path(uri), uri)


def write_bytes(uri: str | Path, data: bytes) -> None:
    uri = str(uri)
    if is_s3(uri):
        s3.write_bytes(uri, data)
    else:
        local.write_bytes(_path(uri), data, uri)


def put_if_absent(uri: str | Path, data: bytes) -> bool:
    """Create uri with data only if it does not exist yet; True if this call created it.
    Atomic against concurrent callers (local: os.link; S3: If-None-Match, see storage/s3.py)."""
    uri = str(uri)
    return s3.put_if_absent(uri, data) if is_s3(uri) else local.put_if_absent(_path(uri), data, uri)


# -- text, JSON --------------------------------------------------------------------------------

def read_text(uri: str | Path) -> str:
    return read_bytes(uri).decode("utf-8")


def write_text(uri: str | Path, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def read_json(uri: str | Path) -> Any:
    text = read_text(uri)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StorageError(str(uri), f"invalid JSON: {exc}") from exc


def write_json(uri: str | Path, obj: Any) -> None:
    write_text(uri, json.dumps(obj, indent=2, default=str) + "\n")


# -- tables ------------------------------------------------------------------------------------

def read_csv(uri: str | Path, **pandas_kw: Any) -> pd.DataFrame:
    """pandas.read_csv, streamed (nrows=0 reads just the header, also on S3)."""
    import pandas as pd

    uri = str(uri)
    if is_s3(uri):
        return s3.read_csv(uri, **pandas_kw)
    with local.os_errors(uri, "read_csv"):
        return pd.read_csv(_path(uri), **pandas_kw)


def write_csv(uri: str | Path, df: pd.DataFrame, **pandas_kw: Any) -> None:
    pandas_kw.setdefault("index", False)
    write_bytes(uri, df.to_csv(**pandas_kw).encode("utf-8"))


def _parquet_files(uri: str) -> list[str]:
    """The file itself, or the Parquet files below a folder (skipping _SUCCESS, .hidden, ...)."""
    if is_dir(uri):
        files = [u for u in list_uris(uri, recursive=True)
                 if u.endswith(".parquet") and not posixpath.basename(u).startswith(("_", "."))]
        if not files:
            raise StorageError(uri, "read_parquet: folder holds no .parquet files")
        return files
    return [uri]


def read_parquet_table(uri: str | Path) -> pa.Table:
    """A Parquet file, or every Parquet file below a folder (as written by Ray Data), as one table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for file_uri in _parquet_files(str(uri)):
        try:
            tables.append(pq.read_table(io.BytesIO(read_bytes(file_uri))))
        except pa.ArrowException as exc:
            raise StorageError(file_uri, f"unreadable Parquet: {exc}") from exc
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def read_parquet(uri: str | Path) -> pd.DataFrame:
    return read_parquet_table(uri).to_pandas()


def write_parquet(uri: str | Path, data: pd.DataFrame | pa.Table, schema: pa.Schema | None = None) -> None:
    """Write a DataFrame (without its index) or Table as one Parquet file, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, schema=schema,
                                                                           preserve_index=False)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_bytes(uri, buf.getvalue())


# -- listing and moving ------------------------------------------------------------------------

def exists(uri: str | Path) -> bool:
    """True for an existing file/object or a non-empty folder/prefix."""
    uri = str(uri)
    return s3.exists(uri) if is_s3(uri) else _path(uri).exists()


def is_dir(uri: str | Path) -> bool:
    uri = str(uri)
    return s3.is_dir(uri) if is_s3(uri) else _path(uri).is_dir()


def list_uris(prefix_uri: str | Path, recursive: bool = False) -> list[str]:
    """Sorted full URIs below a folder: direct children (files and folders), or every file if
    recursive. A missing folder lists as empty. Temp files of in-flight writes are skipped."""
    uri = str(prefix_uri)
    if is_s3(uri):
        return s3.list_uris(uri, recursive)
    return [_child_uri(uri, p) for p in local.list_paths(_path(uri), recursive, uri)]


def delete(uri: str | Path, recursive: bool = False) -> None:
    """Delete a file/object (absent is fine); a folder/prefix only with recursive=True."""
    uri = str(uri)
    if is_s3(uri):
        s3.delete(uri, recursive)
    else:
        local.delete(_path(uri), recursive, uri)


def copy(src: str | Path, dst: str | Path) -> None:
    src, dst = str(src), str(dst)
    if is_s3(src) and is_s3(dst):
        s3.copy(src, dst)
    elif is_s3(src):
        s3.download_file(src, _path(dst))
    elif is_s3(dst):
        if not _path(src).is_file():
            raise StorageError(src, "copy: no such file")
        s3.upload_file(_path(src), dst)
    else:
        local.copy_file(_path(src), _path(dst), src, dst)


def move(src: str | Path, dst: str | Path) -> None:
    """Local: atomic rename (of two racing movers exactly one wins). S3: copy + delete, so two
    racing movers may both succeed; use put_if_absent for exclusive claims on S3."""
    src, dst = str(src), str(dst)
    if not is_s3(src) and not is_s3(dst):
        local.move(_path(src), _path(dst), src, dst)
        return
    copy(src, dst)
    delete(src)


def download_dir(uri: str | Path, dest: Path) -> Path:
    """Copy a folder (local or S3 prefix) into the local folder dest; returns dest."""
    uri = str(uri)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    return s3.download_dir(uri, dest) if is_s3(uri) else local.copy_tree(_path(uri), dest, uri)


def pyarrow_filesystem(uri: str | Path) -> tuple[pyarrow.fs.FileSystem, str]:
    """(filesystem, path) for pyarrow / Ray Data / Ray Train, configured from the same
    environment as the boto3 client (endpoint, region, credentials)."""
    from pyarrow import fs

    uri = str(uri)
    if is_s3(uri):
        from storage.s3client import pyarrow_s3_filesystem

        bucket, key = s3.split(uri)
        return pyarrow_s3_filesystem(), f"{bucket}/{key}".rstrip("/")
    return fs.LocalFileSystem(), str(_path(uri).absolute())
