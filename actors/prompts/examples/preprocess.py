def preprocess(train, test):
    # columns: city (categorical), rooms (numeric, some missing), built (date), notes (free text)
    both = pd.concat([train, test])
    both["rooms"] = both["rooms"].fillna(both["rooms"].median())
    both["city"] = both["city"].astype("category").cat.codes
    built = pd.to_datetime(both["built"], errors="coerce")
    both["built_year"] = built.dt.year.fillna(2000)
    both["built_month"] = built.dt.month.fillna(1)
    both["notes_len"] = both["notes"].fillna("").str.len()
    both = both.drop(columns=["built", "notes"])
    return both.iloc[:len(train)], both.iloc[len(train):]
