"""The sandbox runs ordinary ML scripts and reports what happened (real bubblewrap, no mocks)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actors.errors import ConfigError
from actors.sandbox.sandbox import Sandbox, SandboxConfig
from tests.helpers.paths import REPO

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(timeout_s=120))


@pytest.fixture(scope="module")
def table_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 15k-row tabular task: train.csv, test.csv (the size the memory default must handle)."""
    folder = tmp_path_factory.mktemp("task")
    rng = np.random.default_rng(0)
    n = 15_000
    feats = rng.normal(size=(n, 12))
    df = pd.DataFrame(feats, columns=[f"f{i}" for i in range(12)])
    df["cat"] = rng.choice(list("abcde"), n)
    df.insert(0, "id", range(n))
    df["target"] = (feats[:, 0] + feats[:, 1] > 0).astype(int)
    df.to_csv(folder / "train.csv", index=False)
    df.drop(columns="target").head(3000).to_csv(folder / "test.csv", index=False)
    return folder


def write_script(folder: Path, body: str, name: str = "script.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


TRAIN_SCRIPT = """
    import argparse
    import lightgbm as lgb
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    parser.add_argument("--out-dir")
    args = parser.parse_args()
    train = pd.read_csv(f"{args.data_dir}/train.csv")
    test = pd.read_csv(f"{args.data_dir}/test.csv")
    X = pd.get_dummies(train.drop(columns=["id", "target"]))
    y = train["target"]
    print("cv accuracy", cross_val_score(LogisticRegression(max_iter=500), X, y, cv=3, n_jobs=-1).mean())
    model = lgb.LGBMClassifier(n_estimators=100, verbose=-1).fit(X, y)
    X_test = pd.get_dummies(test.drop(columns=["id"])).reindex(columns=X.columns, fill_value=0)
    proba = model.predict_proba(X_test)[:, 1]
    pd.DataFrame({"id": test["id"], "target": proba}).to_csv(f"{args.out_dir}/submission.csv", index=False)
    print("wrote", len(test), "rows")
"""


def test_script_trains_sklearn_and_lightgbm_on_mounted_data_and_writes_into_workdir(
    sandbox: Sandbox, table_dir: Path, tmp_path: Path
) -> None:
    script = write_script(tmp_path / "src", TRAIN_SCRIPT)
    inputs = {"train.csv": table_dir / "train.csv", "test.csv": table_dir / "test.csv"}
    result = sandbox.run(script, tmp_path / "work", inputs)
    assert result.ok, result.stderr
    assert "wrote 3000 rows" in result.stdout
    assert "submission.csv" in result.files
    submission = pd.read_csv(tmp_path / "work" / "submission.csv")
    assert len(submission) == 3000 and submission["target"].between(0, 1).all()


def test_files_written_by_the_script_belong_to_the_caller_after_the_run(sandbox: Sandbox, tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", """
        import os
        os.makedirs("sub", exist_ok=True)
        open("sub/out.txt", "w").write("x")
        print(os.getuid())
    """)
    result = sandbox.run(script, tmp_path / "work")
    assert result.ok, result.stderr
    assert result.stdout.strip() == "65534"  # ran as nobody
    assert result.files == ["script.py", "sub/out.txt"]
    for path in (tmp_path / "work", tmp_path / "work" / "sub", tmp_path / "work" / "sub" / "out.txt"):
        assert path.stat().st_uid == os.geteuid()


def test_script_gets_data_dir_out_dir_and_extra_args(sandbox: Sandbox, tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", "import sys, os; print(sys.argv[1:], os.getcwd())")
    result = sandbox.run(script, tmp_path / "work", args=["--seed", "3"])
    assert result.ok, result.stderr
    assert result.stdout.strip() == "['--data-dir', '/data', '--out-dir', '/work', '--seed', '3'] /work"


def test_syntax_error_returns_nonzero_exit_with_the_traceback_in_stderr(sandbox: Sandbox, tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", "def broken(:\n    pass\n")
    result = sandbox.run(script, tmp_path / "work")
    assert result.exit_code not in (0, None)
    assert not result.ok and not result.timed_out and result.killed_reason is None
    assert "SyntaxError" in result.stderr and "script.py" in result.stderr


def test_script_sleeping_past_the_timeout_is_reported_timed_out(tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", "import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    result = Sandbox(SandboxConfig(timeout_s=2)).run(script, tmp_path / "work")
    assert result.timed_out and not result.ok
    assert "timeout" in (result.killed_reason or "")
    assert "started" in result.stdout
    assert 2 <= result.duration_s < 10


def test_missing_input_file_gives_a_result_with_a_reason_instead_of_raising(sandbox: Sandbox, tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", "print('never')")
    result = sandbox.run(script, tmp_path / "work", {"train.csv": tmp_path / "nope.csv"})
    assert result.exit_code is None and not result.ok
    assert "nope.csv" in (result.killed_reason or "")


def test_input_name_with_a_slash_is_refused_in_the_result(sandbox: Sandbox, tmp_path: Path) -> None:
    script = write_script(tmp_path / "src", "print('never')")
    (tmp_path / "a.csv").write_text("x\n")
    result = sandbox.run(script, tmp_path / "work", {"../etc/a.csv": tmp_path / "a.csv"})
    assert result.exit_code is None and "input name" in (result.killed_reason or "")


def test_input_folder_is_mounted_whole_under_data(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.txt").write_text("A")
    script = write_script(tmp_path / "src", "print(open('/data/images/a.txt').read())")
    result = sandbox.run(script, tmp_path / "work", {"images": tmp_path / "images"})
    assert result.ok and result.stdout.strip() == "A"


def test_missing_bwrap_raises_config_error_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bubblewrap"):
        Sandbox(SandboxConfig(bwrap_path=str(tmp_path / "no-bwrap")))


def test_bwrap_failing_to_set_up_is_reported_not_raised(tmp_path: Path) -> None:
    # A "bwrap" that exits before starting anything, like bwrap does on a bad mount.
    fake = tmp_path / "fake-bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: cannot mount proc' >&2\nexit 1\n")
    fake.chmod(0o755)
    script = write_script(tmp_path / "src", "print('never')")
    result = Sandbox(SandboxConfig(bwrap_path=str(fake))).run(script, tmp_path / "work")
    assert result.exit_code is None and not result.ok
    assert "setup failed" in (result.killed_reason or "") and "cannot mount proc" in result.killed_reason


NON_ROOT_CALLER = """
import sys
from pathlib import Path
from actors.sandbox.sandbox import Sandbox, SandboxConfig
folder = Path(sys.argv[1])
result = Sandbox(SandboxConfig(python="/usr/bin/python3.11", timeout_s=60)).run(folder / "s.py", folder / "work")
print(result.exit_code, result.stdout.strip(), result.stderr[-300:])
"""


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3.11").exists(),
                    reason="needs root to start a non-root caller, and a system python 3.11")
def test_non_root_caller_runs_the_script_in_a_user_namespace_without_network() -> None:
    # Without root there is no uid to drop to: bwrap makes a user namespace instead. The system
    # python stands in for the venv one, which sits under /root where uid 65534 cannot reach;
    # the folder is not under pytest's tmp_path, which only root may enter.
    folder = Path(tempfile.mkdtemp(prefix="lc-sandbox-nonroot-"))
    try:
        _run_as_nobody(folder)
    finally:
        shutil.rmtree(folder)


def _run_as_nobody(folder: Path) -> None:
    write_script(folder, """
        import os, socket
        open("out.txt", "w").write("x")
        try:
            socket.socket(socket.AF_INET)
            print(os.getuid(), "SOCKET")
        except OSError:
            print(os.getuid(), "NO-SOCKET")
    """, name="s.py")
    os.chown(folder, 65534, 65534)
    os.chown(folder / "s.py", 65534, 65534)
    repo = REPO
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3.11", "-c",
         NON_ROOT_CALLER, str(folder)],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{repo}:{site}"}, capture_output=True, text=True,
        timeout=120, cwd=folder, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("0 65534 NO-SOCKET"), proc.stdout
    assert (folder / "work" / "out.txt").stat().st_uid == 65534  # the caller's own uid outside
