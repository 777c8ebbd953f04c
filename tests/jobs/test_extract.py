"""`linguacodus extract`: ranking, bad rows, reply parsing and code shortening with a scripted LLM;
the whole job on real Ray Data (scripted LLM shipped to the actors), on a real S3 server, and once
with the real embedded smollm2-135m through the CLI."""
from __future__ import annotations

import json
import re
import sys

import pandas as pd
import pytest

import storage
import tests.helpers.fakes
from actors.corpus import rank_solutions, validate_corpus
from actors.errors import ConfigError
from actors.extractor import Extractor, ExtractorConfig, compact_code, pair_prompt
from actors.stages.instruction import INSTRUCTION_SCHEMA, PARTS
from actors.templates import render
from jobs.cli import main as cli
from jobs.extract import ExtractConfig, extract
from tests.helpers.fakes import ScriptedLLM
from train.data import load_pairs

DESCRIPTION = "Predict the species of a penguin from its measurements."


def solution(cid: str, score: float | None, code: str = "model = LogisticRegression()\n", **over: object) -> dict:
    row = {"competition_id": cid, "description": f"{DESCRIPTION} ({cid})", "metric": "accuracy",
           "data_type": "tabular", "code": code, "score": score, "higher_is_better": True,
           "solution_id": f"{cid}-{score}", "source": "test", "title": cid.title(), "task_type": "multiclass",
           "facts": "train.csv: 10 rows; test.csv: 5 rows"}
    return row | over


def reply_for(req) -> str:
    """A well-formed instruction naming the model class found in the code, or junk for BROKEN code."""
    user = req.messages[-1]["content"]
    if "BROKEN" in user:
        return "this is not JSON {"
    model = re.search(r"model = (\w+)\(", user)
    name = model.group(1) if model else "unknown"
    return json.dumps({p: f"{p} step of the {name} solution" for p in PARTS})


# -- ranking and validation ----------------------------------------------------------------------

def test_solutions_are_ranked_within_their_competition_by_score_and_direction():
    frame = pd.DataFrame([
        solution("a", 0.7), solution("a", 0.9), solution("a", 0.8),
        solution("b", 10.0, metric="rmse", higher_is_better=False),
        solution("b", 5.0, metric="rmse", higher_is_better=False),
        solution("c", 0.5, solution_id="c1"), solution("c", 0.5, solution_id="c2"), solution("c", 0.1),
    ])
    ranked = rank_solutions(validate_corpus(frame)[0]).set_index("solution_id")
    assert ranked.loc[["a-0.9", "a-0.8", "a-0.7"], "rank"].tolist() == [1, 2, 3]
    assert ranked.loc[["b-5.0", "b-10.0"], "rank"].tolist() == [1, 2]  # lower rmse is better
    assert ranked.loc[["c1", "c2", "c-0.1"], "rank"].tolist() == [1, 1, 3]  # ties share the better rank
    assert ranked.loc["a-0.7", "n_solutions"] == 3 and ranked.loc["b-5.0", "n_solutions"] == 2


def test_unusable_corpus_rows_are_reported_with_named_reasons_and_the_rest_kept():
    frame = pd.DataFrame([
        solution("good", 0.9),
        solution("nocode", 0.9, code="   "),
        solution("noscore", float("nan")),
        solution("wrongway", 0.9, higher_is_better=False),
        solution("good", 0.9, code="other()"),  # same solution_id as the first row
        solution("mixed", 0.9), solution("mixed", 3.0, metric="rmse", higher_is_better=False),
    ])
    valid, problems = validate_corpus(frame)
    reasons = {(p.competition_id, p.solution_id): p.reason for p in problems}
    assert valid["solution_id"].tolist() == ["good-0.9"]
    assert reasons[("nocode", "nocode-0.9")] == "empty code"
    assert reasons[("noscore", "noscore-nan")] == "no score"
    assert "contradicts metric 'accuracy'" in reasons[("wrongway", "wrongway-0.9")]
    assert "duplicate solution_id" in reasons[("good", "good-0.9")]
    assert all("cannot be ranked" in reasons[("mixed", sid)] for sid in ("mixed-0.9", "mixed-3.0"))
    assert len(problems) == 6


def test_a_table_that_lacks_corpus_columns_is_refused_by_name():
    with pytest.raises(ConfigError, match="score"):
        validate_corpus(pd.DataFrame([{k: v for k, v in solution("a", 1.0).items() if k != "score"}]))


def test_rows_without_solution_ids_get_one_per_row():
    frame = pd.DataFrame([solution("a", 0.1), solution("a", 0.2)]).drop(columns="solution_id")
    assert validate_corpus(frame)[0]["solution_id"].tolist() == ["a#0", "a#1"]


# -- the extractor stage -------------------------------------------------------------------------

def _batch(rows: list[dict]) -> dict[str, list]:
    return {k: [r[k] for r in rows] for k in rows[0]}


def test_extractor_turns_the_reply_into_a_ranked_json_completion_under_the_instruction_schema():
    llm = ScriptedLLM(reply_for)
    row = solution("penguins", 0.9, code="model = RandomForestClassifier(n_estimators=300)\n") | {"rank": 2}
    out = Extractor(llm)(_batch([row]))
    assert out["error"] == [None]
    completion = json.loads(out["completion"][0])
    assert list(completion) == ["rank", *PARTS] and completion["rank"] == 2
    assert completion["model"] == "model step of the RandomForestClassifier solution"
    request = llm.requests[0]
    assert request.json_schema == INSTRUCTION_SCHEMA and request.temperature == 0.0
    assert "RandomForestClassifier(n_estimators=300)" in request.messages[-1]["content"]


def test_pair_prompt_frames_the_task_exactly_as_the_instructor_does_and_names_the_rank():
    row = solution("penguins", 0.9)
    prompt = pair_prompt(row, 3, ExtractorConfig())
    task = render("task", title="Penguins", description=row["description"], metric="accuracy", higher_is_better=True,
                  task_type="multiclass", data_type="tabular", facts=row["facts"])
    assert prompt.startswith(task)
    assert "rank 3" in prompt[len(task):]
    bare = pair_prompt(solution("p", 0.9, title=None, task_type=None, facts=None), 1, ExtractorConfig())
    assert "Task type" not in bare and "Data facts" not in bare and "Data type: tabular" in bare


def test_a_reply_that_is_not_json_becomes_that_rows_error_and_the_batch_goes_on():
    rows = [solution("a", 0.9, code="BROKEN") | {"rank": 1}, solution("a", 0.5) | {"rank": 2}]
    out = Extractor(ScriptedLLM(reply_for))(_batch(rows))
    assert out["error"][0].startswith("LLMResponseError: extractor: the model's reply is not valid JSON")
    assert out["completion"][0] is None and out["prompt"][0] is None
    assert out["error"][1] is None and json.loads(out["completion"][1])["rank"] == 2


def test_a_reply_with_an_empty_part_is_an_extraction_error():
    empty = json.dumps({"preprocessing": "scale", "model": " ", "training": "fit", "submission": "labels"})
    out = Extractor(ScriptedLLM([empty]))(_batch([solution("a", 0.9) | {"rank": 1}]))
    assert "no text for model" in out["error"][0]


# -- shortening long code ------------------------------------------------------------------------

def test_the_linguacodus_harness_is_replaced_by_one_line_and_short_code_is_kept_whole():
    code = ("TASK = {}\n# ---- linguacodus harness (pre-written, fixed) ----\ndef main():\n    pass\n"
            "# ---- stage: preprocess ----\ndef preprocess(train, test):\n    return train, test\n")
    compact = compact_code(code, 10_000)
    assert "def main" not in compact.text and "linguacodus harness omitted" in compact.text
    assert "def preprocess(train, test)" in compact.text and not compact.truncated and compact.note is None


def test_long_code_keeps_its_head_and_tail_and_says_what_was_cut():
    lines = [f"step_{i:04d} = transform(step_{i - 1:04d})  # why" for i in range(2000)]
    code = "import pandas as pd\n\n# a comment\n" + "\n".join(lines) + "\nsubmission.to_csv('submission.csv')\n"
    compact = compact_code(code, 3000)
    assert compact.truncated and compact.original_chars == len(code)
    assert compact.text.startswith("import pandas as pd\nstep_0000")  # blank and comment lines went first
    assert compact.text.rstrip().endswith("submission.to_csv('submission.csv')")
    assert re.search(r"# \.\.\. \[\d+ lines \(\d+ chars\) cut here to fit the context\] \.\.\.", compact.text)
    assert len(compact.text) <= 3000 + 100
    head = compact.text.split("# ...")[0]
    assert 800 < len(head) <= 1000  # a third of the budget from the start, on line boundaries


def test_a_corpus_without_usable_rows_exits_1_from_the_cli_with_every_reason_written(tmp_path, capsys):
    pd.DataFrame([solution("a", None), solution("b", 0.5, code="")]).to_parquet(tmp_path / "corpus.parquet")
    out = tmp_path / "pairs.parquet"
    assert cli(["extract", "--corpus", str(tmp_path / "corpus.parquet"), "--out", str(out)]) == 1
    assert pd.read_parquet(out).empty and list(pd.read_parquet(out).columns)[:2] == ["prompt", "completion"]
    errors = json.loads((tmp_path / "pairs.errors.json").read_text())
    assert [(e["competition_id"], e["reason"]) for e in errors] == [("a", "no score"), ("b", "empty code")]
    assert "0 pairs from 0 competitions" in " ".join(capsys.readouterr().out.split())


# -- the job on real Ray -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_session():
    import ray
    from ray import cloudpickle

    # The scripted LLM travels to the extractor actors by value: the tests package is not on their path.
    cloudpickle.register_pickle_by_value(tests.helpers.fakes)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(tests.helpers.fakes)
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def mixed_corpus() -> pd.DataFrame:
    return pd.DataFrame([
        solution("penguins", 0.81, code="model = SVC()\n"),
        solution("penguins", 0.95, code="model = LGBMClassifier()\n"),
        solution("penguins", 0.90, code="BROKEN"),
        solution("houses", 31000.0, code="model = Ridge()\n", metric="rmse", higher_is_better=False),
        solution("houses", 25000.0, code="model = LGBMRegressor()\n", metric="rmse", higher_is_better=False),
        solution("houses", None, code="model = Lasso()\n", metric="rmse", higher_is_better=False),
        solution("empty", 0.5, code=""),
    ])


def check_job_output(out: str) -> None:
    pairs = load_pairs(out)  # what fine-tuning reads
    assert {"prompt", "completion", "competition_id", "rank", "score"} <= set(pairs.columns)
    got = [(r.competition_id, r.rank, json.loads(r.completion)["model"]) for r in pairs.itertuples()]
    assert got == [("houses", 1, "model step of the LGBMRegressor solution"),
                   ("houses", 2, "model step of the Ridge solution"),
                   ("penguins", 1, "model step of the LGBMClassifier solution"),
                   ("penguins", 3, "model step of the SVC solution")]  # rank 2 failed: a gap, no promotion
    assert all(json.loads(r.completion)["rank"] == r.rank for r in pairs.itertuples())
    assert all(DESCRIPTION in p and "Metric: " in p and "Data type: tabular" in p for p in pairs["prompt"])
    errors = storage.read_json(out.removesuffix(".parquet") + ".errors.json")
    assert [(e["competition_id"], e["stage"], e["rank"]) for e in errors] == [
        ("empty", "corpus", None), ("houses", "corpus", None), ("penguins", "extract", 2)]
    assert errors[0]["reason"] == "empty code" and errors[1]["reason"] == "no score"
    assert "not valid JSON" in errors[2]["reason"] and errors[2]["score"] == 0.90


def test_extract_job_writes_ranked_pairs_and_reports_every_row_without_a_pair(tmp_path, ray_session):
    mixed_corpus().to_parquet(tmp_path / "corpus.parquet")
    config = ExtractConfig(corpus=str(tmp_path / "corpus.parquet"), out=str(tmp_path / "pairs.parquet"))
    result = extract(config, llm=ScriptedLLM(reply_for))
    check_job_output(str(tmp_path / "pairs.parquet"))
    assert (len(result.pairs), len(result.errors), result.rows_read) == (4, 3, 7)
    assert result.completion_tokens > 0


def test_extract_job_reads_the_corpus_from_and_writes_pairs_to_s3(tmp_path, ray_session, s3_bucket):
    storage.write_parquet(f"{s3_bucket}/in/corpus.parquet", mixed_corpus())
    out = f"{s3_bucket}/out/pairs.parquet"
    extract(ExtractConfig(corpus=f"{s3_bucket}/in/corpus.parquet", out=out), llm=ScriptedLLM(reply_for))
    check_job_output(out)
    assert storage.list_uris(f"{s3_bucket}/out") == [f"{s3_bucket}/out/pairs.errors.json", out]


@pytest.mark.slow
def test_real_embedded_model_extracts_pairs_through_ray_data_from_the_cli(tmp_path, ray_session, capsys):
    corpus = pd.DataFrame([
        solution("penguins", 0.9, code="from sklearn.ensemble import RandomForestClassifier\n"
                 "model = RandomForestClassifier(n_estimators=200)\nmodel.fit(X, y)\n"),
        solution("penguins", 0.8, code="from sklearn.linear_model import LogisticRegression\n"
                 "model = LogisticRegression(max_iter=500)\nmodel.fit(X, y)\n"),
    ])
    corpus.to_parquet(tmp_path / "corpus.parquet")
    out = tmp_path / "pairs.parquet"
    code = cli(["extract", "--corpus", str(tmp_path / "corpus.parquet"), "--out", str(out),
                "--model", "smollm2-135m", "--n-ctx", "2048", "--concurrency", "1"])
    assert code == 0, capsys.readouterr().out
    pairs = pd.read_parquet(out)
    assert list(pairs.columns)[:5] == ["prompt", "completion", "competition_id", "rank", "score"]
    assert pairs["rank"].tolist() == [1, 2] and pairs["extractor_model"].eq("smollm2-135m").all()
    for completion in pairs["completion"]:
        parsed = json.loads(completion)  # the grammar guarantees the shape, whatever the quality
        assert list(parsed) == ["rank", *PARTS] and all(10 <= len(parsed[p]) <= 220 for p in PARTS)
    assert "2 pairs from 1 competitions" in capsys.readouterr().out
