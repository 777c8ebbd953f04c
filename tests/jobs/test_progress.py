"""Progress a person can follow (jobs/progress.py): the terminal view rendered from events, and real runs
off a terminal (one log line per competition per step, no Ray Data progress blocks) and on one (a pty:
the live view, no per-step lines).

The runs use the `replay` backend over an empty cache: every LLM call fails at once, so the competition
goes facts -> instructions (fails) -> floor -> grade through the real job, Ray, sandbox and grader."""
from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.progress import FINISHED, Event, Tracker, log_line, render
from tests.helpers.catalogs import run_args, write_catalog
from tests.helpers.open_tasks import catalog_row

LINGUACODUS = Path(sys.executable).parent / "linguacodus"
STEPS = ["facts", "instructions", "floor", "grade", "finished: graded"]  # the replay-miss path, in order


def fed(total: int, events: list[Event]) -> Tracker:
    tracker = Tracker(total=total, started=1000.0)
    for event in events:
        tracker.apply(event)
    return tracker


def test_the_terminal_view_shows_done_failed_running_and_eta_and_each_running_competitions_step() -> None:
    tracker = fed(4, [Event("penguins", "facts", 1001.0), Event("cars-mpg", "facts", 1002.0),
                      Event("penguins", "search", 1010.0), Event("digits", "facts", 1020.0),
                      Event("cars-mpg", FINISHED, 1030.0, "graded", 2.46),
                      Event("digits", FINISHED, 1040.0, "failed"),
                      Event("digits", "grade", 1041.0)])  # late: a finished competition stays finished
    assert render(tracker, now=1060.0) == [
        # 2 of 4 in 60 s: 2 more take 60 s at that pace
        "[########........] 2/4 done · 1 failed · 1 running · ETA 1:00 · elapsed 1:00",
        "  penguins  search       0:50",
    ]


def test_the_eta_is_unknown_until_a_competition_finishes_and_a_finish_counts_once() -> None:
    tracker = fed(3, [Event("a", "facts", 1000.0), Event("b", "stages", 1005.0)])
    assert render(tracker, now=1010.0) == [
        "[................] 0/3 done · 0 failed · 2 running · ETA ? · elapsed 0:10",
        "  a  facts        0:10",
        "  b  stages       0:05"]
    done = Event("a", FINISHED, 1100.0, "graded", 0.98765)
    assert tracker.apply(done) and not tracker.apply(done)  # the solver's report, then the driver's row
    assert log_line(tracker, done, now=1100.0) == (
        "a: finished: graded, score 0.9877  [1/3 done · 0 failed · 1 running · ETA 3:20 · elapsed 1:40]")
    assert log_line(tracker, done, now=1100.0, summary=False) == "a: finished: graded, score 0.9877"  # tty
    assert not tracker.apply(Event("b", "stages", 1101.0))  # the same step again: no new line


@pytest.fixture(scope="module")
def one_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("progress")
    write_catalog(folder / "c.parquet", [catalog_row("penguins")])
    return folder


def run_command(folder: Path, run_id: str) -> tuple[list[str], dict[str, str]]:
    args = [str(LINGUACODUS), *run_args(str(folder / "c.parquet"), folder / "out", run_id, folder / "cache")]
    return args, {**os.environ, "RAY_AUTH_MODE": "disabled"}


@pytest.mark.sandbox
@pytest.mark.slow
def test_off_a_terminal_a_run_logs_one_line_per_step_of_each_competition_and_no_ray_data_progress(
        one_task: Path) -> None:
    args, env = run_command(one_task, "off-tty")
    with open(one_task / "off-tty.log", "w") as log:
        done = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=900)
    text = (one_task / "off-tty.log").read_text()
    assert done.returncode == 0, text[-3000:]
    steps = re.findall(r"jobs\.progress: penguins: (.+?)(?:, score \S+)?  \[", text)
    assert steps == STEPS, text[-3000:]
    assert "1/1 done · 0 failed · 0 running" in text
    for spam in ("Total Progress", "logging_progress", "Starting execution of Dataset", "Progress bars disabled"):
        assert spam not in text


@pytest.mark.sandbox
@pytest.mark.slow
def test_on_a_terminal_a_run_shows_a_live_view_instead_of_a_line_per_step(one_task: Path) -> None:
    args, env = run_command(one_task, "tty")
    controller, terminal = pty.openpty()
    with open(one_task / "tty.stdout", "w") as stdout:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=terminal, env=env)
    os.close(terminal)
    screen = b""
    deadline = time.monotonic() + 900
    try:  # read the terminal while the run lasts (a full pty would block the run)
        while time.monotonic() < deadline:
            if select.select([controller], [], [], 1.0)[0]:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                screen += chunk
            elif proc.poll() is not None:
                break
    finally:
        os.close(controller)
        proc.wait(timeout=60)
    text = screen.decode("utf-8", "replace")
    assert proc.returncode == 0, text[-3000:]
    assert re.search(r"\[#*\.*\] 0/1 done · 0 failed · 1 running · ETA \?", text)  # the bar, live
    assert re.search(r"  penguins  (facts|instructions|floor|grade) ", text)  # the running step
    assert "1/1 done · 0 failed · 0 running" in text
    assert "penguins: finished: graded" in text  # a finish is logged above the view
    assert not re.search(r"jobs\.progress: penguins: (facts|instructions|floor|grade)  \[", text)
    assert "Total Progress" not in text
