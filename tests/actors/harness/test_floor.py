"""The pre-written harness with the built-in stages: stage checks on a sample keep every column and
class, and the floor writes a valid submission for every open task inside the real sandbox."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from actors.grading.grader import grade_submission
from actors.harness.integrate import assemble, floor_stages
from actors.sandbox.sandbox import Sandbox, SandboxConfig
from tests.helpers.open_tasks import context
from tests.helpers.paths import OPEN

TASKS = sorted(p.name for p in OPEN.iterdir() if p.is_dir())
pytestmark = pytest.mark.sandbox



def run_floor(task: str, tmp_path: Path, *args: str):
    ctx = context(task)
    (tmp_path / "solution.py").write_text(assemble(ctx.harness_constants(), floor_stages()))
    inputs = {n: OPEN / task / n for n in ("train.csv", "test.csv")}
    return ctx, Sandbox(SandboxConfig(timeout_s=300)).run(tmp_path / "solution.py", tmp_path, inputs, args=args)


@pytest.mark.parametrize("task", ["titanic-categorical", "seattle-weather", "chile-vote"])
def test_a_stage_check_on_a_sample_smaller_than_train_keeps_the_target_and_every_class(task, tmp_path):
    _, result = run_floor(task, tmp_path, "--check", "predict", "--sample", "300")
    assert result.ok, result.stderr[-2000:]
    assert "LINGUACODUS_CHECK_OK" in result.stdout
    val = pd.read_csv(tmp_path / "val_predictions.csv")
    assert len(val) > 0 and not val.isna().any().any()


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_the_floor_writes_a_valid_submission_for_every_open_task(task, tmp_path):
    ctx, result = run_floor(task, tmp_path)
    assert result.ok, result.stderr[-2000:]
    comp = ctx.competition
    graded = grade_submission(pd.read_csv(tmp_path / "submission.csv"), pd.read_csv(comp.answers_uri),
                              metric=comp.metric, id_column=comp.id_column, targets=list(comp.target),
                              classes=ctx.facts.classes or None)
    assert graded.valid, graded.reason
