"""Pairs -> tokenized chat examples, with the real SmolLM2 tokenizer (read from its GGUF)."""
from __future__ import annotations

import copy

import pandas as pd
import pytest

from actors.errors import ConfigError
from train.data import IGNORE_INDEX, FALLBACK_PROMPT, build_examples, collate, pad_id_of, split_pairs, tokenize_pair

PROMPT = "Competition iris: predict species from four measurements. Metric: accuracy."
COMPLETION = "1. Preprocess: scale features.\n2. Model: logistic regression.\n3. Submit probabilities."


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from actors.llm.weights import resolve_gguf

    gguf = resolve_gguf("smollm2-135m")
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def test_prompt_tokens_are_masked_and_completion_tokens_are_learned(tokenizer):
    ex = tokenize_pair(tokenizer, PROMPT, COMPLETION, max_seq_len=512)
    assert ex is not None and not ex.truncated
    assert ex.labels[: ex.n_prompt] == (IGNORE_INDEX,) * ex.n_prompt
    assert ex.labels[ex.n_prompt:] == ex.input_ids[ex.n_prompt:]
    assert tokenizer.decode(ex.input_ids[ex.n_prompt:]).startswith(COMPLETION)
    assert "<|im_end|>" in tokenizer.decode(ex.input_ids[ex.n_prompt:])  # the model learns to stop


def test_prompt_part_is_exactly_what_the_model_sees_at_inference(tokenizer):
    ex = tokenize_pair(tokenizer, PROMPT, COMPLETION, max_seq_len=512)
    text = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False,
                                         add_generation_prompt=True)
    assert list(ex.input_ids[: ex.n_prompt]) == tokenizer(text, add_special_tokens=False)["input_ids"]
    assert text.endswith("<|im_start|>assistant\n")


def test_system_prompt_goes_before_the_user_turn_and_is_masked(tokenizer):
    ex = tokenize_pair(tokenizer, PROMPT, COMPLETION, max_seq_len=512, system="You write ML plans.")
    prompt_text = tokenizer.decode(ex.input_ids[: ex.n_prompt])
    assert prompt_text.index("You write ML plans.") < prompt_text.index(PROMPT)


def test_long_completion_is_cut_at_max_seq_len_keeping_the_whole_prompt(tokenizer):
    full = tokenize_pair(tokenizer, PROMPT, COMPLETION, max_seq_len=512)
    limit = full.n_prompt + 5
    cut = tokenize_pair(tokenizer, PROMPT, COMPLETION, max_seq_len=limit)
    assert cut.truncated and len(cut.input_ids) == limit == len(cut.labels)
    assert cut.input_ids == full.input_ids[:limit] and cut.n_prompt == full.n_prompt
    assert cut.n_completion == 5


def test_pair_whose_prompt_fills_max_seq_len_is_dropped_and_counted(tokenizer):
    n_prompt = tokenize_pair(tokenizer, PROMPT, COMPLETION, max_seq_len=512).n_prompt
    df = pd.DataFrame({"prompt": [PROMPT, "short"], "completion": [COMPLETION, COMPLETION]})
    examples, stats = build_examples(df, tokenizer, max_seq_len=n_prompt)
    assert stats.dropped_no_completion == 1 and stats.examples == len(examples) == 1
    assert len(examples[0].input_ids) <= n_prompt


def test_empty_rows_are_dropped_and_counted(tokenizer):
    df = pd.DataFrame({"prompt": [PROMPT, "", None], "completion": [COMPLETION, COMPLETION, COMPLETION]})
    examples, stats = build_examples(df, tokenizer, max_seq_len=256)
    assert (stats.pairs, stats.examples, stats.dropped_empty) == (3, 1, 2)


def test_pairs_without_a_completion_column_are_refused_by_name(tokenizer):
    with pytest.raises(ConfigError, match="completion"):
        build_examples(pd.DataFrame({"prompt": [PROMPT], "instruction": ["x"]}), tokenizer, 256)


def test_no_usable_pair_is_an_error_not_an_empty_run(tokenizer):
    with pytest.raises(ConfigError, match="no usable"):
        build_examples(pd.DataFrame({"prompt": [""], "completion": [""]}), tokenizer, 256)


def test_collate_right_pads_and_ignores_padding_in_the_loss(tokenizer):
    a = tokenize_pair(tokenizer, PROMPT, COMPLETION, 512)
    b = tokenize_pair(tokenizer, "Tiny task.", "Use a baseline.", 512)
    batch = collate([a, b], pad_id=pad_id_of(tokenizer))
    width = len(a.input_ids)
    assert batch["input_ids"].shape == (2, width) and len(b.input_ids) < width
    n = len(b.input_ids)
    assert batch["attention_mask"][1, :n].all() and not batch["attention_mask"][1, n:].any()
    assert (batch["labels"][1, n:] == IGNORE_INDEX).all()
    assert (batch["input_ids"][1, n:] == pad_id_of(tokenizer)).all()
    assert batch["labels"][0].tolist() == list(a.labels)


def test_model_without_chat_template_uses_the_instruction_fallback(tokenizer):
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    ex = tokenize_pair(plain, PROMPT, COMPLETION, 512)
    assert plain.decode(ex.input_ids[: ex.n_prompt]) == FALLBACK_PROMPT.format(prompt=PROMPT)
    assert plain.decode(ex.input_ids[ex.n_prompt:]) == COMPLETION + plain.eos_token


def test_a_pairs_own_system_message_is_used_and_a_missing_one_falls_back_to_the_run_wide_one(tokenizer):
    df = pd.DataFrame({"prompt": [PROMPT, PROMPT], "completion": [COMPLETION, COMPLETION],
                       "system": ["You are the instructor of issue 11.", None]})
    examples, _ = build_examples(df, tokenizer, 512, system="Run-wide system.")
    own, fallback = (tokenizer.decode(ex.input_ids[: ex.n_prompt]) for ex in examples)
    assert "You are the instructor of issue 11." in own and "Run-wide system." not in own
    assert "Run-wide system." in fallback


def test_validation_rows_are_held_out_of_training_and_an_all_validation_table_is_refused():
    df = pd.DataFrame({"prompt": ["a", "b", "c"], "completion": ["x", "y", "z"],
                       "split": ["train", "validation", "train"]})
    train, held = split_pairs(df)
    assert list(train["prompt"]) == ["a", "c"] and list(held["prompt"]) == ["b"]
    assert split_pairs(df.drop(columns=["split"]))[1] is None
    assert split_pairs(df.assign(split="train"))[1] is None
    with pytest.raises(ConfigError, match="all 3 pairs are in the validation split"):
        split_pairs(df.assign(split="validation"))
