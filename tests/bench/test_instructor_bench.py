"""The instructor bench's verdict: per-task signed gains against the first variant, the sign test, and one
variant per adapter when several are compared in one invocation."""
from __future__ import annotations

import json

import pytest

from bench.instructor import adapter_names, best_start_cv, effect_table, relative_gain, saved_effects, sign_test


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


def test_the_instructions_alone_are_judged_by_the_best_cv_of_their_own_full_runs():
    search = {"higher_is_better": False, "trials": [
        {"source": "instruction 1", "status": "completed", "cv_score": 2.0, "rung": 2},
        {"source": "instruction 2", "status": "completed", "cv_score": 1.5, "rung": 1},  # sample rung only
        {"source": "instruction 3", "status": "failed", "cv_score": None, "rung": 2},
        {"source": "default Ridge", "status": "completed", "cv_score": 2.5, "rung": 2},
        {"source": "tpe", "status": "completed", "cv_score": 1.0, "rung": 2}]}
    assert best_start_cv(search, "instruction") == 2.0 and best_start_cv(search, "default") == 2.5
    assert best_start_cv({"trials": []}, "instruction") is None
    row = {"competition_id": "a", "score": 1.0, "higher_is_better": False, "metric": "rmse"}
    text = effect_table({"base": [{**row, "instruction_cv": 2.0, "default_cv": 2.5}],
                         "adapter": [{**row, "instruction_cv": 1.8, "default_cv": 2.5}]}, 60)
    assert "base: its best instruction's CV beats the best default start's on 1 of 1 tasks where both" in text
    assert ("against base's on the 1 tasks where both had one, best instruction CV better 1, worse 0, equal 0; "
            "median relative gain +10.0000%") in text
    text = effect_table({"base": [{**row, "instruction_cv": 2.0, "default_cv": None}, {**row, "competition_id": "b"}],
                         "adapter": [{**row, "instruction_cv": 1.8, "default_cv": 2.5},
                                     {**row, "competition_id": "b", "instruction_cv": 1.0, "default_cv": None}]}, 30)
    assert "base: its best instruction's CV beats the best default start's on 0 of 0 tasks" in text  # no default run
    assert "adapter: its best instruction's CV beats the best default start's on 1 of 1 tasks" in text
    assert "on the 1 tasks where both had one, best instruction CV better 1, worse 0, equal 0" in text


def test_a_saved_effect_run_gives_the_same_table_without_running_anything(tmp_path):
    def task(run: str, cid: str, score: float, instruction: float) -> None:
        folder = tmp_path / "effect" / run / cid
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps({"score": score, "validation_score": score}))
        (folder / "search.json").write_text(json.dumps({"metric": "rmse", "higher_is_better": False, "budget_s": 60,
                                                        "trials": [{"source": "instruction 1", "status": "completed",
                                                                    "cv_score": instruction, "rung": 2}]}))

    for run, cid, score, instruction in [("base", "a", 2.0, 3.0), ("base", "b", 1.0, 1.0), ("adapter", "a", 1.9, 2.0),
                                         ("adapter", "b", 1.1, 1.0)]:
        task(run, cid, score, instruction)
    text = effect_table(saved_effects(tmp_path, ["base", "adapter"]), 60)
    assert "adapter against base on 2 tasks: test score better 1, worse 1, equal 0" in text
    assert "against base's on the 2 tasks where both had one, best instruction CV better 1, worse 0, equal 1" in text


def test_several_search_seeds_are_averaged_per_task_before_the_verdict_and_read_back_from_their_runs(tmp_path):
    def task(run: str, cid: str, score: float) -> None:
        folder = tmp_path / "effect" / run / cid
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps({"score": score, "validation_score": score}))
        (folder / "search.json").write_text(json.dumps({"metric": "rmse", "higher_is_better": False, "budget_s": 20,
                                                        "trials": []}))

    # task a: the adapter is worse on seed 0 (2.1 > 2.0) but better on the mean (1.9 < 2.0); task b: equal
    for run, cid, score in [("base-s0", "a", 2.0), ("base-s1", "a", 2.0), ("adapter-s0", "a", 2.1),
                            ("adapter-s1", "a", 1.7), ("base-s0", "b", 1.0), ("base-s1", "b", 1.0),
                            ("adapter-s0", "b", 1.0), ("adapter-s1", "b", 1.0), ("adapter-seed", "b", 9.0)]:
        task(run, cid, score)
    effects = saved_effects(tmp_path, ["base", "adapter"])
    assert sorted((r["competition_id"], r["search_seed"]) for r in effects["adapter"]) == [
        ("a", 0), ("a", 1), ("b", 0), ("b", 1)]  # `adapter-seed` is no seed of `adapter`
    text = effect_table(effects, 20)
    assert "each the mean over 2 search seeds" in text and "| a | rmse | 2 / 2 | 1.9 / 1.9 |" in text
    assert "adapter against base on 2 tasks: test score better 1, worse 0, equal 1" in text
    assert "search seed 0: better 0, worse 1, equal 1" in text and "search seed 1: better 1, worse 0, equal 1" in text


def test_the_instructions_weight_is_their_share_of_the_submitted_ensemble():
    from bench.instructor import instruction_weight

    trials = [{"trial_id": "a", "source": "instruction 1"}, {"trial_id": "b", "source": "default Ridge"},
              {"trial_id": "c", "source": "instruction 2"}, {"trial_id": "d", "source": "tpe"}]
    ensemble = {"winner": "ensemble", "trials": trials, "members": [
        {"label": "trial a", "weight": 0.25}, {"label": "trial b", "weight": 0.5}, {"label": "trial c", "weight": 0.25}]}
    assert instruction_weight(ensemble) == pytest.approx(0.5)
    assert instruction_weight({"winner": "trial d", "trials": trials, "members": [{"label": "trial d", "weight": 1}]}) == 0
    assert instruction_weight({"winner": "trial c", "trials": trials}) == 1.0  # no members recorded: the winner
    assert instruction_weight({"winner": None, "trials": trials}) is None
    row = {"competition_id": "x", "score": 1.0, "higher_is_better": True, "metric": "accuracy"}
    text = effect_table({"base": [{**row, "instruction_weight": 0.0}],
                         "adapter": [{**row, "instruction_weight": 0.5}]}, 30)
    assert "adapter: share of the submitted program from its instructions (ensemble weight) 50% on average " \
           "over 1 tasks, above 0 on 1" in text
