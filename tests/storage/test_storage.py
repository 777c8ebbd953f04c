"""storage/ on the local filesystem (plain paths and file:// URIs) and the results layout."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import storage
from storage import StorageError, StorageNotFoundError
from tests.helpers.storage import race_put_if_absent


@pytest.fixture(params=["path", "file_uri"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests run against plain paths and file:// URIs."""
    return str(tmp_path) if request.param == "path" else f"file://{tmp_path}"


def test_bytes_text_and_json_round_trip(base: str) -> None:
    storage.write_bytes(storage.join(base, "a", "b.bin"), b"\x00\x01binary")
    storage.write_text(storage.join(base, "t.txt"), "héllo\n")
    storage.write_json(storage.join(base, "j.json"), {"x": [1, 2], "when": Path("/p")})
    assert storage.read_bytes(storage.join(base, "a", "b.bin")) == b"\x00\x01binary"
    assert storage.read_text(storage.join(base, "t.txt")) == "héllo\n"
    assert storage.read_json(storage.join(base, "j.json")) == {"x": [1, 2], "when": "/p"}


def test_csv_round_trip_writes_no_index(base: str) -> None:
    df = pd.DataFrame({"id": [3, 1], "label": ["a", "b"]})
    uri = storage.join(base, "sub.csv")
    storage.write_csv(uri, df)
    assert storage.read_text(uri).splitlines()[0] == "id,label"
    pd.testing.assert_frame_equal(storage.read_csv(uri), df, check_dtype=False)
    assert list(storage.read_csv(uri, nrows=0).columns) == ["id", "label"]


def test_parquet_folder_reads_as_one_table_skipping_success_marker(base: str) -> None:
    storage.write_parquet(storage.join(base, "ds", "part-0.parquet"), pd.DataFrame({"a": [1, 2]}))
    storage.write_parquet(storage.join(base, "ds", "part-1.parquet"), pd.DataFrame({"a": [3]}))
    storage.write_text(storage.join(base, "ds", "_SUCCESS"), "")
    assert sorted(storage.read_parquet(storage.join(base, "ds"))["a"]) == [1, 2, 3]
    assert list(storage.read_parquet(storage.join(base, "ds", "part-1.parquet"))["a"]) == [3]


def test_reading_a_missing_file_raises_not_found_naming_the_uri(base: str) -> None:
    uri = storage.join(base, "nope.json")
    with pytest.raises(StorageNotFoundError, match="nope.json") as info:
        storage.read_json(uri)
    assert info.value.uri == uri and not info.value.retryable
    assert isinstance(info.value, FileNotFoundError)


@pytest.mark.parametrize("cls", [StorageError, StorageNotFoundError, storage.StorageTransientError])
def test_storage_errors_survive_pickling_as_ray_does_across_processes(cls: type) -> None:
    import pickle

    err = pickle.loads(pickle.dumps(cls("s3://b/k", "read: boom")))
    assert type(err) is cls and err.uri == "s3://b/k" and str(err) == "s3://b/k: read: boom"


def test_invalid_json_raises_storage_error_naming_the_uri(base: str) -> None:
    storage.write_text(storage.join(base, "bad.json"), "{not json")
    with pytest.raises(StorageError, match=r"bad\.json: invalid JSON"):
        storage.read_json(storage.join(base, "bad.json"))


def test_unsupported_scheme_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="gs://bucket/x: unsupported URI scheme"):
        storage.read_bytes("gs://bucket/x")


def test_join_never_restarts_at_the_root() -> None:
    assert storage.join("s3://b/runs/", "/r1", "c/") == "s3://b/runs/r1/c"
    assert storage.join("/out", "/r1", "x.json") == "/out/r1/x.json"
    assert storage.join("file:///out", "r1") == "file:///out/r1"


def test_listing_gives_children_or_all_files_and_skips_temp_files(base: str, tmp_path: Path) -> None:
    storage.write_text(storage.join(base, "d", "a.txt"), "a")
    storage.write_text(storage.join(base, "d", "sub", "b.txt"), "b")
    (tmp_path / "d" / ".a.txt.tmp-123").write_text("in flight")
    assert storage.list_uris(storage.join(base, "d")) == [storage.join(base, "d", "a.txt"),
                                                          storage.join(base, "d", "sub")]
    assert storage.list_uris(storage.join(base, "d"), recursive=True) == [
        storage.join(base, "d", "a.txt"), storage.join(base, "d", "sub", "b.txt")]
    assert storage.list_uris(storage.join(base, "missing")) == []


def test_exists_for_file_folder_and_missing(base: str) -> None:
    storage.write_text(storage.join(base, "d", "f"), "x")
    assert storage.exists(storage.join(base, "d", "f")) and storage.exists(storage.join(base, "d"))
    assert storage.is_dir(storage.join(base, "d")) and not storage.is_dir(storage.join(base, "d", "f"))
    assert not storage.exists(storage.join(base, "d", "g"))


def test_move_renames_and_a_second_mover_finds_nothing(base: str) -> None:
    src, dst = storage.join(base, "inbox", "job.json"), storage.join(base, "claimed", "job.json")
    storage.write_json(src, {"job": 1})
    storage.move(src, dst)
    assert not storage.exists(src) and storage.read_json(dst) == {"job": 1}
    with pytest.raises(StorageNotFoundError, match="inbox"):
        storage.move(src, storage.join(base, "claimed2", "job.json"))


def test_copy_keeps_the_source(base: str) -> None:
    storage.write_text(storage.join(base, "a"), "x")
    storage.copy(storage.join(base, "a"), storage.join(base, "b", "c"))
    assert storage.read_text(storage.join(base, "a")) == storage.read_text(storage.join(base, "b", "c")) == "x"
    with pytest.raises(StorageNotFoundError):
        storage.copy(storage.join(base, "missing"), storage.join(base, "z"))


def test_delete_file_is_idempotent_and_folder_needs_recursive(base: str) -> None:
    storage.write_text(storage.join(base, "d", "f"), "x")
    storage.delete(storage.join(base, "d", "f"))
    storage.delete(storage.join(base, "d", "f"))
    storage.write_text(storage.join(base, "d", "g"), "x")
    with pytest.raises(StorageError, match="recursive"):
        storage.delete(storage.join(base, "d"))
    storage.delete(storage.join(base, "d"), recursive=True)
    assert not storage.exists(storage.join(base, "d"))


def test_download_dir_copies_a_folder(base: str, tmp_path: Path) -> None:
    storage.write_text(storage.join(base, "task", "train.csv"), "a\n1\n")
    storage.write_text(storage.join(base, "task", "more", "x.txt"), "x")
    dest = storage.download_dir(storage.join(base, "task"), tmp_path / "copy")
    assert (dest / "train.csv").read_text() == "a\n1\n" and (dest / "more" / "x.txt").read_text() == "x"


def test_concurrent_reader_never_sees_a_partial_file_while_it_is_rewritten(tmp_path: Path) -> None:
    uri = str(tmp_path / "big.bin")
    versions = [bytes([65 + i]) * (4_000_000 + i * 100_000) for i in range(4)]  # distinct sizes
    storage.write_bytes(uri, versions[0])
    stop = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            data = storage.read_bytes(uri)
            if data not in versions:
                bad.append(f"partial read: {len(data)} bytes")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(40):
        storage.write_bytes(uri, versions[i % len(versions)])
    stop.set()
    for t in threads:
        t.join()
    assert bad == []
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]  # no temp files left behind


def test_failed_write_keeps_old_content_and_leaves_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    uri = str(tmp_path / "f.txt")
    storage.write_text(uri, "old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageError, match=r"f\.txt: write: No space left on device"):
        storage.write_text(uri, "new")
    monkeypatch.undo()
    assert storage.read_text(uri) == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_put_if_absent_creates_exactly_once_under_concurrent_attempts(base: str) -> None:
    uri = storage.join(base, "claims", "task-1")
    won = race_put_if_absent(uri, 12)
    assert len(won) == 1
    assert storage.read_text(uri) == f"worker-{won[0]}"
    assert storage.list_uris(storage.join(base, "claims")) == [uri]


def test_pyarrow_filesystem_for_a_local_uri_writes_readable_parquet(base: str) -> None:
    fs, path = storage.pyarrow_filesystem(storage.join(base, "t.parquet"))
    pq.write_table(pa.table({"x": [1, 2, 3]}), path, filesystem=fs)
    assert list(storage.read_parquet(storage.join(base, "t.parquet"))["x"]) == [1, 2, 3]


# -- results layout ----------------------------------------------------------------------------

def test_run_layout_paths_follow_the_spec() -> None:
    run = storage.RunLayout("s3://b/out", "run-1")
    assert (run.run_json, run.results_parquet, run.success) == (
        "s3://b/out/run-1/run.json", "s3://b/out/run-1/results.parquet", "s3://b/out/run-1/_SUCCESS")
    comp = run.competition("penguins")
    assert comp.submission_csv == "s3://b/out/run-1/penguins/submission.csv"
    assert comp.attempt(3).stderr_txt == "s3://b/out/run-1/penguins/attempts/03/stderr.txt"
    assert comp.file("stages/model.py") == "s3://b/out/run-1/penguins/stages/model.py"


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden"])
def test_layout_rejects_ids_that_are_not_one_path_segment(bad: str) -> None:
    with pytest.raises(ValueError, match="safe path segment"):
        storage.RunLayout("/out", "r").competition(bad)


def test_rows_to_table_fills_missing_columns_with_null_and_drops_unknown_keys() -> None:
    table = storage.rows_to_table([
        {"run_id": "r", "competition_id": "a", "status": "graded", "score": 0.9, "attempts": 2,
         "medal": "gold", "details": {"x": 1}},
        {"run_id": "r", "competition_id": "b", "status": "failed", "score": float("nan"),
         "error": "boom"},
    ])
    assert table.schema == storage.RESULT_COLUMNS
    rows = table.to_pylist()
    assert rows[0]["score"] == 0.9 and rows[0]["attempts"] == 2 and rows[0]["error"] is None
    assert rows[1]["score"] is None and rows[1]["error"] == "boom"
    assert "details" not in table.column_names


def test_rows_to_table_rejects_a_status_outside_the_spec() -> None:
    with pytest.raises(ValueError, match="x: status 'done'"):
        storage.rows_to_table([{"run_id": "r", "competition_id": "x", "status": "done"}])


def test_rows_to_table_rejects_a_value_of_the_wrong_type() -> None:
    with pytest.raises(ValueError, match="attempts"):
        storage.rows_to_table([{"run_id": "r", "competition_id": "x", "status": "graded",
                                "attempts": "three"}])
