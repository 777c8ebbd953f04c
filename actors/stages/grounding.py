"""Instructions <-> programs: what an instruction names, whether it exists, and the program it means.

`ground(ctx, instruction)` reads an instruction's four parts and finds the estimator it names (by
class name or a usual alias: "LightGBM", "random forest", "TF-IDF + logistic regression"), the
hyper-parameters it states ("400 trees", "learning_rate 0.05"), the task's columns it names and the
treatment each gets ("one-hot encode island"), and every identifier-like word that is *not* a column
of this task (`built`, `house_type`: a defect, whatever the prose around it) in the parts that make the program
(preprocessing, model, training; the few-shot example's names count in any part). `to_config` turns that
into a `ProgramConfig` (missing choices filled from the data facts), which is how the three ranked
instructions become the search's first trials. `render_instruction(ctx, config)` is the inverse: the
instruction a program is described by, in the form the fine-tuned instructor learns (issue 11);
`ground(render_instruction(c))` recovers `c`'s estimator, parameters and treatments.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from actors.stages import plans
from actors.context import TaskContext
from actors.stages.estimators import ESTIMATORS, family
from actors.stages.instruction import Instruction
from actors.search.space import InvalidConfig, PreprocessConfig, ProgramConfig, TextOptions, validate_config

# Longest aliases first, so "hist gradient boosting" is not read as "gradient boosting".
ALIASES: tuple[tuple[str, str], ...] = (
    ("histgradientboosting", "HistGradientBoosting"), ("hist gradient boosting", "HistGradientBoosting"),
    ("histogram-based gradient boosting", "HistGradientBoosting"), ("lightgbm", "LGBM"), ("lgbm", "LGBM"),
    ("light gbm", "LGBM"), ("extra-trees", "ExtraTrees"), ("extra trees", "ExtraTrees"),
    ("extratrees", "ExtraTrees"), ("extremely randomized trees", "ExtraTrees"), ("random forest", "RandomForest"),
    ("randomforest", "RandomForest"), ("gradient boosting", "GradientBoosting"), ("gradientboosting", "GradientBoosting"),
    ("logistic regression", "LogisticRegression"), ("logisticregression", "LogisticRegression"),
    ("nb-svm", "NBSVM"), ("nbsvm", "NBSVM"), ("naive bayes svm", "NBSVM"), ("linear svm", "LinearSVC"),
    ("linearsvc", "LinearSVC"), ("linear svc", "LinearSVC"), ("linear svr", "LinearSVR"), ("linearsvr", "LinearSVR"),
    ("sgd", "SGD"), ("stochastic gradient descent", "SGD"), ("ridge", "Ridge"), ("k-nearest", "KNeighbors"),
    ("k nearest", "KNeighbors"), ("knn", "KNeighbors"), ("kneighbors", "KNeighbors"), ("xgboost", "XGB"),
    ("xgb", "XGB"),
)
# Words that look like identifiers in instructions but are not column names.
_VOCAB = {"n_estimators", "learning_rate", "num_leaves", "max_depth", "min_child_samples", "subsample",
          "colsample_bytree", "reg_lambda", "max_iter", "max_leaf_nodes", "min_samples_leaf", "l2_regularization",
          "max_features", "n_neighbors", "random_state", "predict_proba", "class_weight", "sample_weight",
          "test_csv", "train_csv", "log1p", "expm1", "tf_idf", "tfidf", "one_hot", "roc_auc", "f1_macro",
          "multiclass_log_loss", "mean_roc_auc", "rmse_log", "mean_columnwise_rmsle", "word_ngrams", "char_ngrams",
          "svd_components", "fill_missing", "encode_categories", "date_features", "text_features", "to_number",
          "drop_columns", "tfidf_words", "tfidf_chars", "fit_option", "log_target", "balanced_class_weights",
          *(k for fam in ESTIMATORS.values() for est in fam.values() for k in est.params)}
# The made-up house task of the instructor's and coder's few-shot examples (actors/coder.example_context).
EXAMPLE_COLUMNS = ("city", "rooms", "built", "notes", "house_type", "sold", "price")
_IDENT = re.compile(r"`([^`]+)`|'([A-Za-z_][\w.-]*)'|\"([A-Za-z_][\w.-]*)\"|\b([A-Za-z]+_[\w]+|[a-z]+[A-Z]\w*)\b")
_OP_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tfidf_chars", ("character n-gram", "char n-gram", "character tf-idf", "char tf-idf", "characters")),
    ("tfidf_words", ("tf-idf", "tfidf", "word n-gram", "bag of words")),
    ("fill_missing", ("fill", "impute", "missing")),
    ("one_hot", ("one-hot", "one hot", "onehot", "dummies", "dummy")),
    ("encode_categories", ("integer-code", "integer code", "label-encode", "label encode", "ordinal", "codes",
                           "encode")),
    ("date_features", ("date parts", "year", "month", "day of", "weekday", "date")),
    ("text_features", ("length", "word count")),
    ("to_number", ("to 1/0", "to numbers", "as 0/1", "boolean")),
    ("drop_columns", ("drop", "remove", "ignore", "leave out")),
)
_TREATMENTS = ("one_hot", "encode_categories", "tfidf_words", "tfidf_chars", "text_features", "drop_columns")
_PARAM_PHRASES: tuple[tuple[str, str], ...] = (
    (r"(\d+)\s+(?:trees|estimators|boosting rounds|rounds)", "n_estimators"),
    (r"(\d+)\s+leaves", "num_leaves"), (r"(\d+)\s+neighbou?rs", "n_neighbors"),
    (r"depth\s*(?:of\s*)?(\d+)", "max_depth"), (r"learning rate\s*(?:of\s*)?(\d*\.?\d+(?:e-?\d+)?)", "learning_rate"),
)


@dataclass(frozen=True)
class Grounding:
    estimator: str | None  # the estimator of this task's family the model part names, if any
    params: dict[str, float] = field(default_factory=dict)
    columns: tuple[str, ...] = ()  # this task's columns the instruction names
    unknown: tuple[str, ...] = ()  # identifier-like names that are not columns of this task
    copied: tuple[str, ...] = ()  # names from the few-shot example task this task does not have
    operations: dict[str, tuple[str, ...]] = field(default_factory=dict)  # toolkit operation -> columns
    fit_option: str | None = None
    svd_components: int | None = None  # "reduce the TF-IDF matrix to 50 SVD components"

    @property
    def grounded(self) -> bool:
        """Names an installed estimator and no column this task does not have."""
        return self.estimator is not None and not self.unknown

    def to_dict(self) -> dict[str, Any]:
        return {"estimator": self.estimator, "params": self.params, "columns": list(self.columns),
                "unknown": list(self.unknown), "copied": list(self.copied), "grounded": self.grounded,
                "operations": {k: list(v) for k, v in self.operations.items()}, "fit_option": self.fit_option,
                "svd_components": self.svd_components}


def _estimator(ctx: TaskContext, text: str) -> str | None:
    table = ESTIMATORS[family(ctx.kind)]
    low = text.lower()
    for name in table:  # exact class names first
        if name.lower() in low:
            return name
    suffix = "Regressor" if family(ctx.kind) == "regressor" else "Classifier"
    for alias, stem in ALIASES:
        if re.search(rf"(?<![\w-]){re.escape(alias)}(?![\w])", low):
            for candidate in (stem, stem + suffix):
                if candidate in table:
                    return candidate
    return None


def _params(estimator: str | None, text: str, ctx: TaskContext) -> dict[str, float]:
    if estimator is None:
        return {}
    est = ESTIMATORS[family(ctx.kind)][estimator]
    low = text.lower()
    found: dict[str, float] = {}
    for key in est.params:  # "learning_rate 0.05", "C=1.0", "num_leaves: 31"
        m = re.search(rf"\b{re.escape(key.lower())}\s*(?:=|:|of)?\s*(-?\d*\.?\d+(?:e-?\d+)?)", low)
        if m:
            found[key] = float(m.group(1))
    for pattern, key in _PARAM_PHRASES:
        m = re.search(pattern, low)
        if m and key in est.params and key not in found:
            found[key] = float(m.group(1))
    return {k: est.params[k].clip(v) for k, v in found.items()}


def _mentions(text: str, names: list[str]) -> list[str]:
    low = text.lower()
    out = []
    for name in sorted(names, key=len, reverse=True):
        pattern = re.escape(name.lower())
        if re.search(rf"(?<![\w]){pattern}(?![\w])", low) or (
                "_" in name and re.search(rf"(?<![\w]){pattern.replace('_', '[ _]')}(?![\w])", low)):
            out.append(name)
    return out


def _identifiers(text: str) -> set[str]:
    found = set()
    for m in _IDENT.finditer(text):
        word = next(g for g in m.groups() if g)
        found.add(word.strip())
    return found


def ground(ctx: TaskContext, ins: Instruction) -> Grounding:
    """What the instruction names and whether it exists in this task (see the module docstring)."""
    columns = [c.name for c in ctx.facts.columns]
    known = {c.lower() for c in [*columns, *ctx.facts.targets, ctx.facts.id_column, *ctx.facts.train_only]}
    table = ESTIMATORS[family(ctx.kind)]
    everything = " ".join([ins.preprocessing, ins.model, ins.training, ins.submission])
    # The program's parts: the submission part only restates the output the harness writes anyway, so a
    # variable there (`y_pred`, `log_proba`) is no claim about the data; copied example words count anywhere.
    program = " ".join([ins.preprocessing, ins.model, ins.training])
    estimator = _estimator(ctx, ins.model) or _estimator(ctx, everything)
    named = _mentions(everything, columns)
    idents = _identifiers(program)
    est_words = {n.lower() for fam in ESTIMATORS.values() for n in fam} | {a for a, _ in ALIASES}
    unknown = sorted({w for w in idents if w.lower() not in known and w.lower() not in _VOCAB
                      and w.lower() not in est_words and not w.lower().startswith(("sklearn", "lightgbm", "xgboost"))})
    example_words = [w for w in EXAMPLE_COLUMNS if w not in known
                     and re.search(rf"(?<![\w]){w}(?![\w])", everything.lower())]
    unknown = sorted(set(unknown) | set(example_words))
    applicable = plans.op_columns(ctx)
    operations: dict[str, list[str]] = {}
    for sentence in re.split(r"[;.]|\band then\b", ins.preprocessing):
        current: list[str] = []  # a fragment naming no treatment continues the previous list ("a, b")
        for clause in re.split(r",|\band\b", sentence):
            cols = _mentions(clause, columns)
            if re.search(r"\b(every|all)( the)? categorical columns?\b", clause.lower()):
                cols = list(dict.fromkeys([*cols, *applicable.get("one_hot", [])]))
            low = clause.lower()
            found = [op for op, words in _OP_WORDS if any(w in low for w in words)]
            if found:
                current = found
            for op in current:
                ok = [c for c in cols if c in applicable.get(op, [])]
                if ok:
                    operations.setdefault(op, [])
                    operations[op] += [c for c in ok if c not in operations[op]]
                    if op != "fill_missing":
                        break  # one treatment per clause (filling comes on top of it)
    training = ins.training.lower()
    fit_option = None
    if "balanced" in training or "class weight" in training:
        fit_option = "balanced_class_weights"
    elif "log" in training and ("target" in training or "log1p" in training):
        fit_option = "log_target"
    if fit_option not in plans.fit_options(ctx):
        fit_option = None
    svd = re.search(r"(\d+)\s+svd components", ins.preprocessing.lower())
    return Grounding(estimator=estimator if estimator in table else None,
                     svd_components=min(max(int(svd.group(1)), 1), 300) if svd else None,
                     params=_params(estimator, ins.model + " " + ins.training, ctx), columns=tuple(named),
                     unknown=tuple(unknown), copied=tuple(example_words),
                     operations={k: tuple(v) for k, v in operations.items()}, fit_option=fit_option)


def base_preprocess(ctx: TaskContext, sparse_text: bool = True) -> dict[str, list[str]]:
    """What every program needs whatever the instruction says: fill what is missing, numbers from
    booleans, parts from dates, categories encoded, text as TF-IDF (or its SVD)."""
    cols = plans.op_columns(ctx)
    return {"fill_missing": cols.get("fill_missing", []), "to_number": cols.get("to_number", []),
            "date_features": cols.get("date_features", []), "encode_categories": cols.get("one_hot", []),
            "tfidf_words": cols.get("tfidf_words", []) if sparse_text else []}


def to_config(ctx: TaskContext, g: Grounding) -> ProgramConfig | None:
    """The program an instruction means, or None when it names no estimator of this task's family."""
    if g.estimator is None:
        return None
    est = ESTIMATORS[family(ctx.kind)][g.estimator]
    ops = base_preprocess(ctx)
    # A column whose treatment the instruction names gets exactly the treatments it names.
    touched = {c for op, cols in g.operations.items() if op != "fill_missing" for c in cols}
    for op in _TREATMENTS:
        ops[op] = [c for c in ops.get(op, []) if c not in touched]
    for op, cols in g.operations.items():
        ops[op] = list(dict.fromkeys([*ops.get(op, []), *cols]))
    text = TextOptions(svd_components=g.svd_components) if g.svd_components else (
        TextOptions() if est.sparse_ok else TextOptions(svd_components=100))
    config = ProgramConfig(preprocess=PreprocessConfig(**{k: v for k, v in ops.items() if v}, text=text),
                           estimator=g.estimator, params=dict(g.params), fit_option=g.fit_option or "none")
    try:
        return validate_config(ctx, config)
    except InvalidConfig:
        return None


_OP_PROSE = {"to_number": "turn {cols} into 1/0", "date_features": "split {cols} into year, month, day and weekday",
             "tfidf_words": "TF-IDF word n-grams of {cols}", "tfidf_chars": "TF-IDF character n-grams of {cols}",
             "text_features": "replace {cols} by its length and word count", "one_hot": "one-hot encode {cols}",
             "encode_categories": "integer-code {cols}", "drop_columns": "drop {cols}"}
EVERY_CATEGORICAL = "every categorical column"


def render_instruction(ctx: TaskContext, config: ProgramConfig, rank: int = 1) -> Instruction:
    """The instruction that describes a program, naming its real columns and its estimator. What every
    program does anyway (fill missing values, numbers from booleans, date parts) is said without
    column lists; a treatment of all categorical columns is said as such (short parts on wide tables)."""
    pre = config.preprocess
    categorical = plans.op_columns(ctx).get("one_hot", [])
    parts = ["fill missing values"] if pre.fill_missing else []
    for op in ("to_number", "date_features", "tfidf_words", "tfidf_chars", "text_features", "one_hot",
               "encode_categories", "drop_columns"):
        cols = list(getattr(pre, op))
        if not cols:
            continue
        if op in ("one_hot", "encode_categories") and len(cols) > 2 and set(categorical) <= set(cols):
            parts.append(_OP_PROSE[op].format(cols=EVERY_CATEGORICAL))
        else:
            parts.append(_OP_PROSE[op].format(cols=", ".join(cols)))
    if (pre.tfidf_words or pre.tfidf_chars) and pre.text.svd_components:
        parts.append(f"reduce the TF-IDF matrix to {pre.text.svd_components} SVD components")
    preprocessing = "; ".join(parts) or "use the numeric columns as they are"
    params = ", ".join(f"{k} {_num(v)}" for k, v in config.params.items())
    model = config.estimator + (f" with {params}" if params else " with its default settings")
    training = {"none": "fit on all training rows", "balanced_class_weights": "fit with balanced class weights",
                "log_target": "fit on log(1 + target) and invert it when predicting"}[config.fit_option]
    kind = {"label": "the predicted class label", "proba": "the predicted class probabilities",
            "value": "the predicted value"}[ctx.kind]
    submission = f"for every row of test.csv write {kind} ({ctx.competition.metric})"
    return Instruction(rank=rank, preprocessing=preprocessing, model=model, training=training, submission=submission)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"
