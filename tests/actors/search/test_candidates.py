"""The Text-to-ML candidate search with a scripted LLM, the real sandbox and real Ray Tune on penguins.

The staged path writes a weak model (a depth-1 tree); the search gets three model candidates: a
random forest, the same forest failing on the full data only, and a constant DummyClassifier. The
forest must win on validation, the failing one must be recorded as failed at rung 2, and ASHA must
stop the dummy after its sample rung. A failing search leaves the original solution, --search 0
changes nothing, and the CLI replays the same search inside Ray Data's actor (nested Tune).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from actors.llm.base import ChatRequest, LLMConfig, llm_name
from actors.llm.cache import CachedLLM
from actors.search.candidates import SEED_STRIDE
from actors.task import Competition
from jobs.config import RunConfig
from tests.helpers.solve import solve_row
from tests.helpers.fakes import ScriptedLLM
from tests.helpers.open_tasks import competition
from tests.helpers.paths import OPEN
from tests.helpers.scripted import CODE_STYLES, CRITIC, GOOD, INSTRUCTIONS, RESOLVER, stage_of

pytestmark = pytest.mark.sandbox

WEAK = ("from sklearn.tree import DecisionTreeClassifier\n"
        "def build_model():\n    return DecisionTreeClassifier(max_depth=1, random_state=SEED)\n")
FOREST = ("from sklearn.ensemble import RandomForestClassifier\n"
          "def build_model():\n    return RandomForestClassifier(n_estimators=30, random_state=SEED)\n")
# Passes the stage check and the sample rung (both run with --check), raises on the full run.
FAILS_AT_FULL_SIZE = """
import sys
from sklearn.ensemble import RandomForestClassifier
class BigForest(RandomForestClassifier):
    def fit(self, X, y):
        if "--check" not in sys.argv:
            raise MemoryError("the full data does not fit")
        return super().fit(X, y)
def build_model():
    return BigForest(n_estimators=30, random_state=SEED)
"""
DUMMY = ("from sklearn.dummy import DummyClassifier\n"
         "def build_model():\n    return DummyClassifier(strategy='most_frequent')\n")
# Candidate k (seed base + SEED_STRIDE * k) -> its model code. Trials 1 and 2 tie on the sample,
# so ASHA keeps both; the dummy starts third (two trials at once) and meets their scores.
CANDIDATES = {1: FOREST, 2: FAILS_AT_FULL_SIZE, 3: DUMMY}


def search_llm(name: str = "scripted") -> ScriptedLLM:
    def reply(req: ChatRequest) -> str:
        schema = json.dumps(req.json_schema or {})
        for key, answer in (('"instructions"', INSTRUCTIONS), ('"critiques"', CRITIC), ('"refined"', RESOLVER)):
            if key in schema:
                return answer
        stage = stage_of(req)
        if stage is None:
            return "The model is too weak; use more trees."
        code = WEAK if stage == "model" else GOOD[stage]
        if stage == "model" and (req.seed or 0) >= SEED_STRIDE:
            code = CANDIDATES[(req.seed or 0) // SEED_STRIDE]
        return "```python\n" + code + "\n```"
    return ScriptedLLM(reply, name=name)


def penguins() -> Competition:
    return competition("penguins", title="Penguins")


def solve_with(llm, out: Path, candidates: int, sample: int = 500) -> dict:
    # Coder/executor settings are the CLI's with --stage-style code (every stage free-form, as the
    # scripted replies are), so the CLI replay below meets the same requests.
    config = RunConfig(catalog="unused", out=str(out), run_id="r", executor={"max_fix": 0},
                       search={"candidates": candidates, "sample": sample}, coder={"styles": CODE_STYLES},
                       sandbox={"timeout_s": 120})
    return solve_row(penguins(), llm, config, out / "penguins")


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One search outside Ray (the search starts and stops its own local Ray), replies recorded."""
    out = tmp_path_factory.mktemp("search")
    cache = out / "cache"
    llm = CachedLLM(search_llm(name=llm_name(LLMConfig(backend="replay"))), cache)
    row = solve_with(llm, out, candidates=3)
    import ray

    assert not ray.is_initialized()  # the search shut down the local Ray it started
    assert (out / "penguins" / "search.json").exists(), (row["error"], row["details"].get("attempts"))
    record = json.loads((out / "penguins" / "search.json").read_text())
    return row, record, out / "penguins", cache


def trial(record: dict, label: str) -> dict:
    return next(t for t in record["trials"] if t["config"] == {"model": label})


@pytest.mark.slow
def test_the_search_picks_the_candidate_with_the_best_validation_score(searched):
    row, record, folder, _ = searched
    assert record["error"] is None and record["winner"] == "model-1"
    assert record["winner_score"] > record["original_score"] + 0.1
    assert row["validation_score"] == pytest.approx(record["winner_score"])
    assert row["status"] == "graded" and not row["fallback_used"] and row["score"] > 0.9
    assert "RandomForestClassifier(n_estimators=30" in (folder / "solution.py").read_text()
    assert record["final_run"]["ok"] and row["attempts"] == 2  # the original run, then the winner's
    assert row["details"]["search"]["winner"] == "model-1" and row["details"]["search"]["trials"] == 3


@pytest.mark.slow
def test_a_candidate_that_fails_on_the_full_data_is_recorded_as_failed(searched):
    _, record, _, _ = searched
    failed = trial(record, "model-2")
    assert failed["status"] == "failed" and failed["full_score"] is None
    assert "rung 2" in failed["error"] and "the full data does not fit" in failed["error"]
    assert failed["sample_score"] == trial(record, "model-1")["sample_score"]


@pytest.mark.slow
def test_asha_stops_the_weak_candidate_after_the_sample_rung(searched):
    _, record, _, _ = searched
    dummy = trial(record, "model-3")
    assert dummy["status"] == "stopped" and dummy["rungs_done"] == 1 and dummy["full_score"] is None
    assert dummy["sample_score"] < trial(record, "model-1")["sample_score"]
    assert trial(record, "model-1")["status"] == "completed"


@pytest.mark.slow
def test_search_json_records_candidates_trials_scores_and_seconds(searched):
    _, record, _, _ = searched
    assert [c["label"] for c in record["candidates"]] == ["model-1", "model-2", "model-3"]
    assert all(c["ok"] and c["code"] for c in record["candidates"])
    assert [c["seed"] for c in record["candidates"]] == [SEED_STRIDE, 2 * SEED_STRIDE, 3 * SEED_STRIDE]
    assert all(t["seconds"] and t["seconds"] > 0 for t in record["trials"])
    assert record["seconds"] >= record["tune_seconds"] > 0


def test_with_search_0_nothing_changes(tmp_path):
    llm = search_llm()
    row = solve_with(llm, tmp_path, candidates=0)
    assert not (tmp_path / "penguins" / "search.json").exists() and "search" not in row["details"]
    assert all((r.seed or 0) < SEED_STRIDE for r in llm.requests)  # no candidate was ever asked for
    assert row["status"] == "graded" and row["attempts"] == 1
    assert "DecisionTreeClassifier(max_depth=1" in (tmp_path / "penguins" / "solution.py").read_text()


def test_a_failing_search_leaves_the_original_solution_and_records_the_error(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("tune exploded")

    monkeypatch.setattr("actors.search.candidates.run_tune", explode)
    row = solve_with(search_llm(), tmp_path, candidates=1)
    record = json.loads((tmp_path / "penguins" / "search.json").read_text())
    assert record["error"] == "RuntimeError: tune exploded" and record["winner"] == "original"
    assert row["status"] == "graded" and row["attempts"] == 1
    assert row["validation_score"] == pytest.approx(record["original_score"])
    assert "DecisionTreeClassifier(max_depth=1" in (tmp_path / "penguins" / "solution.py").read_text()
    assert row["details"]["search"]["error"] == "RuntimeError: tune exploded"


@pytest.mark.slow
def test_the_cli_replays_the_search_inside_ray_datas_actor(searched, tmp_path):
    import ray

    from jobs.cli import main as cli

    _, first, _, cache = searched
    task = OPEN / "penguins"
    meta = json.loads((task / "meta.json").read_text())
    pd.DataFrame([{"competition_id": "penguins", "title": "Penguins", "description": (task / "description.md").read_text(),
                   "metric": meta["metric"], "task_type": meta["task_type"], "data_type": "tabular",
                   "target": [meta["target"]], "id_column": "id", "data_uri": str(task),
                   "answers_uri": str(task / "answers.csv"), "leaderboard_uri": None}]).to_parquet(tmp_path / "c.parquet")
    try:
        code = cli(["run", "--catalog", str(tmp_path / "c.parquet"), "--out", str(tmp_path / "out"), "--run-id", "s",
                    "--replay", "--cache-dir", str(cache), "--concurrency", "1", "--max-fix", "0", "--search", "3",
                    "--stage-style", "code"])
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert code == 0
    folder = tmp_path / "out" / "s" / "penguins"
    record = json.loads((folder / "search.json").read_text())
    assert record["error"] is None and record["winner"] == "model-1" == first["winner"]
    result = json.loads((folder / "result.json").read_text())
    assert result["validation_score"] == pytest.approx(record["winner_score"])
    assert result["details"]["search"]["trials"] == 3
