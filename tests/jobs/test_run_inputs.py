"""`linguacodus run` checks its arguments before Ray starts: one line per problem, exit 2, nothing
written; a store that is down at start is one line and exit 1; invalid catalog rows get folders that
no valid competition id can have."""
from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pandas as pd
import pytest

from jobs.cli import main as cli
from storage import s3client
from jobs.catalog_read import load_rows
from tests.helpers.open_tasks import catalog_row


def write_catalog(path: Path, rows: list[dict]) -> str:
    pd.DataFrame(rows).to_parquet(path)
    return str(path)


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, list[str]]:
    code = cli(["run", *args])
    return code, [line for line in capsys.readouterr().err.splitlines() if "linguacodus run: error" in line]


@pytest.fixture
def catalog(tmp_path: Path) -> str:
    return write_catalog(tmp_path / "c.parquet", [catalog_row("penguins")])


@pytest.mark.parametrize("case", ["missing-catalog", "csv-catalog", "out-is-a-file", "out-inside-a-file",
                                  "out-not-writable", "unknown-model"])
def test_a_bad_argument_is_one_line_naming_it_exit_2_before_ray_starts_and_nothing_is_written(
        case: str, catalog: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, cat, model = tmp_path / "out", catalog, "qwen2.5-coder-0.5b"
    if case == "missing-catalog":
        cat, expected = str(tmp_path / "nope.parquet"), f"--catalog {tmp_path / 'nope.parquet'}: not a readable"
    elif case == "csv-catalog":
        pd.DataFrame({"competition_id": ["x"]}).to_csv(tmp_path / "c.csv")
        cat, expected = str(tmp_path / "c.csv"), "Parquet"
    elif case == "out-is-a-file":
        out.write_text("x")
        expected = f"--out {out}: not a folder"
    elif case == "out-inside-a-file":
        (tmp_path / "f").write_text("x")
        out, expected = tmp_path / "f" / "out", f"({tmp_path / 'f'} is a file)"
    elif case == "out-not-writable":  # EPERM even for root
        out, expected = Path("/sys/linguacodus-out"), "--out /sys/linguacodus-out: not writable"
    else:
        model, expected = "no-such-model", "--model 'no-such-model' is not an embedded model"
    code, errors = run_cli(capsys, "--catalog", cat, "--out", str(out), "--run-id", "r", "--model", model)
    assert code == 2 and len(errors) == 1 and expected in errors[0], errors
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()
    assert not (out / "r").exists()


def test_every_bad_argument_gets_its_own_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "out").write_text("x")
    code, errors = run_cli(capsys, "--catalog", str(tmp_path / "nope.parquet"), "--out", str(tmp_path / "out"),
                           "--model", "no-such-model")
    assert code == 2 and [e.split(": error: ")[1].split(" ")[0] for e in errors] == ["--model", "--catalog", "--out"]


def test_s3_down_at_start_is_one_line_naming_the_endpoint_and_exit_1(
        catalog: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
                        "AWS_REGION": "us-east-1", "LINGUACODUS_STORAGE_RETRY_S": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(s3client, "RETRY", s3client.RetryPolicy())  # the window is read from the env
    code, errors = run_cli(capsys, "--catalog", catalog, "--out", "s3://results/runs", "--run-id", "r",
                           "--replay", "--cache-dir", str(Path(catalog).parent))
    assert code == 1 and len(errors) == 1, errors
    assert "s3://results/runs/" in errors[0] and endpoint in errors[0]


def test_a_missing_results_bucket_is_a_bad_argument(catalog: str, s3_env: object, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    code, errors = run_cli(capsys, "--catalog", catalog, "--out", "s3://no-such-results-bucket/runs",
                           "--replay", "--cache-dir", str(tmp_path))
    assert code == 2 and len(errors) == 1 and "--out s3://no-such-results-bucket/runs: not writable" in errors[0]
    assert "NoSuchBucket" in errors[0]


def test_an_invalid_row_gets_a_folder_no_valid_id_can_have_and_each_id_one_row(tmp_path: Path) -> None:
    rows = [catalog_row("penguins", competition_id="ok"),
            catalog_row("penguins", competition_id="OK"),  # invalid (upper case): must not land in ok/
            catalog_row("penguins", competition_id="ok", metric="accuracy"),  # a second 'ok'
            catalog_row("penguins", competition_id="bad", metric="no-such-metric"),
            catalog_row("penguins", competition_id=None)]
    loaded = load_rows(write_catalog(tmp_path / "c.parquet", rows))
    assert [c.competition_id for c in loaded.valid] == ["ok"]
    assert [(s["competition_id"], s["folder"].split(".")[:2]) for s in loaded.skipped] == [
        ("OK", ["invalid", "OK"]), ("bad", ["invalid", "bad"]), ("row-4", ["invalid", "row-4"])]
    assert all("." in s["folder"] for s in loaded.skipped)  # valid ids are [a-z0-9-]+: never a dot
    assert [(d["row"], d["competition_id"]) for d in loaded.duplicates] == [(2, "ok")]
    assert "duplicate competition_id 'ok'" in loaded.duplicates[0]["reason"]
    assert json.dumps(loaded.duplicates)  # goes into run.json as is


def test_runs_sharing_an_id_but_not_an_output_have_their_own_scratch_root() -> None:
    # a session clears its run's scratch root at start: a shared root would delete a concurrent run's
    # sandbox work dirs (two benchmark invocations, both with run id "quality", did exactly that)
    from jobs.run_inputs import temp_root

    assert temp_root("/results/a", "quality") != temp_root("/results/b", "quality")
    assert temp_root("s3://bucket/x", "quality") == temp_root("s3://bucket/x", "quality")
    assert temp_root("/results/a", "quality").name.startswith("linguacodus-quality-")


@pytest.mark.parametrize("case", ["missing", "corrupt", "other-base"])
def test_a_bad_instructor_adapter_is_one_line_exit_2_before_ray_starts(
        case: str, catalog: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    adapter = tmp_path / "tuned.gguf"
    if case != "missing":
        adapter.write_bytes(b"GGUF" + bytes(60))
        sha = "0" * 64 if case == "corrupt" else None
        base = "smollm2-135m" if case == "other-base" else "qwen2.5-coder-0.5b"
        (tmp_path / "tuned.json").write_text(json.dumps({"base": base, "tags": ["instructor"], "sha256": sha}))
    expected = {"missing": f"--instructor-adapter {adapter}: no such file", "corrupt": "is corrupt: sha256",
                "other-base": "was trained on smollm2-135m, not --model qwen2.5-coder-0.5b"}[case]
    out = tmp_path / "out"
    code, errors = run_cli(capsys, "--catalog", catalog, "--out", str(out), "--run-id", "r",
                           "--instructor-adapter", str(adapter))
    assert code == 2 and len(errors) == 1 and expected in errors[0], errors
    assert not (out / "r").exists()
