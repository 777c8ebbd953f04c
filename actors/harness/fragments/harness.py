# ---- linguacodus harness (pre-written, fixed) -------------------------------------------------
# Owns everything that must be exactly right and that small models get wrong (LESSONS.md): loading
# the files, encoding the target, the cross-validation folds, predicting on test.csv (never on a
# split of train), probabilities where the metric needs them, the exact submission format per
# metric, and the out-of-fold predictions the pipeline scores itself. The generated stages are
# plain functions:
#   preprocess(train, test) -> (X_train, X_test)   numeric DataFrames (same columns, no NaN) or
#                                                   scipy sparse matrices (same number of columns)
#   build_model() -> estimator                      unfitted, with fit/predict
#   train_model(model, X, y) -> fitted model
#   predict(model, X) -> np.ndarray                 optional: without it the harness predicts
# Fragments, in this order: harness.py (contracts), harness_predict.py (raw predictions and the
# submission format), harness_cv.py (folds and main). `TASK` (a dict) is defined above them.
import json
import os
import sys
import traceback
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

warnings.filterwarnings("ignore")

TARGETS = TASK["targets"]
ID_COLUMN = TASK["id_column"]
TASK_TYPE = TASK["task_type"]
METRIC = TASK["metric"]
KIND = TASK["kind"]  # "label" | "proba" | "value"
CLASSES = TASK.get("classes") or []  # sorted class labels (as strings) of a single-target classification
N_CLASSES = len(CLASSES)
SEED = int(TASK.get("seed", 0))
FOLDS = int(TASK.get("folds", 5))  # default of --folds; 0 or 1: no cross-validation
HOLDOUT = bool(TASK.get("holdout"))  # default of --holdout: validate on one of the FOLDS folds only (large data)
GROUP_COLUMN = TASK.get("group_column")  # folds never split a group
TIME_COLUMN = TASK.get("time_column")  # folds are time-ordered: validate on later rows only
STAGES = ("preprocess", "model", "train", "predict")
# scikit-learn's tree ensembles and k-NN accept sparse input but crawl over a wide TF-IDF matrix
# (ExtraTrees, 100 trees, 5000 x 50000 at 0.2% density: 104 s per fit, measured; 6 fits with 5 folds).
SLOW_ON_SPARSE = ("RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier", "ExtraTreesRegressor",
                  "GradientBoostingClassifier", "GradientBoostingRegressor", "KNeighborsClassifier",
                  "KNeighborsRegressor")
SPARSE_WIDE = 5000  # columns
SPARSE_HINT = ("use an estimator that takes sparse input (LogisticRegression, Ridge, SGDClassifier / "
               "SGDRegressor, LinearSVC, NBSVM, LGBMClassifier / LGBMRegressor), or reduce the text blocks to "
               "dense components with svd_components")


class ContractError(Exception):
    """A generated stage broke its contract; the message says exactly what to fix."""


def _lc_fail(stage, exc, out_dir):
    info = {"stage": stage, "error_type": type(exc).__name__, "message": str(exc)[:2000],
            "contract": isinstance(exc, ContractError)}
    try:
        with open(os.path.join(out_dir, "_lc_error.json"), "w") as f:
            json.dump(info, f)
    except OSError:
        pass
    traceback.print_exc()
    print("LINGUACODUS_STAGE_ERROR " + json.dumps(info), file=sys.stderr, flush=True)
    sys.exit(1)


def _lc_call(stage, out_dir, fn, *args):
    try:
        return fn(*args)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of generated code is reported
        _lc_fail(stage, exc, out_dir)


def _lc_sample(df, n, y_col=None):
    """Up to n rows, keeping at least two rows of every class so checks see every label."""
    if n is None or len(df) <= n:
        return df
    if y_col is None:
        return df.sample(n=n, random_state=SEED).sort_index()
    labels = df[y_col].astype(str)
    keep = pd.concat([df.loc[idx].sample(n=min(len(idx), 2), random_state=SEED)
                      for idx in labels.groupby(labels.to_numpy()).groups.values()])
    rest = df.drop(keep.index)
    extra = rest.sample(n=max(0, n - len(keep)), random_state=SEED) if len(rest) else rest
    return pd.concat([keep, extra]).sort_index()


def _lc_encode_target(frame):
    if KIND == "value":
        return frame[TARGETS[0]].astype(float).to_numpy() if len(TARGETS) == 1 else frame[TARGETS].astype(float)
    if len(TARGETS) > 1:  # multilabel: one 0/1 column per target
        return frame[TARGETS].astype(int)
    index = {c: i for i, c in enumerate(CLASSES)}
    return frame[TARGETS[0]].astype(str).map(index).astype(int).to_numpy()


def _lc_check_sparse(X_train, X_test, n_train, n_test):
    """Sparse features (TF-IDF blocks): checked on their stored values, never densified."""
    if not (sp.issparse(X_train) and sp.issparse(X_test)):
        raise ContractError("preprocess returned a sparse matrix for only one of train and test; return both as "
                            "scipy sparse matrices (stack_features does) or both as DataFrames")
    X_train, X_test = sp.csr_matrix(X_train, dtype=np.float64), sp.csr_matrix(X_test, dtype=np.float64)
    if X_train.shape[0] != n_train or X_test.shape[0] != n_test:
        raise ContractError(f"preprocess changed the number of rows: train {n_train} -> {X_train.shape[0]}, test "
                            f"{n_test} -> {X_test.shape[0]}. Never drop or add rows")
    if X_train.shape[1] != X_test.shape[1]:
        raise ContractError(f"train and test features must have the same number of columns: {X_train.shape[1]} "
                            f"vs {X_test.shape[1]}; fit each vectorizer on train and transform both")
    if X_train.shape[1] == 0:
        raise ContractError("preprocess returned no feature columns")
    for name, X in (("train", X_train), ("test", X_test)):
        if not np.isfinite(X.data).all():
            raise ContractError(f"{name} features contain missing or infinite values; fill them first")
    return X_train, X_test


def _lc_check_features(X_train, X_test, n_train, n_test):
    if sp.issparse(X_train) or sp.issparse(X_test):
        return _lc_check_sparse(X_train, X_test, n_train, n_test)
    if isinstance(X_train, np.ndarray):
        X_train = pd.DataFrame(X_train, columns=[f"f{i}" for i in range(X_train.shape[1])])
    if isinstance(X_test, np.ndarray):
        X_test = pd.DataFrame(X_test, columns=[f"f{i}" for i in range(X_test.shape[1])])
    if not isinstance(X_train, pd.DataFrame) or not isinstance(X_test, pd.DataFrame):
        raise ContractError("preprocess must return a tuple (train_features, test_features) of pandas DataFrames "
                            "or of scipy sparse matrices")
    if len(X_train) != n_train or len(X_test) != n_test:
        raise ContractError(
            f"preprocess changed the number of rows: train {n_train} -> {len(X_train)}, test {n_test} -> "
            f"{len(X_test)}. Never drop or add rows (fill missing values instead of dropna)")
    missing = [c for c in X_train.columns if c not in X_test.columns]
    extra = [c for c in X_test.columns if c not in X_train.columns]
    if missing or extra:
        raise ContractError(
            f"train and test features must have the same columns; only in train: {missing[:8]}, only in test: "
            f"{extra[:8]}. Encode train and test together (e.g. pd.concat then pd.get_dummies, then split)")
    X_test = X_test[list(X_train.columns)]
    for X in (X_train, X_test):  # object columns that hold only booleans or numbers are numbers
        for c in X.columns:
            if not pd.api.types.is_numeric_dtype(X[c]):
                values = X[c].map(lambda v: {"True": 1, "False": 0, True: 1, False: 0}.get(v, v))
                numbers = pd.to_numeric(values, errors="coerce")
                if numbers.notna().sum() == values.notna().sum():
                    X[c] = numbers
    if X_train.shape[1] == 0:
        raise ContractError("preprocess returned no feature columns")
    bad = [c for c in X_train.columns if not pd.api.types.is_numeric_dtype(X_train[c])
           or not pd.api.types.is_numeric_dtype(X_test[c])]
    if bad:
        examples = ", ".join(f"'{c}' ({X_train[c].dtype}, e.g. {X_train[c].dropna().astype(str).head(2).tolist()})"
                             for c in bad[:5])
        raise ContractError(
            f"every feature column must be numeric, but these are not: {examples}. Encode text/categorical "
            f"columns (pd.get_dummies or .astype('category').cat.codes), convert dates to numbers, or drop them")
    for name, X in (("train", X_train), ("test", X_test)):
        values = X.to_numpy(dtype=float)
        if not np.isfinite(values).all():
            cols = [c for c in X.columns if not np.isfinite(X[c].to_numpy(dtype=float)).all()]
            raise ContractError(f"{name} features contain missing or infinite values in columns {cols[:8]}; "
                                f"fill them (e.g. .fillna(median) for numbers, a constant for categories)")
    return X_train.reset_index(drop=True), X_test.reset_index(drop=True)


def _lc_check_model(model):
    if model is None or not hasattr(model, "fit") or not hasattr(model, "predict"):
        raise ContractError("build_model must return an unfitted estimator object with fit() and predict() "
                            f"methods, got {type(model).__name__}")
    if KIND == "proba" and not hasattr(model, "predict_proba"):
        raise ContractError(f"the metric {METRIC} needs probabilities: build_model must return a classifier "
                            f"with predict_proba(), {type(model).__name__} has none")
    return model


def _lc_final_estimator(model):
    """The estimator inside pipelines and meta-estimators (what actually meets the features)."""
    for _ in range(8):
        if hasattr(model, "steps"):
            model = model.steps[-1][1]
        elif type(model).__name__ == "TransformedTargetRegressor":
            model = model.regressor
        elif hasattr(model, "estimator") and type(model).__name__.startswith(("MultiOutput", "OneVsRest")):
            model = model.estimator
        else:
            break
    return model


def _lc_train(train_fn, model, X, y, out_dir):
    """train_model under its contract; an estimator that refuses sparse input (HistGradientBoosting
    meeting TF-IDF) or crawls over a wide one is the model stage's choice, reported with what to
    choose instead."""
    name = type(_lc_final_estimator(model)).__name__
    if sp.issparse(X) and X.shape[1] > SPARSE_WIDE and name in SLOW_ON_SPARSE:
        _lc_fail("model", ContractError(f"{name} would take minutes per fit on a sparse matrix of {X.shape[1]} "
                                        f"columns (TF-IDF): {SPARSE_HINT}"), out_dir)
    try:
        return train_fn(model, X, y)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of generated code is reported
        if sp.issparse(X) and ("dense data is required" in str(exc) or "Cannot center sparse" in str(exc)):
            _lc_fail("model", ContractError(f"{name} needs dense features, but preprocess returned a sparse "
                                            f"matrix ({X.shape[1]} columns, TF-IDF): {SPARSE_HINT}"), out_dir)
        _lc_fail("train", exc, out_dir)


def _lc_check_fitted(model):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        raise ContractError("train_model must fit the model it returns: call model.fit(X, y) on all rows "
                            "(cross_val_score and similar helpers fit copies and leave the model unfitted)") from None
    except TypeError:  # not a scikit-learn estimator: predict() will tell
        pass
