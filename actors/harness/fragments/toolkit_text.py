# ---- linguacodus toolkit: text ------------------------------------------------------------------
# Free text as TF-IDF, the usual strong baseline on text competitions (LESSONS.md: length and word
# count scored near chance). Vectorizers are fitted on train only and give sparse blocks; models
# that need dense input get SVD components of a block instead. stack_features joins the tabular
# columns (numeric after the other operations, standardised) with the blocks: a sparse CSR matrix if
# any block is sparse, else a DataFrame. A preprocess using them ends with
#   blocks = [tfidf_words(train, test, ["review"]), tfidf_chars(train, test, ["review"])]
#   train, test = drop_columns(train, test, ["review"])
#   return stack_features(train, test, blocks)


def _tk_strings(frame, column):
    return frame[column].astype("string").fillna("").astype(str).tolist()


def _tk_tfidf(train, test, columns, op, **options):
    """One sparse block per call: a vectorizer per column, fitted on train, applied to both."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    parts_train, parts_test = [], []
    for c in _tk_present(train, columns, op):
        try:
            vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float64, **options)
            a = vectorizer.fit_transform(_tk_strings(train, c))
        except ValueError:  # a small sample: min_df pruned every term; keep all terms instead
            try:
                vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float64, **{**options, "min_df": 1})
                a = vectorizer.fit_transform(_tk_strings(train, c))
            except ValueError:
                print(f"linguacodus toolkit: {op} found no terms in column {c!r}", file=sys.stderr)
                continue
        parts_train.append(a)
        parts_test.append(vectorizer.transform(_tk_strings(test, c)))
    if not parts_train:
        return sp.csr_matrix((len(train), 0)), sp.csr_matrix((len(test), 0))
    return sp.hstack(parts_train, format="csr"), sp.hstack(parts_test, format="csr")


def tfidf_words(train, test, columns, max_features=50000, ngram_max=2, min_df=2):
    """TF-IDF of word 1..ngram_max-grams (sublinear tf), vocabulary and idf from train only.
    Returns a block (train_matrix, test_matrix) of scipy sparse matrices; the columns stay in the frames."""
    return _tk_tfidf(train, test, columns, "tfidf_words", ngram_range=(1, int(ngram_max)), min_df=int(min_df),
                     max_features=int(max_features), token_pattern=r"(?u)\b\w+\b", strip_accents="unicode")


def tfidf_chars(train, test, columns, max_features=50000, ngram_max=5, min_df=2):
    """TF-IDF of character 2..ngram_max-grams inside word boundaries: robust to typos and rare words."""
    return _tk_tfidf(train, test, columns, "tfidf_chars", analyzer="char_wb", ngram_range=(2, int(ngram_max)),
                     min_df=int(min_df), max_features=int(max_features), strip_accents="unicode")


def svd_components(block, n_components=100):
    """Dense components (TruncatedSVD fitted on the train part) of a sparse block, for tree models."""
    from sklearn.decomposition import TruncatedSVD

    a, b = block
    if a.shape[1] <= 1:
        return np.asarray(a.todense()), np.asarray(b.todense())
    svd = TruncatedSVD(n_components=max(1, min(int(n_components), a.shape[1] - 1, a.shape[0] - 1)),
                       random_state=SEED)
    return svd.fit_transform(a), svd.transform(b)


def stack_features(train, test, blocks, scale=True):
    """The tabular columns (standardised with train's mean and std when scale) side by side with the
    text blocks: (train, test) as CSR matrices if any block is sparse, else as DataFrames."""
    text = [c for c in train.columns if not pd.api.types.is_numeric_dtype(train[c])]
    if text:
        raise ValueError(f"stack_features needs numeric tabular columns; encode or drop these first: {text[:8]}")
    a = train.to_numpy(dtype=np.float64)
    b = test[list(train.columns)].to_numpy(dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        bad = [c for c in train.columns if not np.isfinite(train[c].to_numpy(dtype=float)).all()
               or not np.isfinite(test[c].to_numpy(dtype=float)).all()]
        raise ValueError(f"stack_features: columns with missing values, fill_missing them first: {bad[:8]}")
    if scale and a.shape[1]:
        mean, std = a.mean(axis=0), a.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        a, b = (a - mean) / std, (b - mean) / std
    blocks = [blk for blk in blocks if blk[0].shape[1]]
    if any(sp.issparse(blk[0]) for blk in blocks):
        return (sp.hstack([sp.csr_matrix(a)] + [sp.csr_matrix(blk[0]) for blk in blocks], format="csr"),
                sp.hstack([sp.csr_matrix(b)] + [sp.csr_matrix(blk[1]) for blk in blocks], format="csr"))
    names = list(train.columns) + [f"text{i}_{j}" for i, blk in enumerate(blocks) for j in range(blk[0].shape[1])]
    return (pd.DataFrame(np.hstack([a] + [np.asarray(blk[0]) for blk in blocks]), columns=names),
            pd.DataFrame(np.hstack([b] + [np.asarray(blk[1]) for blk in blocks]), columns=names))
