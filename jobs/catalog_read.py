"""Reading a catalog: `load_rows` for a run (every row accounted for), `load_catalog` for callers that
want all of it valid.

In a run, catalog rows that are not valid competitions become `skipped` rows in folders named
`invalid.<slug>.<hash>`: a valid id is `[a-z0-9-]+` and never contains a dot, so an invalid row (say
`OK`) can never write into a valid row's folder (`ok`). One competition_id has one row in
results.parquet: a catalog row repeating an id already taken is reported (log, run.json), not rowed.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

import storage
from actors.errors import ConfigError
from actors.task import Competition
from jobs.catalog_checks import pydantic_reasons

logger = logging.getLogger(__name__)
INVALID_ROW = "invalid catalog row"


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
            comp = Competition.from_row(raw)
        except ValidationError as exc:  # a bad row is reported on its own row
            invalid.append((i, cid, f"{INVALID_ROW}: {'; '.join(pydantic_reasons(exc))}"))
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
        rows.skipped.append({"competition_id": cid, "error": reason, "folder": skipped_folder(cid)})
    return rows


def load_catalog(uri: str) -> list[Competition]:
    """The catalog's rows as Competitions (shape-checked, files not opened). Raises ConfigError
    listing every invalid or repeated row: a caller that wants all of it should not silently get part."""
    rows = load_rows(uri)
    problems = [f"{r['competition_id']}: {r['error'].removeprefix(INVALID_ROW + ': ')}" for r in rows.skipped]
    problems += [f"{d['competition_id']}: {d['reason']}" for d in rows.duplicates]
    if problems:
        raise ConfigError(f"catalog {uri} has invalid rows:\n" + "\n".join(f"  {p}" for p in problems))
    return rows.valid
