"""What every LLM stage knows about one competition: the catalog row, its data facts, the metric kind."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from actors.facts import DataFacts
from actors.grading.metrics import get_metric
from actors.task import Competition

KIND_HINTS = {
    "label": "predicted class labels",
    "proba": "predicted probabilities (predict_proba), not hard labels",
    "value": "predicted numeric values",
}


class Validation(NamedTuple):
    """How a task's full runs are validated: K folds, or with `holdout` the last of K folds only."""

    folds: int
    holdout: bool = False

    def args(self) -> tuple[str, ...]:
        """The harness's command-line flags for it."""
        return ("--folds", str(self.folds), *(("--holdout",) if self.holdout else ()))


@dataclass(frozen=True)
class TaskContext:
    competition: Competition
    facts: DataFacts

    @property
    def kind(self) -> str:
        return get_metric(self.competition.metric).kind

    @property
    def higher_is_better(self) -> bool:
        return get_metric(self.competition.metric).higher_is_better

    def submission_columns(self) -> list[str]:
        c = self.competition
        if self.kind == "proba" and c.metric == "multiclass_log_loss":
            return [c.id_column, *self.facts.classes]
        return [c.id_column, *c.target]

    def prompt_vars(self) -> dict[str, object]:
        """Variables of actors/prompts/task.j2, shared by every prompt so the model sees one framing."""
        c = self.competition
        return {
            "title": c.title or c.competition_id,
            "description": _trim(c.description, 3000),
            "metric": c.metric,
            "higher_is_better": self.higher_is_better,
            "task_type": c.task_type,
            "data_type": c.data_type,
            "facts": self.facts.render(),
            "kind_hint": KIND_HINTS[self.kind],
            "targets": list(c.target),
            "id_column": c.id_column,
            "submission_columns": self.submission_columns(),
        }

    def harness_constants(self, seed: int = 0, folds: int = 5, group_column: str | None = None,
                          time_column: str | None = None, holdout: bool = False) -> dict[str, object]:
        """The TASK dict the harness reads (actors/harness/fragments/harness.py). `folds` is the default of the
        script's --folds, `holdout` of its --holdout (validate on the last fold only); a group column keeps each
        group inside one fold, a time column makes the folds time-ordered (the harness validates on later rows
        only)."""
        c = self.competition
        constants: dict[str, object] = {
            "competition_id": c.competition_id,
            "targets": list(c.target),
            "id_column": c.id_column,
            "task_type": c.task_type,
            "metric": c.metric,
            "kind": self.kind,
            "classes": list(self.facts.classes),
            "seed": seed,
            "folds": folds,
        }
        if holdout:  # 1, not True: TASK is written into the script as JSON, which has no Python literal for it
            constants["holdout"] = 1
        if group_column:
            constants["group_column"] = group_column
        if time_column:
            constants["time_column"] = time_column
        return constants


def _trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[... description truncated ...]"
