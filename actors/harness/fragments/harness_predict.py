# ---- linguacodus harness: raw predictions and the submission format ---------------------------
# Raw predictions are what ensembles average: for a single-target classification one probability
# per class (predict_proba where the estimator has it, else a one-hot of its labels), whatever the
# metric; for multilabel P(1) per target; values per target for regression. The submission format
# is decided here by the metric, never by the model: labels are the argmax, log loss gets clipped
# and renormalised probabilities, ROC AUC the positive-class probability, RMSLE-type metrics
# non-negative values. actors/search/ensemble.py mirrors _lc_format on the host to score raw predictions.
RAW_COLUMNS = list(CLASSES) if KIND != "value" and len(TARGETS) == 1 else list(TARGETS)
PROBA_EPS = 1e-6  # log loss: one confident miss costs -log(1e-6) ~= 13.8, not 34.5


def _lc_proba_matrix(model, pred, n):
    """Map a predict_proba result onto all CLASSES (a fold or a sample may lack some classes)."""
    pred = np.asarray(pred, dtype=float)
    if pred.ndim == 1:
        if hasattr(model, "predict_proba") and np.isin(pred, (0.0, 1.0)).all() and len(np.unique(pred)) > 1:
            raise ContractError(f"the metric {METRIC} needs probabilities, but predict returned hard 0/1 labels: "
                                "return model.predict_proba(X) instead of model.predict(X)")
        if N_CLASSES != 2:
            raise ContractError(f"predict must return an array of shape (n_rows, {N_CLASSES}) of class "
                                f"probabilities (use model.predict_proba(X)), got shape {pred.shape}")
        pred = np.column_stack([1 - pred, pred])
    seen = getattr(model, "classes_", None)
    if pred.shape[1] != N_CLASSES and seen is not None and len(seen) == pred.shape[1]:
        full = np.zeros((n, N_CLASSES))
        full[:, np.asarray(seen, dtype=int)] = pred
        pred = full
    if pred.shape != (n, N_CLASSES):
        raise ContractError(f"predict must return class probabilities of shape ({n}, {N_CLASSES}) "
                            f"(model.predict_proba(X)), got shape {pred.shape}")
    if not np.isfinite(pred).all() or (pred < -1e-9).any() or (pred > 1 + 1e-9).any():
        raise ContractError("predicted probabilities must be finite and within [0, 1]")
    sums = pred.sum(axis=1, keepdims=True)
    return np.where(sums > 0, pred / np.where(sums > 0, sums, 1), 1.0 / N_CLASSES)


def _lc_check_predictions(model, pred, n):
    """What a generated predict() returned, checked against the metric kind."""
    if pred is None:
        raise ContractError("predict returned None; it must return a numpy array with one prediction per row")
    if isinstance(pred, (pd.DataFrame, pd.Series)):
        pred = pred.to_numpy()
    if KIND == "proba" and len(TARGETS) == 1:
        return _lc_proba_matrix(model, pred, n)
    if not isinstance(pred, list):
        pred = np.asarray(pred)
    if KIND == "proba":  # multilabel: one probability column per target
        if isinstance(pred, list):  # MultiOutputClassifier.predict_proba: one (n, 2) array per target
            pred = np.column_stack([np.asarray(p)[:, -1] for p in pred])
        pred = np.asarray(pred, dtype=float).reshape(n, -1)
        if pred.shape[1] != len(TARGETS):
            raise ContractError(f"predict must return shape ({n}, {len(TARGETS)}), got {pred.shape}")
        return np.clip(pred, 0, 1)
    if len(TARGETS) == 1 and pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    expected = (n,) if len(TARGETS) == 1 else (n, len(TARGETS))
    if pred.shape != expected:
        raise ContractError(f"predict must return an array of shape {expected}, got {pred.shape}")
    if KIND == "value":
        pred = pred.astype(float)
        if not np.isfinite(pred).all():
            raise ContractError("predict returned NaN or infinite values")
        return pred
    if len(TARGETS) == 1:
        if pred.dtype.kind not in "iub" and not (pred.dtype.kind == "f" and np.all(pred == np.round(pred))):
            known = {c: i for i, c in enumerate(CLASSES)}
            mapped = pd.Series(pred.astype(str)).map(known)
            if mapped.isna().any():
                raise ContractError("predict must return class indices 0..N_CLASSES-1 (what model.predict "
                                    f"gives for the encoded target), got values like {pred[:3].tolist()}")
            pred = mapped.to_numpy()
        pred = pred.astype(int)
        if pred.min() < 0 or pred.max() >= N_CLASSES:
            raise ContractError(f"predicted class indices must be within 0..{N_CLASSES - 1}")
    return pred


def _lc_raw_from_stage(pred, n):
    """A checked generated prediction as raw columns (labels become one-hot rows)."""
    if KIND == "label" and len(TARGETS) == 1:
        return np.eye(N_CLASSES)[np.asarray(pred, dtype=int)]
    return np.asarray(pred, dtype=float).reshape(n, len(RAW_COLUMNS))


def _lc_positive_proba(estimator, proba):
    """P(1) of one multilabel target; a fold where the target had one value gives a single column."""
    classes = [int(c) for c in getattr(estimator, "classes_", [0, 1])]
    proba = np.asarray(proba, dtype=float)
    return proba[:, classes.index(1)] if 1 in classes else np.zeros(len(proba))


def _lc_model_raw(model, X, n):
    """Raw predictions of a fitted model, computed by the harness (no generated predict stage)."""
    if KIND == "value":
        pred = np.asarray(model.predict(X), dtype=float).reshape(n, -1)
        if pred.shape[1] != len(TARGETS) or not np.isfinite(pred).all():
            raise ContractError(f"the model predicted shape {pred.shape} with NaN or infinite values; expected "
                                f"finite values of shape ({n}, {len(TARGETS)})")
        return pred
    if len(TARGETS) > 1:  # multilabel, one classifier per target (MultiOutputClassifier)
        if hasattr(model, "predict_proba"):
            proba = model.predict_proba(X)
            estimators = getattr(model, "estimators_", [None] * len(proba))
            return np.column_stack([_lc_positive_proba(e, p) for e, p in zip(estimators, proba)])
        return np.clip(np.asarray(model.predict(X), dtype=float).reshape(n, -1), 0, 1)
    if hasattr(model, "predict_proba"):
        return _lc_proba_matrix(model, model.predict_proba(X), n)
    return np.eye(N_CLASSES)[np.asarray(model.predict(X), dtype=int)]


def _lc_format(raw):
    """Predictions in submission terms, chosen by the metric (mirrored by actors/ensemble.format_raw)."""
    if KIND == "label":
        return np.asarray(CLASSES, dtype=object)[np.argmax(raw, axis=1)]
    if KIND == "proba" and len(TARGETS) == 1:
        if METRIC == "multiclass_log_loss":
            p = np.clip(raw, PROBA_EPS, 1 - PROBA_EPS)
            return p / p.sum(axis=1, keepdims=True)
        return raw[:, -1]  # binary ROC AUC: the probability of the larger label
    if METRIC in ("rmsle", "mean_columnwise_rmsle"):
        return np.clip(raw, 0, None)
    if METRIC == "rmse_log":  # log of the prediction: strictly positive
        return np.clip(raw, PROBA_EPS, None)
    return raw


def _lc_frame(ids, pred):
    """The exact submission format of SPEC/grader for this metric, from _lc_format's output."""
    out = pd.DataFrame({ID_COLUMN: np.asarray(ids)})
    pred = np.asarray(pred)
    if KIND == "proba" and len(TARGETS) == 1 and METRIC == "multiclass_log_loss":
        for i, c in enumerate(CLASSES):
            out[c] = pred[:, i]
    elif pred.ndim == 1:
        out[TARGETS[0]] = pred
    else:
        for i, t in enumerate(TARGETS):
            out[t] = pred[:, i]
    return out


def _lc_raw_frame(ids, raw):
    out = pd.DataFrame(np.asarray(raw, dtype=float), columns=RAW_COLUMNS)
    out.insert(0, ID_COLUMN, np.asarray(ids))
    return out


def _lc_fit_predict(stages, fit_df, pred_df, out_dir):
    """preprocess -> build_model -> train_model on fit_df, raw predictions for pred_df; each step
    under its contract. `stages` maps stage names to one solution's functions (predict may be None)."""
    features = [c for c in pred_df.columns if c in fit_df.columns and c != ID_COLUMN and c not in TARGETS]
    X_fit, X_pred = _lc_call("preprocess", out_dir, stages["preprocess"], fit_df[features].copy(),
                             pred_df[features].copy())
    X_fit, X_pred = _lc_call("preprocess", out_dir, _lc_check_features, X_fit, X_pred, len(fit_df), len(pred_df))
    y = _lc_encode_target(fit_df)
    model = _lc_call("model", out_dir, lambda: _lc_check_model(stages["model"]()))
    if len(TARGETS) > 1:  # one model per target, so single-output estimators work unchanged
        from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor
        model = MultiOutputRegressor(model) if KIND == "value" else MultiOutputClassifier(model)
    fitted = _lc_train(stages["train"], model, X_fit, y, out_dir)
    model = fitted if fitted is not None and hasattr(fitted, "predict") else model
    _lc_call("train", out_dir, _lc_check_fitted, model)
    n = X_pred.shape[0]
    if stages.get("predict") is not None:
        pred = _lc_call("predict", out_dir, stages["predict"], model, X_pred)
        pred = _lc_call("predict", out_dir, _lc_check_predictions, model, pred, n)
        return _lc_raw_from_stage(pred, n)
    # no generated predict: a failure here comes from the estimator the model stage chose
    return _lc_call("model", out_dir, _lc_model_raw, model, X_pred, n)
