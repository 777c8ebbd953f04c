"""The harness's fragments executed in-process, for tests of their functions without a sandbox."""
from __future__ import annotations

from actors.harness.integrate import HARNESS_DIR, HARNESS_FRAGMENTS, TOOLKIT_FRAGMENTS


def constants(**over: object) -> dict:
    """The TASK dict of a small made-up multiclass task, with `over` changed."""
    return {"targets": ["y"], "id_column": "id", "task_type": "multiclass", "metric": "accuracy", "kind": "label",
            "classes": ["a", "b", "c"], "seed": 0, "folds": 5, **over}


def harness_namespace(**over: object) -> dict:
    ns: dict = {"TASK": constants(**over)}
    exec("\n".join((HARNESS_DIR / n).read_text() for n in HARNESS_FRAGMENTS + TOOLKIT_FRAGMENTS), ns)
    return ns


def toolkit_namespace() -> dict:
    ns: dict = {"SEED": 0}
    exec("import sys\nimport pandas as pd\nimport numpy as np\nimport scipy.sparse as sp\n"
         + "\n".join((HARNESS_DIR / name).read_text() for name in TOOLKIT_FRAGMENTS), ns)
    return ns
