"""`linguacodus worker` on a real S3 server (SeaweedFS): exclusive claims under races, dead-lettering of
malformed and repeatedly failing messages, lease expiry and renewal, and a real run acknowledged in done/."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import storage
from storage.inbox import Claim, Inbox, LeaseKeeper
from jobs.worker import WorkerSettings, process_pass
from tests.helpers.catalogs import one_task_catalog
from tests.helpers.paths import REPO



def drop(inbox_uri: str, name: str, message: dict | str) -> str:
    uri = storage.join(inbox_uri, f"{name}.json")
    storage.write_text(uri, message if isinstance(message, str) else json.dumps(message))
    return uri


def failing_message(bucket: str) -> dict:
    """A well-formed request whose run fails at once (its catalog does not exist)."""
    return {"catalog": f"{bucket}/no-such-catalog.parquet", "out": f"{bucket}/results"}


def race(workers: int, fn) -> list:
    """Run fn(i) in `workers` threads released together; return their results."""
    barrier = threading.Barrier(workers)
    results: list = [None] * workers

    def go(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("where", ["s3", "local"])
def test_of_many_racing_workers_exactly_one_claims_a_message(where: str, s3_bucket: str, tmp_path: Path) -> None:
    inbox_uri = f"{s3_bucket}/q/inbox" if where == "s3" else str(tmp_path / "q" / "inbox")
    msg = drop(inbox_uri, "m1", failing_message(s3_bucket))
    claims = race(8, lambda i: Inbox(inbox_uri, worker=f"w{i}").claim(msg))
    winners = [c for c in claims if isinstance(c, Claim)]
    assert sorted(c for c in claims if not isinstance(c, Claim)) == ["skipped"] * 7
    assert len(winners) == 1 and winners[0].n == 1
    (record,) = Inbox(inbox_uri).tries("m1")
    assert record["worker"] == winners[0].record["worker"] and record["status"] == "running"


def test_two_racing_workers_run_a_message_once(s3_bucket: str) -> None:
    inbox_uri = f"{s3_bucket}/q/inbox"
    drop(inbox_uri, "once", failing_message(s3_bucket))
    passes = race(2, lambda i: process_pass(Inbox(inbox_uri, max_tries=1, worker=f"w{i}"), WorkerSettings()))
    assert sum(passes, Counter())["dead"] == 1  # the loser skipped it (or found the inbox already empty)
    dead = storage.read_json(f"{s3_bucket}/q/dead/once.json")
    assert len(dead["tries"]) == 1 and "no-such-catalog" in dead["reason"]
    assert storage.list_uris(inbox_uri) == [] and storage.list_uris(f"{s3_bucket}/q/claims", recursive=True) == []


@pytest.mark.parametrize("content,reason", [
    ("this is not json", "not JSON"),
    ('["a", "list"]', "not a JSON object"),
    ('{"catalog": "s3://b/c.parquet"}', "out: Field required"),
    ('{"catalog": "c", "out": "o", "options": {"max_fix": 2, "colour": "red"}}', "options.colour: Extra inputs"),
    ('{"catalog": "c", "out": "o", "options": {"max_fix": "many"}}', "options.max_fix"),
    ('{"catalog": "c", "out": "o", "run_id": "../escape"}', "run_id"),
])
def test_a_malformed_message_is_dead_lettered_at_once_with_the_reason(s3_bucket: str, content: str,
                                                                      reason: str) -> None:
    inbox_uri = f"{s3_bucket}/q/inbox"
    drop(inbox_uri, "bad", content)
    assert process_pass(Inbox(inbox_uri, max_tries=3), WorkerSettings()) == Counter(malformed=1)
    dead = storage.read_json(f"{s3_bucket}/q/dead/bad.json")
    assert dead["reason"].startswith("malformed message") and reason in dead["reason"], dead["reason"]
    assert dead["request"] == json.loads(content) if content.startswith(("{", "[")) else dead["raw"] == content
    assert storage.list_uris(inbox_uri) == [] and not storage.exists(f"{s3_bucket}/q/done/bad.json")


def test_a_run_that_keeps_failing_is_retried_then_dead_lettered(s3_bucket: str) -> None:
    inbox_uri = f"{s3_bucket}/q/inbox"
    msg = drop(inbox_uri, "flaky", failing_message(s3_bucket))
    inbox = Inbox(inbox_uri, max_tries=2)
    assert process_pass(inbox, WorkerSettings()) == Counter(failed=1)
    assert storage.exists(msg) and [t["status"] for t in inbox.tries("flaky")] == ["failed"]
    assert process_pass(inbox, WorkerSettings()) == Counter(dead=1)
    dead = storage.read_json(f"{s3_bucket}/q/dead/flaky.json")
    assert [t["try"] for t in dead["tries"]] == [1, 2] and all("no-such-catalog" in t["error"] for t in dead["tries"])
    assert dead["reason"].startswith("failed 2 time(s)") and dead["request"] == failing_message(s3_bucket)
    assert not storage.exists(msg) and process_pass(inbox, WorkerSettings()) == Counter()


def test_a_live_claim_is_respected_and_an_expired_one_is_taken_over(s3_bucket: str) -> None:
    inbox_uri = f"{s3_bucket}/q/inbox"
    drop(inbox_uri, "held", failing_message(s3_bucket))
    claim = f"{s3_bucket}/q/claims/held/0001.json"
    storage.write_json(claim, {"try": 1, "worker": "elsewhere", "status": "running",
                               "lease_expires_at": time.time() + 600})
    inbox = Inbox(inbox_uri, max_tries=3)
    assert process_pass(inbox, WorkerSettings()) == Counter(skipped=1)
    storage.write_json(claim, {"try": 1, "worker": "elsewhere", "status": "running",
                               "lease_expires_at": time.time() - 1})  # that worker died an hour ago
    assert process_pass(inbox, WorkerSettings()) == Counter(failed=1)
    assert [(t["try"], t["worker"] == inbox.worker) for t in inbox.tries("held")] == [(1, False), (2, True)]


def test_an_expired_last_try_counts_towards_max_tries(s3_bucket: str) -> None:
    inbox_uri = f"{s3_bucket}/q/inbox"
    drop(inbox_uri, "killed", failing_message(s3_bucket))
    storage.write_json(f"{s3_bucket}/q/claims/killed/0001.json",
                       {"try": 1, "worker": "oom-killed", "status": "running", "lease_expires_at": 0})
    assert process_pass(Inbox(inbox_uri, max_tries=1), WorkerSettings()) == Counter(dead=1)
    dead = storage.read_json(f"{s3_bucket}/q/dead/killed.json")
    assert dead["tries"][0]["status"] == "expired" and "lease expired" in dead["reason"]


def test_the_lease_is_renewed_while_a_run_lasts(s3_bucket: str) -> None:
    inbox = Inbox(f"{s3_bucket}/q/inbox", lease_s=0.4)
    claim = inbox.claim(drop(inbox.inbox, "long", failing_message(s3_bucket)))
    assert isinstance(claim, Claim)
    with LeaseKeeper(inbox, claim):
        time.sleep(1.0)  # longer than the lease: without renewal another worker could take over
        renewed = inbox.tries("long")[0]
        assert renewed["lease_expires_at"] > claim.record["lease_expires_at"] and "renewed_at" in renewed
        assert Inbox(inbox.inbox, worker="other").claim(claim.message_uri) == "skipped"


def test_worker_cli_once_dead_letters_and_exits_non_zero(tmp_path: Path) -> None:
    inbox = tmp_path / "q" / "inbox"
    drop(str(inbox), "junk", "{not json")
    out = subprocess.run([sys.executable, "-m", "jobs.cli", "worker", "--inbox", f"{inbox}/", "--once"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr[-2000:]  # a cron job or CI step must see that a message went to dead/
    assert "malformed 1" in out.stdout
    assert "not JSON" in json.loads((tmp_path / "q" / "dead" / "junk.json").read_text())["reason"]


def test_the_worker_survives_an_s3_outage_while_polling_and_carries_on(s3_restartable, tmp_path: Path) -> None:
    bucket = f"s3://{s3_restartable.make_bucket()}"
    env = {**os.environ, "LINGUACODUS_STORAGE_RETRY_S": "1"}  # each pass gives up fast while the store is down
    log = tmp_path / "worker.log"
    with open(log, "w") as sink:
        worker = subprocess.Popen([sys.executable, "-m", "jobs.cli", "worker", "--inbox", f"{bucket}/q/inbox/",
                                   "--poll", "0.5"], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "linguacodus worker" not in log.read_text():
            time.sleep(0.2)  # polling
        s3_restartable.kill()
        time.sleep(8)  # several passes meet a dead store
        assert worker.poll() is None, "the worker died while S3 was down"
        s3_restartable.restart()
        drop(f"{bucket}/q/inbox", "junk", "{not json")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not storage.exists(f"{bucket}/q/dead/junk.json"):
            time.sleep(0.5)
        assert storage.exists(f"{bucket}/q/dead/junk.json"), "the worker did not carry on after the outage"
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=60)
    output = log.read_text()
    assert worker.returncode == 0 and "unreachable" in output and "Traceback" not in output, output[-3000:]


def test_an_exclusive_worker_does_nothing_while_another_holds_a_live_claim(tmp_path: Path) -> None:
    inbox = tmp_path / "q" / "inbox"
    drop(str(inbox), "long", "{not json")
    drop(str(inbox), "next", "{not json")
    held = Inbox(str(inbox), worker="previous-tick").claim(str(inbox / "long.json"))
    assert isinstance(held, Claim)
    command = [sys.executable, "-m", "jobs.cli", "worker", "--inbox", f"{inbox}/", "--once", "--exclusive"]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "another worker is running 1 request(s)" in out.stdout and "previous-tick" in out.stdout
    assert (inbox / "next.json").exists() and not (tmp_path / "q" / "dead").exists()  # nothing was touched
    Inbox(str(inbox), worker="previous-tick").fail(held, "finished elsewhere")  # the claim is no longer live
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "malformed 2" in out.stdout  # dead-lettered: exit 1, out.stdout + out.stderr[-2000:]


# -- a real run ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_good_message_runs_and_lands_in_done_with_a_pointer_to_graded_results(
        s3_bucket: str, tmp_path: Path, ray_with_s3: None) -> None:
    inbox_uri = f"{s3_bucket}/q/inbox"
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    # replay from an empty cache: no model at all, the LLM path fails fast and the floor grades the row
    drop(inbox_uri, "nightly-1", {"catalog": one_task_catalog(tmp_path, s3_bucket), "out": f"{s3_bucket}/results",
                                  "options": {"mode": "vanilla", "max_fix": 0, "timeout": 120, "concurrency": 1,
                                              "replay": True, "cache_dir": str(cache)}})
    assert process_pass(Inbox(inbox_uri), WorkerSettings()) == Counter(done=1)
    done = storage.read_json(f"{s3_bucket}/q/done/nightly-1.json")
    result = done["result"]
    assert result["run_uri"] == f"{s3_bucket}/results/nightly-1" and result["counts"] == {"graded": 1}
    rows = storage.read_parquet(result["results_parquet"])
    assert list(rows["competition_id"]) == ["penguins"] and list(rows["status"]) == ["graded"]
    assert rows["score"].iloc[0] > 0.5 and storage.exists(f"{result['run_uri']}/_SUCCESS")
    assert done["request"]["options"]["mode"] == "vanilla" and done["try"] == 1
    assert storage.list_uris(inbox_uri) == [] and storage.list_uris(f"{s3_bucket}/q/claims", recursive=True) == []
