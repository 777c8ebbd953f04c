"""Control flow of one competition with a scripted LLM and the real sandbox: the fix loop repairs
the stage that failed, identical errors reset the conversation, the floor saves a competition whose
LLM path produced nothing, and artifacts land where SPEC says."""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from actors.llm.base import ChatRequest
from actors.task import Competition
from jobs.config import RunConfig
from jobs.solve import CompetitionSolver, solve
from storage.artifacts import CompetitionArtifacts
from tests.helpers.solve import solve_row
from tests.helpers.fakes import ScriptedLLM
from tests.helpers.open_tasks import competition
from tests.helpers.paths import OPEN
from tests.helpers.scripted import CODE_STYLES, CRITIC, GOOD, INSTRUCTIONS, RESOLVER, stage_of

pytestmark = pytest.mark.sandbox


# Leaves the string columns in: the harness contract rejects it with a precise message.
BAD_PREPROCESS = "def preprocess(train, test):\n    return train.fillna(0), test.fillna(0)\n"



def scripted(code_for: dict, log: list) -> ScriptedLLM:
    def reply(req: ChatRequest) -> str:
        schema = json.dumps(req.json_schema or {})
        if '"instructions"' in schema:
            return INSTRUCTIONS
        if '"critiques"' in schema:
            return CRITIC
        if '"refined"' in schema:
            return RESOLVER
        stage = stage_of(req)
        if stage is None:  # a reflection
            return "The columns island and sex are strings; encode them with pd.get_dummies."
        log.append((stage, req.messages[-1]["content"]))
        code = code_for[stage]
        return "```python\n" + (code(len([s for s, _ in log if s == stage])) if callable(code) else code) + "\n```"
    return ScriptedLLM(reply)


@pytest.fixture
def penguins() -> Competition:
    return competition("penguins", title="Penguins")



def run_one(comp: Competition, llm: ScriptedLLM, out: Path, max_fix: int = 2, stage_tries: int = 2,
            styles: dict | None = None) -> dict:
    """Free-form code in every stage unless `styles` says otherwise (the fix loop is the same for both)."""
    styles = styles or CODE_STYLES
    config = RunConfig(catalog="unused", out=str(out), run_id="r", search={"enabled": False}, executor={"max_fix": max_fix},
                       coder={"stage_tries": stage_tries, "styles": styles}, sandbox={"timeout_s": 120})
    return solve_row(comp, llm, config, out / "penguins")


def test_a_stage_that_breaks_its_contract_is_regenerated_with_the_error_and_then_graded(penguins, tmp_path):
    log: list = []
    codes = {**GOOD, "preprocess": lambda n: BAD_PREPROCESS if n == 1 else GOOD["preprocess"]}
    row = run_one(penguins, scripted(codes, log), tmp_path)
    assert row["status"] == "graded" and row["valid_submission"] and not row["fallback_used"]
    assert row["score"] > 0.9
    second_prompt = [p for s, p in log if s == "preprocess"][1]
    assert "every feature column must be numeric" in second_prompt and "'island'" in second_prompt
    stage_log = row["details"]["stage_log"]
    assert [(a["stage"], a["ok"]) for a in stage_log][:2] == [("preprocess", False), ("preprocess", True)]
    folder = tmp_path / "penguins"
    for name in ("instructions.json", "solution.py", "submission.csv", "llm_calls.jsonl",
                 "attempts/01/code.py", "attempts/01/stdout.txt", "attempts/01/stderr.txt", "attempts/01/result.json"):
        assert (folder / name).exists(), name
    assert json.loads((folder / "instructions.json").read_text())["reasons"] == "handles categorical columns"
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0


def test_the_same_error_twice_resets_the_conversation(penguins, tmp_path):
    log: list = []
    row = run_one(penguins, scripted({**GOOD, "preprocess": BAD_PREPROCESS}, log), tmp_path, max_fix=0, stage_tries=3)
    prompts = [p for s, p in log if s == "preprocess"]
    assert len(prompts) == 3
    assert "Your previous version failed" in prompts[1]  # first retry: shown the failed code and error
    assert "Your previous version failed" not in prompts[2]  # same error again: a fresh conversation
    assert [a["reset"] for a in row["details"]["stage_log"]][:3] == [False, False, True]
    # A stage that never passed does not fail the checks of the stages after it.
    assert [a["ok"] for a in row["details"]["stage_log"] if a["stage"] != "preprocess"] == [True, True, True]


def test_the_floor_writes_a_valid_submission_when_every_attempt_fails_and_says_so(penguins, tmp_path):
    log: list = []
    row = run_one(penguins, scripted({s: BAD_PREPROCESS for s in GOOD}, log), tmp_path, max_fix=1, stage_tries=1)
    assert row["fallback_used"] is True
    assert row["status"] == "graded" and row["valid_submission"] and row["score"] > 0.9
    assert row["error"] and row["error"].startswith("LLM path")
    assert "Floor (built-in baseline)" in (tmp_path / "penguins" / "solution.py").read_text()


def test_a_runtime_error_in_the_full_run_is_fixed_with_a_reflection(penguins, tmp_path):
    log: list = []
    # Passes the sample check (300 rows) but fails on the full data: the fix loop must catch it.
    flaky_train = ("def train_model(model, X, y):\n    if len(X) > 240:\n"
                   "        raise ValueError('boom on full data')\n    model.fit(X, y)\n    return model\n")
    codes = {**GOOD, "train": lambda n: flaky_train if n == 1 else GOOD["train"]}
    llm = scripted(codes, log)
    row = run_one(penguins, llm, tmp_path)
    assert row["status"] == "graded" and not row["fallback_used"] and row["attempts"] == 2
    attempts = row["details"]["attempts"]
    assert attempts[0]["stage"] == "train" and "boom on full data" in attempts[0]["error"]
    assert attempts[0]["reflection"]
    fix_prompt = [p for s, p in log if s == "train"][1]
    assert "boom on full data" in fix_prompt and "Cause and fix:" in fix_prompt
    # the journal's links: the fix points at the execution it fixed, the next execution at the fix
    fix = next(a for a in row["details"]["stage_log"] if a["parent"] == attempts[0]["id"])
    assert fix["stage"] == "train" and fix["ok"] and fix["reflection"] == attempts[0]["reflection"]
    assert attempts[1]["parent"] == fix["id"] and attempts[0]["parent"] is None
    calls = [json.loads(line) for line in (tmp_path / "penguins" / "llm_calls.jsonl").read_text().splitlines()]
    assert {"instructor", "critic", "resolver", "stage:train", "reflect"} <= {c["tag"] for c in calls}


def test_a_competition_with_missing_data_becomes_a_failed_row(tmp_path):
    comp = Competition(competition_id="ghost", description="x", metric="accuracy", task_type="binary",
                       target=["y"], id_column="id", data_uri=str(tmp_path / "nowhere"))
    row = run_one(comp, ScriptedLLM([]), tmp_path)
    assert row["status"] == "failed" and row["error"]
    assert pd.isna(row.get("score"))


def test_plan_style_stages_are_asked_under_a_grammar_of_real_columns_and_rendered_to_checked_code(penguins, tmp_path):
    asked: list = []
    plans = iter([
        json.dumps({"fill_missing": [], "encode_categories": [], "one_hot": ["island"]}),  # forgets sex, NaNs
        json.dumps({"fill_missing": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"],
                    "encode_categories": [], "one_hot": ["island", "sex"]}),
        json.dumps({"estimator": "RandomForestClassifier", "params": [{"name": "n_estimators", "value": 40}]}),
    ])

    def reply(req: ChatRequest) -> str:
        schema = json.dumps(req.json_schema or {})
        for key, answer in (('"instructions"', INSTRUCTIONS), ('"critiques"', CRITIC), ('"refined"', RESOLVER)):
            if key in schema:
                return answer
        if '"one_hot"' in schema or '"estimator"' in schema:
            asked.append((req.json_schema, req.messages[-1]["content"]))
            return next(plans)
        if stage_of(req) in ("train", "predict"):
            return "```python\n" + GOOD[stage_of(req)] + "\n```"
        return "The numeric columns have missing values; fill them."

    row = run_one(penguins, ScriptedLLM(reply), tmp_path, styles={"preprocess": "plan", "model": "plan",
                                                                   "train": "code", "predict": "code"})
    assert row["status"] == "graded" and row["valid_submission"] and not row["fallback_used"], row.get("error")
    columns = {c for prop in asked[0][0]["properties"].values() for c in prop["items"]["enum"]}
    assert columns == {"island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"}
    assert "missing" in asked[1][1] and "Previous version" in asked[1][1]  # the contract error went back
    code = (tmp_path / "penguins" / "stages" / "preprocess.py").read_text()
    assert "fill_missing(train, test, ['bill_length_mm'" in code and "one_hot(train, test, ['island', 'sex'])" in code
    assert "RandomForestClassifier(n_estimators=40, random_state=SEED)" in (tmp_path / "penguins" / "solution.py").read_text()
    log = row["details"]["stage_log"]
    assert [(a["stage"], a["style"], a["ok"]) for a in log][:3] == [
        ("preprocess", "plan", False), ("preprocess", "plan", True), ("model", "plan", True)]


def test_a_store_that_refuses_every_write_gives_a_failed_row_naming_it_never_an_exception(tmp_path, s3_env):
    config = RunConfig(catalog="unused", out="s3://no-such-bucket-for-results", run_id="r", search={"enabled": False},
                       llm={"backend": "replay", "cache_dir": str(tmp_path)})
    solver = CompetitionSolver(config.model_dump_json(), llm=ScriptedLLM([]))
    comp = Competition(competition_id="ghost", description="x", metric="accuracy", task_type="binary",
                       target=["y"], id_column="id", data_uri=str(tmp_path / "nowhere"))
    result, _ = solve(comp, solver, CompetitionArtifacts(solver.layout.competition("ghost")))
    assert result.status == "failed" and "llm_calls.jsonl not written" in result.error and "NoSuchBucket" in result.error
    out = solver({"competition": [comp.model_dump_json()]})  # Ray Data's UDF: an exception here ends the batch
    assert out["status"] == ["failed"]
    row = json.loads(out["unwritten_row"][0])  # handed to the driver, which tries to write it once more
    assert row["competition_id"] == "ghost" and row["status"] == "failed"
    assert "storage" in row["error"] and "no-such-bucket-for-results" in row["error"] and "NoSuchBucket" in row["error"]


def test_ids_007_and_7_are_two_ids_from_the_harness_to_the_grade(tmp_path):
    folder = tmp_path / "penguins"
    shutil.copytree(OPEN / "penguins", folder)
    test = pd.read_csv(folder / "test.csv", dtype={"id": str})
    renamed = dict(zip(test["id"], test["id"]))
    renamed[test["id"][1]] = "00" + test["id"][0]  # "1" and "001": unique as text, equal as numbers
    for name in ("test.csv", "answers.csv"):
        frame = pd.read_csv(folder / name, dtype={"id": str})
        frame.assign(id=frame["id"].map(renamed)).to_csv(folder / name, index=False)
    comp = competition("penguins", data_uri=str(folder), answers_uri=str(folder / "answers.csv"))
    row = run_one(comp, ScriptedLLM([]), tmp_path / "out")  # no LLM: the floor's harness writes the submission
    assert row["status"] == "graded" and row["valid_submission"] and row["score"] > 0.9, row.get("error")
    ids = pd.read_csv(tmp_path / "out" / "penguins" / "submission.csv", dtype=str)["id"]
    assert {"1", "001"} <= set(ids)


def test_an_overflowing_validation_prediction_costs_the_validation_score_not_the_row(tmp_path):
    # The hold-out is predicted first (1e200: finite, but its RMSE overflows), then test.csv (sane).
    codes = {
        "preprocess": "def preprocess(train, test):\n    cols = list(train.select_dtypes('number').columns)\n"
                      "    return train[cols].fillna(0), test[cols].fillna(0)\n",
        "model": "from sklearn.linear_model import LinearRegression\ndef build_model():\n    return LinearRegression()\n",
        "train": GOOD["train"],
        "predict": "CALLS = []\ndef predict(model, X):\n    CALLS.append(1)\n    pred = model.predict(X)\n"
                   "    return pred * 0 + 1e200 if len(CALLS) == 1 else pred\n",
    }
    row = run_one(competition("cars-mpg"), scripted(codes, []), tmp_path)
    assert row["status"] == "graded" and row["valid_submission"] and not row["fallback_used"], row.get("error")
    assert row["validation_score"] is None and "not gradable" in row["validation_note"]


def test_in_plan_style_no_predict_stage_is_asked_for_and_the_harness_writes_the_submission(penguins, tmp_path):
    asked: list = []
    plan_replies = {
        '"one_hot"': {"fill_missing": ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"],
                      "encode_categories": [], "one_hot": ["island", "sex"]},
        '"estimator"': {"estimator": "RandomForestClassifier", "params": [{"name": "n_estimators", "value": 40}]},
        '"fit_option"': {"fit_option": "none"}}

    def reply(req: ChatRequest) -> str:
        schema = json.dumps(req.json_schema or {})
        for key, answer in (('"instructions"', INSTRUCTIONS), ('"critiques"', CRITIC), ('"refined"', RESOLVER)):
            if key in schema:
                return answer
        for key, plan in plan_replies.items():
            if key in schema:
                asked.append(key)
                return json.dumps(plan)
        asked.append(stage_of(req) or "reflection")
        return "```python\n" + GOOD.get(stage_of(req) or "", "") + "\n```"

    from actors.stages.coder import CoderConfig

    row = run_one(penguins, ScriptedLLM(reply), tmp_path, styles=CoderConfig().styles)  # the default styles
    assert row["status"] == "graded" and not row["fallback_used"] and row["score"] > 0.9, row.get("error")
    assert asked == ['"one_hot"', '"estimator"', '"fit_option"']  # three plans, no predict prompt
    assert [a["stage"] for a in row["details"]["stage_log"]] == ["preprocess", "model", "train"]
    folder = tmp_path / "penguins"
    assert not (folder / "stages" / "predict.py").exists()
    assert "# ---- stage: predict" not in (folder / "solution.py").read_text()
    # the validation score comes from out-of-fold predictions of every train row
    assert row["validation_score"] is not None and row["validation_score"] > 0.9


def test_with_the_search_off_the_llm_path_is_never_cut_however_long_it_takes(penguins, tmp_path):
    log: list = []
    answers = scripted(GOOD, log)
    llm = ScriptedLLM(lambda req: (time.sleep(0.6), answers.chat(req).text)[1])  # each call outlasts the budget
    config = RunConfig(catalog="unused", out=str(tmp_path), run_id="r", coder={"styles": CODE_STYLES},
                       search={"enabled": False, "budget_s": 0.5, "llm_share": 0.5}, sandbox={"timeout_s": 120})
    row = solve_row(penguins, llm, config, tmp_path / "penguins")
    assert row["status"] == "graded" and row["solution_source"] == "staged" and row["error"] is None
    assert [s for s, _ in log] == ["preprocess", "model", "train", "predict"] and "llm_path" not in row["details"]
