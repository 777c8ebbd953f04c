"""Sanitising generated stage code: what survives, what is repaired, what is refused (with feedback)."""
from __future__ import annotations

import pytest

from actors.integrate import StageCodeError, assemble, floor_stages, sanitize_stage


def test_top_level_statements_that_would_run_at_import_are_dropped():
    code = sanitize_stage("train", "df = pd.read_csv('train.csv')\nprint(df)\nK = 3\n"
                                   "def train_model(model, X, y):\n    model.fit(X, y)\n    return model\n")
    assert "read_csv" not in code and "print" not in code and "K = 3" in code


def test_unused_and_hallucinated_imports_are_dropped_and_known_names_moved_to_their_module():
    code = sanitize_stage("model", "import random_state\nfrom sklearn.model_selection import train_test_split\n"
                                   "from sklearn.ensemble import LightGBMClassifier\n"
                                   "def build_model():\n    return LightGBMClassifier(random_state=SEED)\n")
    assert "random_state\n" not in code.split("def")[0] and "train_test_split" not in code
    assert "from lightgbm import LGBMClassifier as LightGBMClassifier" in code


def test_a_known_estimator_used_without_import_gets_its_import():
    code = sanitize_stage("model", "def build_model():\n    return RandomForestRegressor(n_estimators=10)\n")
    assert code.startswith("from sklearn.ensemble import RandomForestRegressor")


@pytest.mark.parametrize(("stage", "code", "message"), [
    ("preprocess", "x = (", "SyntaxError"),
    ("preprocess", "both = pd.concat([train, test])\n", "must define the function `preprocess`"),
    ("model", "def build_model(a, b):\n    return None\n", "exactly 0 argument"),
    ("train", "def main():\n    pass\ndef train_model(m, X, y):\n    return m\n", "belongs to the harness"),
    ("predict", "", "no code"),
])
def test_unusable_code_is_refused_with_a_message_for_the_model(stage, code, message):
    with pytest.raises(StageCodeError, match=message):
        sanitize_stage(stage, code)


def test_the_integrated_floor_script_compiles_and_has_one_of_each_stage():
    script = assemble({"targets": ["y"], "id_column": "id", "task_type": "binary", "metric": "accuracy",
                       "kind": "label", "classes": ["0", "1"], "seed": 0}, floor_stages())
    compile(script, "solution.py", "exec")
    for fn in ("def preprocess(", "def build_model(", "def train_model(", "def predict(", "def main("):
        assert script.count(fn) == 1, fn


def test_dropping_columns_the_harness_already_removed_is_harmless():
    code = sanitize_stage("preprocess", "def preprocess(train, test):\n"
                                        "    train = train.drop(columns=['id', 'target'])\n"
                                        "    test = test.drop(['id'], axis=1)\n    return train, test\n")
    namespace: dict = {}
    exec(code, namespace)
    import pandas as pd
    a, b = namespace["preprocess"](pd.DataFrame({"x": [1]}), pd.DataFrame({"x": [2]}))
    assert list(a.columns) == ["x"] and list(b.columns) == ["x"]


def test_object_columns_of_booleans_or_numbers_pass_the_feature_contract(tmp_path):
    import subprocess
    import sys

    stages = floor_stages() | {"preprocess": (
        "def preprocess(train, test):\n"
        "    both = pd.concat([train, test])\n"
        "    out = pd.DataFrame({'flag': both['x'].isna().astype(object), 'n': both['x'].fillna(0).astype(str)})\n"
        "    return out.iloc[:len(train)], out.iloc[len(train):]\n")}
    script = assemble({"targets": ["y"], "id_column": "id", "task_type": "binary", "metric": "accuracy",
                       "kind": "label", "classes": ["0", "1"], "seed": 0}, stages)
    (tmp_path / "solution.py").write_text(script)
    import pandas as pd
    pd.DataFrame({"id": range(40), "x": [None, 1.5] * 20, "y": [0, 1] * 20}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"id": range(40, 50), "x": [2.0, None] * 5}).to_csv(tmp_path / "test.csv", index=False)
    run = subprocess.run([sys.executable, "solution.py"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-1500:]
    assert len(pd.read_csv(tmp_path / "submission.csv")) == 10
