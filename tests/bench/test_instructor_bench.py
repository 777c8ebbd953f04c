"""The instructor bench's verdict: per-task signed gains against the first variant, the sign test, and one
variant per adapter when several are compared in one invocation."""
from __future__ import annotations

import pytest

from bench.instructor import adapter_names, effect_table, relative_gain, sign_test


def test_the_gain_is_signed_by_the_metrics_direction_and_missing_scores_count_as_no_gain():
    assert relative_gain(2.0, 1.9, higher_is_better=False) == pytest.approx(0.05)  # rmse down: better
    assert relative_gain(0.8, 0.6, higher_is_better=True) == pytest.approx(-0.25)
    assert relative_gain(None, 0.6, True) == 0.0 and relative_gain(0.8, float("nan"), True) == 0.0


def test_the_sign_test_is_the_exact_two_sided_binomial_of_better_against_worse():
    assert sign_test(6, 2) == pytest.approx(0.2890625)  # stop 25's v4 adapter: 6 better, 2 worse
    assert sign_test(10, 0) == pytest.approx(2 / 1024) and sign_test(0, 0) == 1.0 and sign_test(3, 3) == 1.0


def test_the_effect_table_counts_better_worse_and_equal_and_prints_the_median_gain():
    base = [{"competition_id": t, "score": s, "higher_is_better": up, "metric": m}
            for t, s, up, m in [("a", 1.0, False, "rmse"), ("b", 0.5, True, "accuracy"), ("c", 0.9, True, "auc")]]
    other = [{"competition_id": "a", "score": 0.9}, {"competition_id": "b", "score": 0.5},
             {"competition_id": "c", "score": 0.45}]
    text = effect_table({"base": base, "adapter": other}, 60)
    assert "adapter against base on 3 tasks: test score better 1, worse 1, equal 1" in text
    assert "median relative gain +0.0000%" in text and "sign test p = 1.00" in text


def test_several_adapters_are_named_by_their_folders():
    assert adapter_names(["/w/ft-v4/adapter.gguf", "/w/ft-v5/adapter.gguf"]) == ["adapter ft-v4", "adapter ft-v5"]
    assert adapter_names(["ft/a.gguf", "ft/b.gguf"]) == ["adapter a.gguf", "adapter b.gguf"]
    assert adapter_names(["ft/adapter.gguf"]) == ["adapter"] and adapter_names([]) == []
