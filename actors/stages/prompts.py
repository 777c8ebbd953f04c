"""The coder's chat for one stage: system, a worked example for the made-up house task, then this task.

The prose is in templates (actors/prompts/stage.j2, stage_rules.j2, stage_signature.j2, code_reply.j2,
plan_reply.j2); this module computes what they need from the task's facts. Prompts are kept short
and specific to the stage: long prompts derail a 0.5B model.
"""
from __future__ import annotations

import dataclasses
import json

from actors.context import TaskContext
from actors.stages import plans
from actors.stages.examples import example_context, example_plan, example_plans, stage_example
from actors.stages.instruction import Instruction
from actors.templates import render

# Which part of the refined instruction each stage follows.
PLAN_PART = {"preprocess": "preprocessing", "model": "model", "train": "training", "predict": "submission"}
# Kinds of columns that get a rule of their own in the preprocess stage, in the order shown.
RULE_KINDS = ("categorical", "text", "date", "boolean")


def _names(cols: list[str]) -> str:
    return ", ".join(cols[:30]) + (f" ... ({len(cols)} in all)" if len(cols) > 30 else "")


def stage_rules(ctx: TaskContext, stage: str, style: str = "code") -> list[str]:
    """The task-specific rules of a stage; plan style leaves out those about writing Python."""
    f = ctx.facts
    variables: dict[str, object] = {"stage": stage, "style": style, "kind": ctx.kind, "metric": ctx.competition.metric,
                                    "n_train": f.n_train, "target_summary": f.target_summary}
    if stage == "preprocess":
        has_missing = {c.name for c in f.columns if c.missing_train or c.missing_test}
        features = [c.name for c in f.columns]
        variables.update(
            shown=", ".join(features[:40]) + (" ..." if len(features) > 40 else ""),
            removed=", ".join(repr(c) for c in [f.id_column, *f.targets, *f.train_only]),
            complete=_names([c for c in f.by_kind("numeric") if c not in has_missing]),
            incomplete=_names([c for c in f.by_kind("numeric") if c in has_missing]),
            kinds=[(k, _names(f.by_kind(k))) for k in RULE_KINDS if f.by_kind(k)])
    return [line for line in render("stage_rules", **variables).splitlines() if line.strip()]


def signature(ctx: TaskContext, stage: str) -> str:
    """The signature (with its contract docstring) of a code-style stage function."""
    return render("stage_signature", stage=stage, kind=ctx.kind, task_type=ctx.competition.task_type)


def plan_reply(ctx: TaskContext, stage: str) -> str:
    """What a plan-style reply must contain, for the prompt."""
    ops = list(plans.op_columns(ctx))
    if any(op in ops for op in plans.TFIDF_OPS):
        ops.append("text_svd")
    return render("plan_reply", stage=stage, kind=ctx.kind, ops=ops, svd_components=plans.PLAN_SVD_COMPONENTS,
                  estimators=list(plans.estimator_table(ctx).values()))


def stage_prompt(ctx: TaskContext, plan: Instruction, stage: str, style: str, *, previous: str | None = None,
                 error: str | None = None, reflection: str | None = None) -> str:
    """The user turn asking for one stage of this task."""
    f = ctx.facts
    v = ctx.prompt_vars()
    code = style == "code"
    return render("stage", stage=stage, title=v["title"], task_type=v["task_type"], metric=v["metric"],
                  higher_is_better=v["higher_is_better"], facts=f.render(), n_train=f.n_train, targets=f.targets,
                  target_summary=f.target_summary, plan_part=getattr(plan, PLAN_PART[stage]),
                  signature=signature(ctx, stage) if code else "", rules=stage_rules(ctx, stage, style),
                  previous=previous, error=error, reflection=reflection,
                  reply=render("code_reply") if code else plan_reply(ctx, stage))


def stage_messages(ctx: TaskContext, plan: Instruction, stage: str, *, previous: str | None = None,
                   error: str | None = None, reflection: str | None = None,
                   style: str = "code") -> list[dict[str, str]]:
    """System, a worked example as user/assistant exchanges for another task, then this task."""
    example = example_context(ctx.kind)
    shots: list[dict[str, str]] = []
    if style == "plan":  # two examples where there are two, so the model follows the plan, not the example
        for part, answer in example_plans(stage, ctx.kind):
            ex_plan = dataclasses.replace(example_plan(), **{PLAN_PART[stage]: part})
            shots += [{"role": "user", "content": stage_prompt(example, ex_plan, stage, style)},
                      {"role": "assistant", "content": json.dumps(answer)}]
    else:
        shots = [{"role": "user", "content": stage_prompt(example, example_plan(), stage, style)},
                 {"role": "assistant", "content": "```python\n" + stage_example(ctx.kind, stage) + "\n```"}]
    user = stage_prompt(ctx, plan, stage, style, previous=previous, error=error, reflection=reflection)
    return [{"role": "system", "content": render("system")}, *shots, {"role": "user", "content": user}]
