"""Sanitising generated stage code: what survives, what is repaired, what is refused (with feedback)."""
from __future__ import annotations

import pytest

from actors.harness.integrate import StageCodeError, assemble, floor_stages, sanitize_stage


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


def test_the_integrated_floor_script_compiles_and_has_one_of_each_stage_and_no_predict_stage():
    import ast

    script = assemble({"targets": ["y"], "id_column": "id", "task_type": "binary", "metric": "accuracy",
                       "kind": "label", "classes": ["0", "1"], "seed": 0}, floor_stages())
    top = [n.name for n in ast.parse(script).body if isinstance(n, ast.FunctionDef)]
    for fn in ("preprocess", "build_model", "train_model", "main"):
        assert top.count(fn) == 1, fn
    assert "predict" not in top  # the harness predicts and formats per metric


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


def test_a_dead_line_reading_data_build_model_never_gets_is_dropped():
    code = sanitize_stage("model", "def build_model():\n    df = pd.get_dummies(train_df)\n"
                                   "    return ExtraTreesRegressor(n_estimators=10, random_state=SEED)\n")
    assert "train_df" not in code and "ExtraTreesRegressor(n_estimators=10" in code


def test_an_undefined_name_that_matters_is_refused_before_any_check_runs():
    with pytest.raises(StageCodeError, match="'X_train' is not defined in train_model: train_model"):
        sanitize_stage("train", "def train_model(model, X, y):\n    model.fit(X_train, y)\n    return model\n")
    # names the harness and the toolkit define, locals and comprehension variables are all fine
    sanitize_stage("preprocess", "def preprocess(train, test):\n    cols = [c for c in train.columns if KIND]\n"
                                 "    train, test = one_hot(train, test, cols)\n    return train, test\n")


def _toolkit() -> dict:
    from actors.harness.integrate import HARNESS_DIR, TOOLKIT_FRAGMENTS

    namespace: dict = {"SEED": 0}
    exec("import sys\nimport pandas as pd\nimport numpy as np\nimport scipy.sparse as sp\n"
         + "\n".join((HARNESS_DIR / name).read_text() for name in TOOLKIT_FRAGMENTS), namespace)
    return namespace


def test_toolkit_operations_encode_train_and_test_together_without_losing_rows():
    import pandas as pd

    tk = _toolkit()
    train = pd.DataFrame({"city": ["Oslo", "Bergen", None, "Oslo"], "rooms": [1.0, None, 3.0, 5.0],
                          "built": ["2001-02-03", "2010-12-31", "bad", "1999-01-01"],
                          "notes": ["a big flat", "small", None, "x y z w"], "ok": ["yes", "no", "True", "false"]},
                         index=[7, 3, 9, 1])
    test = pd.DataFrame({"city": ["Tromso", "Oslo"], "rooms": [None, 2.0], "built": ["2020-06-01", None],
                         "notes": ["new", "old house"], "ok": ["no", "yes"]}, index=[0, 5])
    a, b = tk["fill_missing"](train, test, ["rooms", "nope"])
    assert a["rooms"].tolist() == [1.0, 3.0, 3.0, 5.0] and b["rooms"].tolist() == [3.0, 2.0]  # train median
    a, b = tk["one_hot"](a, b, ["city"])
    assert {"city_Oslo", "city_Tromso", "city_nan"} <= set(a.columns) and list(a.columns) == list(b.columns)
    assert b["city_Tromso"].tolist() == [1, 0] and a["city_Tromso"].sum() == 0
    a, b = tk["date_features"](a, b, ["built"])
    assert a["built_year"].tolist() == [2001, 2010, -1, 1999] and b["built_month"].tolist() == [6, -1]
    assert a["built_days"].tolist()[:2] == [11356, 14974] and "built_hour" not in a.columns  # dates without times
    stamps = pd.DataFrame({"at": ["2016-03-01T08:15:00Z", "2016-03-01T23:00:00+00:00", None]})
    t, _ = tk["date_features"](stamps, stamps.head(1), ["at"])
    assert t["at_hour"].tolist() == [8, 23, -1] and 16861.3 < t["at_days"].tolist()[2] < 16862  # a missing time: the median
    a, b = tk["text_features"](a, b, ["notes"])
    assert a["notes_words"].tolist() == [3, 1, 0, 4] and "notes" not in b.columns
    a, b = tk["to_number"](a, b, ["ok"])
    assert a["ok"].tolist() == [1, 0, 1, 0] and b["ok"].tolist() == [0, 1]
    assert len(a) == 4 and len(b) == 2 and a.map(lambda v: isinstance(v, (int, float))).all().all()
    a, b = tk["encode_categories"](train, test, "city")
    assert a["city"].tolist()[2] == -1 and b["city"].tolist()[1] == a["city"].tolist()[0]
    # numbers are already features: encoding them as categories would scramble their order
    wide = pd.DataFrame({"age": [float(i) for i in range(40)], "sex": [1.0, 2.0] * 20})
    a, b = tk["one_hot"](wide, wide.head(3), ["age", "sex"])
    assert a["age"].tolist() == wide["age"].tolist() and "sex_1.0" in a.columns
    a, b = tk["encode_categories"](wide, wide.head(3), ["age"])
    assert a["age"].tolist() == wide["age"].tolist()


def test_keywords_the_installed_libraries_refuse_are_repaired():
    code = sanitize_stage("model", "def build_model():\n    return lgb.LGBMClassifier(objective='binary', num_class=4, "
                                   "n_estimators=50, verbose=-1)\n")
    assert "objective" not in code and "num_class" not in code and "n_estimators=50" in code
    code = sanitize_stage("model", "def build_model():\n    return RandomForestRegressor(max_features='auto', "
                                   "criterion='mse')\n")
    assert "max_features=1.0" in code and "criterion='squared_error'" in code
    code = sanitize_stage("model", "def build_model():\n    return LogisticRegression(multi_class='multinomial', "
                                   "max_iter=500)\n")
    namespace: dict = {"SEED": 0}
    exec(code, namespace)
    assert namespace["build_model"]().max_iter == 500
