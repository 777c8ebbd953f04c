"""bench/quality.py: the table's numbers are the project's grader's, pairs resume, hangs are killed.

The end-to-end tests run the real untuned baseline (its own process, as in the bench) on tiny open
tasks and grade its submission again here with grade_submission; no AutoML library is needed.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from actors.grading.grader import grade_submission
from jobs.grade import read_table
from bench import quality
from bench.quality_report import beats, ranks, render
from bench.quality_run import PairResult, run_process
from tests.helpers.paths import OPEN


def _bench(tmp_path: Path, task: str, *extra: str) -> str:
    code = quality.main(["--open", str(OPEN), "--tasks", task, "--contestants", "baseline-hgb", *extra,
                         "--out", str(tmp_path), "--budget-s", "30", "--threads", "1"])
    assert code == 0
    return (tmp_path / "results.json").read_text()


@pytest.mark.parametrize("task", ["penguins", "breast-cancer"])  # labels (accuracy) and probabilities (roc_auc)
def test_the_baselines_score_in_the_table_is_what_the_grader_gives_for_its_submission(
        tmp_path: Path, task: str, capsys: pytest.CaptureFixture[str]) -> None:
    _bench(tmp_path, task)
    printed = capsys.readouterr().out
    meta = json.loads((OPEN / task / "meta.json").read_text())
    submission = read_table(str(tmp_path / "pairs" / task / "baseline-hgb" / "submission.csv"))
    expected = grade_submission(submission, read_table(str(OPEN / task / "answers.csv")), metric=meta["metric"],
                                id_column=meta["id_column"], targets=[meta["target"]])
    assert expected.valid, expected.reason
    row = pd.read_csv(tmp_path / "results.csv").set_index(["task", "contestant"]).loc[(task, "baseline-hgb")]
    assert row["status"] == "graded"
    assert row["score"] == pytest.approx(expected.score, rel=0, abs=1e-12)
    line = next(ln for ln in printed.splitlines() if ln.startswith(task))
    assert f"{expected.score:.4g}" in line and line.rstrip().endswith("baseline-hgb")
    assert "linguacodus was not among the contestants" in printed


def test_a_finished_pair_is_not_run_again_and_a_missing_automl_is_reported_not_fatal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bench(tmp_path, "penguins")
    record = tmp_path / "pairs" / "penguins" / "baseline-hgb" / "result.json"
    first = (record.stat().st_mtime_ns, record.read_text())
    capsys.readouterr()
    results = json.loads(_bench(tmp_path, "penguins", "autogluon", "--autogluon-python", str(tmp_path / "no-python")))
    assert (record.stat().st_mtime_ns, record.read_text()) == first
    assert "NOT RUN autogluon:" in capsys.readouterr().out
    assert results["contestants"] == ["baseline-hgb"] and len(results["results"]) == 1


def test_a_hanging_contestant_and_its_children_are_killed_at_the_hard_timeout(tmp_path: Path) -> None:
    script = f"sleep 300 & echo $! > {tmp_path}/child; wait"
    code, _ = run_process(["bash", "-c", script], timeout_s=1.0, folder=tmp_path)
    assert code is None
    child = int((tmp_path / "child").read_text())
    # A SIGKILLed process may still be on its way out for a moment: poll instead of one look.
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(child)


def test_a_killed_bench_kills_the_contestants_it_runs_side_by_side(tmp_path: Path) -> None:
    # the contestants lead sessions of their own (for the hard timeout): before kill_on_signal a bench
    # killed with SIGTERM left them running, and they wrote pairs into the next invocation's folder
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    script = f"""
import sys, threading, time
sys.path.insert(0, {str(repo)!r})
from pathlib import Path
from bench.quality_run import kill_on_signal, run_process
kill_on_signal()
for name in ("a", "b"):  # two pairs at once, as with --at-once 2: the main thread only waits
    folder = Path({str(tmp_path)!r}) / name
    folder.mkdir()
    cmd = ["bash", "-c", f"sleep 300 & echo $! > {{folder}}/child; wait"]
    threading.Thread(target=run_process, args=(cmd, 600, folder), daemon=True).start()
while True:
    time.sleep(0.1)
"""
    bench = subprocess.Popen([sys.executable, "-c", script])
    children = [tmp_path / n / "child" for n in "ab"]
    deadline = time.monotonic() + 60
    while not all(c.is_file() and c.read_text().strip() for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [int(c.read_text()) for c in children]
    assert all(_running(p) for p in pids)
    bench.send_signal(signal.SIGTERM)
    assert bench.wait(timeout=60) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 10
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(p) for p in pids)


def _running(pid: int) -> bool:
    """False once the process is gone or a zombie (dead, waiting for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _r(task: str, contestant: str, score: float | None, higher: bool = False) -> PairResult:
    return PairResult(task=task, contestant=contestant, metric="rmse" if not higher else "accuracy",
                      higher_is_better=higher, status="graded" if score is not None else "failed", score=score,
                      percentile=None, medal=None, seconds=1.0, budget_s=60.0,
                      reason=None if score is not None else "exit code 1")


def test_ranks_follow_the_metric_direction_share_ties_and_put_failures_last() -> None:
    row = {"a": _r("t", "a", 2.0), "b": _r("t", "b", 1.0), "c": _r("t", "c", 2.0), "d": _r("t", "d", None)}
    assert ranks(row) == {"b": 1.0, "a": 2.5, "c": 2.5, "d": 4.0}
    up = {"a": _r("t", "a", 0.9, True), "b": _r("t", "b", 0.8, True)}
    assert ranks(up) == {"a": 1.0, "b": 2.0}


def test_beating_the_baseline_means_beating_the_better_of_both_baselines() -> None:
    table = {
        "t1": {"linguacodus": _r("t1", "linguacodus", 1.0), "baseline-hgb": _r("t1", "baseline-hgb", 2.0),
               "baseline-tfidf": _r("t1", "baseline-tfidf", 0.5)},  # tfidf is better: not beaten
        "t2": {"linguacodus": _r("t2", "linguacodus", 1.0), "baseline-hgb": _r("t2", "baseline-hgb", 2.0)},
        "t3": {"linguacodus": _r("t3", "linguacodus", None), "baseline-hgb": _r("t3", "baseline-hgb", 2.0)},
    }
    assert beats(table, "linguacodus", ("baseline-hgb", "baseline-tfidf")) == (1, 3)
    text = render(table, ["linguacodus", "baseline-hgb", "baseline-tfidf"])
    assert "linguacodus beats the untuned baseline on 1 of 3 tasks" in text
    assert "t3 linguacodus: failed: exit code 1" in text


_FAKE_CLI = """#!{python}
# A scripted stand-in for `linguacodus run`: records its arguments, writes the majority class as the
# submission and a results.parquet row whose score is deliberately not the true one.
import json, sys
from pathlib import Path
import pandas as pd
args = sys.argv[1:]
Path({args_file!r}).write_text(json.dumps(args))
if args[:2] == ["run", "--help"]:
    print("usage: linguacodus run --catalog URI --out URI")
    sys.exit(0)
opt = lambda name: args[args.index(name) + 1]
cid, run = opt("--only"), Path(opt("--out")) / opt("--run-id")
row = pd.read_parquet(opt("--catalog")).set_index("competition_id").loc[cid]
train, test = pd.read_csv(row.data_uri + "/train.csv"), pd.read_csv(row.data_uri + "/test.csv")
(run / cid).mkdir(parents=True)
target = row.target[0]
pd.DataFrame({{row.id_column: test[row.id_column], target: train[target].mode()[0]}}).to_csv(
    run / cid / "submission.csv", index=False)
pd.DataFrame([{{"competition_id": cid, "status": "graded", "score": 0.123, "fallback_used": True}}]).to_parquet(
    run / "results.parquet")
"""


def test_linguacodus_runs_one_task_per_cli_call_and_its_submission_is_graded_again_by_the_bench(
        tmp_path: Path) -> None:
    import sys

    from bench.quality_run import Runner, run_pair
    from bench.quality_tasks import load_tasks, select, with_kinds

    cli = tmp_path / "linguacodus"
    cli.write_text(_FAKE_CLI.format(python=sys.executable, args_file=str(tmp_path / "args.json")))
    cli.chmod(0o755)
    tasks, _ = load_tasks([str(OPEN)], tmp_path)
    task = with_kinds(select(tasks, ["penguins"])[0][0])
    runner = Runner(budget_s=60, out=tmp_path / "out", python={}, linguacodus_cli=str(cli), linguacodus_has_budget=False,
                    hard_timeout_s=120, linguacodus_timeout_s=120, threads=1)
    result = run_pair(runner, task, "linguacodus")
    args = json.loads((tmp_path / "args.json").read_text())
    assert args[args.index("--only") + 1] == "penguins" and "--budget-s" not in args
    assert args[args.index("--threads") + 1] == "1"
    submission = read_table(str(runner.pair_dir(task, "linguacodus") / "runs" / "quality" / "penguins" / "submission.csv"))
    expected = grade_submission(submission, read_table(str(OPEN / "penguins" / "answers.csv")), metric="accuracy",
                                id_column="id", targets=["species"])
    assert result.status == "graded" and result.score == expected.score != 0.123
    assert result.details["results_row"]["score"] == 0.123  # the run's own record is kept beside the bench's grade
    assert f"{expected.score:.4g}*" in render({"penguins": {"linguacodus": result}}, ["linguacodus"])

    # an ablation variant is the same run with its flags, under its own name and folder
    ablation = run_pair(runner, task, "linguacodus-search-only")
    args = json.loads((tmp_path / "args.json").read_text())
    assert args[args.index("--mode") + 1] == "search" and ablation.contestant == "linguacodus-search-only"
    assert ablation.score == result.score
    text = render({"penguins": {"linguacodus": result, "linguacodus-search-only": ablation}},
                  ["linguacodus", "linguacodus-search-only"])
    assert "ablation: linguacodus beats linguacodus-search-only on 0 of 1 tasks, loses on 0" in text


def test_linguacodus_gets_as_many_trials_at_once_as_the_threads_each_contestant_has(tmp_path: Path) -> None:
    # FLAML fits one model at a time with --threads N: linguacodus's N trials at once of one thread
    # each take as many cores (two single-thread trials would be twice FLAML's CPU)
    from bench.quality_run import Runner, _run_linguacodus
    from bench.quality_tasks import load_tasks

    fake = tmp_path / "linguacodus"
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'argv'}\nexit 1\n")
    fake.chmod(0o755)
    [task] = [t for t in load_tasks([str(OPEN)], tmp_path)[0] if t.key == "penguins"]
    runner = Runner(budget_s=30, out=tmp_path, python={}, linguacodus_cli=str(fake), linguacodus_has_budget=True,
                    hard_timeout_s=60, linguacodus_timeout_s=60, threads=1)
    folder = tmp_path / "pair"
    folder.mkdir()
    result = _run_linguacodus(runner, task, folder)
    argv = (tmp_path / "argv").read_text().split()
    assert argv[argv.index("--threads") + 1] == "1" and argv[argv.index("--trials-at-once") + 1] == "1"
    assert result.status == "failed"


def test_at_once_runs_the_contestants_of_a_task_side_by_side_and_keeps_their_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import threading

    running, most, lock = [0], [0], threading.Lock()

    def fake_pair(runner, task, contestant, retry_failed=False):  # the pairs' own processes are tested above
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.5)
        with lock:
            running[0] -= 1
        return PairResult(task=task.key, contestant=contestant, metric="accuracy", higher_is_better=True,
                          status="graded", score=0.5 if contestant == "baseline-hgb" else 0.9, percentile=None,
                          medal=None, seconds=0.5, budget_s=runner.budget_s, reason=None)

    monkeypatch.setattr(quality, "run_pair", fake_pair)
    contestants = ["baseline-hgb", "linguacodus-search-only"]
    for at_once, expected in ((1, 1), (2, 2)):
        most[0] = 0
        assert quality.main(["--open", str(OPEN), "--tasks", "penguins", "chile-vote", "--contestants", *contestants,
                             "--out", str(tmp_path / str(at_once)), "--budget-s", "30", "--threads", "1",
                             "--at-once", str(at_once)]) == 0
        assert most[0] == expected
        results = json.loads((tmp_path / str(at_once) / "results.json").read_text())
        pairs = [(r["task"], r["contestant"]) for r in results["results"]]
        assert sorted(pairs) == sorted((t, c) for t in ("penguins", "chile-vote") for c in contestants)
        assert [c for t, c in pairs if t == "penguins"] == contestants  # each task's row in the given order
        assert results["at_once"] == at_once
    assert "1 thread(s) each, 2 contestant(s) at once" in capsys.readouterr().out
