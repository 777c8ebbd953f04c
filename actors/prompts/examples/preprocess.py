def preprocess(train, test):
    train, test = fill_missing(train, test, ["rooms"])
    train, test = one_hot(train, test, ["city"])
    train, test = date_features(train, test, ["built"])
    train, test = text_features(train, test, ["notes"])
    return train, test
