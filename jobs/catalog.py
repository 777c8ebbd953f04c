"""`linguacodus catalog`: build a catalog from task folders, or validate an existing one.

    linguacodus catalog build DIR -o OUT.parquet   # DIR/TASK/{description.md, meta.json, train.csv,
                                                   #           test.csv, answers.csv[, leaderboard.csv]}
                                                   # meta.json "data_files": extra inputs of the code
    linguacodus catalog validate URI               # a catalog Parquet file or folder

Every invalid competition is reported on its own line with a named reason; valid rows are still
written. Exit codes: 0 all valid; 2 some competitions invalid (listed); 1 nothing could be done
(DIR missing or without task folders, catalog unreadable, storage down).
DIR and OUT may be local paths, file:// or s3:// URIs.
"""
from __future__ import annotations

import argparse
import json
import logging
import posixpath
import re
from collections import Counter

import pandas as pd
import pyarrow as pa
from pydantic import ValidationError

import storage
from actors.errors import ConfigError
from actors.task import Competition
from jobs.catalog_checks import (
    REQUIRED_META_KEYS,
    CatalogProblem,
    data_problems,
    meta_problems,
    pydantic_reasons,
    row_problems,
)

__all__ = ["CATALOG_SCHEMA", "CatalogProblem", "build_catalog", "validate_catalog", "write_catalog"]
log = logging.getLogger(__name__)

_STR = pa.string()
CATALOG_SCHEMA = pa.schema([
    pa.field("competition_id", _STR, nullable=False), pa.field("title", _STR),
    pa.field("description", _STR, nullable=False), pa.field("metric", _STR, nullable=False),
    pa.field("task_type", _STR, nullable=False), pa.field("data_type", _STR),
    pa.field("target", pa.list_(_STR), nullable=False), pa.field("id_column", _STR, nullable=False),
    pa.field("data_uri", _STR, nullable=False), pa.field("answers_uri", _STR),
    pa.field("leaderboard_uri", _STR),
    pa.field("data_files", pa.list_(_STR)),  # additive to SPEC: extra inputs the code may read
])
# Columns Competition has no default for: a catalog without them cannot be read at all.
_REQUIRED = [n for n, f in Competition.model_fields.items() if f.is_required()]
_UNREADABLE = "cannot read catalog"
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _read_description(task_uri: str, reasons: list[str]) -> str:
    uri = storage.join(task_uri, "description.md")
    if not storage.exists(uri):
        reasons.append("description.md missing")
        return ""
    try:
        text = storage.read_text(uri)
    except UnicodeDecodeError as exc:
        reasons.append(f"description.md is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})")
        return ""
    if not text.strip():
        reasons.append("description.md is empty")
    return text


def _read_meta(task_uri: str, reasons: list[str]) -> tuple[dict | None, set[str]]:
    """(meta, fields with problems); meta is None when a row cannot even be attempted."""
    uri = storage.join(task_uri, "meta.json")
    if not storage.exists(uri):
        reasons.append("meta.json missing")
        return None, set()
    try:
        meta = json.loads(storage.read_text(uri))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reasons.append(f"meta.json is not valid JSON: {exc}")
        return None, set()
    problems = meta_problems(meta)
    reasons += [reason for _, reason in problems]
    bad = {field for field, _ in problems}
    if "meta" in bad or any(k not in meta for k in REQUIRED_META_KEYS):
        return None, bad
    return meta, bad


def task_row(task_uri: str) -> tuple[Competition | None, list[str]]:
    """One task folder -> (its catalog row, or None if invalid; every reason found)."""
    cid = posixpath.basename(task_uri.rstrip("/"))
    reasons: list[str] = []
    description = _read_description(task_uri, reasons)
    meta, bad_fields = _read_meta(task_uri, reasons)
    if meta is None:  # no usable meta: at least say which data files are missing too
        reasons += [f"{n} missing" for n in ("train.csv", "test.csv", "answers.csv")
                    if not storage.exists(storage.join(task_uri, n))]
        return None, reasons
    heading = _HEADING.search(description)
    leaderboard = storage.join(task_uri, "leaderboard.csv")
    fields = {
        "competition_id": cid, "description": description,
        "title": meta.get("title") or (heading.group(1) if heading else cid),
        "metric": meta["metric"], "task_type": meta["task_type"],
        "data_type": meta.get("data_type", "tabular"), "target": meta["target"],
        "id_column": meta["id_column"], "data_uri": task_uri,
        "answers_uri": storage.join(task_uri, "answers.csv"),
        "leaderboard_uri": leaderboard if storage.exists(leaderboard) else None,
        "data_files": meta.get("data_files"),
    }
    try:
        comp = Competition(**fields)
    except ValidationError as exc:
        reasons += pydantic_reasons(exc, bad_fields)
        if not bad_fields & {"target", "id_column"}:
            # Still check the data files, unvalidated, so one report lists everything.
            target = [meta["target"]] if isinstance(meta["target"], str) else meta["target"]
            reasons += data_problems(Competition.model_construct(**{**fields, "target": target}))
        return None, reasons
    reasons += row_problems(comp) + data_problems(comp)
    return (None if reasons else comp), reasons


def _absolute(uri: str) -> str:
    path = storage.local_path(uri)
    if path is None:
        return uri.rstrip("/")
    resolved = str(path.resolve())
    return f"file://{resolved}" if uri.startswith("file://") else resolved


def build_catalog(dir_uri: str) -> tuple[pd.DataFrame, list[CatalogProblem]]:
    """Catalog rows for every task folder in dir_uri (sorted by id) and the problems of the
    invalid ones. data_uri / answers_uri are absolute paths (or URIs for s3:// / file:// dirs).
    Raises ConfigError if dir_uri is not a folder or holds no task folders."""
    base = _absolute(str(dir_uri))
    if not storage.is_dir(base):
        raise ConfigError(f"catalog build: {dir_uri} is not a folder")
    tasks = [u for u in storage.list_uris(base)
             if not posixpath.basename(u).startswith((".", "_")) and storage.is_dir(u)]
    if not tasks:
        raise ConfigError(f"catalog build: {dir_uri} holds no task folders")
    rows, problems = [], []
    for task_uri in tasks:
        cid = posixpath.basename(task_uri)
        try:
            comp, reasons = task_row(task_uri)
        except storage.StorageTransientError:
            raise  # the store is down: no task can be judged, so the whole build stops with one line
        except Exception as exc:  # noqa: BLE001 - one unreadable task never costs the others their rows
            log.warning("%s: cannot be read: %s", cid, exc)
            comp, reasons = None, [f"task folder cannot be read: {type(exc).__name__}: {exc}"]
        problems += [CatalogProblem(cid, r) for r in dict.fromkeys(reasons)]  # dedupe, keep order
        if comp is not None:
            rows.append(comp.model_dump())
    log.info("catalog %s: %d valid, %d invalid", dir_uri, len(rows), len(tasks) - len(rows))
    return pd.DataFrame(rows, columns=CATALOG_SCHEMA.names), problems


def write_catalog(rows: pd.DataFrame, out_uri: str) -> None:
    # pandas turns a missing optional field (leaderboard_uri of a task without leaderboard.csv) into NaN,
    # which a string column refuses: back to None.
    records = [{k: None if isinstance(v, float) and v != v else v for k, v in r.items()}
               for r in rows.to_dict("records")]
    table = pa.Table.from_pylist(records, schema=CATALOG_SCHEMA)
    storage.write_parquet(out_uri, table)


def _type_ok(name: str, typ: pa.DataType) -> bool:
    is_str = pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if name in ("target", "data_files"):
        return (pa.types.is_list(typ) or pa.types.is_large_list(typ)) and (
            pa.types.is_string(typ.value_type) or pa.types.is_large_string(typ.value_type))
    return is_str or (pa.types.is_null(typ) and name not in _REQUIRED)  # an all-null optional column


def schema_problems(schema: pa.Schema) -> list[CatalogProblem]:
    problems = [CatalogProblem(None, f"required column {n!r} missing") for n in _REQUIRED
                if n not in schema.names]
    for field in schema:
        if field.name in CATALOG_SCHEMA.names and not _type_ok(field.name, field.type):
            expected = CATALOG_SCHEMA.field(field.name).type
            problems.append(CatalogProblem(None, f"column {field.name!r} has type {field.type}, "
                                                 f"expected {expected}"))
    return problems


def validate_catalog(uri: str) -> list[CatalogProblem]:
    """Every problem of a catalog: its schema, each row (Competition), the files behind each row."""
    try:
        table = storage.read_parquet_table(uri)
    except storage.StorageError as exc:
        return [CatalogProblem(None, f"{_UNREADABLE}: {exc}")]
    if problems := schema_problems(table.schema):
        return problems
    rows = table.to_pylist()
    counts = Counter(r.get("competition_id") for r in rows)
    for i, row in enumerate(rows):
        cid = row.get("competition_id") or f"row {i}"
        if counts[row.get("competition_id")] > 1:
            problems.append(CatalogProblem(cid, f"duplicate competition_id ({counts[cid]} rows)"))
        try:
            comp = Competition(**row)
        except ValidationError as exc:
            problems += [CatalogProblem(cid, r) for r in pydantic_reasons(exc)]
            continue
        problems += [CatalogProblem(cid, r) for r in row_problems(comp) + data_problems(comp)]
    return list(dict.fromkeys(problems))


# -- CLI ---------------------------------------------------------------------------------------

def _print_problems(problems: list[CatalogProblem]) -> None:
    for p in problems:
        print(f"INVALID {p}")


def _cmd_build(args: argparse.Namespace) -> int:
    try:
        rows, problems = build_catalog(args.dir)
        write_catalog(rows, args.out)
    except (ConfigError, storage.StorageError) as exc:
        print(f"error: {exc}")
        return 1
    _print_problems(problems)
    invalid = len({p.competition_id for p in problems})
    print(f"catalog: {len(rows)} valid rows written to {args.out}; {invalid} competitions invalid")
    return 2 if problems else 0


def _cmd_validate(args: argparse.Namespace) -> int:
    try:
        problems = validate_catalog(args.uri)
    except storage.StorageError as exc:
        print(f"error: {exc}")
        return 1
    unreadable = [p for p in problems if p.competition_id is None and p.reason.startswith(_UNREADABLE)]
    if unreadable:  # no rows to speak of: one error line (it names the file, or the bucket that is missing)
        print(f"error: {unreadable[0].reason}")
        return 1
    _print_problems(problems)
    if any(p.competition_id is None for p in problems):
        return 1
    print(f"catalog {args.uri}: {'valid' if not problems else f'{len(problems)} problems'}")
    return 2 if problems else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("catalog", help="build or validate a competition catalog", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    what = "build a catalog Parquet from a folder of task folders; every invalid task is named with its reason"
    build = sub.add_parser("build", help=what.split(";")[0], description=what)
    build.add_argument("dir", help="folder of task folders (path, file:// or s3://)")
    build.add_argument("-o", "--out", required=True, help="catalog Parquet to write (path, file:// or s3://)")
    build.set_defaults(func=_cmd_build)
    what = "check a catalog's schema, rows and data files; every invalid competition is named with its reason"
    validate = sub.add_parser("validate", help=what.split(";")[0], description=what)
    validate.add_argument("uri", help="catalog Parquet file or folder")
    validate.set_defaults(func=_cmd_validate)
