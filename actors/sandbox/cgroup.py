"""Per-run cgroups of the sandbox: memory summed over all of a run's processes, and a process budget
of its own (not the uid-wide RLIMIT_NPROC that concurrent sandboxes would share).

The cgroup is made under the caller's own cgroup of each controller in a cgroup v1 hierarchy, or on
cgroup v2 under the caller's cgroup or its parent, whichever enables memory and pids for its
children (delegation); the launcher enters it before bwrap forks anything (see
command.enter_cgroups), so every process of the run is counted. Only the v1 path runs on
the machine this was written on (its memory and pids controllers are bound to v1).
Where no cgroup can be made (a non-root caller, a read-only or undelegated cgroupfs), `RunCgroup`
has no controller and the sandbox falls back to `tree_rss` polling and RLIMIT_NPROC.
"""
from __future__ import annotations

import atexit
import itertools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
_counter = itertools.count()
_active: set[Path] = set()  # run cgroups of this process in use right now
_parents: set[Path] = set()  # where this process made run cgroups (swept once more at exit)
PREFIX = "lc-sandbox-"


@dataclass(frozen=True)
class Hierarchy:
    version: int  # 1 or 2
    directory: Path  # the caller's own cgroup in this hierarchy


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount root, mount point, super options) of every cgroup filesystem."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            mount_point = fields[4].replace("\\040", " ")
            found.append((tail[0], fields[3], mount_point, set(tail[2].split(","))))
    return found


def _inside(mount_root: str, mount_point: str, path: str) -> Path | None:
    if mount_root != "/" and not (path == mount_root or path.startswith(mount_root + "/")):
        return None  # our cgroup is outside what this mount shows
    rel = path[len(mount_root):] if mount_root != "/" else path
    return Path(mount_point + rel.rstrip("/"))


def find_hierarchies() -> dict[str, Hierarchy]:
    """controller ("memory", "pids") -> the cgroup to make run cgroups in: our own in a v1
    hierarchy of the controller, else on cgroup v2 ours or its parent, where delegated."""
    own_v1: dict[str, str] = {}
    own_v2: str | None = None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            own_v2 = path
        for name in controllers.split(","):
            own_v1[name] = path
    found: dict[str, Hierarchy] = {}
    for fstype, root, point, opts in _mounts():
        for name in ("memory", "pids"):
            usable = fstype == "cgroup" and name in opts and name in own_v1 and name not in found
            if usable and (where := _inside(root, point, own_v1[name])) is not None:
                found[name] = Hierarchy(1, where)
    for fstype, root, point, _ in _mounts():
        if fstype == "cgroup2" and own_v2 is not None and (where := _inside(root, point, own_v2)) is not None:
            # A v2 child gets a controller only if its parent enables it in cgroup.subtree_control;
            # a delegated tree usually enables them one level up (our cgroup is a leaf), so the
            # run's cgroup becomes a sibling of ours there.
            for parent in (where, where.parent) if own_v2.strip("/") else (where,):
                control = parent / "cgroup.subtree_control"
                enabled = control.read_text().split() if control.is_file() else []
                for name in ("memory", "pids"):
                    if name not in found and name in enabled:
                        found[name] = Hierarchy(2, parent)
    return found


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def _sweep(parent: Path) -> None:
    """Remove the run cgroups no run uses any more: ours that were still busy when their run ended,
    and those of killed callers. rmdir refuses a populated cgroup, so a live run is never hit."""
    try:
        names = [n for n in os.listdir(parent) if n.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name[len(PREFIX):].split("-", 1)[0]
        ours = pid == str(os.getpid()) and parent / name not in _active
        if pid.isdigit() and (ours or not _alive(int(pid))):
            try:
                os.rmdir(parent / name)
            except OSError:
                pass


@dataclass
class RunCgroup:
    """The cgroup dirs of one run, per controller; empty when no controller could be set up."""

    dirs: dict[str, Hierarchy] = field(default_factory=dict)  # controller -> the run's own dir

    @classmethod
    def create(cls, memory_bytes: int, max_pids: int) -> RunCgroup:
        run = cls()
        try:
            hierarchies = find_hierarchies()
        except (OSError, ValueError) as exc:
            log.info("no cgroups for the sandbox: %s", exc)
            return run
        name = f"{PREFIX}{os.getpid()}-{next(_counter)}"
        settings = {
            "memory": {1: [("memory.limit_in_bytes", str(memory_bytes)), ("memory.memsw.limit_in_bytes", str(memory_bytes))],
                       2: [("memory.max", str(memory_bytes)), ("memory.swap.max", "0")]},
            "pids": {1: [("pids.max", str(max_pids))], 2: [("pids.max", str(max_pids))]},
        }
        for controller, where in hierarchies.items():
            directory = where.directory / name
            try:
                _sweep(where.directory)
                directory.mkdir(exist_ok=True)
                for index, (knob, value) in enumerate(settings[controller][where.version]):
                    try:
                        _write(directory / knob, value)
                    except OSError:
                        if index == 0:
                            raise  # the limit itself; the swap knob is absent without swap accounting
                run.dirs[controller] = Hierarchy(where.version, directory)
                _active.add(directory)
                _parents.add(where.directory)
            except OSError as exc:
                log.info("sandbox %s cgroup not usable under %s: %s", controller, where.directory, exc)
                _rmdir(directory)
        return run

    @property
    def procs_files(self) -> list[str]:
        """cgroup.procs of each distinct run dir: the launcher writes its own pid into each."""
        return sorted({str(h.directory / "cgroup.procs") for h in self.dirs.values()})

    def describe(self, controller: str) -> str | None:
        where = self.dirs.get(controller)
        return None if where is None else f"cgroup v{where.version}"

    def oom_kills(self) -> int:
        """Processes of the run the kernel killed for going over the memory limit."""
        where = self.dirs.get("memory")
        if where is None:
            return 0
        name = "memory.oom_control" if where.version == 1 else "memory.events"
        try:
            for line in (where.directory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def peak_bytes(self) -> int | None:
        """The run's memory high-water mark as the memory controller charged it (anonymous memory and
        the page cache of the files it read or wrote); None without a memory cgroup."""
        where = self.dirs.get("memory")
        if where is None:
            return None
        name = "memory.max_usage_in_bytes" if where.version == 1 else "memory.peak"  # v2: kernel 5.19+
        try:
            return int((where.directory / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def remove(self) -> None:
        for where in self.dirs.values():
            _active.discard(where.directory)
            _rmdir(where.directory)
        self.dirs.clear()


def _rmdir(directory: Path) -> None:
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        pass
    except OSError as exc:
        # The namespace's init can linger as a zombie until the host's init reaps it; the next
        # run's sweep (or the exit hook) removes the dir then.
        log.debug("sandbox cgroup %s still busy (%s): left for the next sweep", directory, exc)


@atexit.register
def _sweep_at_exit() -> None:
    for parent in _parents:
        _sweep(parent)


def tree_rss(pid: int) -> int:
    """Resident bytes of every process in the pid namespace whose init is `pid` (the fallback
    when no memory cgroup exists). Shared pages count once per process: an over-estimate."""
    try:
        namespace = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return 0
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != namespace:
                continue
            with open(f"/proc/{entry}/statm") as handle:
                total += int(handle.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux reports ru_maxrss in KiB). Sandboxed programs
    are not counted: a child's ru_maxrss starts from its parent's at fork, so it says nothing of them."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
