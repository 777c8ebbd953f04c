"""Scripts and processes of sandbox attack tests."""
from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path


def write_script(folder: Path, body: str, name: str = "attack.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def processes_with(marker: str, uid: int | None = None) -> list[int]:
    """Host pids whose command line contains marker (zombies have none and do not count),
    optionally only those running as uid (the bwrap launcher carries the marker too, as root)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            owner = os.stat(f"/proc/{entry}").st_uid
        except OSError:
            continue
        if marker.encode() in cmdline and (uid is None or owner == uid):
            found.append(int(entry))
    return found


def stop(process: subprocess.Popen, timeout_s: float = 15) -> None:
    """Terminate a process we started, then kill it if it does not go within timeout_s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
