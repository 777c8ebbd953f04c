"""Integration: generated stage functions + the pre-written harness -> one runnable solution.py.

Generated code is sanitised first: only imports, function/class definitions and constant
assignments survive at module level, so a reply that also reads files, trains, or redefines the
harness at import time cannot break the integrated script. Each problem is reported as a
specific, fixable message for the coder.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

HARNESS_DIR = Path(__file__).parent / "fragments"
# The script is these fragments in order (each under ~300 lines), then the stages.
HARNESS_FRAGMENTS = ("harness.py", "harness_predict.py", "harness_cv.py")
TOOLKIT_FRAGMENTS = ("toolkit.py", "toolkit_text.py", "toolkit_models.py")
STAGE_FUNCTIONS = {"preprocess": "preprocess", "model": "build_model", "train": "train_model", "predict": "predict"}
# predict is optional: without it the harness predicts and formats per metric (harness_predict.py)
REQUIRED_STAGES = ("preprocess", "model", "train")
STAGE_ARITY = {"preprocess": 2, "model": 0, "train": 3, "predict": 2}
_RESERVED = re.compile(r"^(_lc_|main$|TASK$|TARGETS$|ID_COLUMN$|KIND$|CLASSES$|N_CLASSES$|SEED$|METRIC$|"
                       r"FOLDS$|GROUP_COLUMN$|TIME_COLUMN$|RAW_COLUMNS$|ContractError$)")


class StageCodeError(ValueError):
    """The generated code cannot be used as the stage; the message is feedback for the model."""


@dataclass(frozen=True)
class StageCode:
    stage: str
    code: str


def sanitize_stage(stage: str, code: str) -> str:
    """Keep the module-level statements a stage may have; check the stage function exists."""
    fn = STAGE_FUNCTIONS[stage]
    code = code.strip()
    if not code:
        raise StageCodeError(f"the reply holds no code; write the function {fn}")
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise StageCodeError(f"SyntaxError: {exc.msg} at line {exc.lineno}: {(exc.text or '').strip()!r}") from exc
    kept: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kept.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            if _RESERVED.match(node.name):
                raise StageCodeError(f"do not define {node.name!r}: that name belongs to the harness")
            kept.append(node)
        elif isinstance(node, ast.Assign) and _is_constant(node.value) and all(
                isinstance(t, ast.Name) and not _RESERVED.match(t.id) for t in node.targets):
            kept.append(node)
    defined = [n for n in kept if isinstance(n, ast.FunctionDef) and n.name == fn]
    if not defined:
        raise StageCodeError(f"the code must define the function `{fn}` (def {fn}(...)); it defines "
                             f"{[n.name for n in kept if isinstance(n, ast.FunctionDef)] or 'no function'}")
    args = defined[-1].args
    n_args = len(args.posonlyargs) + len(args.args)
    required = STAGE_ARITY[stage]
    if n_args - len(args.defaults) > required or (n_args < required and args.vararg is None):
        raise StageCodeError(f"`{fn}` must take exactly {required} argument(s), it takes {n_args}")
    body = repair_imports(kept)
    _prune_undefined(stage, defined[-1], body)
    module = _ApiRepairs().visit(_LenientDrops().visit(ast.Module(body=body, type_ignores=[])))
    return ast.unparse(ast.fix_missing_locations(module))


def _toolkit_names() -> set[str]:
    """The public functions and classes of the toolkit fragments, read from the files the script includes."""
    trees = [ast.parse((HARNESS_DIR / name).read_text()) for name in TOOLKIT_FRAGMENTS]
    return {n.name for tree in trees for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}


# Names the integrated script defines before the stages: the harness globals and the toolkit.
HARNESS_NAMES = {"pd", "np", "sp", "os", "sys", "json", "warnings", "TASK", "TARGETS", "ID_COLUMN", "TASK_TYPE",
                 "METRIC", "KIND", "CLASSES", "N_CLASSES", "SEED", "FOLDS", "STAGES", "ContractError"} | _toolkit_names()
_NO_DATA_HINT = {
    "preprocess": "preprocess(train, test) only has its two arguments",
    "model": "build_model() receives no data: only create and return the unfitted estimator",
    "train": "train_model(model, X, y) only has its three arguments",
    "predict": "predict(model, X) only has its two arguments",
}


def _bound_in(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, ast.arg):
            names.add(n.arg)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in n.names}
    return names


def _loaded(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _prune_undefined(stage: str, fn: ast.FunctionDef, body: list[ast.stmt]) -> None:
    """Names the stage function reads but nothing defines (LESSONS.md #6: `train_df` inside
    build_model()). A dead assignment that reads one is dropped; any other use is a specific error
    before a sandbox check is spent on a NameError."""
    import builtins

    known = set(dir(builtins)) | HARNESS_NAMES | _bound_in(ast.Module(body=body, type_ignores=[]))
    statements = list(fn.body)
    keep: list[ast.stmt] = []
    for i, st in enumerate(statements):
        undefined = sorted(_loaded(st) - known)
        if not undefined:
            keep.append(st)
            continue
        later = set().union(*(_loaded(s) for s in statements[i + 1:])) if i + 1 < len(statements) else set()
        targets = _bound_in(st) if isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign)) else None
        if targets is not None and not (targets & later):
            continue  # dead code that reads an undefined name: drop it
        raise StageCodeError(f"name {undefined[0]!r} is not defined in {fn.name}: {_NO_DATA_HINT[stage]}")
    if not keep:
        keep = [ast.Pass()]
    fn.body = keep


# Where well-known names live. Small models import them from the wrong module or not at all
# (LESSONS.md #6); resolving them here is deterministic harness work, not a guess at intent.
KNOWN_NAMES: dict[str, str] = {
    **{n: "sklearn.ensemble" for n in (
        "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
        "GradientBoostingClassifier", "GradientBoostingRegressor", "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor", "AdaBoostClassifier", "AdaBoostRegressor", "VotingClassifier")},
    **{n: "sklearn.linear_model" for n in (
        "LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet", "RidgeClassifier", "SGDClassifier",
        "SGDRegressor")},
    **{n: "sklearn.feature_extraction.text" for n in ("TfidfVectorizer", "CountVectorizer")},
    **{n: "sklearn.decomposition" for n in ("TruncatedSVD",)},
    **{n: "sklearn.calibration" for n in ("CalibratedClassifierCV",)},
    **{n: "sklearn.preprocessing" for n in (
        "StandardScaler", "MinMaxScaler", "LabelEncoder", "OneHotEncoder", "OrdinalEncoder")},
    **{n: "sklearn.neighbors" for n in ("KNeighborsClassifier", "KNeighborsRegressor")},
    **{n: "sklearn.tree" for n in ("DecisionTreeClassifier", "DecisionTreeRegressor")},
    **{n: "sklearn.svm" for n in ("SVC", "SVR", "LinearSVC", "LinearSVR")},
    **{n: "sklearn.impute" for n in ("SimpleImputer",)},
    **{n: "sklearn.pipeline" for n in ("Pipeline", "make_pipeline")},
    **{n: "lightgbm" for n in ("LGBMClassifier", "LGBMRegressor")},
}
ALIASES = {"LightGBMClassifier": "LGBMClassifier", "LightGBMRegressor": "LGBMRegressor"}
MODULE_ALIASES = {"pd": "pandas", "np": "numpy", "lgb": "lightgbm"}


def _names_used(nodes: list[ast.stmt]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.value.id for node in nodes for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}


def repair_imports(body: list[ast.stmt]) -> list[ast.stmt]:
    """Drop imports the code never uses, move known names to their real module, add missing ones."""
    code = [n for n in body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    used = _names_used(code)
    bound = {n.name for n in code if isinstance(n, (ast.FunctionDef, ast.ClassDef))} | {
        t.id for n in code if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    imports: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.Import):
            keep = [a for a in node.names if (a.asname or a.name.split(".")[0]) in used]
            if keep:
                imports.append(ast.Import(names=keep))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                local = alias.asname or alias.name
                if local not in used or alias.name == "*":
                    continue
                real = ALIASES.get(alias.name, alias.name)
                module = KNOWN_NAMES.get(real, node.module or "")
                imports.append(ast.ImportFrom(module=module, names=[ast.alias(real, local if local != real else None)],
                                              level=0 if real in KNOWN_NAMES else node.level))
    bound |= {a.asname or a.name.split(".")[0] for n in imports for a in n.names}  # type: ignore[attr-defined]
    for name in sorted(used - bound):
        if name in KNOWN_NAMES:
            imports.append(ast.ImportFrom(module=KNOWN_NAMES[name], names=[ast.alias(name)], level=0))
        elif name in MODULE_ALIASES and name not in ("pd", "np"):  # pd and np come from the harness
            imports.append(ast.Import(names=[ast.alias(MODULE_ALIASES[name], name)]))
    return imports + code


class _LenientDrops(ast.NodeTransformer):
    """`.drop(...)` with errors="ignore": the harness already removed the id and target columns that
    small models habitually drop again (KeyError: "['id'] not found in axis"), so dropping a column
    that is absent means exactly what the model intended."""

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "drop" and not any(
                k.arg == "errors" for k in node.keywords):
            node.keywords.append(ast.keyword(arg="errors", value=ast.Constant("ignore")))
        return node


# Keyword arguments that older tutorials use and the installed libraries refuse (scikit-learn 1.9,
# LightGBM 4): a removed option is dropped, a renamed value gets its current name. LightGBM infers
# the objective and the number of classes from y; a stated objective="binary" on a 4-class target
# fails ("Number of classes must be 1 for non-multiclass training").
_DROP_KEYWORDS = {"LGBMClassifier": {"objective", "num_class", "num_classes"},
                  "LogisticRegression": {"multi_class"}}
_RENAMED_VALUES = {("max_features", "auto"): None, ("loss", "deviance"): "log_loss", ("loss", "ls"): "squared_error",
                   ("loss", "lad"): "absolute_error", ("criterion", "mse"): "squared_error",
                   ("criterion", "mae"): "absolute_error"}


class _ApiRepairs(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        name = ALIASES.get(name, name)
        drop = _DROP_KEYWORDS.get(name, set())
        keywords = []
        for k in node.keywords:
            if k.arg in drop:
                continue
            if isinstance(k.value, ast.Constant) and (k.arg, k.value.value) in _RENAMED_VALUES:
                new = _RENAMED_VALUES[(k.arg, k.value.value)]
                if new is None:  # max_features="auto": what it meant, per estimator kind
                    new = 1.0 if name.endswith("Regressor") else "sqrt"
                k = ast.keyword(arg=k.arg, value=ast.Constant(new))
            keywords.append(k)
        node.keywords = keywords
        return node


def _is_constant(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except ValueError:
        return False


def floor_stages() -> dict[str, str]:
    """The built-in robust stages, split per stage (used for the floor and for isolated checks).
    There is no floor predict: the harness predicts whenever no generated predict stage exists."""
    source = (HARNESS_DIR / "floor_stages.py").read_text()
    tree = ast.parse(source)
    imports = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    out = {}
    for stage in REQUIRED_STAGES:
        fn = STAGE_FUNCTIONS[stage]
        node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == fn)
        out[stage] = "\n".join(imports + ["", ast.unparse(node)])
    return out


def script_head(constants: dict, header: str) -> list[str]:
    """Docstring, TASK constants, harness and toolkit fragments: everything before the stages."""
    return ['"""' + (header or "Solution generated by linguacodus.") +
            '\n\nRun: python solution.py --data-dir DIR_WITH_TRAIN_AND_TEST --out-dir OUTPUT_DIR [--folds K]\n"""',
            "TASK = " + json.dumps(constants, indent=4, sort_keys=True),
            *[(HARNESS_DIR / name).read_text() for name in HARNESS_FRAGMENTS + TOOLKIT_FRAGMENTS]]


def assemble(constants: dict, stages: dict[str, str], header: str = "") -> str:
    """One self-contained script: TASK constants, the harness, the stages (predict only when given),
    the entry point."""
    missing = [s for s in REQUIRED_STAGES if s not in stages]
    if missing:
        raise ValueError(f"stages missing for integration: {missing}")
    parts = script_head(constants, header)
    for stage in STAGE_FUNCTIONS:
        if stage in stages:
            parts.append(f"# ---- stage: {stage} " + "-" * (88 - len(stage)) + "\n" + stages[stage].strip())
    parts.append('if __name__ == "__main__":\n    main()')
    return "\n\n\n".join(parts) + "\n"
