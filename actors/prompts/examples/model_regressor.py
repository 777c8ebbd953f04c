from sklearn.ensemble import ExtraTreesRegressor


def build_model():
    return ExtraTreesRegressor(n_estimators=300, min_samples_leaf=2, random_state=SEED)
