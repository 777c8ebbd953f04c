"""The index of all runs under OUT, for consumers (pyarrow, DuckDB, Ray Data, pandas):

    OUT/_index/results/run_id=RUN_ID/part-0.parquet   every results row of that run (Hive-style partition)
    OUT/_index/runs/run_id=RUN_ID/part-0.parquet      one summary row per run (Hive-style partition)
    OUT/_index/runs.parquet                           the runs/ partitions in one file

Each run writes only its own partitions (atomically), so runs finishing at the same time never
overwrite each other's rows; runs.parquet is a convenience copy rebuilt from runs/ after each run
(a concurrent finish may miss it until the next rebuild; `reindex` redoes everything).
The `_` prefix keeps the index out of any reader that scans OUT/ itself (pyarrow and Ray Data skip
`_*` paths), and no run id can start with `_`.
"""
from __future__ import annotations

import io
import logging
import posixpath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from storage.layout import RunLayout
from storage.results import RESULT_COLUMNS
from storage.uri import exists, join, list_uris, pyarrow_filesystem, read_json, read_parquet_table, write_bytes

logger = logging.getLogger(__name__)
INDEX_DIR = "_index"
STATUSES = ("graded", "invalid_submission", "failed", "skipped")
# The partition key lives in the path only: a column of the same name inside the files would clash
# with the Hive partition field in pyarrow and Ray Data.
RESULTS_INDEX_SCHEMA = pa.schema([f for f in RESULT_COLUMNS if f.name != "run_id"]
                                 + [pa.field("schema_version", pa.int64())])
RUNS_SCHEMA = pa.schema([
    pa.field("run_id", pa.string()), pa.field("schema_version", pa.int64()),
    pa.field("mode", pa.string()), pa.field("model", pa.string()), pa.field("catalog", pa.string()),
    pa.field("started_at", pa.string()), pa.field("finished_at", pa.string()), pa.field("complete", pa.bool_()),
    pa.field("competitions", pa.int64()), *(pa.field(s, pa.int64()) for s in STATUSES),
    pa.field("valid_submissions", pa.int64()), pa.field("llm_valid_submissions", pa.int64()),
    pa.field("mean_leaderboard_percentile", pa.float64()), pa.field("medals", pa.int64()),
    pa.field("prompt_tokens", pa.int64()), pa.field("completion_tokens", pa.int64()),
    pa.field("seconds_total", pa.float64()), pa.field("linguacodus_version", pa.string()),
])


def index_root(out_uri: str) -> str:
    return join(out_uri, INDEX_DIR)


def results_partition(out_uri: str, run_id: str) -> str:
    return join(index_root(out_uri), "results", f"run_id={run_id}", "part-0.parquet")


def runs_partition(out_uri: str, run_id: str) -> str:
    return join(index_root(out_uri), "runs", f"run_id={run_id}", "part-0.parquet")


def runs_parquet(out_uri: str) -> str:
    return join(index_root(out_uri), "runs.parquet")


def _write(uri: str, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_bytes(uri, buf.getvalue())


def index_run(out_uri: str, run_id: str, rebuild: bool = True) -> None:
    """Write (or replace) the run's partitions from its results.parquet and run.json."""
    layout = RunLayout(out_uri, run_id)
    info = read_json(layout.run_json) if exists(layout.run_json) else {}
    results = read_parquet_table(layout.results_parquet)
    version = int(info.get("schema_version") or 0)  # runs from before versioning are version 0
    columns = {f.name: (results.column(f.name).cast(f.type) if f.name in results.column_names
                        else pa.nulls(results.num_rows, f.type)) for f in RESULTS_INDEX_SCHEMA if f.name != "schema_version"}
    columns["schema_version"] = pa.array([version] * results.num_rows, pa.int64())
    _write(results_partition(out_uri, run_id), pa.table(columns, schema=RESULTS_INDEX_SCHEMA))
    summary = run_summary(run_id, info, results.to_pylist(), exists(layout.success))
    _write(runs_partition(out_uri, run_id), pa.Table.from_pylist([summary], schema=RUNS_SCHEMA))
    if rebuild:
        rebuild_runs(out_uri)
    logger.info("run %s: indexed %d rows under %s", run_id, results.num_rows, index_root(out_uri))


def run_summary(run_id: str, info: dict[str, Any], rows: list[dict[str, Any]], complete: bool) -> dict[str, Any]:
    config = info.get("config") or {}
    percentiles = [r["leaderboard_percentile"] for r in rows if isinstance(r.get("leaderboard_percentile"), float)]
    return {
        "run_id": run_id, "schema_version": int(info.get("schema_version") or 0),
        "mode": config.get("mode") or next((r.get("mode") for r in rows if r.get("mode")), None),
        "model": info.get("model") or next((r.get("model") for r in rows if r.get("model")), None),
        "catalog": config.get("catalog"), "started_at": info.get("started_at"), "finished_at": info.get("finished_at"),
        "complete": complete, "competitions": len(rows),
        **{s: sum(1 for r in rows if r.get("status") == s) for s in STATUSES},
        "valid_submissions": sum(1 for r in rows if r.get("valid_submission")),
        "llm_valid_submissions": sum(1 for r in rows if r.get("valid_submission") and not r.get("fallback_used")),
        "mean_leaderboard_percentile": sum(percentiles) / len(percentiles) if percentiles else None,
        "medals": sum(1 for r in rows if r.get("medal")),
        "prompt_tokens": sum(int(r.get("prompt_tokens") or 0) for r in rows),
        "completion_tokens": sum(int(r.get("completion_tokens") or 0) for r in rows),
        "seconds_total": sum(float(r.get("seconds_total") or 0) for r in rows),
        "linguacodus_version": (info.get("versions") or {}).get("linguacodus"),
    }


def rebuild_runs(out_uri: str) -> None:
    """runs.parquet from every runs/ partition, ordered by start time."""
    tables = [read_parquet_table(join(folder, "part-0.parquet"))
              for folder in list_uris(join(index_root(out_uri), "runs"))
              if posixpath.basename(folder.rstrip("/")).startswith("run_id=") and exists(join(folder, "part-0.parquet"))]
    table = pa.concat_tables([t.cast(RUNS_SCHEMA) for t in tables]) if tables else RUNS_SCHEMA.empty_table()
    _write(runs_parquet(out_uri), table.sort_by([("started_at", "ascending"), ("run_id", "ascending")]))


def reindex(out_uri: str) -> list[str]:
    """Index every run under OUT that has a results.parquet (older runs included); the run ids indexed."""
    done = []
    for folder in list_uris(out_uri):
        run_id = posixpath.basename(folder.rstrip("/"))
        try:
            layout = RunLayout(out_uri, run_id)
        except ValueError:  # "_index", a hidden folder, a name no run id can have: not a run
            continue
        if run_id.startswith("_") or not exists(layout.results_parquet):
            continue
        try:
            index_run(out_uri, run_id, rebuild=False)
            done.append(run_id)
        except Exception as exc:  # noqa: BLE001 - one unreadable run must not keep the others out
            logger.warning("run %s not indexed: %s", run_id, exc)
    rebuild_runs(out_uri)
    return done


def read_results(out_uri: str, run_ids: list[str] | None = None) -> pa.Table:
    """The results index as one table (run_id from the partition path), optionally only some runs."""
    import pyarrow.dataset as ds

    fs, path = pyarrow_filesystem(join(index_root(out_uri), "results"))
    # run_id typed explicitly: inference would read a run id such as "2026" as an integer
    partitioning = ds.partitioning(pa.schema([pa.field("run_id", pa.string())]), flavor="hive")
    dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning=partitioning)
    where = ds.field("run_id").isin(run_ids) if run_ids else None
    return dataset.to_table(filter=where)


def read_runs(out_uri: str) -> pa.Table:
    return read_parquet_table(runs_parquet(out_uri))
