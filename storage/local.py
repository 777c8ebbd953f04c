"""Local-filesystem backend: atomic writes (temp file in the same folder, fsync, os.replace) and
create-only claims (os.link of a complete temp file), with OSErrors turned into StorageErrors."""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from storage.errors import StorageError, StorageNotFoundError

# Temp files start with "." (hidden from Ray Data / pyarrow discovery) and carry this marker so
# listings can skip them; a reader never opens one.
TEMP_MARKER = ".tmp-"


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and TEMP_MARKER in name


@contextlib.contextmanager
def os_errors(uri: str, action: str) -> Iterator[None]:
    """Turn OSErrors into StorageErrors that name the URI and the action."""
    try:
        yield
    except StorageError:
        raise
    except FileNotFoundError as exc:
        raise StorageNotFoundError(uri, f"{action}: no such file or directory") from exc
    except OSError as exc:
        raise StorageError(uri, f"{action}: {exc.strerror or exc}") from exc


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not all filesystems allow opening a directory.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_temp(path: Path, data: bytes) -> Path:
    """Write data to a fresh temp file next to `path` (same filesystem, so rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}{TEMP_MARKER}{uuid.uuid4().hex[:12]}"
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_bytes(path: Path, data: bytes, uri: str) -> None:
    with os_errors(uri, "write"):
        tmp = _write_temp(path, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)


def put_if_absent(path: Path, data: bytes, uri: str) -> bool:
    """Create `path` with `data` only if it does not exist; True if this call created it.

    os.link fails with EEXIST if the target exists, atomically, and the linked file is already
    complete, so a reader sees either nothing or the whole claim."""
    with os_errors(uri, "put_if_absent"):
        if path.exists():
            return False
        tmp = _write_temp(path, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return True


def read_bytes(path: Path, uri: str) -> bytes:
    with os_errors(uri, "read"):
        return path.read_bytes()


def list_paths(path: Path, recursive: bool, uri: str) -> list[Path]:
    """Children of a folder (files and folders), or every file below it when recursive.
    A missing folder lists as empty, like an S3 prefix with no objects."""
    if not path.is_dir():
        return []
    with os_errors(uri, "list"):
        if recursive:
            found = [p for p in path.rglob("*") if p.is_file()]
        else:
            found = list(path.iterdir())
    return sorted(p for p in found if not is_temp_name(p.name))


def delete(path: Path, recursive: bool, uri: str) -> None:
    with os_errors(uri, "delete"):
        if path.is_dir() and not path.is_symlink():
            if not recursive:
                raise StorageError(uri, "delete: is a folder (pass recursive=True)")
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def copy_file(src: Path, dst: Path, src_uri: str, dst_uri: str) -> None:
    """Copy through a temp file next to dst, so dst is never seen half-written."""
    if not src.is_file():
        raise StorageNotFoundError(src_uri, "copy: no such file")
    with os_errors(dst_uri, "copy"):
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.parent / f".{dst.name}{TEMP_MARKER}{uuid.uuid4().hex[:12]}"
        try:
            shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)


def move(src: Path, dst: Path, src_uri: str, dst_uri: str) -> None:
    """Rename (atomic on one filesystem: of two racing movers only one finds src);
    across filesystems fall back to copy + delete."""
    with os_errors(src_uri, "move"):
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(src, dst)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
    copy_file(src, dst, src_uri, dst_uri)
    with os_errors(src_uri, "move"):
        src.unlink()


def copy_tree(src: Path, dest: Path, uri: str) -> Path:
    if not src.is_dir():
        raise StorageNotFoundError(uri, "download_dir: no such folder")
    with os_errors(uri, "download_dir"):
        shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(f".*{TEMP_MARKER}*"))
    return dest
