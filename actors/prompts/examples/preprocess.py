def preprocess(train, test):
    train, test = fill_missing(train, test, ["rooms"])
    train, test = one_hot(train, test, ["city"])
    train, test = date_features(train, test, ["built"])
    blocks = [tfidf_words(train, test, ["notes"])]
    train, test = drop_columns(train, test, ["notes"])
    return stack_features(train, test, blocks)
