"""What generated code may read: a competition's allow-listed inputs, staged in a private folder.

Inputs are chosen by name from an allow-list, never by excluding names: train.csv, test.csv,
sample_submission.csv and the files or folders the catalog row declares in `data_files`. Nothing
that is, lies inside, or contains the answers or the leaderboard is staged, whatever its name
(a symlink counts as what it points to). The allowed inputs are hard-linked (copied across
filesystems, downloaded for s3://) into a private staging folder and bound from there, so inside
the sandbox /proc/self/mountinfo shows that folder and never the catalog's data_uri.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import storage
from actors.task import Competition

log = logging.getLogger(__name__)
STANDARD_INPUTS = ("train.csv", "test.csv", "sample_submission.csv")
REQUIRED_INPUTS = ("train.csv", "test.csv")


class PrivateInputError(ValueError):
    """An allowed input name that is, holds or lies inside the private answers or leaderboard."""


def _key(uri: str) -> str:
    """A comparable form of a location: the resolved local path, or the s3:// URI without a slash."""
    path = storage.local_path(uri)
    return str(path.resolve()) if path is not None else uri.rstrip("/")


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def private_keys(comp: Competition) -> list[str]:
    return [_key(uri) for uri in (comp.answers_uri, comp.leaderboard_uri) if uri]


def overlaps_private(comp: Competition, uri: str) -> bool:
    key = _key(uri)
    return any(_overlaps(key, p) for p in private_keys(comp))


def _check(name: str, key: str, private: list[str], comp: Competition) -> None:
    if any(_overlaps(key, p) for p in private):
        raise PrivateInputError(f"{comp.competition_id}: input {name!r} is, holds or lies inside the private "
                                "answers or leaderboard; it is never given to generated code")


def _link_or_copy(src: Path, dst: Path, private: list[str], comp: Competition) -> None:
    """Hard-link src (a file, or every file of a folder) at dst; copy where linking is refused."""
    if src.is_dir():
        dst.mkdir(mode=0o755)
        for child in sorted(src.iterdir()):
            _check(f"{dst.name}/{child.name}", str(child.resolve()), private, comp)
            _link_or_copy(child.resolve() if child.is_symlink() else child, dst / child.name, private, comp)
        return
    try:
        os.link(src, dst, follow_symlinks=True)
    except OSError:  # another filesystem, or a file we may read but not link
        shutil.copyfile(src, dst)


def stage_inputs(comp: Competition, dest: Path) -> dict[str, Path]:
    """The allowed inputs staged under dest/data, by name, for the sandbox to bind at /data/<name>."""
    staging = dest / "data"
    staging.mkdir(mode=0o755, parents=True, exist_ok=True)
    private = private_keys(comp)
    local = storage.local_path(comp.data_uri)
    inputs: dict[str, Path] = {}
    for name in dict.fromkeys([*STANDARD_INPUTS, *(comp.data_files or [])]):
        uri = storage.join(comp.data_uri, name)
        if not storage.exists(uri):
            if name in REQUIRED_INPUTS or name in (comp.data_files or []):
                raise FileNotFoundError(f"{comp.competition_id}: {name} not found in {comp.data_uri}")
            continue
        _check(name, _key(uri), private, comp)
        target = staging / name
        if local is not None:
            _link_or_copy((local / name).resolve(), target, private, comp)
        elif storage.is_dir(uri):
            for child in storage.list_uris(uri, recursive=True):
                _check(f"{name}/{child[len(uri):].lstrip('/')}", _key(child), private, comp)
            storage.download_dir(uri, target)
        else:
            target.write_bytes(storage.read_bytes(uri))
        inputs[name] = target
    log.info("%s: inputs for generated code: %s", comp.competition_id, ", ".join(sorted(inputs)))
    return inputs
