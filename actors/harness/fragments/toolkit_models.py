# ---- linguacodus toolkit: estimators -------------------------------------------------------------
# Small estimators the plan grammar names and scikit-learn lacks in the needed form. All take dense
# arrays, DataFrames or sparse matrices and accept sample_weight (class balance goes through fit).
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin


def _tk_matrix(X):
    return sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else np.asarray(X, dtype=np.float64)


class DenseScaler(TransformerMixin, BaseEstimator):
    """StandardScaler for dense features; sparse features pass unchanged (centring would densify a
    TF-IDF matrix, and stack_features already standardised its tabular part)."""

    def fit(self, X, y=None):
        from sklearn.preprocessing import StandardScaler

        self.scaler_ = None if sp.issparse(X) else StandardScaler().fit(_tk_matrix(X))
        return self

    def transform(self, X):
        return X if self.scaler_ is None else self.scaler_.transform(_tk_matrix(X))


class NBSVMClassifier(ClassifierMixin, BaseEstimator):
    """NB-SVM (Wang & Manning 2012): logistic regression on features scaled by the naive-Bayes
    log-count ratio of each class against the rest; one-vs-rest with normalised probabilities for
    more than two classes. Negative feature values (standardised tabular columns) count as zero
    in the ratios."""

    def __init__(self, C=4.0, alpha=1.0, max_iter=1000, random_state=None):
        self.C, self.alpha, self.max_iter, self.random_state = C, alpha, max_iter, random_state

    def _ratio(self, X, mask):
        X = X.maximum(0) if sp.issparse(X) else np.maximum(X, 0)
        p = self.alpha + np.asarray(X[mask].sum(axis=0)).ravel()
        q = self.alpha + np.asarray(X[~mask].sum(axis=0)).ravel()
        return np.log((p / p.sum()) / (q / q.sum()))

    @staticmethod
    def _scaled(X, r):
        return X.multiply(r).tocsr() if sp.issparse(X) else X * r

    def fit(self, X, y, sample_weight=None):
        from sklearn.linear_model import LogisticRegression

        X, y = _tk_matrix(X), np.asarray(y)
        self.classes_ = np.unique(y)
        positives = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        self.models_ = []
        for c in positives if len(self.classes_) > 1 else []:
            mask = y == c
            r = self._ratio(X, mask)
            lr = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
            self.models_.append((r, lr.fit(self._scaled(X, r), mask.astype(int), sample_weight=sample_weight)))
        return self

    def predict_proba(self, X):
        X = _tk_matrix(X)
        if not self.models_:  # one class seen in training
            return np.ones((X.shape[0], 1))
        p = np.column_stack([lr.predict_proba(self._scaled(X, r))[:, 1] for r, lr in self.models_])
        if len(self.classes_) == 2:
            return np.column_stack([1 - p[:, 0], p[:, 0]])
        sums = p.sum(axis=1, keepdims=True)
        return np.where(sums > 0, p / np.where(sums > 0, sums, 1), 1.0 / len(self.classes_))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class CalibratedLinearSVC(ClassifierMixin, BaseEstimator):
    """A linear SVM with probabilities: Platt scaling on 2-3 internal folds (as many as the rarest
    class allows, so a small fold or sample still fits); with fewer rows, a softmax of the margins."""

    def __init__(self, C=1.0, max_iter=5000, random_state=None):
        self.C, self.max_iter, self.random_state = C, max_iter, random_state

    def fit(self, X, y, sample_weight=None):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        y = np.asarray(y)
        self.classes_, counts = np.unique(y, return_counts=True)
        if len(self.classes_) < 2:
            self.model_ = None
            return self
        svc = LinearSVC(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        folds = int(min(3, counts.min()))
        self.model_ = CalibratedClassifierCV(svc, cv=folds, method="sigmoid") if folds >= 2 else svc
        self.model_.fit(X, y, sample_weight=sample_weight)
        return self

    def predict_proba(self, X):
        if self.model_ is None:
            return np.ones((X.shape[0], 1))
        if hasattr(self.model_, "predict_proba"):
            return self.model_.predict_proba(X)
        margin = self.model_.decision_function(X)
        margin = np.column_stack([-margin, margin]) if margin.ndim == 1 else margin
        e = np.exp(margin - margin.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class _XGBoostBase(BaseEstimator):
    """XGBoost's histogram trees grown leaf-wise (max_leaves, no depth limit: the form FLAML searches)
    on one thread, as the sandbox gives every run. Features reach it as a float matrix (dense or
    sparse; NaN is XGBoost's missing value), so column names with brackets cannot trip it."""

    def __init__(self, n_estimators=100, learning_rate=0.1, max_leaves=31, min_child_weight=1.0, subsample=1.0,
                 colsample_bytree=1.0, reg_alpha=0.0, reg_lambda=1.0, random_state=None):
        self.n_estimators, self.learning_rate, self.max_leaves = n_estimators, learning_rate, max_leaves
        self.min_child_weight, self.subsample, self.colsample_bytree = min_child_weight, subsample, colsample_bytree
        self.reg_alpha, self.reg_lambda, self.random_state = reg_alpha, reg_lambda, random_state

    def _xgb_params(self):
        return dict(n_estimators=int(self.n_estimators), learning_rate=self.learning_rate,
                    max_leaves=int(self.max_leaves), max_depth=0, grow_policy="lossguide", tree_method="hist",
                    min_child_weight=self.min_child_weight, subsample=self.subsample,
                    colsample_bytree=self.colsample_bytree, reg_alpha=self.reg_alpha, reg_lambda=self.reg_lambda,
                    random_state=0 if self.random_state is None else int(self.random_state), n_jobs=1, verbosity=0)


class XGBoostClassifier(ClassifierMixin, _XGBoostBase):
    """XGBClassifier over labels of any type (XGBoost itself takes only 0..k-1)."""

    def fit(self, X, y, sample_weight=None):
        from xgboost import XGBClassifier

        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.model_ = None
        if len(self.classes_) > 1:
            self.model_ = XGBClassifier(**self._xgb_params()).fit(_tk_matrix(X), codes, sample_weight=sample_weight)
        return self

    def predict_proba(self, X):
        if self.model_ is None:  # one class seen in training
            return np.ones((X.shape[0], 1))
        return self.model_.predict_proba(_tk_matrix(X))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class XGBoostRegressor(_XGBoostBase):
    """XGBRegressor (squared error)."""

    def fit(self, X, y, sample_weight=None):
        from xgboost import XGBRegressor

        self.model_ = XGBRegressor(**self._xgb_params()).fit(_tk_matrix(X), np.asarray(y, dtype=np.float64),
                                                             sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.model_.predict(_tk_matrix(X))
