"""The disk budget of one sandboxed run: /work, /tmp and /dev/shm are three folders on one place
of `disk_mb`, so a script can fill its own budget and nothing else of the host's disk.

Root callers get a per-run ext4 image: a sparse file, formatted without a journal, loop-mounted
(nosuid, nodev) in a private folder whose mount is MS_PRIVATE, so the mount propagates to no other
namespace. The image file is unlinked at once and, as soon as bwrap has cloned its mount namespace
(its child pid is known), the host's own mount is lazily detached: from then on only the sandbox's
binds and one directory fd of ours keep the filesystem alive, so the kernel frees it, loop device
and blocks, when the run ends, even if the host process is killed. A full filesystem gives the
script ENOSPC and the pump kills the run. The script's work dir is copied in before the run and
its regular files (never links, FIFOs or devices) are copied back to the caller's work dir after.

Where no image can be mounted (a non-root caller, no mke2fs or loop device), /work is the caller's
work dir, /tmp and /dev/shm are folders of a private host dir, and a watchdog sums the bytes of all
three while the script runs; the kill comes up to one poll interval late (bytes written meanwhile
are over the budget).
"""
from __future__ import annotations

import atexit
import ctypes
import errno
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

from actors.sandbox.readback import kind_of
from actors.sandbox.loop import mount_image, new_image

log = logging.getLogger(__name__)
_MS_BIND, _MS_PRIVATE, _MNT_DETACH = 4096, 1 << 18, 2
_FULL_SLACK = 1 << 20  # free bytes below which the image counts as full
_libc = ctypes.CDLL(None, use_errno=True)
MOUNTS = ("/work", "/tmp", "/dev/shm")
PREFIX = "lc-disk-"
MAX_DEPTH = 32  # folders nested deeper are not copied back (deep trees would exhaust recursion and fds)
_TOO_DEEP = f"a folder nested over {MAX_DEPTH} levels deep"
_FOLDERS = {"/work": "work", "/tmp": "tmp", "/dev/shm": "shm"}


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def _dead_owner(name: str, folder: Path | None = None) -> bool:
    """Whether a private dir name (lc-disk-PID-...) belongs to a process that no longer runs: none
    has the pid, or it is a zombie (killed and never reaped: a container's init may reap no
    orphans, so a killed Ray worker can stay one for good), or the pid's process started after
    `folder` was last written (the pid was reused; the owner made the folder after it started)."""
    pid = name[len(PREFIX):].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True
    if fields[0] in ("Z", "X"):
        return True
    if folder is None:
        return False
    try:
        written = folder.stat().st_mtime
    except OSError:
        return False
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started > written + 2  # btime has whole seconds


def sweep_stale_mounts() -> int:
    """Detach the host mounts of runs whose process was killed between mounting and bwrap's start
    (the only moment a host mount of a run exists), wherever their temp dir was: such a mount keeps
    its folder from being removed. Returns how many were detached."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return 0
    stale = []
    for line in lines:
        point = line.split(" ")[4].replace("\\040", " ")
        parts = Path(point).parts
        at = next((i for i, part in enumerate(parts) if part.startswith(PREFIX)), None)
        if at is not None and _dead_owner(parts[at], Path(*parts[:at + 1])):
            stale.append(point)
    for point in sorted(stale, key=len, reverse=True):  # the image below its private bind first
        _detach(Path(point))
    return len(stale)


def sweep_stale(parent: Path | None = None) -> None:
    """Remove the private dirs of runs whose process was killed (their stale mounts detached), below
    parent (default: the temp dir). Every new run disk does it; a session does it at its start and
    end too, so a killed session's leftovers go even when no sandbox run follows, or when its
    processes were still exiting when the next session's first run began."""
    parent = parent or Path(tempfile.gettempdir())
    folders = [f for f in parent.glob(f"{PREFIX}*") if _dead_owner(f.name, f)]
    if folders:
        sweep_stale_mounts()
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def find_mkfs() -> str | None:
    for folder in ("/usr/sbin", "/sbin", "/usr/bin"):
        path = os.path.join(folder, "mke2fs")
        if os.access(path, os.X_OK):
            return path
    return None


def _mount(source: str | None, target: str, flags: int) -> None:
    if _libc.mount(source.encode() if source else None, target.encode(), None, flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _detach(target: Path) -> None:
    if _libc.umount2(str(target).encode(), _MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        log.warning("could not detach %s: %s", target, os.strerror(ctypes.get_errno()))


def copy_regular(src_fd: int, dst: Path, uid: int, gid: int, prefix: str = "") -> dict[str, str]:
    """Copy the regular files and folders under directory fd src_fd into dst (created), owned by
    uid:gid. Never follows, opens or copies anything else: returns those as {path: kind}."""
    special: dict[str, str] = {}
    if prefix.count("/") >= MAX_DEPTH:
        return {prefix.rstrip("/"): _TOO_DEEP}
    dst.mkdir(exist_ok=True)
    os.chown(dst, uid, gid, follow_symlinks=False)
    with os.scandir(src_fd) as entries:
        names = [e.name for e in entries]
    for name in names:
        try:
            mode = os.stat(name, dir_fd=src_fd, follow_symlinks=False).st_mode
        except OSError:
            continue  # gone
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            special[prefix + name] = kind_of(mode)
            continue
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_DIRECTORY if stat.S_ISDIR(mode) else 0)
        fd = os.open(name, flags, dir_fd=src_fd)
        try:
            mode = os.fstat(fd).st_mode  # what was opened, not what was listed
            if stat.S_ISDIR(mode):
                special.update(copy_regular(fd, dst / name, uid, gid, f"{prefix}{name}/"))
            elif stat.S_ISREG(mode):
                _copy_file(fd, dst / name, uid, gid, stat.S_IMODE(mode) & 0o755)
            else:
                special[prefix + name] = kind_of(mode)
        finally:
            os.close(fd)
    return special


def special_entries(root: Path, prefix: str = "") -> dict[str, str]:
    """Entries under root that are neither regular files nor folders (symlinks are not followed)."""
    found: dict[str, str] = {}
    if prefix.count("/") >= MAX_DEPTH:
        return {prefix.rstrip("/"): _TOO_DEEP}
    with os.scandir(root) as entries:
        for entry in entries:
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                found.update(special_entries(Path(entry.path), f"{prefix}{entry.name}/"))
            elif not stat.S_ISREG(mode):
                found[prefix + entry.name] = kind_of(mode)
    return found


def _copy_file(src: int, dst: Path, uid: int, gid: int, mode: int) -> None:
    os.set_blocking(src, True)
    out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode | 0o600)
    try:
        size = os.fstat(src).st_size
        offset = 0
        while offset < size and (sent := os.sendfile(out, src, offset, size - offset)) > 0:
            offset += sent
        os.fchown(out, uid, gid)
    finally:
        os.close(out)


def _bytes_used(folder: Path) -> int:
    total = 0
    stack = [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        total += entry.stat(follow_symlinks=False).st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                    except OSError:
                        continue
        except OSError:
            continue
    return total


class RunDisk:
    """The disk of one run: `binds` maps /work, /tmp and /dev/shm to host paths for bwrap."""

    def __init__(self, workdir: Path, budget_bytes: int, uid: int, mkfs: str | None) -> None:
        self.workdir = workdir
        self.budget = budget_bytes
        self.uid = uid
        sweep_stale()
        self.private = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        self.mode = "watchdog"
        self._fd: int | None = None
        self._attached: list[Path] = []  # host mounts not yet detached, innermost last
        if mkfs is not None:
            try:
                self._mount_image(mkfs)
                self.mode = "ext4 image"
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("sandbox disk image unavailable, falling back to the watchdog: %s", exc)
                self._release()
        if self.mode == "watchdog":
            for name in ("tmp", "shm"):
                folder = self.private / name
                folder.mkdir(exist_ok=True)
                if os.geteuid() == 0:
                    os.chown(folder, uid, uid)
                folder.chmod(0o1777)

    def _mount_image(self, mkfs: str) -> None:
        mnt, image = self.private / "mnt", self.private / "disk.img"
        mnt.mkdir()
        # A private mount point: nothing mounted below it propagates to other namespaces.
        _mount(str(self.private), str(self.private), _MS_BIND)
        self._attached.append(self.private)
        _mount(None, str(self.private), _MS_PRIVATE)
        new_image(mkfs, self.budget, self.private.parent / f"{PREFIX}{os.getpid()}-templates", image)
        mount_image(image, mnt)
        self._attached.append(mnt)
        image.unlink()  # the loop device holds it; its blocks go when the filesystem does
        self._fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        os.rmdir(mnt / "lost+found")
        for name, mode in (("work", 0o755), ("tmp", 0o1777), ("shm", 0o1777)):
            (mnt / name).mkdir()
            os.chown(mnt / name, self.uid, self.uid)
            (mnt / name).chmod(mode)
        work_fd = os.open(self.workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            copy_regular(work_fd, mnt / "work", self.uid, self.uid)
        finally:
            os.close(work_fd)

    @property
    def binds(self) -> dict[str, Path]:
        if self.mode == "ext4 image":
            return {inner: self.private / "mnt" / _FOLDERS[inner] for inner in MOUNTS}
        return {"/work": self.workdir, "/tmp": self.private / "tmp", "/dev/shm": self.private / "shm"}

    def detach(self) -> None:
        """Drop the host's mounts (call once bwrap has its own copy of them); our fd keeps the
        filesystem reachable for the copy back."""
        while self._attached:
            _detach(self._attached.pop())

    def used(self) -> int:
        if self._fd is not None:
            st = os.fstatvfs(self._fd)
            return (st.f_blocks - st.f_bfree) * st.f_frsize
        return sum(_bytes_used(p) for p in (self.workdir, self.private))

    def exceeded(self) -> str | None:
        """Why the run is over its disk budget, or None."""
        if self._fd is not None:
            st = os.fstatvfs(self._fd)
            full = st.f_bavail * st.f_frsize < _FULL_SLACK
        else:
            full = self.used() >= self.budget
        if not full:
            return None
        return (f"disk budget exceeded: /work, /tmp and /dev/shm together reached the "
                f"{self.budget >> 20} MiB limit")

    def copy_back(self, owner: tuple[int, int]) -> dict[str, str]:
        """Mirror the run's /work into the caller's work dir: regular files and folders only.
        Returns the entries that are anything else ({path: kind}), left behind or not copied."""
        if self._fd is None:
            return special_entries(self.workdir)
        for entry in os.scandir(self.workdir):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        work_fd = os.open("work", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._fd)
        try:
            special = copy_regular(work_fd, self.workdir, *owner)
        finally:
            os.close(work_fd)
        if special:
            log.info("sandbox work dir: not copied back: %s", ", ".join(f"{k} ({v})" for k, v in list(special.items())[:20]))
        return special

    def _release(self) -> None:
        self.detach()
        if self._fd is not None:
            os.close(self._fd)  # the last reference once the sandbox is gone: the kernel frees it all
            self._fd = None

    def close(self) -> None:
        self.detach()
        fd, self._fd = self._fd, None
        # Closing the last reference unmounts the filesystem and frees its loop device (~50 ms):
        # done beside the caller, who has the copied-back work dir already.
        thread = threading.Thread(target=_teardown, args=(fd, self.private), daemon=True)
        _pending.add(thread)
        thread.start()


_pending: set[threading.Thread] = set()


def _teardown(fd: int | None, private: Path) -> None:
    try:
        if fd is not None:
            os.close(fd)
        shutil.rmtree(private, ignore_errors=True)
    finally:
        _pending.discard(threading.current_thread())


@atexit.register
def _finish_teardowns() -> None:
    for thread in list(_pending):
        thread.join(timeout=2)
