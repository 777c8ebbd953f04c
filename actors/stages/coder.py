"""Stage 4, coder: the task-specific stage functions, generated one at a time under a contract and
each checked right away on a sample of the real data in the sandbox (Text-to-ML style).

A stage is checked inside the full harness with the *built-in* stages standing in for the ones not
yet accepted, so a check exercises the generated function exactly as the final script will. Failed
checks come back as specific feedback (contract messages are written for the model); the same error
twice resets the conversation with a new seed, because small models at low temperature otherwise
return the same code (LESSONS.md #4).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from actors.context import TaskContext
from actors.stages.instructor import Instruction
from actors.harness.integrate import STAGE_FUNCTIONS, StageCodeError, assemble, floor_stages, sanitize_stage
from actors.llm.base import LLM, ChatRequest, extract_code
from actors.sandbox.readback import MAX_MARKER_BYTES, MissingFile, ReadBackError, read_back
from actors.sandbox.sandbox import ExecutionResult, Sandbox
from actors.task import Competition
from actors.templates import render

logger = logging.getLogger(__name__)
STAGES = tuple(STAGE_FUNCTIONS)


class CoderConfig(BaseModel):
    stage_tries: int = Field(3, ge=1, description="LLM attempts per stage before integration goes on without it.")
    temperatures: list[float] = Field([0.2, 0.6, 0.9], description="Temperature of attempt i (last one repeats).")
    max_tokens: int = Field(900, description="Completion budget of one stage function.")
    reflect_tokens: int = Field(120, description="Completion budget of a reflection on an error.")
    check_sample: int = Field(300, description="Rows of train/test the stage checks run on.")
    check_timeout_s: float = Field(120.0, description="Wall-clock limit of one stage check.")
    seed: int = Field(0, description="Base sampling seed; attempt i uses seed + i.")
    styles: dict[str, str] = Field(
        {"preprocess": "plan", "model": "plan", "train": "plan", "predict": "harness"},
        description="Per stage: 'code' (the model writes the function) or 'plan' (the model writes a JSON plan "
        "under a grammar of this task's columns / the installed estimators, rendered to the function; "
        "actors/stages/plans.py). Plan is available for preprocess, model and train. predict is 'harness' (no LLM "
        "stage: the harness predicts and the metric decides the submission format) or 'code'.")

    def style(self, stage: str) -> str:
        from actors.stages.plans import PLAN_STAGES

        style = self.styles.get(stage, "code")
        if (style not in ("plan", "code", "harness") or (style == "plan" and stage not in PLAN_STAGES)
                or (style == "harness" and stage != "predict")):
            raise ValueError(f"stage {stage!r} cannot use style {style!r}")
        return style

    def generated_stages(self) -> tuple[str, ...]:
        """The stages the LLM writes, in order (a 'harness' predict is no LLM stage)."""
        return tuple(s for s in STAGES if self.style(s) != "harness")


class Sink(Protocol):
    """Where artifacts go (jobs/ binds it to object storage); paths are relative to the competition."""

    def text(self, path: str, content: str) -> None: ...

    def json(self, path: str, obj: Any) -> None: ...


@dataclass(frozen=True)
class StageAttempt:
    stage: str
    try_index: int
    code: str
    ok: bool
    error: str | None
    temperature: float
    reflection: str | None = None
    reset: bool = False
    style: str = "code"


@dataclass
class StageLog:
    """All attempts of every stage, in order; stored in result.json."""

    attempts: list[StageAttempt] = field(default_factory=list)

    def to_list(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in asdict(a).items() if k != "code"} for a in self.attempts]


def stage_rules(ctx: TaskContext, stage: str) -> tuple[str, list[str]]:
    """Signature (with its contract docstring) and rules for one stage, specific to the task."""
    f = ctx.facts
    kind = ctx.kind
    if stage == "preprocess":
        def names(cols: list[str]) -> str:
            return ", ".join(cols[:30]) + (f" ... ({len(cols)} in all)" if len(cols) > 30 else "")

        has_missing = {c.name for c in f.columns if c.missing_train or c.missing_test}
        complete = [c for c in f.by_kind("numeric") if c not in has_missing]
        incomplete = [c for c in f.by_kind("numeric") if c in has_missing]
        rules = []
        if complete:
            rules.append(f"numeric columns without missing values (keep them as they are, nothing to do): "
                         f"{names(complete)}")
        if incomplete:
            rules.append(f"numeric columns with missing values (fill_missing): {names(incomplete)}")
        advice = {"categorical": "encode_categories, or one_hot when they have few values",
                  "text": "free text: tfidf_words / tfidf_chars (TF-IDF, the strong choice for real text), "
                          "text_features (length and word count), or drop_columns",
                  "date": "date_features", "boolean": "to_number"}
        rules += [f"{k} columns ({advice[k]}): {names(f.by_kind(k))}" for k in advice if f.by_kind(k)]
        features = [c.name for c in f.columns]
        shown = ", ".join(features[:40]) + (" ..." if len(features) > 40 else "")
        removed = ", ".join(repr(c) for c in [f.id_column, *f.targets, *f.train_only])
        rules.insert(0, f"train and test contain exactly these columns: {shown}. The columns {removed} were "
                        "already removed: do not drop, select or use them")
        rules += [
            "these helpers already exist; each takes (train, test, list_of_columns) and returns (train, test): "
            "fill_missing, encode_categories, one_hot, date_features, text_features, to_number, drop_columns. "
            "For free text: blocks = [tfidf_words(train, test, text_columns)], then drop the text columns and "
            "return stack_features(train, test, blocks) (sparse: for linear models and LightGBM)",
            "you may add your own features with pandas before the helpers, on train and test alike",
            "the result must be all numeric with no missing values; never drop rows",
            "do not read files, do not use the target, do not fit a model here",
            "write only the function (and imports): no code outside it",
        ]
        sig = ("def preprocess(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:\n"
               '    """train and test hold only the feature columns (no id, no target). Return (train_features,\n'
               '    test_features): numeric DataFrames, same columns, no missing values, rows unchanged."""')
        return sig, rules
    what = "regressor" if kind == "value" else "classifier"
    if stage == "model":
        rules = [f"return an unfitted scikit-learn compatible {what}; do not fit it here",
                 "you may use sklearn or lightgbm (import lightgbm as lgb; lgb.LGBM"
                 f"{'Regressor' if kind == 'value' else 'Classifier'}(verbose=-1))",
                 "the constants SEED (int) and N_CLASSES (number of classes) already exist; use random_state=SEED"]
        if kind == "proba":
            rules.append(f"the metric {ctx.competition.metric} needs probabilities: the model must have predict_proba")
        sig = f'def build_model():\n    """Return an unfitted {what} for this {ctx.competition.task_type} task."""'
        return sig, rules
    y_desc = ("float target values" if kind == "value" else
              "class indices 0..N_CLASSES-1 (the harness already encoded the labels)")
    if stage == "train":
        rules = ["X is a numeric DataFrame without missing values; y is a numpy array of " + y_desc,
                 "fit the model on all of X and y with model.fit(X, y) and return it (cross_val_score or "
                 "GridSearchCV fit copies: if you use them, still end with model.fit(X, y))",
                 "do not scale or transform X here: predict() receives X unchanged (put a scaler in "
                 "build_model with make_pipeline if the model needs one)",
                 "do not read files and do not split off a test set: the harness does that"]
        sig = ('def train_model(model, X: pd.DataFrame, y: np.ndarray):\n'
               '    """Fit model on X, y and return the fitted model."""')
        return sig, rules
    returns = {"proba": "class probabilities, shape (len(X), N_CLASSES): return model.predict_proba(X)",
               "label": "predicted class indices, shape (len(X),): return model.predict(X)",
               "value": "predicted values, shape (len(X),): return model.predict(X)"}[kind]
    rules = [f"return {returns}", "X has the same columns as in training",
             "the model was already fitted by train_model: do not fit it again, do not split X, there is no y here"]
    sig = f'def predict(model, X: pd.DataFrame) -> np.ndarray:\n    """Return {returns.split(":")[0]}."""'
    return sig, rules


EXAMPLES_DIR = Path(__file__).parents[1] / "prompts" / "examples"
PLAN_PART = {"preprocess": "preprocessing", "model": "model", "train": "training", "predict": "submission"}


def stage_example(ctx: TaskContext, stage: str) -> str:
    """A worked example for another dataset: small models imitate examples far better than rules."""
    name = {"preprocess": "preprocess", "train": "train",
            "model": "model_regressor" if ctx.kind == "value" else "model_classifier",
            "predict": f"predict_{ctx.kind}"}[stage]
    return (EXAMPLES_DIR / f"{name}.py").read_text().strip()


def example_context(kind: str) -> TaskContext:
    """A made-up house-data task of the same metric kind, for the few-shot turn."""
    from actors.facts import ColumnFacts, DataFacts

    metric, task_type, target, classes = {
        "value": ("rmse", "regression", "price", []),
        "label": ("accuracy", "multiclass", "house_type", ["detached", "flat", "terraced"]),
        "proba": ("roc_auc", "binary", "sold", ["0", "1"]),
    }[kind]
    columns = [
        ColumnFacts("city", "categorical", "object", 0, 0, 12, "values 'Oslo', 'Bergen', 'Tromso' ..."),
        ColumnFacts("rooms", "numeric", "float64", 14, 3, 7, "range 1..8, mean 3.1"),
        ColumnFacts("built", "date", "object", 0, 0, 640, "from 1950-01-01 to 2019-12-31"),
        ColumnFacts("notes", "text", "object", 0, 0, 790, "free text, mean length 54, e.g. 'sunny flat near the park'"),
    ]
    summary = "price: mean 2.1e+05, std 8e+04" if kind == "value" else f"{len(classes)} classes"
    facts = DataFacts(n_train=800, n_test=200, id_column="house_id", targets=[target], columns=columns,
                      target_summary=summary, classes=classes)
    comp = Competition(competition_id="house-example", title="House data (example)",
                       description=f"Predict {target} for each house from its city, rooms, build date and notes.",
                       metric=metric, task_type=task_type, target=[target], id_column="house_id", data_uri="/nowhere")
    return TaskContext(comp, facts)


EXAMPLE_PLAN = Instruction(0, "encode city, fill rooms, split built into year and month, TF-IDF of the words in notes",
                           "an extra-trees ensemble with 300 trees", "fit on all training rows",
                           "predict with the fitted model")


CODE_REPLY = "Reply with one ```python code block: the function for this task (and the imports it needs), nothing else."
_CODE_ONLY_RULES = ("these helpers already exist", "you may add your own features", "write only the function",
                    "you may use sklearn or lightgbm", "the constants SEED")


def plan_rules(ctx: TaskContext, stage: str) -> list[str]:
    """The task-specific rules of a stage without those about writing Python."""
    if stage == "train":
        return [f"train.csv has {ctx.facts.n_train} rows; target: {ctx.facts.target_summary}"]
    return [r for r in stage_rules(ctx, stage)[1] if not r.startswith(_CODE_ONLY_RULES)]


def stage_messages(ctx: TaskContext, plan: Instruction, stage: str, *, previous: str | None = None,
                   error: str | None = None, reflection: str | None = None,
                   style: str = "code") -> list[dict[str, str]]:
    """System, a worked example as one user/assistant exchange for another task, then this task."""
    from actors.stages import plans

    example = example_context(ctx.kind)
    shots: list[dict[str, str]] = []
    if style == "plan":
        for part, answer in plans.example_plans(stage, ctx.kind):
            ex_plan = dataclasses.replace(EXAMPLE_PLAN, **{PLAN_PART[stage]: part})
            shots += [{"role": "user", "content": stage_prompt(example, ex_plan, stage, "", plan_rules(example, stage),
                                                               reply=plans.describe(example, stage))},
                      {"role": "assistant", "content": json.dumps(answer)}]
        user = stage_prompt(ctx, plan, stage, "", plan_rules(ctx, stage), previous=previous, error=error,
                            reflection=reflection, reply=plans.describe(ctx, stage))
    else:
        shots = [{"role": "user", "content": stage_prompt(example, EXAMPLE_PLAN, stage, *stage_rules(example, stage))},
                 {"role": "assistant", "content": "```python\n" + stage_example(ctx, stage) + "\n```"}]
        user = stage_prompt(ctx, plan, stage, *stage_rules(ctx, stage), previous=previous, error=error,
                            reflection=reflection)
    return [{"role": "system", "content": render("system")}, *shots, {"role": "user", "content": user}]


def stage_prompt(ctx: TaskContext, plan: Instruction, stage: str, signature: str, rules: list[str], *,
                 previous: str | None = None, error: str | None = None, reflection: str | None = None,
                 reply: str = CODE_REPLY) -> str:
    """A compact prompt: only what this stage needs (long prompts derail a 0.5B model)."""
    f = ctx.facts
    context = f.render() if stage == "preprocess" else (
        f"train.csv has {f.n_train} rows; target: {', '.join(f.targets)} ({f.target_summary}); the features are "
        "numeric columns produced by the preprocessing step.")
    v = ctx.prompt_vars()
    return render("stage", title=v["title"], task_type=v["task_type"], metric=v["metric"],
                  higher_is_better=v["higher_is_better"], context=context, plan_part=getattr(plan, PLAN_PART[stage]),
                  signature=signature, rules=rules, previous=previous, error=error, reflection=reflection,
                  reply=reply)


def stage_error(result: ExecutionResult, workdir: Path, timeout_s: float) -> tuple[str | None, str]:
    """Which stage failed and a short, specific error text for the model."""
    if kind := result.special_files.get("_lc_error.json"):
        return None, f"the script failed and left an unreadable error marker: _lc_error.json is {kind}"
    try:
        info = json.loads(read_back(workdir, "_lc_error.json", MAX_MARKER_BYTES))
        if isinstance(info, dict):
            return info.get("stage"), f"{info.get('error_type')}: {info.get('message')}"
    except MissingFile:
        pass
    except ReadBackError as exc:  # a planted link or FIFO: say so, never read through it
        return None, f"the script failed and left an unreadable error marker: {exc}"
    except (OSError, ValueError):  # not JSON: fall back to the exit status and stderr
        pass
    if result.timed_out:
        return None, f"the script did not finish within {timeout_s:.0f} s; use a faster model or fewer iterations"
    if result.killed_reason:
        return None, f"the script was killed: {result.killed_reason}"
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    return None, "\n".join(lines[-12:]) or f"exit code {result.exit_code} with no error output"


class Coder:
    def __init__(self, llm: LLM, sandbox: Sandbox, config: CoderConfig | None = None) -> None:
        self.llm = llm
        self.sandbox = sandbox
        self.config = config or CoderConfig()

    def write_stage(self, ctx: TaskContext, plan: Instruction, stage: str, *, try_index: int, temperature: float,
                    previous: str | None = None, error: str | None = None, reflection: str | None = None) -> str:
        """One LLM call for one stage; returns sanitised code or raises StageCodeError."""
        cfg = self.config
        style = cfg.style(stage)
        from actors.stages import plans

        messages = stage_messages(ctx, plan, stage, previous=previous, error=error, reflection=reflection, style=style)
        reply = self.llm.chat(ChatRequest(messages=messages, max_tokens=cfg.max_tokens, temperature=temperature,
                                          seed=cfg.seed + try_index,
                                          json_schema=plans.schema(ctx, stage) if style == "plan" else None))
        if style == "plan":
            return sanitize_stage(stage, plans.render(ctx, stage, plans.parse(reply.text, stage)))
        return sanitize_stage(stage, extract_code(reply.text))

    def reflect(self, ctx: TaskContext, code: str, error: str) -> str:
        prompt = render("reflect", title=ctx.competition.title or ctx.competition.competition_id,
                        code=code, error=error[-1500:])
        reply = self.llm.chat(ChatRequest(messages=[{"role": "user", "content": prompt}],
                                          max_tokens=self.config.reflect_tokens, temperature=0.0,
                                          seed=self.config.seed))
        return reply.text.strip()

    def check(self, ctx: TaskContext, stages: dict[str, str], stage: str,
              inputs: dict[str, Path]) -> tuple[bool, str | None, ExecutionResult]:
        """Run the harness with `stages` (built-ins fill the gaps) on a sample; ok or the error text."""
        script = assemble(ctx.harness_constants(self.config.seed), {**floor_stages(), **stages})
        with tempfile.TemporaryDirectory(prefix="lc-check-") as tmp:
            work = Path(tmp)
            (work / "solution.py").write_text(script)
            result = self.sandbox.run(work / "solution.py", work, inputs,
                                      args=["--check", stage, "--sample", str(self.config.check_sample)])
            if result.ok and "LINGUACODUS_CHECK_OK" in result.stdout:
                return True, None, result
            _, error = stage_error(result, work, self.sandbox.config.timeout_s)
            return False, error, result

    def generate_stage(self, ctx: TaskContext, plan: Instruction, stage: str, accepted: dict[str, str],
                       inputs: dict[str, Path], log: StageLog, *, previous: str | None = None,
                       error: str | None = None, reflection: str | None = None, first_try: int = 0) -> str | None:
        """Up to stage_tries generations of one stage, each checked; the first that passes, else None.

        With `previous`/`error` given, this is a fix: the first prompt shows the failed code, the error
        and the reflection on it."""
        cid = ctx.competition.competition_id
        reset = False
        for i in range(first_try, first_try + self.config.stage_tries):
            temps = self.config.temperatures
            temperature = temps[min(i - first_try, len(temps) - 1)]
            code = None
            try:
                code = self.write_stage(ctx, plan, stage, try_index=i, temperature=temperature, previous=previous,
                                        error=error, reflection=reflection)
                ok, new_error, _ = self.check(ctx, {**accepted, stage: code}, stage, inputs)
            except StageCodeError as exc:
                ok, new_error = False, str(exc)
            log.attempts.append(StageAttempt(stage, i, code or "", ok, new_error, temperature, reflection, reset,
                                             self.config.style(stage)))
            logger.info("%s coder: stage %s try %d %s", cid, stage, i, "passed" if ok else f"failed: {new_error}")
            if ok:
                return code
            reset = new_error == error
            if reset:  # the fix changed nothing: start the conversation afresh, with another seed
                previous, error, reflection = None, None, None
                continue
            previous, error = code or previous, new_error
            contract = (new_error or "").startswith(("ContractError", "StageCodeError")) or code is None
            last = i == first_try + self.config.stage_tries - 1  # no next try to use a reflection
            reflection = None if contract or last or previous is None else self.reflect(ctx, previous, new_error or "")
        return None
