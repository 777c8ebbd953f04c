from sklearn.ensemble import ExtraTreesClassifier


def build_model():
    return ExtraTreesClassifier(n_estimators=300, min_samples_leaf=2, random_state=SEED)
