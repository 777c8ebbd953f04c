"""`python -m jobs.k8s.check [k8s/] [--crds DIR]`: every manifest against its schema (validate.py),
then, once all are schema-valid, the product's cross-checks (lint.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.k8s.lint import all_problems
from jobs.k8s.manifests import load_manifests
from jobs.k8s.validate import ManifestValidator, default_crd_dir, load_crd_schemas


def validate_folder(folder: Path, crd_dir: Path) -> list[str]:
    """Every problem of every manifest in folder; empty when all is well."""
    manifests = load_manifests(folder)
    validator = ManifestValidator(load_crd_schemas(crd_dir))
    problems = [f"{m.label}: {e}" for m in manifests for e in validator.errors(m.doc)]
    if problems:  # cross-checks assume schema-valid documents
        return problems
    return all_problems(manifests)


def _add_arguments(parser: Any) -> None:
    repo_root = Path(__file__).resolve().parents[2]
    parser.add_argument("folder", nargs="?", type=Path, default=repo_root / "k8s", help="manifest folder")
    parser.add_argument("--crds", type=Path, default=default_crd_dir(repo_root), help="KubeRay CRD folder")


def _run(args: Any) -> int:
    problems = validate_folder(args.folder, args.crds)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {args.folder}")
    return 1 if problems else 0


def register(subparsers: Any) -> None:
    """`linguacodus k8s-validate [FOLDER] [--crds DIR]` once jobs/cli.py lists this module."""
    parser = subparsers.add_parser("k8s-validate", help="validate the k8s/ manifests offline")
    _add_arguments(parser)
    parser.set_defaults(func=_run)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m jobs.k8s.check", description=__doc__.split("\n")[0])
    _add_arguments(parser)
    return _run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
