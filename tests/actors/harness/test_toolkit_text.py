"""The text toolkit: TF-IDF fitted on train only, blocks stacked with the scaled tabular columns, SVD
components for dense models, and NB-SVM / the calibrated linear SVM on sparse input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tests.helpers.harness import toolkit_namespace

GOOD = ["a great film", "great acting and a great story", "wonderful and moving", "a wonderful great cast"]
BAD = ["a dull film", "dull acting and a boring story", "awful and boring", "a dull awful mess"]


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.DataFrame({"review": GOOD * 5 + BAD * 5, "year": np.arange(40, dtype=float)})
    test = pd.DataFrame({"review": ["zebra xylophone", "great wonderful film", None], "year": [1.0, 2.0, 3.0]})
    return train, test


def test_tfidf_is_fitted_on_train_only_and_stacked_with_the_scaled_tabular_columns():
    tk = toolkit_namespace()
    train, test = frames()
    a, b = tk["tfidf_words"](train, test, ["review"], min_df=1)
    assert sp.issparse(a) and a.shape[0] == 40 and b.shape == (3, a.shape[1])
    assert b[0].nnz == 0 and b[2].nnz == 0  # words never seen in train (and a missing text) have no column
    chars = tk["tfidf_chars"](train, test, ["review"], ngram_max=3)
    assert chars[0].shape[1] > a.shape[1]
    X, Xt = tk["stack_features"](tk["drop_columns"](train, test, ["review"])[0],
                                 tk["drop_columns"](train, test, ["review"])[1], [(a, b), chars])
    assert sp.issparse(X) and X.shape == (40, 1 + a.shape[1] + chars[0].shape[1]) and Xt.shape[0] == 3
    year = X[:, 0].toarray().ravel()
    assert year.mean() == pytest.approx(0.0) and year.std() == pytest.approx(1.0)  # train's mean and std
    assert Xt[0, 0] == pytest.approx((1.0 - 19.5) / np.arange(40).std())
    dense = tk["svd_components"]((a, b), 5)
    D, Dt = tk["stack_features"](train[["year"]], test[["year"]], [dense])
    assert isinstance(D, pd.DataFrame) and list(D.columns) == ["year", "text0_0", "text0_1", "text0_2", "text0_3",
                                                               "text0_4"] and len(Dt) == 3
    with pytest.raises(ValueError, match="encode or drop these first: \\['review'\\]"):
        tk["stack_features"](train, test, [(a, b)])


@pytest.mark.parametrize("name", ["NBSVMClassifier", "CalibratedLinearSVC"])
def test_sparse_text_classifiers_separate_the_reviews_and_give_probabilities(name):
    tk = toolkit_namespace()
    train, test = frames()
    a, b = tk["tfidf_words"](train, test, ["review"], min_df=1)
    y = np.array([1] * 20 + [0] * 20)
    model = tk[name](C=4.0, random_state=0).fit(a, y)
    proba = model.predict_proba(b)
    assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert proba[1, 1] > 0.5 and proba[1, 1] > proba[0, 1]  # "great wonderful film" is a good review
    assert (model.predict(a) == y).all()
    three = np.array([0, 1, 2, 2] * 10)  # more than two classes: one-vs-rest, normalised
    assert np.allclose(tk[name](random_state=0).fit(a, three).predict_proba(b).sum(axis=1), 1.0)
