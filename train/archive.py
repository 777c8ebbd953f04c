"""Keep a searched run in the repository: `python -m train.archive RUN_DIR OUT.tar.gz`.

The instructor's pairs (`linguacodus corpus pairs`) read, per competition, only its search.json (the
trials) and result.json (the data facts), plus run.json and the run's catalog rows (descriptions). A
corpus of searched competitions takes hours of two cores; kept outside the repository it was lost with
each fresh machine (the corpora of adapters v4 and v5). The archive holds exactly those files of every
finished, searched competition and a catalog.parquet of their rows (which `corpus pairs` prefers to the
catalog run.json names): no task data, no answers, no solution code. `tar xzf OUT.tar.gz` gives the run
folder back; OUT.json beside it records what is inside and the pairs it gives under both rules.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from actors.llm.weights import sha256_file

KEPT = ("result.json", "search.json")


def searched(run: Path) -> list[str]:
    """Competitions of the run with both files (finished and searched), sorted."""
    return sorted(d.name for d in run.iterdir() if d.is_dir() and all((d / f).is_file() for f in KEPT))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644  # no timestamps: the same run gives the same bytes
    tar.addfile(info, io.BytesIO(data))


def command(run_json: dict) -> str:
    """The `linguacodus run` that made (and resumes) the run; --only's ids are in the archived run.json."""
    config = run_json.get("config") or {}
    search = config.get("search") or {}
    only = config.get("only") or []
    return (f"linguacodus run --catalog rd/catalog.parquet --out runs --run-id {run_json.get('run_id')} "
            f"--mode {config.get('mode')} --budget-s {search.get('budget_s'):g} --cv-folds {search.get('folds')} "
            f"--concurrency {config.get('concurrency')}" + (f" --only <{len(only)} ids of run.json>" if only else ""))


def archive(run: Path, out: Path, catalog: Path | None = None) -> dict:
    """Write the archive and its manifest (OUT.json); returns the manifest."""
    from train.pairs import pairs_from_run

    run_json = json.loads((run / "run.json").read_text())
    rows = pd.read_parquet(catalog or Path(run_json["config"]["catalog"]))
    ids = searched(run)
    rows = rows[rows["competition_id"].astype(str).isin(ids)].reset_index(drop=True)
    missing = sorted(set(ids) - set(rows["competition_id"].astype(str)))
    if missing:
        raise ValueError(f"{len(missing)} competitions of {run} are not in the catalog, e.g. {missing[0]}")
    name = run.name
    buffer = io.BytesIO()
    rows.to_parquet(buffer, index=False)
    with (out.open("wb") as raw, gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as gz,  # no name, no time: the
          tarfile.open(fileobj=gz, mode="w") as tar):  # same run gives the same bytes
        _add(tar, f"{name}/run.json", (run / "run.json").read_bytes())
        _add(tar, f"{name}/catalog.parquet", buffer.getvalue())
        for cid in ids:
            for f in KEPT:
                _add(tar, f"{name}/{cid}/{f}", (run / cid / f).read_bytes())
    with tempfile.TemporaryDirectory() as tmp:  # the pairs as a reader of the archive gets them
        with tarfile.open(out) as tar:
            tar.extractall(tmp, filter="data")
        counts = {rule: len(pairs_from_run(str(Path(tmp) / name), beat_defaults=gain)[0])
                  for rule, gain in (("all", None), ("beat_defaults_0", 0.0))}
    config = run_json.get("config") or {}
    manifest = {"run_id": run_json.get("run_id"), "file": out.name,
                "sha256": sha256_file(out), "bytes": out.stat().st_size,
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "run": {k: config.get(k) for k in ("mode", "concurrency", "seed")},
                "search": {k: (config.get("search") or {}).get(k) for k in ("budget_s", "folds", "validation", "space")},
                "command": command(run_json), "versions": run_json.get("versions"), "competitions": ids,
                "pairs": counts}
    out.with_suffix("").with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.archive", description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="OUT/RUN_ID folder of a `linguacodus run --mode search`")
    p.add_argument("out", type=Path, help="archive to write (NAME.tar.gz; NAME.json beside it)")
    p.add_argument("--catalog", type=Path, default=None, help="the run's catalog, when the one in run.json moved")
    args = p.parse_args(argv)
    try:
        m = archive(args.run, args.out, args.catalog)
    except (OSError, ValueError, KeyError) as exc:
        print(f"train.archive: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {len(m['competitions'])} competitions, {m['bytes']:,} bytes, pairs {m['pairs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
