# ---- linguacodus floor stages (built-in, robust) ------------------------------------------------
# The floor: standard preprocessing + gradient boosting. Used whole when every LLM attempt failed
# (the row then says fallback_used=true), and as the known-good downstream stages while one
# generated stage is checked on its own (so train_model also takes a generated preprocess's sparse
# TF-IDF matrix, through SVD components). The harness itself predicts: there is no predict stage.
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor


def preprocess(train, test):
    both = pd.concat([train, test], keys=["train", "test"])
    out = pd.DataFrame(index=both.index)
    for col in both.columns:
        s = both[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype(float)
            continue
        parsed = pd.to_datetime(s, errors="coerce", format="mixed") if s.astype(str).str.match(
            r"^\d{4}-\d{2}-\d{2}").mean() > 0.9 else None
        if parsed is not None:
            out[col + "_year"], out[col + "_month"] = parsed.dt.year, parsed.dt.month
            out[col + "_day"], out[col + "_dow"] = parsed.dt.day, parsed.dt.dayofweek
            out[col + "_doy"] = parsed.dt.dayofyear
            continue
        text = s.astype("string")
        if text.nunique() > 50:  # free text: cheap shape features
            out[col + "_len"] = text.str.len()
            out[col + "_words"] = text.str.count(" ") + 1
            out[col + "_first"] = text.str.split(" ").str[0].astype("category").cat.codes
        else:
            out[col] = text.astype("category").cat.codes
    out = out.fillna(out.median(numeric_only=True)).fillna(0)
    return out.loc["train"].reset_index(drop=True), out.loc["test"].reset_index(drop=True)


def build_model():
    if KIND == "value":
        return HistGradientBoostingRegressor(random_state=SEED)
    return HistGradientBoostingClassifier(random_state=SEED)


def train_model(model, X, y):
    if sp.issparse(X):  # gradient boosting needs dense input: 100 SVD components of the matrix
        from sklearn.decomposition import TruncatedSVD
        from sklearn.pipeline import make_pipeline

        svd = TruncatedSVD(n_components=max(1, min(100, X.shape[1] - 1, X.shape[0] - 1)), random_state=SEED)
        model = make_pipeline(svd, model)
    model.fit(X, y)
    return model
