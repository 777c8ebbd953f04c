"""The search as a step of the spine (jobs/solve.py), for real: Ray Tune trials in the sandbox on an open
task, the winner's final run as a numbered attempt, search.json, and the row's search columns. `--mode
search` needs no model at all, so this runs in seconds of LLM time (none)."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from actors.sandbox.sandbox import Sandbox, SandboxConfig
from jobs.cli import main as cli
from actors.llm.base import ChatRequest
from actors.errors import LLMTimeoutError
from jobs.config import RunConfig
from jobs.run_options import RunOptions, to_config
from jobs.progress import Progress, start_board
from jobs.slots import TrialSlots
from jobs.solve import _search_config
from tests.helpers.fakes import ScriptedLLM
from tests.helpers.catalogs import write_catalog
from tests.helpers.open_tasks import catalog_row, competition
from tests.helpers.paths import OPEN
from tests.helpers.scripted import CODE_STYLES, CRITIC, GOOD, INSTRUCTIONS, PLAN, RESOLVER, stage_of
from tests.helpers.solve import solve_row

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]
TASK = "penguins"  # multiclass, categorical columns with missing values, 240 rows: trials take ~2 s


def slow_llm(seconds: float) -> ScriptedLLM:
    """Every step of the LLM path answered well, each call taking `seconds`."""
    def reply(req: ChatRequest) -> str:
        time.sleep(seconds)
        schema = json.dumps(req.json_schema or {})
        for key, answer in (('"instructions"', INSTRUCTIONS), ('"critiques"', CRITIC), ('"refined"', RESOLVER)):
            if key in schema:
                return answer
        return "```python\n" + GOOD.get(stage_of(req) or "", "") + "\n```"
    return ScriptedLLM(reply)


def test_search_mode_grades_the_winner_and_its_solution_reproduces_the_submission(tmp_path: Path, ray_session):
    config = RunConfig(catalog="unused", out=str(tmp_path), run_id="r", mode="search",
                       search={"budget_s": 30, "min_search_s": 20, "folds": 3})
    row = solve_row(competition(TASK), None, config, tmp_path / TASK)

    assert row["status"] == "graded" and row["solution_source"] == "search" and not row["fallback_used"]
    assert row["prompt_tokens"] == 0 and row["model"] == "none"
    search = json.loads((tmp_path / TASK / "search.json").read_text())
    completed = [t for t in search["trials"] if t["status"] == "completed"]
    assert row["trials"] == len(search["trials"]) >= 2 and completed
    # the graded validation score is the winner's out-of-fold score, and the best of what was tried
    assert row["validation_score"] == pytest.approx(search["winner_score"])
    assert row["validation_score"] >= max(t["cv_score"] for t in completed)  # accuracy: higher is better
    assert search["graded"] == "search" and search["final_run"]["ok"]
    summary = row["details"]["search"]  # where the graded program came from (no instructions in search mode)
    assert summary["instructions"] == 0 and summary["winner_sources"]
    assert set(summary["winner_sources"]) <= {t["source"] for t in search["trials"]}
    assert row["attempts"] == 1 and (tmp_path / TASK / "attempts" / "01" / "code.py").exists()

    # solution.py on its own, in a fresh sandbox, writes the graded submission byte for byte
    work = tmp_path / "again"
    work.mkdir()
    (work / "solution.py").write_text((tmp_path / TASK / "solution.py").read_text())
    inputs = {name: OPEN / TASK / name for name in ("train.csv", "test.csv")}
    result = Sandbox(SandboxConfig(timeout_s=300)).run(work / "solution.py", work, inputs)
    assert result.ok, result.stderr[-2000:]
    assert (work / "submission.csv").read_bytes() == (tmp_path / TASK / "submission.csv").read_bytes()


def test_given_instructions_are_the_first_trials_of_a_search_mode_run(tmp_path: Path, ray_session):
    # --instructions: one competition's ranked instructions from a file, no model; the search starts
    # from them as it would from the instructor's (bench/instructor.py --effect holds LLM time out this way)
    given = [{"preprocessing": "one-hot encode island and sex, fill missing numbers with medians",
              "model": "ExtraTreesClassifier with n_estimators 120", "training": "fit on all rows",
              "submission": "predict the species label for each test row"},
             {**PLAN, "model": "LogisticRegression with C 0.5"}]
    path = tmp_path / "given.json"
    path.write_text(json.dumps({TASK: given, "another-task": [PLAN]}))
    config = to_config(RunOptions(catalog="unused", out=str(tmp_path), run_id="r", mode="search", budget_s=30,
                                  cv_folds=3, instructions=str(path)))
    assert config.instructions is not None and config.llm.lora_path is None
    row = solve_row(competition(TASK), None, config.model_copy(update={"search": config.search.model_copy(
        update={"min_search_s": 20})}), tmp_path / TASK)

    assert row["status"] == "graded" and row["prompt_tokens"] == 0 and row["model"] == "none"
    search = json.loads((tmp_path / TASK / "search.json").read_text())
    warm = search["warm_starts"]
    assert [w["source"] for w in warm[:2]] == ["instruction 1", "instruction 2"]
    assert warm[0]["program"]["estimator"] == "ExtraTreesClassifier"
    assert warm[0]["program"]["params"]["n_estimators"] == 120
    assert warm[1]["program"]["estimator"] == "LogisticRegression"
    first = [t for t in search["trials"] if t.get("source") == "instruction 1"]
    assert first and first[0]["program"]["estimator"] == "ExtraTreesClassifier"
    assert row["details"]["search"]["instructions"] == 2
    kept = json.loads((tmp_path / TASK / "instructions.json").read_text())
    assert kept["source"] == "given" and [c["model"] for c in kept["candidates"]] == [g["model"] for g in given]


def test_large_data_is_cross_validated_on_fewer_folds_unless_the_folds_are_given(tmp_path: Path, ray_session):
    # a full run fits (K-1) times the rows: on 262,816 rows 5 folds left 3 of 22 trials a full score in
    # 150 s. penguins (258 rows) stands in for a large task with the threshold at 100 rows
    defaults = to_config(RunOptions(catalog="c", out="o", mode="search")).search
    assert (defaults.folds, defaults.large_folds, defaults.large_rows) == (5, 3, 50_000)
    assert [defaults.validation_for(n, 5) for n in (50_000, 50_001)] == [(5, False), (3, False)]
    given = to_config(RunOptions(catalog="c", out="o", mode="search", cv_folds=4)).search
    assert given.validation_for(10, 5) == given.validation_for(10**6, 5) == (4, False)
    config = RunConfig(catalog="unused", out=str(tmp_path), run_id="r", mode="search",
                       search={"budget_s": 20, "min_search_s": 15, "large_rows": 100})
    row = solve_row(competition(TASK), None, config, tmp_path / TASK)
    search = json.loads((tmp_path / TASK / "search.json").read_text())
    assert row["status"] == "graded" and search["folds"] == 3 and search["holdout"] is False
    assert re.search(r'"folds": 3\b', (tmp_path / TASK / "solution.py").read_text())


def test_validation_switches_to_a_holdout_by_flamls_rule_and_cv_folds_keeps_cross_validation():
    # FLAML's rule (automl._decide_eval_method): cross-validation below 100,000 rows while rows x features
    # / 0.9 stays under 10 million cells per hour of budget, else a holdout of 10%; ours never below 20,000
    auto = to_config(RunOptions(catalog="c", out="o", mode="search")).search  # 300 s
    assert auto.validation_for(262_816, 11) == (10, True)  # nycflights13: rows alone
    assert auto.validation_for(99_999, 1) == (3, False)
    assert auto.validation_for(60_000, 10) == (3, False)  # 667k cells, under 300 s's 833k
    assert auto.validation_for(70_000, 11) == (10, True)  # 856k cells
    assert auto.validation_for(19_999, 500) == (5, False)  # wide but small: its 10% would be 2,000 rows
    hour = to_config(RunOptions(catalog="c", out="o", mode="search", budget_s=3600)).search
    assert hour.validation_for(70_000, 11) == (3, False)  # a longer budget affords the folds
    cv = to_config(RunOptions(catalog="c", out="o", mode="search", cv_folds=4)).search
    assert cv.validation_for(10**6, 11) == (4, False)
    forced = to_config(RunOptions(catalog="c", out="o", mode="search", cv_folds=5, validation="holdout")).search
    assert forced.validation_for(100, 3) == (5, True)
    assert to_config(RunOptions(catalog="c", out="o", validation="cv")).search.validation_for(10**6, 11) == (3, False)


def test_a_holdout_task_is_validated_on_one_fold_by_the_staged_runs_trials_ensemble_and_solution(
        tmp_path: Path, ray_session):
    # penguins (258 rows) stands in for a large task with the thresholds at 100 rows: every program is
    # scored on the same last fold of 4 (~65 rows), and the graded script holds the holdout as its default
    config = RunConfig(catalog="unused", out=str(tmp_path), run_id="r", mode="search",
                       search={"budget_s": 25, "min_search_s": 20, "holdout_rows": 100, "holdout_min_rows": 100,
                               "holdout_folds": 4})
    row = solve_row(competition(TASK), None, config, tmp_path / TASK)
    search = json.loads((tmp_path / TASK / "search.json").read_text())
    assert row["status"] == "graded" and search["folds"] == 4 and search["holdout"] is True
    completed = [t for t in search["trials"] if t["status"] == "completed"]
    assert len(completed) >= 2, search["trials"]
    n_train = row["details"]["facts"]["n_train"]
    rows = search["selection"]["ensemble"]["rows"]  # the out-of-fold rows every candidate predicted
    assert n_train // 4 - 3 <= rows <= n_train // 4 + 3, (rows, n_train)
    script = (tmp_path / TASK / "solution.py").read_text()
    assert re.search(r'"holdout": 1\b', script) and re.search(r'"folds": 4\b', script)
    assert row["validation_score"] is not None


@pytest.mark.parametrize("content, mode, problem", [
    ('{"penguins": [{"model": "x"}]}', "search", "competition 'penguins': expected 1-3 instructions"),
    ("[1, 2]", "search", "expected a JSON object"),
    ("{not json", "search", "invalid JSON"),
    ('{"penguins": []}', "linguacodus", "with --mode search only"),
])
def test_a_bad_instructions_file_is_one_line_naming_it(tmp_path: Path, capsys, content: str, mode: str,
                                                       problem: str) -> None:
    path = tmp_path / "given.json"
    path.write_text(content)
    code = cli(["run", "--catalog", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "out"),
                "--mode", mode, "--instructions", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and problem in err[0] and str(path) in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_run_in_search_mode_loads_no_model_shares_the_cpus_and_resuming_it_repeats_no_search(
        tmp_path: Path, ray_session):
    # two competitions at once on 2 CPUs: the solvers hold 0.5, which leaves 3 trial slots of 0.5; one
    # trial each at a time (Tune's reused trial actors keep their CPUs for a whole search, so a search
    # taking 2 could leave the other none: 0 trials in 245 s in the README's main command, stop 19)
    tasks = (TASK, "cars-mpg")
    catalog = write_catalog(tmp_path / "c.parquet", [catalog_row(t) for t in tasks])
    args = ["run", "--catalog", catalog, "--out", str(tmp_path / "out"), "--run-id", "s", "--mode", "search",
            "--budget-s", "20", "--cv-folds", "3", "--concurrency", "2", "--model", "no-such-model"]
    assert cli(args) == 0  # an unknown model is fine: search mode never loads one
    rows = pd.read_parquet(tmp_path / "out" / "s" / "results.parquet").set_index("competition_id")
    assert sorted(rows.index) == sorted(tasks) and set(rows["status"]) == {"graded"}
    assert (rows["trials"] >= 1).all() and set(rows["mode"]) == {"search"} and set(rows["solution_source"]) == {"search"}
    for task in tasks:
        assert json.loads((tmp_path / "out" / "s" / task / "search.json").read_text())["max_concurrent"] == 1
    stamp = (tmp_path / "out" / "s" / TASK / "search.json").stat().st_mtime_ns
    assert cli(args) == 0
    assert (tmp_path / "out" / "s" / TASK / "search.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(("cpus", "reserved", "solvers", "unfinished", "expected"), [
    (2, 0.5 + 2 * 0.25, 2, 3, 1),  # the README's main command on 2 cores: LLM actor and two solvers
    (2, 0.5 + 2 * 0.25, 2, 1, 2),  # the same run's last competition, alone: both free slots (was 1)
    (2, 0.5 + 0.25, 1, 5, 2),  # one competition at a time: both free slots
    (2, 1.9, 2, 2, 1),  # no whole slot free: still one (it waits for CPUs rather than never searching)
    (64, 0.5 + 8 * 0.25, 8, 8, 2),  # a cluster: capped at --search max_concurrent
])
def test_trials_at_once_are_a_fair_share_of_the_free_cpus_among_competitions_that_can_search_beside(
        cpus, reserved, solvers, unfinished, expected):
    assert TrialSlots.of(cpus, reserved, 0.5, solvers, cap=2).at_once(unfinished) == expected


def test_a_search_takes_its_share_from_the_competitions_the_board_counts_unfinished(tmp_path: Path, ray_session):
    import ray

    ray.init(num_cpus=1, include_dashboard=False)
    board = start_board(3)
    solver = SimpleNamespace(config=RunConfig(catalog="unused", out=str(tmp_path), run_id="r"),
                             progress=Progress(board), slots=TrialSlots(free=2, solvers=2, cap=2))
    assert _search_config(solver, "c").max_concurrent == 1  # 3 without a result, 2 solvers: one slot each
    solver.progress.finished("a", "graded", 1.0)
    assert _search_config(solver, "c").max_concurrent == 1  # "b" may still search beside it
    solver.progress.finished("b", "failed", None)
    solver.progress.finished("b", "failed", None)  # a finish counts once
    assert _search_config(solver, "c").max_concurrent == 2  # the last one: every slot
    assert Progress(None).unfinished(default=7) == 7  # no board (a solver called directly): the default


def test_an_instructor_call_longer_than_the_llm_share_is_stopped_and_the_search_gets_the_rest(tmp_path: Path,
                                                                                           ray_session):
    # a loaded host: each call would take 300 s of a 10 s budget; the engine stops a call at its time limit
    # (tests/actors/llm: the real engine and the HTTP client), the scripted one here does as they do
    def reply(req: ChatRequest) -> str:
        if req.time_limit_s is not None and req.time_limit_s < 300:
            time.sleep(req.time_limit_s)
            raise LLMTimeoutError(f"stopped after {req.time_limit_s:.0f} s, its time limit")
        time.sleep(300)
        return INSTRUCTIONS
    config = RunConfig(catalog="unused", out=str(tmp_path), run_id="r", coder={"styles": CODE_STYLES},
                       search={"budget_s": 10, "llm_share": 0.5, "min_search_s": 60, "max_trials": 3, "folds": 3,
                               "space": "llm+default"})
    llm = ScriptedLLM(reply)
    t0 = time.monotonic()
    row = solve_row(competition(TASK), llm, config, tmp_path / TASK)

    assert [r.tag for r in llm.requests] == ["instructor"]  # stopped; no space proposal after the share
    assert 4 < llm.requests[0].time_limit_s <= 5  # the share, 5 s, less the facts
    assert re.fullmatch(r"LLM path: LLMTimeoutError: stopped after \d s, its time limit", row["error"]), row["error"]
    assert row["status"] == "graded" and row["solution_source"] == "search" and row["trials"] >= 1
    assert json.loads((tmp_path / TASK / "search.json").read_text())["space_source"] == "default"
    assert time.monotonic() - t0 < 200  # the call of 300 s was not waited for


def test_an_llm_path_out_of_its_budget_share_hands_the_instructions_to_the_search(tmp_path: Path, ray_session):
    # an 8 s budget, half of it for the LLM path: after the instructor's call (2 s, more on a loaded host)
    # at most 2 s are left, less than the refinement's expected 1.5 such calls, so it is not started
    config = RunConfig(catalog="unused", out=str(tmp_path), run_id="r", coder={"styles": CODE_STYLES},
                       search={"budget_s": 8, "llm_share": 0.5, "min_search_s": 90, "max_trials": 4, "folds": 3,
                               "space": "llm+default"})
    llm = slow_llm(2.0)
    row = solve_row(competition(TASK), llm, config, tmp_path / TASK)

    assert len(llm.requests) == 1  # the instructor's, never cut; no refinement, no stages, no space proposal
    why = row["error"]
    assert re.fullmatch(r"LLM path: out of its budget share \(4 s\) after the instructions: refinement and stages "
                        r"\(~\d+ s\) would not end in the \d+ s left", why), why
    assert row["status"] == "graded" and row["solution_source"] == "search" and not row["fallback_used"]
    assert row["details"]["llm_path"] == {"budget_share_s": 4.0, "error": why}
    assert row["attempts"] == 1  # the search's final run; the staged script never ran
    search = json.loads((tmp_path / TASK / "search.json").read_text())
    # the scripted instructor ranks one plan three times: the first is tried first, its repeats wait
    # behind the default estimators (actors/search/run.py split_repeats)
    sources = [w["source"] for w in search["warm_starts"]]
    defaults = [i for i, source in enumerate(sources) if source.startswith("default")]
    assert sources[0] == "instruction 1" and defaults
    assert defaults[-1] < sources.index("instruction 2") < sources.index("instruction 3")
    # the instruction's program ran in the first wave (2 trials start at once; which reports first is a
    # race; the three identical instructions are one program, labelled by the last of them)
    first = sorted(search["trials"], key=lambda t: t["started_at"] or float("inf"))[:2]
    assert any(t["source"].startswith("instruction") for t in first)
    assert search["proposal"] == {"source": "default"} and search["space_source"] == "default"
    instructions = json.loads((tmp_path / TASK / "instructions.json").read_text())
    assert len(instructions["candidates"]) == 3 and "refined" not in instructions


def test_refinement_is_not_started_when_the_stages_it_feeds_cannot_follow_it_within_the_share(tmp_path: Path,
                                                                                            ray_session):
    # measured at 300 s on 2 loaded cores: the critic and resolver ran, then the share ended before the
    # first stage on 6 of 7 tasks; their ~100 s served nothing (the search's warm starts are the
    # instructor's instructions). Here a 20 s budget gives the path 10 s; after the instructor's 3 s call
    # about 6-7 s are left: enough for refinement alone (~4.5 s), not for refinement and stages (~10.5 s)
    config = RunConfig(catalog="unused", out=str(tmp_path), run_id="r", coder={"styles": CODE_STYLES},
                       search={"budget_s": 20, "llm_share": 0.5, "min_search_s": 90, "max_trials": 3, "folds": 3,
                               "space": "llm+default"})
    llm = slow_llm(3.0)
    row = solve_row(competition(TASK), llm, config, tmp_path / TASK)

    assert len(llm.requests) == 1, [r.tag for r in llm.requests]  # the instructor's; no critic, no resolver
    assert "after the instructions: refinement and stages" in row["error"], row["error"]
    assert row["status"] == "graded" and row["solution_source"] == "search"
