"""The attack suite, host side: what the host reads back from a work dir, and what it stages as
inputs. Each attack is a real script in the real sandbox; the read-back attacks run through the
real pipeline (vanilla mode, a scripted LLM that always returns the attack), with the floor grading
the row afterwards.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from actors.sandbox.readback import ReadBackError, read_back
from actors.sandbox.sandbox import Sandbox, SandboxConfig
from actors.task import Competition
from jobs.config import RunConfig
from jobs.inputs import PrivateInputError, stage_inputs
from tests.helpers.solve import solve_row
from tests.helpers.fakes import ScriptedLLM
from tests.helpers.open_tasks import catalog_row
from tests.helpers.paths import OPEN

pytestmark = pytest.mark.sandbox
SECRET = "lc-host-secret-5f1e0c"


@pytest.fixture
def task(tmp_path: Path) -> Competition:
    """The penguins task in a folder of its own, answers beside the data as in the open set."""
    folder = tmp_path / "penguins"
    shutil.copytree(OPEN / "penguins", folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return Competition(**catalog_row("penguins", data_uri=str(folder), answers_uri=str(folder / "answers.csv")))


def solve_with(comp: Competition, attack: str, out: Path, timeout_s: float = 120) -> dict:
    """One vanilla attempt running `attack`, then the floor; fails the test if the host hangs."""
    llm = ScriptedLLM(lambda req: f"```python\n{attack}\n```")
    config = RunConfig(catalog="unused", out=str(out), run_id="r", mode="vanilla", executor={"max_fix": 0},
                       sandbox={"timeout_s": 60})
    rows: list[dict] = []
    thread = threading.Thread(target=lambda: rows.append(solve_row(comp, llm, config, out / "c")), daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert rows, f"the host was still busy with the attack after {timeout_s:.0f} s"
    return rows[0]


def artifacts_text(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in (out / "c").rglob("*") if p.is_file())


def test_a_submission_symlinked_to_the_answers_is_not_graded(task: Competition, tmp_path: Path) -> None:
    attack = f"import os\nos.symlink({task.answers_uri!r}, '/work/submission.csv')\n"
    row = solve_with(task, attack, tmp_path / "out")
    first = row["details"]["attempts"][0]
    assert not first["ok"] and first["error"] == "submission.csv is a symlink, not a regular file"
    assert row["fallback_used"] and row["status"] == "graded"  # graded: the floor's own submission
    answers = Path(task.answers_uri).read_bytes()  # type: ignore[arg-type]
    assert (tmp_path / "out" / "c" / "submission.csv").read_bytes() != answers


@pytest.mark.parametrize("target", ["/etc/shadow", "/proc/self/environ"])
@pytest.mark.parametrize("name", ["submission.csv", "_lc_error.json"])
def test_host_files_behind_symlinks_never_reach_the_results(task: Competition, tmp_path: Path, name: str,
                                                            target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_ATTACK_PROBE", SECRET)  # in the host's /proc/self/environ
    host_lines = [ln for ln in Path("/etc/shadow").read_text().splitlines() if ln.strip()][:3]
    exit_code = 0 if name == "submission.csv" else 1
    attack = f"import os, sys\nos.symlink({target!r}, '/work/{name}')\nsys.exit({exit_code})\n"
    row = solve_with(task, attack, tmp_path / "out")
    first = row["details"]["attempts"][0]
    assert not first["ok"] and f"{name} is a symlink" in first["error"]
    text = artifacts_text(tmp_path / "out") + json.dumps(row, default=str)
    assert SECRET not in text
    assert not any(line in text for line in host_lines)


@pytest.mark.parametrize("name", ["submission.csv", "_lc_error.json"])
def test_a_fifo_in_the_work_dir_does_not_hang_the_host(task: Competition, tmp_path: Path, name: str) -> None:
    exit_code = 0 if name == "submission.csv" else 1
    attack = f"import os, sys\nos.mkfifo('/work/{name}')\nsys.exit({exit_code})\n"
    row = solve_with(task, attack, tmp_path / "out")
    assert f"{name} is a FIFO" in row["details"]["attempts"][0]["error"]
    assert row["status"] == "graded" and row["fallback_used"]


def test_a_submission_symlinked_to_dev_zero_is_refused_before_any_read(task: Competition, tmp_path: Path) -> None:
    attack = "import os\nos.symlink('/dev/zero', '/work/submission.csv')\n"
    row = solve_with(task, attack, tmp_path / "out")
    assert row["details"]["attempts"][0]["error"] == "submission.csv is a symlink, not a regular file"


def test_read_back_refuses_links_fifos_devices_and_oversized_files(tmp_path: Path) -> None:
    # The watchdog fallback leaves these in the caller's work dir: read_back is the wall there.
    (tmp_path / "ok.csv").write_text("a\n1\n")
    (tmp_path / "big.csv").write_bytes(b"x" * 2048)
    os.symlink("/etc/shadow", tmp_path / "link.csv")
    os.mkfifo(tmp_path / "fifo.csv")
    os.symlink("/dev/zero", tmp_path / "zero.csv")
    assert read_back(tmp_path, "ok.csv", 1024) == b"a\n1\n"
    for name, reason in (("link.csv", "a symlink"), ("fifo.csv", "a FIFO"), ("zero.csv", "a symlink"),
                         ("big.csv", "over the"), ("missing.csv", "missing"), ("../ok.csv", "plain file name")):
        with pytest.raises(ReadBackError, match=reason):
            read_back(tmp_path, name, 1024)


# -- inputs: an allow-list, staged privately --------------------------------------------------------

LISTER = """
import os
seen = []
for root, dirs, files in os.walk("/data"):
    seen += [os.path.join(root, f) for f in files]
print("SEEN", sorted(seen))
for path in seen:
    print("CONTENT", path, open(path).read()[:200].replace("\\n", " "))
print("MOUNTINFO", open("/proc/self/mountinfo").read().replace("\\n", " | "))
"""


def test_only_allow_listed_inputs_are_visible_and_no_host_path_shows(task: Competition, tmp_path: Path) -> None:
    folder = Path(task.data_uri)
    (folder / "private").mkdir()
    shutil.move(folder / "answers.csv", folder / "private" / "answers.csv")
    for name in ("leaderboard_2024.csv", "test_labels.csv", "answers.csv.bak"):
        (folder / name).write_text(f"id,species\n1,{SECRET}\n")
    (folder / "private" / "answers.csv").write_text(f"id,species\n1,{SECRET}\n")
    (folder / "sample_submission.csv").write_text("id,species\n1,Adelie\n")
    comp = task.model_copy(update={"answers_uri": str(folder / "private" / "answers.csv"),
                                   "leaderboard_uri": str(folder / "leaderboard_2024.csv")})
    inputs = stage_inputs(comp, tmp_path / "stage")
    assert sorted(inputs) == ["sample_submission.csv", "test.csv", "train.csv"]
    script = tmp_path / "src" / "lister.py"
    script.parent.mkdir()
    script.write_text(LISTER)
    result = Sandbox(SandboxConfig(timeout_s=60)).run(script, tmp_path / "work", inputs)
    assert result.ok, result.stderr
    assert "SEEN ['/data/sample_submission.csv', '/data/test.csv', '/data/train.csv']" in result.stdout
    assert SECRET not in result.stdout
    mountinfo = result.stdout.split("MOUNTINFO", 1)[1]
    assert str(folder) not in mountinfo and "answers" not in mountinfo
    assert str(tmp_path / "work") not in mountinfo  # /work is a folder of the run's own disk


def test_declared_data_files_are_given_and_a_declared_private_folder_is_refused(task: Competition,
                                                                                 tmp_path: Path) -> None:
    folder = Path(task.data_uri)
    (folder / "extra").mkdir()
    (folder / "extra" / "notes.txt").write_text("allowed")
    (folder / "unlisted.csv").write_text("not declared")
    inputs = stage_inputs(task.model_copy(update={"data_files": ["extra"]}), tmp_path / "a")
    assert sorted(inputs) == ["extra", "test.csv", "train.csv"]
    assert (inputs["extra"] / "notes.txt").read_text() == "allowed"
    (folder / "private").mkdir()
    shutil.move(folder / "answers.csv", folder / "private" / "answers.csv")
    hidden = task.model_copy(update={"data_files": ["private"], "answers_uri": str(folder / "private" / "answers.csv")})
    with pytest.raises(PrivateInputError, match="'private'"):
        stage_inputs(hidden, tmp_path / "b")
    os.symlink(folder / "private" / "answers.csv", folder / "extra" / "peek.csv")
    with pytest.raises(PrivateInputError, match="extra/peek.csv"):
        stage_inputs(hidden.model_copy(update={"data_files": ["extra"]}), tmp_path / "c")
