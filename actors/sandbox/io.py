"""Host-side plumbing of a sandboxed run: bounded output capture, the wall clock, workdir ownership."""
from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
_CHUNK = 1 << 16
MONITOR_INTERVAL_S = 0.2  # how often limits without a kernel wall (disk, memory fallbacks) are polled


class Tail:
    """Keeps the last `limit` bytes of a stream and counts all of it (memory stays O(limit))."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        self._buf += data
        if len(self._buf) > 2 * self.limit:  # trim in batches, not on every chunk
            del self._buf[: len(self._buf) - self.limit]

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def text(self) -> str:
        return bytes(self._buf[-self.limit:] if self.limit else b"").decode("utf-8", errors="replace")


@dataclass
class Watch:
    """What the pump saw: the sandbox child's host pid and exit code as reported by bwrap."""

    stdout: Tail
    stderr: Tail
    child_pid: int | None = None
    child_exit: int | None = None
    bwrap_exit: int | None = None
    timed_out: bool = False
    killed_reason: str | None = None  # a limit the monitor saw the run go over
    peak_rss: int = 0  # the most resident bytes the watchdog polled (only without a memory cgroup)

    def on_status(self, data: bytes, partial: bytearray) -> None:
        partial += data
        while b"\n" in partial:
            line, _, rest = bytes(partial).partition(b"\n")
            partial[:] = rest
            self._parse_status(line)

    def _parse_status(self, line: bytes) -> None:
        try:
            doc = json.loads(line)
        except ValueError:
            return
        # Only the first of each counts: nothing later may redirect our kill to another pid.
        if "child-pid" in doc and self.child_pid is None:
            self.child_pid = int(doc["child-pid"])
        if "exit-code" in doc and self.child_exit is None:
            self.child_exit = int(doc["exit-code"])


def _kill(proc: subprocess.Popen, watch: Watch, *, force: bool = False) -> None:
    """Kill the sandbox: SIGKILL its pid-1 so the kernel tears the whole pid namespace down
    (detached grandchildren included) and let bwrap reap it: pid 1 is only released after every
    other process of the namespace has exited, so bwrap's exit means all are gone. Killing bwrap
    at the same time would orphan pid 1 and return while the teardown is still running, so bwrap's
    process group is killed only when the namespace's pid is unknown or as a last resort (force)."""
    killed_child = False
    if watch.child_pid is not None and watch.child_exit is None:
        try:
            os.kill(watch.child_pid, signal.SIGKILL)
            killed_child = True
        except ProcessLookupError:
            pass
    if force or not killed_child:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _await_gone(pid: int | None, grace_s: float) -> None:
    """Wait until a host pid has been reaped (its /proc entry is gone), at most grace_s."""
    if pid is None:
        return
    stop = time.monotonic() + grace_s
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < stop:
        time.sleep(0.02)


def pump(proc: subprocess.Popen, status_fd: int, watch: Watch, timeout_s: float, grace_s: float,
         monitor: Callable[[], str | None] | None = None) -> None:
    """Read stdout, stderr and bwrap's status until all close; kill everything at the deadline,
    or as soon as `monitor` (polled every MONITOR_INTERVAL_S) names a limit the run went over.

    Pipes (not files) so a script printing gigabytes costs neither disk nor more than the tails
    in memory. Returns once bwrap has exited (which implies every process of the sandbox is gone,
    since bwrap only exits after reaping the namespace's pid 1).
    """
    sel = selectors.DefaultSelector()
    partial = bytearray()
    sinks = {proc.stdout.fileno(): watch.stdout.feed, proc.stderr.fileno(): watch.stderr.feed,
             status_fd: lambda data: watch.on_status(data, partial)}
    for fd in sinks:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    hard_stop: float | None = None
    next_check = 0.0
    while sel.get_map():
        now = time.monotonic()
        if hard_stop is None and now >= deadline:
            watch.timed_out = True
            log.info("sandbox wall-clock timeout after %.1f s: killing pid %s", timeout_s, watch.child_pid)
            _kill(proc, watch)
            hard_stop = now + grace_s
        if hard_stop is None and monitor is not None and now >= next_check:
            next_check = now + MONITOR_INTERVAL_S
            if reason := monitor():
                watch.killed_reason = reason
                log.info("sandbox killed: %s", reason)
                _kill(proc, watch)
                hard_stop = now + grace_s
        if hard_stop is not None and now >= hard_stop:
            log.warning("sandbox output still open %.1f s after the kill; giving up reading", grace_s)
            break
        wait = (deadline if hard_stop is None else hard_stop) - now
        for key, _ in sel.select(timeout=max(0.0, min(wait, MONITOR_INTERVAL_S))):
            try:
                data = os.read(key.fd, _CHUNK)
            except BlockingIOError:
                continue
            if data:
                sinks[key.fd](data)
                if key.fd == status_fd:
                    next_check = 0.0  # e.g. the child pid arrived: let the monitor act on it now
            else:
                sel.unregister(key.fd)
    sel.close()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _kill(proc, watch, force=True)
        proc.wait()
    if watch.timed_out or watch.killed_reason:
        _await_gone(watch.child_pid, grace_s)  # the namespace's pid 1 outlives all its processes


def _entries(root: Path):
    """(path, DirEntry) of everything under root, without recursion (a script can nest folders
    thousands deep) and without following symlinks."""
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                for entry in listing:
                    yield entry
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """lchown every entry under root (never follows symlinks the script may have planted)."""
    os.chown(root, uid, gid, follow_symlinks=False)
    for entry in _entries(root):
        try:
            os.chown(entry.path, uid, gid, follow_symlinks=False)
        except FileNotFoundError:
            pass


def list_files(root: Path) -> list[str]:
    """Regular files under root, relative and sorted (symlinks are not followed or listed)."""
    return sorted(str(Path(e.path).relative_to(root)) for e in _entries(root) if e.is_file(follow_symlinks=False))
