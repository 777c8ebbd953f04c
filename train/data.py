"""Prompt/completion pairs -> tokenized chat examples for supervised fine-tuning.

Each pair becomes one chat turn (user = prompt, assistant = completion) rendered with the model's
own chat template, so training sees exactly the token stream the served model sees at inference.
The loss covers only the assistant's tokens: prompt tokens get label IGNORE_INDEX (-100).

Why we tokenize the two parts separately: rendering the whole conversation and tokenizing it once
lets BPE merge across the prompt/completion boundary, so the boundary would have to be guessed.
Tokenizing `prompt_text` (the template with the generation prompt) and `completion_text` (the rest)
apart makes the boundary exact and equal to inference, where the prompt is tokenized alone.

Truncation keeps the start (prompt first, then as much completion as fits) and drops examples
left with no completion token: they would add nothing but a NaN-prone all-ignored row.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from actors.errors import ConfigError

log = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label value torch's cross-entropy skips
REQUIRED_COLUMNS = ("prompt", "completion")

# Used only when a base model has no chat template (e.g. a raw Llama-2 base checkpoint).
FALLBACK_PROMPT = "### Instruction:\n{prompt}\n\n### Response:\n"


@dataclass(frozen=True)
class Example:
    """One tokenized pair: input ids, labels (IGNORE_INDEX on the prompt), prompt length."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    n_prompt: int
    truncated: bool = False

    @property
    def n_completion(self) -> int:
        return len(self.input_ids) - self.n_prompt


@dataclass(frozen=True)
class DataStats:
    pairs: int  # rows read
    examples: int  # rows kept
    dropped_empty: int  # empty prompt or completion
    dropped_no_completion: int  # prompt alone filled max_seq_len
    truncated: int  # kept, but the completion was cut


def render_chat(tokenizer: Any, prompt: str, completion: str, system: str | None = None) -> tuple[str, str]:
    """(prompt_text, completion_text): prompt_text ends with the assistant header (what the model
    sees before it answers); completion_text is the answer plus the template's end-of-turn."""
    if not getattr(tokenizer, "chat_template", None):
        eos = tokenizer.eos_token or ""
        return FALLBACK_PROMPT.format(prompt=prompt), completion + eos
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    prompt_text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": completion}], tokenize=False
    )
    if not full_text.startswith(prompt_text):
        # A template that renders the history differently once an answer exists (some "thinking"
        # templates do): the mask boundary would be wrong, so refuse rather than train on it.
        raise ConfigError("the chat template does not render the prompt as a prefix of the conversation")
    return prompt_text, full_text[len(prompt_text):]


def tokenize_pair(
    tokenizer: Any, prompt: str, completion: str, max_seq_len: int, system: str | None = None
) -> Example | None:
    """Tokenize one pair; None when truncation leaves no completion token to learn from."""
    prompt_text, completion_text = render_chat(tokenizer, prompt, completion, system)
    p_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    c_ids = tokenizer(completion_text, add_special_tokens=False)["input_ids"]
    full = list(p_ids) + list(c_ids)
    ids = full[:max_seq_len]
    n_prompt = min(len(p_ids), max_seq_len)
    if len(ids) <= n_prompt:
        return None
    labels = [IGNORE_INDEX] * n_prompt + ids[n_prompt:]
    return Example(tuple(ids), tuple(labels), n_prompt, truncated=len(full) > max_seq_len)


def check_pairs(df: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ConfigError(f"pairs table lacks column(s) {missing}; it has {list(df.columns)}")


def build_examples(
    df: pd.DataFrame, tokenizer: Any, max_seq_len: int, system: str | None = None
) -> tuple[list[Example], DataStats]:
    """Tokenize every usable row of a pairs table (columns prompt, completion, ...)."""
    check_pairs(df)
    if max_seq_len < 8:
        raise ConfigError(f"max_seq_len={max_seq_len} is too small to hold a chat turn")
    examples: list[Example] = []
    empty = no_completion = truncated = 0
    # A pair's own system message (`corpus pairs` keeps the instructor's) wins over the run-wide one.
    systems = df["system"] if "system" in df.columns else [None] * len(df)
    for prompt, completion, own in zip(df["prompt"], df["completion"], systems):
        if not isinstance(prompt, str) or not isinstance(completion, str) or not prompt or not completion:
            empty += 1
            continue
        ex = tokenize_pair(tokenizer, prompt, completion, max_seq_len, own if isinstance(own, str) and own else system)
        if ex is None:
            no_completion += 1
            continue
        truncated += ex.truncated
        examples.append(ex)
    stats = DataStats(len(df), len(examples), empty, no_completion, truncated)
    if stats.dropped_empty or stats.dropped_no_completion:
        log.warning("pairs: dropped %d empty and %d whose prompt fills max_seq_len=%d",
                    empty, no_completion, max_seq_len)
    if not examples:
        raise ConfigError(f"no usable training example among {len(df)} pairs (max_seq_len={max_seq_len})")
    return examples, stats


def split_pairs(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(pairs to train on, held-out pairs to measure the loss on, or None). Rows whose `split` is
    "validation" (`linguacodus corpus pairs --holdout`) are held out; without that column, none are."""
    if "split" not in df.columns or not (df["split"] == "validation").any():
        return df, None
    held = df["split"] == "validation"
    if held.all():
        raise ConfigError(f"all {len(df)} pairs are in the validation split: nothing to train on")
    return df[~held].reset_index(drop=True), df[held].reset_index(drop=True)


def collate(batch: Sequence[Example], pad_id: int) -> dict[str, Any]:
    """Right-pad a batch to its longest example (labels padded with IGNORE_INDEX)."""
    import torch

    width = max(len(ex.input_ids) for ex in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, ex in enumerate(batch):
        n = len(ex.input_ids)
        ids[i, :n] = torch.tensor(ex.input_ids)
        labels[i, :n] = torch.tensor(ex.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def pad_id_of(tokenizer: Any) -> int:
    # Padding is masked out of attention and loss, so any id works; eos is always present.
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ConfigError("tokenizer has neither a pad nor an eos token")
    return int(pad)


def load_pairs(uri: str) -> pd.DataFrame:
    """Read a pairs Parquet file or folder (local, file:// or s3://)."""
    import storage

    df = storage.read_parquet(uri)
    check_pairs(df)
    return df
