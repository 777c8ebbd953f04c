"""`linguacodus models`: the embedded GGUF models, whether their weight packages are installed, and
a full check of their files.

    linguacodus models list [--json] [--cache-dir DIR]   # one line per model
    linguacodus models verify NAME [--cache-dir DIR]     # join if needed, hash every byte, check the magic

`verify` always hashes the file the LLM actors load, even when the stamp that lets them skip
hashing vouches for it; a chunked model whose joined file is absent or damaged is joined again from
its packages, hashing every chunk. Exit codes: 0 verified; 1 a weight package is missing or corrupt
(the message names it and gives the pip command); 2 unknown model name.
Cache dir: $LINGUACODUS_CACHE/models, else ~/.cache/linguacodus/models.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from actors.errors import ConfigError
from actors.llm.models import MODELS, default_cache_dir, missing_packages
from actors.llm.weights import cached_gguf, resolve_gguf

_MIB = 1 << 20


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list or verify the embedded GGUF models", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    what = "each model: size, installed packages, verified file, pip command"
    ls = sub.add_parser("list", help=what, description=what)
    ls.add_argument("--json", action="store_true", help="print a JSON list instead of one line per model")
    what = "resolve one model's GGUF file and check every chunk's sha256"
    verify = sub.add_parser("verify", help=what, description=f"{what} (joining the chunks first if needed)")
    verify.add_argument("name", metavar="NAME", help=f"one of: {', '.join(MODELS)}")
    for sp in (ls, verify):
        sp.add_argument("--cache-dir", type=Path, default=None,
                        help="where joined models and stamps live (default: $LINGUACODUS_CACHE/models "
                             "or ~/.cache/linguacodus/models)")
        # Tests point this at damaged copies of the packages; not for normal use.
        sp.add_argument("--package-root", type=Path, default=None, help=argparse.SUPPRESS)
    ls.set_defaults(func=_list)
    verify.set_defaults(func=_verify)


def model_rows(cache_dir: Path | None = None, package_root: Path | None = None) -> list[dict]:
    """One dict per registered model, the content of `models list --json`."""
    cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
    rows = []
    for spec in MODELS.values():
        missing = missing_packages(spec.name, package_root)
        cached = cached_gguf(spec.name, cache_dir, package_root)
        rows.append({
            "name": spec.name,
            "description": spec.description,
            "upstream": spec.upstream,
            "size_bytes": spec.size,
            "size_mib": round(spec.size / _MIB, 1),
            "packages": list(spec.pip),
            "installed": not missing,
            "missing_packages": missing,
            "verified_path": str(cached) if cached else None,
            "pip_command": spec.pip_command,
        })
    return rows


def _installed_text(row: dict) -> str:
    missing, total = row["missing_packages"], len(row["packages"])
    if not missing:
        return "installed"
    if len(missing) == total:
        return f"not installed ({total} package{'s' if total > 1 else ''})"
    return f"missing {len(missing)} of {total} packages: {', '.join(missing)}"


def _list(args: argparse.Namespace) -> int:
    rows = model_rows(args.cache_dir, args.package_root)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        cached = f"verified file: {r['verified_path']}" if r["verified_path"] else "no verified file yet"
        print(f"{r['name']} | {r['size_mib']:.1f} MiB | {r['description']} (from {r['upstream']}) | "
              f"{_installed_text(r)} | {cached} | install: {r['pip_command']}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    if args.name not in MODELS:
        print(f"linguacodus models verify: unknown model {args.name!r}; known models:", file=sys.stderr)
        for spec in MODELS.values():
            print(f"  {spec.name}  {spec.description}", file=sys.stderr)
        return 2
    spec = MODELS[args.name]
    cache_dir = args.cache_dir if args.cache_dir is not None else default_cache_dir()
    start = time.monotonic()
    try:
        path = resolve_gguf(spec.name, cache_dir=cache_dir, package_root=args.package_root, recheck=True)
    except (ConfigError, OSError) as exc:  # ModelFileError names the package; OSError: unreadable file
        print(f"linguacodus models verify: {spec.name} FAILED: {exc}", file=sys.stderr)
        return 1
    seconds = time.monotonic() - start
    size = path.stat().st_size
    print(f"{spec.name}: verified\n"
          f"  path     {path}\n"
          f"  size     {size} bytes ({size / _MIB:.1f} MiB)\n"
          f"  sha256   {spec.sha256}\n"
          f"  seconds  {seconds:.2f}")
    return 0
