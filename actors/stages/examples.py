"""Few-shot material: a made-up house-data task of the same metric kind as the real one, its three
instructions, its stage plans and its stage code. Small models imitate a worked example far better
than they follow rules. The prose is data (actors/prompts/examples/house.json and the stage files
beside it); this module only turns it into records and chat turns."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from actors.context import TaskContext
from actors.facts import ColumnFacts, DataFacts
from actors.stages.instruction import Instruction
from actors.task import Competition
from actors.templates import render

EXAMPLES_DIR = Path(__file__).parents[1] / "prompts" / "examples"


@lru_cache(maxsize=1)
def _house() -> dict[str, Any]:
    return json.loads((EXAMPLES_DIR / "house.json").read_text())


def _family(kind: str) -> str:
    return _house()["kinds"][kind]["estimator"]


def example_context(kind: str) -> TaskContext:
    """The made-up house-data task of this metric kind ("value", "label" or "proba")."""
    house, spec = _house(), _house()["kinds"][kind]
    task = house["task"]
    facts = DataFacts(n_train=task["n_train"], n_test=task["n_test"], id_column=task["id_column"],
                      targets=[spec["target"]], columns=[ColumnFacts(**c) for c in house["columns"]],
                      target_summary=spec["target_summary"], classes=list(spec["classes"]))
    comp = Competition(competition_id=task["competition_id"], title=task["title"],
                       description=task["description"].format(target=spec["target"]), metric=spec["metric"],
                       task_type=spec["task_type"], target=[spec["target"]], id_column=task["id_column"],
                       data_uri=task["data_uri"])
    return TaskContext(comp, facts)


def example_plan() -> Instruction:
    """The refined instruction the coder's few-shot turns pretend to follow."""
    return Instruction(0, **_house()["plan"])


def example_instructions(kind: str) -> list[dict[str, str]]:
    """Three good instructions for the house task of this kind."""
    spec = _house()["kinds"][kind]
    return [{part: text.format(estimator=spec["estimator"], submission=spec["submission"])
             for part, text in item.items()} for item in _house()["instructions"]]


def example_exchange(kind: str) -> list[dict[str, str]]:
    """The instructor's few-shot turn: the house task's prompt and its three instructions as the answer."""
    example = example_context(kind)
    return [{"role": "user", "content": render("instructor", **example.prompt_vars())},
            {"role": "assistant", "content": json.dumps({"instructions": example_instructions(kind)})}]


def example_plans(stage: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(instruction part, plan) pairs of a plan-style stage for the house task of this kind."""
    by_family = _house()["plans"][stage]
    return [(part, plan) for part, plan in by_family.get(_family(kind), by_family.get("any", []))]


def stage_example(kind: str, stage: str) -> str:
    """The stage function a code-style few-shot turn answers with."""
    name = {"preprocess": "preprocess", "train": "train",
            "model": "model_regressor" if kind == "value" else "model_classifier",
            "predict": f"predict_{kind}"}[stage]
    return (EXAMPLES_DIR / f"{name}.py").read_text().strip()
