"""`ray job submit --working-dir . -- linguacodus run ...` against a real `ray start --head` with Ray 2.60
token auth, writing results to S3 (SeaweedFS). The head is started on free ports in its own temp dir and
stopped by PID (never `ray stop`, which would stop every Ray on the machine).

What Ray 2.60 does (measured): with RAY_AUTH_MODE=token and RAY_AUTH_TOKEN set, `ray start --head` turns
token auth on and `ray job submit/list/status` need the same token (without it: AuthenticationError,
"Missing authentication token"). With RAY_AUTH_MODE unset, `ray start --head` enables auth only if a token
exists (~/.ray/auth_token, which any earlier local ray.init() creates), so we set the mode explicitly.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import storage
from tests.helpers.catalogs import AWS_VARS, one_task_catalog
from tests.helpers.paths import REPO

BIN = Path(sys.executable).parent  # the venv's bin: the head (and so every job) uses this Python
# uploaded with --working-dir: the code only (Ray caps working_dir at 512 MiB; .venv alone is GBs), and
# the shipped instructor adapter, which the run verifies and loads by default
EXCLUDES = [".venv", ".git", "**/__pycache__", ".ruff_cache", ".pytest_cache", "*.gguf", "!actors/llm/adapters/*.gguf",
            "*.parquet", "data", "bench/out"]


@dataclass
class Head:
    temp_dir: str
    dashboard: str
    env: dict[str, str]

    def ray(self, *args: str, timeout: float = 600, token: bool = True) -> subprocess.CompletedProcess:
        env = dict(self.env) if token else {k: v for k, v in self.env.items() if k != "RAY_AUTH_TOKEN"}
        return subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True,
                              timeout=timeout, cwd=REPO)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]  # all held open until every port is picked: distinct
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _pids_of(temp_dir: str) -> set[int]:
    """Processes whose command line names our temp dir, plus all their descendants (workers, job drivers)."""
    parents: dict[int, int] = {}
    roots: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if temp_dir in cmd and int(proc.name) != os.getpid():
            roots.add(int(proc.name))
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def stop_head(temp_dir: str) -> None:
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        pids = _pids_of(temp_dir)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while _pids_of(temp_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
    assert not _pids_of(temp_dir), "Ray processes of the test head survived SIGKILL"


@pytest.fixture
def ray_head() -> Iterator[Head]:
    temp_dir = tempfile.mkdtemp(prefix="lcrj-", dir="/tmp")  # short: Ray's unix socket paths must fit 107 bytes
    gcs, dash, client, agent, agent_grpc, metrics, runtime_env = _free_ports(7)
    # the cluster gets no AWS credentials: the job must bring them (--runtime-env-json env_vars)
    env = {k: v for k, v in os.environ.items() if k not in (*AWS_VARS, "RAY_ADDRESS", "AWS_ENDPOINT_URL_S3")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), PATH=f"{BIN}:{env.get('PATH', '')}")
    head = Head(temp_dir, f"http://127.0.0.1:{dash}", env)
    try:
        started = head.ray("start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
                           "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
                           f"--ray-client-server-port={client}", f"--dashboard-agent-listen-port={agent}",
                           f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
                           f"--runtime-env-agent-port={runtime_env}", "--num-cpus=2", f"--temp-dir={temp_dir}",
                           "--disable-usage-stats", timeout=180)
        assert started.returncode == 0, started.stderr[-3000:]
        yield head
    finally:
        stop_head(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.sandbox
def test_ray_job_submit_runs_a_catalog_with_results_in_s3(ray_head: Head, s3_bucket: str, tmp_path: Path) -> None:
    denied = ray_head.ray("job", "list", "--address", ray_head.dashboard, token=False, timeout=120)
    assert denied.returncode != 0 and "authentication" in (denied.stdout + denied.stderr).lower()

    catalog = one_task_catalog(tmp_path, s3_bucket)
    cache = tmp_path / "empty-cache"  # replay from an empty cache: no model; the floor grades the row
    cache.mkdir()
    runtime_env = {"excludes": EXCLUDES, "env_vars": {k: os.environ[k] for k in AWS_VARS}}
    submitted = ray_head.ray(
        "job", "submit", "--address", ray_head.dashboard, "--submission-id", "lc-submit-test",
        "--working-dir", str(REPO), "--runtime-env-json", json.dumps(runtime_env), "--",
        "linguacodus", "run", "--catalog", catalog, "--out", f"{s3_bucket}/results", "--run-id", "submitted",
        "--mode", "vanilla", "--max-fix", "0", "--timeout", "120", "--concurrency", "1",
        "--replay", "--cache-dir", str(cache))
    assert submitted.returncode == 0, (submitted.stdout + submitted.stderr)[-4000:]
    status = ray_head.ray("job", "status", "--address", ray_head.dashboard, "lc-submit-test", timeout=120)
    assert "job 'lc-submit-test' succeeded" in (status.stdout + status.stderr).lower()

    rows = storage.read_parquet(f"{s3_bucket}/results/submitted/results.parquet")
    assert list(rows["competition_id"]) == ["penguins"] and list(rows["status"]) == ["graded"]
    assert storage.exists(f"{s3_bucket}/results/submitted/_SUCCESS")


# -- the README's commands, as written ------------------------------------------------------------

README = REPO / "README.md"


def readme_block(containing: str) -> str:
    """The README's ```bash block that contains `containing` (exactly one must)."""
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S) if containing in b]
    assert len(blocks) == 1, f"{len(blocks)} README bash blocks contain {containing!r}"
    return blocks[0]


def second_cluster_script(block: str, temp_dir: str, out: Path) -> str:
    """The README block with every port made free on this machine, the test's temp dir and output."""
    single = r"((?<!worker)-port=|127\.0\.0\.1:)(\d+)"  # one port each; the same number maps to the same port
    ports = sorted({m[2] for m in re.finditer(single, block)})
    free = dict(zip(ports, _free_ports(len(ports)), strict=True))
    block = re.sub(single, lambda m: f"{m[1]}{free[m[2]]}", block)
    worker_lo = next(p for p in _free_ports(8) if not any(p <= q <= p + 200 for q in free.values()))
    block = re.sub(r"--min-worker-port=\d+", f"--min-worker-port={worker_lo}", block)
    block = re.sub(r"--max-worker-port=\d+", f"--max-worker-port={min(worker_lo + 200, 65535)}", block)
    block = block.replace("--temp-dir=/tmp/ray2", f"--temp-dir={temp_dir}")
    return block.replace('"$PWD/results"', shlex.quote(str(out)))


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_readmes_second_cluster_block_runs_a_job_as_written(tmp_path: Path) -> None:
    block = readme_block("--temp-dir=/tmp/ray2")
    assert "source .venv/bin/activate" in block and "ray job submit" in block
    assert block.rstrip().endswith("--run-id nightly")
    temp_dir = tempfile.mkdtemp(prefix="lcrm-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    out, cache = tmp_path / "results", tmp_path / "empty-cache"
    cache.mkdir()
    # appended to the README's `linguacodus run`: one task, and replay from an empty cache (no model:
    # the floor grades the row), so the test measures job submission, not the LLM
    fast = f" --only wine-cultivar --mode vanilla --replay --cache-dir {shlex.quote(str(cache))} --max-fix 0"
    script = second_cluster_script(block, temp_dir, out).rstrip() + fast + "\n"
    # the venv is NOT on PATH: only the block's `source .venv/bin/activate` can put `linguacodus` there
    path = ":".join(p for p in os.environ.get("PATH", "").split(":") if Path(p).resolve() != BIN.resolve())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "VIRTUAL_ENV"))} | {"PATH": path}
    assert (REPO / "examples" / "catalog.parquet").exists(), "bash .ci/setup builds examples/"
    try:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        assert "succeeded" in done.stdout.lower(), done.stdout[-2000:]
    finally:
        stop_head(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    rows = storage.read_parquet(str(out / "nightly" / "results.parquet"))
    assert list(rows["competition_id"]) == ["wine-cultivar"] and list(rows["status"]) == ["graded"]
    assert (out / "nightly" / "_SUCCESS").exists() and (out / "nightly" / "report.html").exists()
    assert (out / "_index" / "results" / "run_id=nightly" / "part-0.parquet").exists()
