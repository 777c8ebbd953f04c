"""The attack suite, per-run limits: disk written through /work, /tmp and /dev/shm, memory summed over
a run's processes, a process budget per run, and work dirs that would break the host's walks. Each
attack runs in the real sandbox, with the kernel mechanisms (auto) and with the watchdog fallback.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from actors.sandbox.sandbox import Sandbox, SandboxConfig
from tests.helpers.processes import processes_with, write_script

pytestmark = pytest.mark.sandbox


def no_sandbox_mounts_left() -> bool:
    # only this process's runs: a run killed elsewhere (kill -9 tests) may have left one of its own
    return f"lc-disk-{os.getpid()}-" not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.parametrize("enforce", ["auto", "watchdog"])
def test_filling_the_disk_through_work_tmp_and_shm_is_killed_at_the_budget(tmp_path: Path, enforce: str) -> None:
    # 60 MiB into /tmp and /dev/shm each (each was a 512 MiB tmpfs of its own before), then /work
    # until 1 GiB in all: only the sum is over the 256 MiB budget.
    script = write_script(tmp_path / "src", """
        import os, sys
        chunk = os.urandom(1 << 20)
        written = 0
        for path, mib in (("/tmp/fill", 60), ("/dev/shm/fill", 60), ("/work/fill", 1024 - 120)):
            with open(path, "wb") as handle:
                for _ in range(mib):
                    handle.write(chunk)
                    handle.flush()
                    written += 1
                    print("WROTE", written, flush=True)
        print("WROTE-ALL")
    """)
    config = SandboxConfig(timeout_s=120, disk_mb=256, enforce=enforce)
    result = Sandbox(config).run(script, tmp_path / "work")
    assert not result.ok and "WROTE-ALL" not in result.stdout
    assert "disk budget exceeded" in (result.killed_reason or ""), (result.killed_reason, result.stderr[-500:])
    ceiling = 256 if enforce == "auto" else 768  # the watchdog may be a poll late (written meanwhile)
    last = max(int(n) for n in re.findall(r"WROTE (\d+)\n", result.stdout))
    assert 120 < last <= ceiling
    assert sum(p.stat().st_size for p in (tmp_path / "work").rglob("*") if p.is_file()) <= ceiling << 20
    assert result.enforcement["disk"].startswith("ext4 image" if enforce == "auto" else "watchdog")
    assert no_sandbox_mounts_left()


@pytest.mark.parametrize("enforce", ["auto", "watchdog"])
def test_one_file_never_outgrows_the_disk_budget_between_two_polls(tmp_path: Path, enforce: str) -> None:
    # 200 MiB into one file in one go, then a clean exit: the watchdog's poll may come after the
    # write (a starved host polls late), so only the file size limit (the budget, not 1 GiB) stops it.
    script = write_script(tmp_path / "src", """
        import sys
        try:
            with open("/work/big", "wb") as handle:
                handle.write(bytes(200 << 20))
        except OSError as exc:
            print("REFUSED", exc.errno, flush=True)
            sys.exit(3)
        print("WROTE-ALL", flush=True)
    """)
    config = SandboxConfig(timeout_s=60, disk_mb=64, enforce=enforce)
    assert config.file_limit_mb == 64 and config.max_file_mb == 1024
    result = Sandbox(config).run(script, tmp_path / "work")
    assert not result.ok and "WROTE-ALL" not in result.stdout, result.stdout
    assert "disk budget exceeded" in (result.killed_reason or ""), (result.killed_reason, result.stderr[-500:])
    big = tmp_path / "work" / "big"
    assert not big.exists() or big.stat().st_size <= 64 << 20
    assert no_sandbox_mounts_left()


@pytest.mark.parametrize("enforce", ["auto", "watchdog"])
def test_processes_each_under_the_limit_but_over_it_together_are_killed(tmp_path: Path, enforce: str) -> None:
    script = write_script(tmp_path / "src", """
        import os, time
        children = []
        for i in range(3):
            pid = os.fork()
            if pid == 0:
                block = bytes(range(256)) * (400 << 12)  # 400 MiB, every page written
                print("CHILD-ALLOCATED", i, len(block) >> 20, flush=True)
                time.sleep(30)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        print("ALL-SURVIVED")
    """)
    config = SandboxConfig(timeout_s=60, memory_mb=1024, enforce=enforce)
    result = Sandbox(config).run(script, tmp_path / "work")
    assert not result.ok and "ALL-SURVIVED" not in result.stdout
    assert "memory limit exceeded" in (result.killed_reason or ""), (result.killed_reason, result.stdout)
    assert not result.timed_out
    expected = "cgroup" if enforce == "auto" else "rss watchdog"
    assert result.enforcement["memory"].startswith(expected)


@pytest.mark.parametrize("enforce", ["auto", "watchdog"])
def test_a_run_reports_its_memory_high_water_mark(tmp_path: Path, enforce: str) -> None:
    # 300 MiB held for 2 s (the watchdog polls), then freed: the peak, not the end, is reported
    script = write_script(tmp_path / "src", """
        import time
        block = bytes(range(256)) * (300 << 12)
        time.sleep(2)
        del block
        print("DONE", flush=True)
    """)
    small = write_script(tmp_path / "small", """print("DONE")""")
    sandbox = Sandbox(SandboxConfig(timeout_s=60, memory_mb=1024, enforce=enforce))
    big, little = sandbox.run(script, tmp_path / "work"), sandbox.run(small, tmp_path / "work-small")
    assert big.ok and little.ok, (big.stderr[-500:], little.stderr[-500:])
    assert big.peak_memory_mb is not None and 300 <= big.peak_memory_mb < 1024, big.peak_memory_mb
    assert little.peak_memory_mb is None or little.peak_memory_mb < 150, little.peak_memory_mb


def test_two_concurrent_sandboxes_each_get_their_full_process_budget(tmp_path: Path) -> None:
    marker = f"holder_{uuid.uuid4().hex}"
    control = tmp_path / "control"
    control.mkdir()
    holder = write_script(tmp_path / "a", """
        import os, time
        held = 1
        while True:
            try:
                if os.fork() == 0:
                    while not os.path.exists("/data/control/stop"):
                        time.sleep(0.1)
                    os._exit(0)
                held += 1
            except OSError:
                break
        print("HELD", held, flush=True)
        while not os.path.exists("/data/control/stop"):
            time.sleep(0.1)
    """, name=f"{marker}.py")
    config = SandboxConfig(timeout_s=60, max_processes=16)
    results: dict[str, object] = {}
    thread = threading.Thread(target=lambda: results.update(a=Sandbox(config).run(
        holder, tmp_path / "work-a", {"control": control})))
    thread.start()
    try:
        deadline = time.monotonic() + 40
        while len(processes_with(marker, uid=65534)) < config.max_processes and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(processes_with(marker, uid=65534)) == config.max_processes  # A holds its whole budget
        other = write_script(tmp_path / "b", """
            import os, time
            pids = []
            for _ in range(8):
                pid = os.fork()
                if pid == 0:
                    time.sleep(0.5)
                    os._exit(0)
                pids.append(pid)
            for pid in pids:
                os.waitpid(pid, 0)
            print("FORKED", len(pids))
        """)
        second = Sandbox(config).run(other, tmp_path / "work-b")
    finally:
        (control / "stop").write_text("")
        thread.join()
    assert second.ok and "FORKED 8" in second.stdout, (second.killed_reason, second.stderr[-500:])
    first = results["a"]
    assert first.ok and f"HELD {config.max_processes}" in first.stdout, first.stdout  # type: ignore[attr-defined]
    assert second.enforcement["processes"].startswith("cgroup")


@pytest.mark.parametrize("enforce", ["auto", "watchdog"])
def test_folders_nested_thousands_deep_do_not_break_the_host_side(tmp_path: Path, enforce: str) -> None:
    script = write_script(tmp_path / "src", """
        import os
        for _ in range(1500):
            os.mkdir("d")
            os.chdir("d")
        open("deep.txt", "w").write("x")
        os.chdir("/work")
        open("submission.csv", "w").write("id\\n1\\n")
    """)
    try:
        result = Sandbox(SandboxConfig(timeout_s=60, enforce=enforce)).run(script, tmp_path / "work")
    finally:  # shutil.rmtree (pytest's tmp_path cleanup) recurses per level: remove the tree with rm
        subprocess.run(["rm", "-rf", str(tmp_path / "work")], check=True)
    assert result.ok and result.killed_reason is None, (result.killed_reason, result.stderr[-500:])
    assert "submission.csv" in result.files
    if enforce == "auto":  # not copied back past the depth cap, and said so
        assert any("nested over" in kind for kind in result.special_files.values())


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_a_mount_left_by_a_killed_run_is_detached_by_the_next_one(tmp_path: Path) -> None:
    from actors.sandbox.disk import _mount, sweep_stale_mounts
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid names the killed run's folder
    folder = tmp_path / f"lc-disk-{dead.pid}-killed"
    folder.mkdir()
    _mount(str(folder), str(folder), 4096)  # MS_BIND, as a run does before bwrap starts
    assert str(folder) in Path("/proc/self/mountinfo").read_text()
    assert sweep_stale_mounts() >= 1
    assert str(folder) not in Path("/proc/self/mountinfo").read_text()
    folder.rmdir()  # a mount point could not be removed


def test_a_zombie_or_a_reused_pid_does_not_keep_a_killed_runs_disk(tmp_path: Path) -> None:
    """A killed Ray worker whose parent died is never reaped where init reaps no orphans (as in our
    CI container): its pid stays a zombie, and its folder must count as dead all the same."""
    from actors.sandbox.disk import sweep_stale
    zombie = subprocess.Popen(["true"])  # not waited for: a zombie until reaped
    deadline = time.monotonic() + 10
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    reused = subprocess.Popen(["sleep", "30"])  # a live process that started after the folder was written
    try:
        killed = tmp_path / f"lc-disk-{zombie.pid}-killed"
        stale = tmp_path / f"lc-disk-{reused.pid}-reused"
        alive = tmp_path / f"lc-disk-{os.getpid()}-alive"
        for folder in (killed, stale, alive):
            (folder / "tmp").mkdir(parents=True)
        os.utime(stale, (time.time() - 3600, time.time() - 3600))
        sweep_stale(tmp_path)
        assert not killed.exists() and not stale.exists()
        assert alive.exists()  # this process runs: its folder stays
    finally:
        reused.kill()
        reused.wait()
        zombie.wait()
