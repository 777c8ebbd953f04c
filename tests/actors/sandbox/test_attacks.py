"""Each SPEC sandbox guarantee, attacked by a real script in the real sandbox.

Every attack script prints what it managed to do, so a broken guarantee shows up as an assertion
on its output or on host state, never as a silently skipped check.
"""
from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest

from actors.sandbox.sandbox import Sandbox, SandboxConfig
from tests.helpers.processes import processes_with, write_script

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(timeout_s=60))



def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tcp_connect_to_a_server_on_host_loopback_fails(sandbox: Sandbox, tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except TimeoutError:
                pass

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    script = write_script(tmp_path / "src", f"""
        import os, socket
        print("NETNS", os.readlink("/proc/self/ns/net"))
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=3)
            print("CONNECTED")
        except OSError as exc:
            print("BLOCKED", type(exc).__name__, exc.errno)
    """)
    try:
        result = sandbox.run(script, tmp_path / "work")
    finally:
        stop.set()
        thread.join()
        server.close()
    assert result.ok, result.stderr
    assert "CONNECTED" not in result.stdout and accepted == []
    # First wall: seccomp refuses the socket itself (EACCES), before any packet could leave.
    assert "BLOCKED PermissionError 13" in result.stdout
    # Second wall: a network namespace of its own, so even a socket would see an empty loopback.
    assert f"NETNS {os.readlink('/proc/self/ns/net')}" not in result.stdout


def test_dns_lookup_fails(sandbox: Sandbox, tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", """
        import socket
        for host in ("pypi.org", "localhost"):
            try:
                print("RESOLVED", host, socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)[0][4])
            except OSError as exc:
                print("NO-DNS", host, type(exc).__name__)
    """)
    result = sandbox.run(script, tmp_path / "work")
    assert result.ok, result.stderr
    assert "RESOLVED" not in result.stdout
    assert "NO-DNS pypi.org gaierror" in result.stdout


def test_writes_outside_the_workdir_fail_and_host_files_stay_unchanged(sandbox: Sandbox, tmp_path: Path) -> None:
    host_tmp_file = tmp_path / "host_file.txt"
    host_tmp_file.write_text("original")
    data_file = tmp_path / "train.csv"
    data_file.write_text("id,y\n1,0\n")
    repo_file = Path(__file__).resolve()
    venv_site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    venv_pth = venv_site / "site-packages" / f"evil-{uuid.uuid4().hex}.pth"
    before = {p: digest(p) for p in (host_tmp_file, data_file, repo_file)}
    targets = [str(host_tmp_file), "/data/train.csv", str(repo_file),
               f"/opt/venv/lib/{venv_site.name}/site-packages/{venv_pth.name}", "/usr/evil.txt", "/etc/passwd"]
    script = write_script(tmp_path / "src", f"""
        for target in {targets!r}:
            try:
                with open(target, "a") as handle:
                    handle.write("pwned")
                print("WROTE", target)
            except OSError as exc:
                print("DENIED", target, type(exc).__name__)
        open("/work/inside.txt", "w").write("fine")  # the one writable place
    """)
    result = sandbox.run(script, tmp_path / "work", {"train.csv": data_file})
    assert result.ok, result.stderr
    assert "WROTE" not in result.stdout
    assert result.stdout.count("DENIED") == len(targets)
    assert {p: digest(p) for p in before} == before
    assert not venv_pth.exists()
    assert result.files == ["attack.py", "inside.txt"]


def test_answers_next_to_the_inputs_and_host_paths_are_unreadable(sandbox: Sandbox, tmp_path: Path) -> None:
    task = tmp_path / "task"
    task.mkdir()
    for name, text in (("train.csv", "id,y\n1,0\n"), ("test.csv", "id\n2\n"), ("answers.csv", "id,y\n2,SECRET-ANSWER\n")):
        (task / name).write_text(text)
    candidates = [str(task / "answers.csv"), "/data/answers.csv", "/data/../answers.csv",
                  "/root/.bash_history", str(Path.home() / ".aws" / "credentials")]
    script = write_script(tmp_path / "src", f"""
        import os
        print("DATA", sorted(os.listdir("/data")))
        for path in {candidates!r}:
            try:
                print("READ", path, open(path).read())
            except OSError as exc:
                print("UNREADABLE", path, type(exc).__name__)
        print("ROOT", os.listdir("/root") if os.access("/root", os.R_OK) else "no-access")
    """)
    inputs = {"train.csv": task / "train.csv", "test.csv": task / "test.csv"}
    result = sandbox.run(script, tmp_path / "work", inputs)
    assert result.ok, result.stderr
    assert "DATA ['test.csv', 'train.csv']" in result.stdout
    assert "SECRET-ANSWER" not in result.stdout + result.stderr
    assert result.stdout.count("UNREADABLE") == len(candidates)


def test_secret_environment_variable_is_not_visible(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_SECRET", "s3cr3t-token-value")
    script = write_script(tmp_path / "src", """
        import os
        print("ENV", dict(os.environ))
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    print("ENVIRON", pid, open(f"/proc/{pid}/environ", "rb").read())
                except OSError as exc:
                    print("NO-ENVIRON", pid, type(exc).__name__)
    """)
    result = sandbox.run(script, tmp_path / "work")
    assert result.ok, result.stderr
    assert "ENVIRON" in result.stdout  # it did read its own environment through /proc
    assert "s3cr3t" not in result.stdout + result.stderr
    assert "LC_SECRET" not in result.stdout


def test_fork_bomb_is_contained_and_leaves_no_process_behind(tmp_path: Path) -> None:
    marker = f"forkbomb_{uuid.uuid4().hex}"
    script = write_script(tmp_path / "src", """
        import os, time
        time.sleep(0.2)
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    """, name=f"{marker}.py")
    config = SandboxConfig(timeout_s=4, max_processes=32)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], len(processes_with(marker, uid=65534)))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    try:
        result = Sandbox(config).run(script, tmp_path / "work")
    finally:
        done.set()
        sampler.join()
    assert result.timed_out
    assert time.monotonic() - start < config.timeout_s + 5
    assert 1 < peak[0] <= config.max_processes  # it did fork, but only up to the limit
    assert processes_with(marker) == []


def test_allocating_4_gib_fails_inside_and_a_result_comes_back(sandbox: Sandbox, tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", """
        small = bytearray(512 << 20)  # well under the limit: allowed
        print("SMALL-OK", len(small))
        big = bytearray(4 << 30)
        print("BIG-OK", len(big))
    """)
    result = sandbox.run(script, tmp_path / "work")
    assert "SMALL-OK" in result.stdout and "BIG-OK" not in result.stdout
    assert result.exit_code == 1 and "MemoryError" in result.stderr


def test_cpu_spin_is_killed_by_the_cpu_seconds_limit(tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", "print('spinning', flush=True)\nwhile True:\n    pass\n")
    result = Sandbox(SandboxConfig(timeout_s=30, cpu_seconds=2)).run(script, tmp_path / "work")
    assert not result.ok and not result.timed_out
    assert "cpu time limit" in (result.killed_reason or "")
    assert 1.5 < result.duration_s < 15
    assert "spinning" in result.stdout


def test_detached_grandchild_does_not_outlive_the_timeout(tmp_path: Path) -> None:
    marker = f"grandchild_{uuid.uuid4().hex}"
    script = write_script(tmp_path / "src", f"""
        import subprocess, sys, time
        code = "open('/work/grandchild_started', 'w').write('1'); import time; time.sleep(1000)  # {marker}"
        subprocess.Popen(["setsid", "nohup", sys.executable, "-c", code],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(1000)
    """)
    result = Sandbox(SandboxConfig(timeout_s=3)).run(script, tmp_path / "work")
    assert result.timed_out
    assert "grandchild_started" in result.files  # the grandchild really ran
    assert processes_with(marker) == []


def test_100_mb_of_stdout_keeps_only_the_tail_in_bounded_memory(tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", """
        import sys
        line = "x" * 1023 + "\\n"
        for _ in range(100 * 1024):
            sys.stdout.write(line)
        print("END-MARKER")
    """)
    config = SandboxConfig(timeout_s=60, max_output_bytes=10_000)
    tracemalloc.start()
    try:
        result = Sandbox(config).run(script, tmp_path / "work")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.ok, result.stderr
    assert result.output_truncated
    assert result.stdout.endswith("END-MARKER\n") and len(result.stdout) <= config.max_output_bytes
    assert peak < 5 * 1024 * 1024  # the 100 MB never sat in our memory


def test_symlink_planted_in_the_workdir_does_not_redirect_host_writes_or_chown(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    os.chown(victim, 4321, 4321)
    work = tmp_path / "work"
    script = write_script(tmp_path / "src", f"""
        import os
        os.symlink({str(victim)!r}, "/work/link")
        os.replace("/work/link", "/work/attack.py")  # next run copies the script over this name
        print("PLANTED")
    """)
    assert "PLANTED" in sandbox.run(script, work).stdout
    second = sandbox.run(script, work)  # copies attack.py into work again, then chowns work
    assert victim.read_text() == "original"
    assert (victim.stat().st_uid, victim.stat().st_gid) == (4321, 4321)
    assert "PLANTED" in second.stdout


# -- sockets: an allow-list of one family (AF_UNIX) ----------------------------------------------

# Families with the socket type each needs; the kernel here supports some (vsock, alg) and not
# others, so every refusal must carry the filter's EACCES, not the kernel's own errno.
SOCKET_FAMILIES = {"AF_INET": (2, 1), "AF_INET6": (10, 1), "AF_PACKET": (17, 3), "AF_NETLINK": (16, 3),
                   "AF_VSOCK": (40, 1), "AF_ALG": (38, 5), "AF_BLUETOOTH": (31, 3), "AF_CAN": (29, 3),
                   "AF_TIPC": (30, 5), "AF_KEY": (15, 3), "AF_RDS": (21, 5), "AF_XDP": (44, 3),
                   "AF_UNKNOWN_60": (60, 1)}


def test_every_socket_family_but_af_unix_is_refused_by_the_filter(sandbox: Sandbox, tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", f"""
        import ctypes, errno, socket
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.argtypes = [ctypes.c_long] * 4  # full 64-bit registers, as a raw syscall can pass
        for name, (family, kind) in {SOCKET_FAMILIES!r}.items():
            try:
                socket.socket(family, kind).close()
                print("CREATED", name)
            except OSError as exc:
                print("REFUSED", name, exc.errno)
            try:
                a, b = socket.socketpair(family, kind)
                print("PAIR-CREATED", name)
            except OSError as exc:
                print("PAIR-REFUSED", name, exc.errno)
        # The kernel reads the family as a 32-bit int: bits above 32 must not slip past the filter
        # (they did past the old deny-list, which compared all 64 bits with AF_INET).
        fd = libc.syscall(41, (1 << 32) | socket.AF_VSOCK, socket.SOCK_STREAM, 0)
        print("RAW", "CREATED" if fd >= 0 else "REFUSED", ctypes.get_errno())
        fd = libc.syscall(41, (1 << 32) | socket.AF_INET, socket.SOCK_STREAM, 0)
        print("RAW-INET", "CREATED" if fd >= 0 else "REFUSED", ctypes.get_errno())
    """)
    result = sandbox.run(script, tmp_path / "work")
    assert result.ok, result.stderr
    for name in SOCKET_FAMILIES:
        assert f"REFUSED {name} 13\n" in result.stdout, (name, result.stdout)
        assert f"PAIR-REFUSED {name} 13\n" in result.stdout, (name, result.stdout)
    assert "CREATED" not in result.stdout.replace("REFUSED", "")
    assert "RAW REFUSED 13" in result.stdout and "RAW-INET REFUSED 13" in result.stdout


def test_af_unix_sockets_multiprocessing_and_joblib_workers_still_work(sandbox: Sandbox, tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", """
        import multiprocessing, os, socket
        from joblib import Parallel, delayed
        from sklearn.datasets import make_classification
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_score

        def square(x):
            return x * x

        if __name__ == "__main__":
            a, b = socket.socketpair()
            a.sendall(b"ping")
            print("PAIR", b.recv(4))
            server = socket.socket(socket.AF_UNIX)
            server.bind("/tmp/lc.sock")
            server.listen()
            print("UNIX-LISTEN ok")
            with multiprocessing.Pool(2) as pool:
                print("POOL", pool.map(square, range(5)))
            pids = set(Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(8)))
            print("JOBLIB-WORKERS", len(pids - {os.getpid()}) >= 1)
            X, y = make_classification(n_samples=300, random_state=0)
            print("CV", round(cross_val_score(LogisticRegression(), X, y, cv=3, n_jobs=2).mean(), 2))
    """)
    result = sandbox.run(script, tmp_path / "work")
    assert result.ok, result.stderr
    assert "PAIR b'ping'" in result.stdout and "UNIX-LISTEN ok" in result.stdout
    assert "POOL [0, 1, 4, 9, 16]" in result.stdout
    assert "JOBLIB-WORKERS True" in result.stdout and "CV 0." in result.stdout
