# ---- linguacodus toolkit (pre-written preprocessing operations) -------------------------------
# Building blocks the generated preprocess() may call, as Text-to-ML's pre-written modules: the
# model decides which columns get which treatment, these do it correctly (train and test encoded
# together, nothing fitted on test, no rows dropped). Each takes and returns (train, test); a column
# name that does not exist is skipped with a note on stderr instead of failing the whole script.


def _tk_present(train, columns, op):
    if isinstance(columns, str):
        columns = [columns]
    found = [c for c in columns if c in train.columns]
    absent = [c for c in columns if c not in train.columns]
    if absent:
        print(f"linguacodus toolkit: {op} skips unknown columns {absent}", file=sys.stderr)
    return found


def _tk_both(train, test):
    return pd.concat([train, test], keys=["train", "test"])


def _tk_split(both):
    return both.loc["train"].reset_index(drop=True), both.loc["test"].reset_index(drop=True)


def fill_missing(train, test, columns):
    """Numbers: the train median; anything else: the string "missing"."""
    train, test = train.copy(), test.copy()
    for c in _tk_present(train, columns, "fill_missing"):
        if pd.api.types.is_numeric_dtype(train[c]) and not pd.api.types.is_bool_dtype(train[c]):
            median = train[c].median()
            value = 0.0 if pd.isna(median) else median
        else:
            value = "missing"
            train[c], test[c] = train[c].astype(object), test[c].astype(object)
        train[c], test[c] = train[c].fillna(value), test[c].fillna(value)
    return train, test


def _tk_numbers(both, cols, op, max_levels=0):
    """Numeric columns (with more than max_levels values) are already features: leave them be."""
    keep = [c for c in cols if pd.api.types.is_numeric_dtype(both[c]) and not pd.api.types.is_bool_dtype(both[c])
            and both[c].nunique() > max_levels]
    if keep:
        print(f"linguacodus toolkit: {op} leaves numeric columns as they are: {keep}", file=sys.stderr)
    return [c for c in cols if c not in keep]


def encode_categories(train, test, columns):
    """Integer codes over the values of train and test together; missing -> -1."""
    both = _tk_both(train, test)
    for c in _tk_numbers(both, _tk_present(train, columns, "encode_categories"), "encode_categories"):
        both[c] = both[c].astype("string").astype("category").cat.codes.astype(int)
    return _tk_split(both)


def one_hot(train, test, columns, max_levels=30):
    """One 0/1 column per value; a column with more than max_levels values gets integer codes."""
    both = _tk_both(train, test)
    cols = _tk_numbers(both, _tk_present(train, columns, "one_hot"), "one_hot", max_levels)
    many = [c for c in cols if both[c].nunique() > max_levels]
    for c in many:
        both[c] = both[c].astype("string").astype("category").cat.codes.astype(int)
    few = [c for c in cols if c not in many]
    if few:
        both = pd.get_dummies(both, columns=few, dummy_na=True, dtype=int)
    return _tk_split(both)


def date_features(train, test, columns):
    """Year, month, day, day of week, day of year, the hour when the values have times of day, and the
    time itself (days since 1970, for a split at a moment: a change of habit, a new rule) as numbers;
    the date column is dropped."""
    both = _tk_both(train, test)
    for c in _tk_present(train, columns, "date_features"):
        d = pd.to_datetime(both[c], errors="coerce", format="mixed", utc=True)
        parts = ["year", "month", "day", "day_of_week", "day_of_year"]
        if (d.dt.hour.fillna(0) != 0).any():
            parts.append("hour")
        for part in parts:
            both[f"{c}_{part}"] = getattr(d.dt, part).astype(float).fillna(-1)
        days = (d - pd.Timestamp(0, tz="UTC")).dt.total_seconds() / 86400
        both[f"{c}_days"] = days.fillna(days.median() if days.notna().any() else 0.0)
        both = both.drop(columns=[c])
    return _tk_split(both)


def text_features(train, test, columns):
    """Free text -> length, word count and a code of the first word; the text column is dropped."""
    both = _tk_both(train, test)
    for c in _tk_present(train, columns, "text_features"):
        s = both[c].astype("string").fillna("")
        both[f"{c}_len"] = s.str.len().astype(float)
        both[f"{c}_words"] = s.str.split().str.len().fillna(0).astype(float)
        both[f"{c}_first"] = s.str.split().str[0].fillna("").astype("category").cat.codes.astype(int)
        both = both.drop(columns=[c])
    return _tk_split(both)


def to_number(train, test, columns):
    """Booleans and yes/no/true/false strings -> 1/0; numbers stored as text -> floats."""
    words = {"true": 1, "false": 0, "yes": 1, "no": 0, "y": 1, "n": 0}
    train, test = train.copy(), test.copy()
    for c in _tk_present(train, columns, "to_number"):
        for frame in (train, test):
            s = frame[c]
            mapped = s.map(lambda v: words.get(str(v).strip().lower(), v) if isinstance(v, (str, bool)) else v)
            frame[c] = pd.to_numeric(mapped, errors="coerce").astype(float)
    return train, test


def drop_columns(train, test, columns):
    """Remove columns from both (absent ones are ignored)."""
    cols = _tk_present(train, columns, "drop_columns")
    return train.drop(columns=cols), test.drop(columns=[c for c in cols if c in test.columns])


def fit_weighted(model, X, y, weights):
    """model.fit with per-row weights, routed to the last step of a pipeline; a plain fit for models
    that take no weights (k-nearest neighbours)."""
    import inspect

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if "sample_weight" not in inspect.signature(final.fit).parameters:
        print(f"linguacodus toolkit: {type(final).__name__} takes no sample weights: plain fit", file=sys.stderr)
        return model.fit(X, y)
    key = f"{model.steps[-1][0]}__sample_weight" if hasattr(model, "steps") else "sample_weight"
    return model.fit(X, y, **{key: weights})

