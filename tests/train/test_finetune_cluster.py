"""`linguacodus finetune` on the local Ray it starts: Ray Train's PlacementGroupCleaner asks the state API
every second whether the training controller lives and removes the run's placement group, killing
the workers, when told "not found". The state API is a dashboard module, found by address
auto-detection (any Ray on the machine) unless told one (jobs/finetune.own_state_api). A module of its
own: no other test's Ray may run beside the first test."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.train.test_finetune import cli_args, make_pairs

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}


def test_the_command_asks_its_own_state_api_instead_of_logging_a_failure_every_second(tmp_path):
    """With the dashboard off, every ask failed and logged a warning: ~2,400 lines over a 40 min fine-tune."""
    pairs = make_pairs(tmp_path / "pairs.parquet")
    proc = subprocess.run([sys.executable, "-m", "jobs.cli", *cli_args(pairs, tmp_path / "out", 2)],
                          capture_output=True, text=True, timeout=600, env=_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "out" / "metrics.json").is_file()
    assert "Failed to query Ray Train Controller" not in proc.stdout + proc.stderr


def test_a_detached_actor_reaches_its_own_state_api_while_another_ray_runs_beside_it():
    """The cleaner is a detached actor. Auto-detection with two Rays on the machine fails ("Found multiple
    active Ray instances") or picks the other one, where the controller is "not found": the ft-v5
    fine-tune was killed so before its first step (2026-11-30 13:55:36) when a Ray with a dashboard
    started beside it. Its workers are told their own dashboard's address."""
    import ray

    from jobs.finetune import own_state_api

    other = subprocess.Popen([sys.executable, "-c", "import ray, time; ray.init(address='local', num_cpus=1, "
                              "include_dashboard=True); print('up', flush=True); time.sleep(600)"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())
    try:
        assert other.stdout.readline().strip() == "up"
        options = own_state_api()
        ray.init(address="local", num_cpus=1, **options)

        @ray.remote(num_cpus=0)
        class Probe:
            def ask(self) -> tuple[str | None, str]:
                from ray.util.state import get_actor

                me = ray.get_runtime_context().get_actor_id()
                return os.environ.get("RAY_API_SERVER_ADDRESS"), get_actor(me, timeout=30).state

        probe = Probe.options(lifetime="detached", name="probe").remote()
        address, state = ray.get(probe.ask.remote(), timeout=120)
        assert address == f"http://127.0.0.1:{options['dashboard_port']}" and state == "ALIVE"
        ray.kill(probe)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        other.send_signal(signal.SIGINT)
        other.wait(timeout=60)
