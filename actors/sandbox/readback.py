"""Reading files back from a sandbox work dir: the one way the host opens what generated code wrote.

Whatever sits in a work dir was made by untrusted code. A symlink named submission.csv would make
the host read any host file (the answers, /etc/shadow, /proc/self/environ) as if the script had
written it; a FIFO would block open() or read() forever; /dev/zero never ends. So every read-back
opens the name relative to the work dir without following links (O_NOFOLLOW) and without blocking
(O_NONBLOCK), accepts only a regular file (fstat S_ISREG), and caps the bytes. Parsers get the
bytes, never a path they could reopen.
"""
from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

import pandas as pd

# Caps on what the host reads back: tables (submission, hold-out predictions) and the small
# JSON error marker the harness writes. Past a cap the attempt fails; nothing is read.
MAX_TABLE_BYTES = 1 << 30
MAX_MARKER_BYTES = 1 << 20
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class ReadBackError(ValueError):
    """A work-dir file the host refuses to read; the message names the file and why (no host content)."""


class MissingFile(ReadBackError):
    """The name does not exist in the work dir."""


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def read_back(workdir: Path, name: str, max_bytes: int) -> bytes:
    """The bytes of regular file `name` directly inside `workdir`, at most max_bytes of them."""
    if not name or "/" in name or name in (".", ".."):
        raise ReadBackError(f"{name!r} is not a plain file name")
    dir_fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                         dir_fd=dir_fd)
        except FileNotFoundError:
            raise MissingFile(f"{name} is missing") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ReadBackError(f"{name} is a symlink, not a regular file") from None
            raise ReadBackError(f"{name} cannot be opened: {exc.strerror}") from None
    finally:
        os.close(dir_fd)
    try:
        return _read_regular(fd, name, max_bytes)
    finally:
        os.close(fd)


def kind_of(mode: int) -> str:
    """'a FIFO', 'a symlink', ...: what a non-regular file is, for messages."""
    if stat.S_ISLNK(mode):
        return "a symlink"
    return next((label for test, label in _KINDS if test(mode)), "not a regular file")


def _read_regular(fd: int, name: str, max_bytes: int) -> bytes:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ReadBackError(f"{name} is {kind_of(info.st_mode)}, not a regular file")
    if info.st_size > max_bytes:
        raise ReadBackError(f"{name} is {_mib(info.st_size)}, over the {_mib(max_bytes)} the host reads back")
    os.set_blocking(fd, True)
    chunks, total = [], 0
    while chunk := os.read(fd, min(1 << 20, max_bytes + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:  # grew after fstat: refuse rather than read on
            raise ReadBackError(f"{name} is over the {_mib(max_bytes)} the host reads back")
    return b"".join(chunks)


def read_back_csv(workdir: Path, name: str, max_bytes: int, **read_csv: object) -> pd.DataFrame:
    """A CSV read back safely and parsed from memory (ReadBackError, or pandas' own parse errors)."""
    return pd.read_csv(io.BytesIO(read_back(workdir, name, max_bytes)), **read_csv)
