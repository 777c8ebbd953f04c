"""The resolver's repair is kept only when it is an instruction (the 0.5B model sometimes returns
the critique itself in all four parts); the pick is kept either way."""
from __future__ import annotations

import json

from actors.stages.instruction import Instruction
from actors.stages.refiner import Refiner, degenerate
from tests.helpers.fakes import ScriptedLLM
from tests.helpers.open_tasks import context

GOOD = {"preprocessing": "one-hot encode island and sex, fill missing numbers with medians",
        "model": "random forest with 200 trees", "training": "fit on all rows", "submission": "predict species"}
ECHO = "The instruction 3 does not fill missing island with the median. The critic found that it does not"


def _refine(refined: dict) -> dict:
    def reply(req) -> str:
        if '"critiques"' in json.dumps(req.json_schema):
            return json.dumps({"critiques": [{"errors": []}] * 3})
        return json.dumps({"best": 2, "reasons": "fills the missing values", "refined": refined})

    candidates = [Instruction(i, **{**GOOD, "model": f"model {i}"}) for i in (1, 2, 3)]
    return Refiner(ScriptedLLM(reply)).run(context("penguins"), candidates).to_dict()


def test_a_repair_that_repeats_the_critique_is_rejected_and_the_pick_kept():
    out = _refine({"preprocessing": ECHO, "model": ECHO, "training": ECHO, "submission": ECHO})
    assert out["best"] == 2 and out["refined"]["model"] == "model 2"
    assert out["repair_rejected"] == "all four parts are the same text"


def test_a_real_repair_is_used():
    out = _refine({**GOOD, "model": "lightgbm with 300 trees"})
    assert out["refined"]["model"] == "lightgbm with 300 trees" and out["repair_rejected"] is None
    assert degenerate(Instruction(1, ECHO, "The critic says instruction 1 lacks a model", "fit", "predict"))
