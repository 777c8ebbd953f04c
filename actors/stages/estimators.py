"""The installed estimators a plan or a search configuration may name, with their hyper-parameters.

One table serves the plan grammar (actors/stages/plans.py), the search space (actors/search/space.py) and
the renderer of both, so the staged path and the search produce the same kind of program. Each
hyper-parameter has a valid range (values outside it are clipped: a 0.5B model writes
`learning_rate: 3`) and a default search range with a log flag (maps onto Optuna's
IntDistribution / FloatDistribution). `sparse_ok` says whether the estimator is suited to a sparse
TF-IDF matrix: HistGradientBoosting refuses sparse input outright, and the tree ensembles and k-NN of
scikit-learn accept it but crawl over tens of thousands of columns, so those get SVD components.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

COARSE_LEVELS = 5  # levels per hyper-parameter in a coarse instruction (train/pairs.py --coarse): a factor
# of at most 1.6 from the measured value on 20-1000 trees (four levels: 1.9, and 518 trees became 270)


@dataclass(frozen=True)
class Param:
    kind: Literal["int", "float"]
    low: float  # valid range: values are clipped into [low, high]
    high: float
    search: tuple[float, float]  # default search range, inside the valid range
    log: bool = False  # sample on a log scale (search[0] > 0 then)

    def clip(self, value: float) -> int | float:
        value = min(max(float(value), self.low), self.high)
        return int(round(value)) if self.kind == "int" else value

    def levels(self, n: int = COARSE_LEVELS) -> tuple[int | float, ...]:
        """n values spread evenly over the search range (geometrically for a log parameter), at two
        significant digits: the coarse grid an instruction states a hyper-parameter on."""
        lo, hi = self.search
        raw = [lo * (hi / lo) ** (i / (n - 1)) if self.log else lo + (hi - lo) * i / (n - 1) for i in range(n)]
        return tuple(self.clip(float(f"{v:.2g}")) for v in raw)

    def snap(self, value: float, n: int = COARSE_LEVELS) -> int | float:
        """The level nearest to `value` (on the log scale for a log parameter)."""
        value = self.clip(value)
        if self.log:
            return min(self.levels(n), key=lambda v: abs(math.log(max(v, 1e-12)) - math.log(max(value, 1e-12))))
        return min(self.levels(n), key=lambda v: abs(v - value))


@dataclass(frozen=True)
class Estimator:
    name: str  # the name in the grammar and the configuration
    family: Literal["classifier", "regressor"]
    module: str  # where `cls` is imported from; "" for a toolkit class (defined in the script)
    params: dict[str, Param]
    sparse_ok: bool = False
    scaled: bool = False  # linear and k-NN models get DenseScaler() in front
    seeded: bool = True  # takes random_state=SEED
    fixed: dict[str, object] = field(default_factory=dict)  # keywords always passed
    cls: str = ""  # the class that implements it, when it differs from `name`

    @property
    def class_name(self) -> str:
        return self.cls or self.name


def _i(low: float, high: float, search: tuple[float, float], log: bool = False) -> Param:
    return Param("int", low, high, search, log)


def _f(low: float, high: float, search: tuple[float, float], log: bool = False) -> Param:
    return Param("float", low, high, search, log)


_BIG = 10**6
_BOOST = {"n_estimators": _i(1, 2000, (50, 1000), True), "learning_rate": _f(1e-4, 1.0, (0.01, 0.3), True),
          "num_leaves": _i(2, 4096, (7, 127), True), "max_depth": _i(1, 64, (3, 12)),
          "min_child_samples": _i(1, _BIG, (5, 100), True), "subsample": _f(0.05, 1.0, (0.5, 1.0)),
          "colsample_bytree": _f(0.05, 1.0, (0.3, 1.0)), "reg_lambda": _f(0.0, _BIG, (1e-3, 10.0), True)}
_HGB = {"max_iter": _i(1, 2000, (100, 1000), True), "learning_rate": _f(1e-4, 1.0, (0.01, 0.3), True),
        "max_leaf_nodes": _i(2, 4096, (15, 127), True), "max_depth": _i(1, 64, (3, 12)),
        "min_samples_leaf": _i(1, _BIG, (5, 100), True), "l2_regularization": _f(0.0, _BIG, (1e-4, 10.0), True)}
_TREES = {"n_estimators": _i(1, 2000, (100, 800), True), "max_depth": _i(1, 64, (4, 32)),
          "min_samples_leaf": _i(1, _BIG, (1, 20), True), "max_features": _f(0.05, 1.0, (0.2, 1.0))}
_GB = {"n_estimators": _i(1, 2000, (50, 500), True), "learning_rate": _f(1e-4, 1.0, (0.02, 0.3), True),
       "max_depth": _i(1, 64, (2, 8)), "subsample": _f(0.05, 1.0, (0.5, 1.0)),
       "min_samples_leaf": _i(1, _BIG, (1, 50), True)}
_KNN = {"n_neighbors": _i(1, 500, (3, 50), True)}
# XGBoost as FLAML searches it (leaf-wise, max_leaves): its winning configurations on the quality
# bench were often few trees with a small learning rate, hence n_estimators down to 20.
_XGB = {"n_estimators": _i(1, 5000, (20, 1000), True), "learning_rate": _f(1e-4, 1.0, (0.01, 0.3), True),
        "max_leaves": _i(2, 4096, (4, 256), True), "min_child_weight": _f(1e-3, 1e3, (1e-2, 20.0), True),
        "subsample": _f(0.1, 1.0, (0.5, 1.0)), "colsample_bytree": _f(0.05, 1.0, (0.3, 1.0)),
        "reg_alpha": _f(0.0, _BIG, (1e-3, 10.0), True), "reg_lambda": _f(0.0, _BIG, (1e-3, 10.0), True)}
# LightGBM ignores subsample unless bagging is switched on: subsample_freq=1 makes the knob real.
# It also ignores OMP_NUM_THREADS (measured: 300 trees on 258 rows took 9 s with its default threads
# on a busy 2-core host, 0.33 s with n_jobs=1): one thread, as the sandbox gives every run.
_LGBM_FIXED = {"verbose": -1, "subsample_freq": 1, "n_jobs": 1}

_TABLE = (
    Estimator("LGBMClassifier", "classifier", "lightgbm", _BOOST, sparse_ok=True, fixed=_LGBM_FIXED),
    Estimator("XGBClassifier", "classifier", "", _XGB, sparse_ok=True, cls="XGBoostClassifier"),
    Estimator("HistGradientBoostingClassifier", "classifier", "sklearn.ensemble", _HGB),
    Estimator("RandomForestClassifier", "classifier", "sklearn.ensemble", _TREES),
    Estimator("ExtraTreesClassifier", "classifier", "sklearn.ensemble", _TREES),
    Estimator("GradientBoostingClassifier", "classifier", "sklearn.ensemble", _GB),
    Estimator("LogisticRegression", "classifier", "sklearn.linear_model",
              {"C": _f(1e-6, 1e6, (1e-2, 100.0), True), "max_iter": _i(1, 5000, (200, 2000), True)},
              sparse_ok=True, scaled=True),
    Estimator("SGDClassifier", "classifier", "sklearn.linear_model",
              {"alpha": _f(1e-8, 1.0, (1e-6, 1e-2), True), "max_iter": _i(1, 5000, (500, 3000), True)},
              sparse_ok=True, scaled=True, fixed={"loss": "log_loss"}),  # log loss: it has predict_proba
    Estimator("LinearSVC", "classifier", "", {"C": _f(1e-6, 1e6, (1e-2, 10.0), True)},
              sparse_ok=True, scaled=True, cls="CalibratedLinearSVC"),
    Estimator("NBSVM", "classifier", "", {"C": _f(1e-6, 1e6, (0.1, 30.0), True),
                                          "alpha": _f(1e-3, 10.0, (0.1, 2.0), True)},
              sparse_ok=True, scaled=True, cls="NBSVMClassifier"),
    Estimator("KNeighborsClassifier", "classifier", "sklearn.neighbors", _KNN, scaled=True, seeded=False),
    Estimator("LGBMRegressor", "regressor", "lightgbm", _BOOST, sparse_ok=True, fixed=_LGBM_FIXED),
    Estimator("XGBRegressor", "regressor", "", _XGB, sparse_ok=True, cls="XGBoostRegressor"),
    Estimator("HistGradientBoostingRegressor", "regressor", "sklearn.ensemble", _HGB),
    Estimator("RandomForestRegressor", "regressor", "sklearn.ensemble", _TREES),
    Estimator("ExtraTreesRegressor", "regressor", "sklearn.ensemble", _TREES),
    Estimator("GradientBoostingRegressor", "regressor", "sklearn.ensemble", _GB),
    Estimator("Ridge", "regressor", "sklearn.linear_model", {"alpha": _f(0.0, 1e6, (1e-3, 100.0), True)},
              sparse_ok=True, scaled=True, seeded=False),
    Estimator("SGDRegressor", "regressor", "sklearn.linear_model",
              {"alpha": _f(1e-8, 1.0, (1e-6, 1e-2), True), "max_iter": _i(1, 5000, (500, 3000), True)},
              sparse_ok=True, scaled=True),
    Estimator("LinearSVR", "regressor", "sklearn.svm", {"C": _f(1e-6, 1e6, (1e-2, 10.0), True)},
              sparse_ok=True, scaled=True, fixed={"max_iter": 5000}),
    Estimator("KNeighborsRegressor", "regressor", "sklearn.neighbors", _KNN, scaled=True, seeded=False),
)
ESTIMATORS: dict[str, dict[str, Estimator]] = {
    fam: {e.name: e for e in _TABLE if e.family == fam} for fam in ("classifier", "regressor")}


def family(kind: str) -> Literal["classifier", "regressor"]:
    """The estimator family of a metric kind ("label" | "proba" | "value")."""
    return "regressor" if kind == "value" else "classifier"


def render_estimator(est: Estimator, params: dict[str, float]) -> tuple[list[str], str]:
    """(import lines, expression) of the estimator with the given hyper-parameters: unknown names and
    non-numbers are dropped (what it cannot take), values are clipped into their valid range."""
    kwargs: dict[str, object] = {}
    for key, value in params.items():
        if key in est.params and isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            kwargs[key] = est.params[key].clip(value)
    kwargs.update(est.fixed)
    args = [f"{k}={v!r}" for k, v in kwargs.items()] + (["random_state=SEED"] if est.seeded else [])
    imports = [f"from {est.module} import {est.class_name}"] if est.module else []
    expr = f"{est.class_name}({', '.join(args)})"
    if est.scaled:  # DenseScaler (toolkit): standardises dense features, passes sparse TF-IDF through
        imports.append("from sklearn.pipeline import make_pipeline")
        expr = f"make_pipeline(DenseScaler(), {expr})"
    return imports, expr
