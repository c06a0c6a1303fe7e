"""The text classifiers on the topic model's shared matrix: dissatisfaction (text -> P(detractor)) and stated
reasons from comments, logistic regressions saved as plain JSON (coefficients), never pickled.

Why logistic regressions: on wide sparse TF-IDF (plus character and embedding columns) they are as good as
anything cheap, and with liblinear a fit on thousands of respondents takes a fraction of a second, which the
cross-fitting (one fit per fold) needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from cxpredict import threads
from cxpredict.models.reasons import best_threshold, reason_matrix

VALID_SHARE = 0.2
SOLVER = "liblinear"  # on wide sparse TF-IDF: the same AUC as lbfgs at a seventh of the time


def logit_to_dict(model: LogisticRegression) -> dict[str, Any]:
    return {"classes": model.classes_.tolist(), "coef": model.coef_.tolist(), "intercept": model.intercept_.tolist(),
            "C": model.C}


def logit_from_dict(data: dict[str, Any]) -> LogisticRegression:
    model = LogisticRegression(C=data["C"])
    model.classes_ = np.asarray(data["classes"])
    model.coef_ = np.asarray(data["coef"], dtype=np.float64)
    model.intercept_ = np.asarray(data["intercept"], dtype=np.float64)
    model.n_features_in_ = model.coef_.shape[1]
    return model


class CommentReasons:
    """Stated reason codes from a comment's TF-IDF: one logistic regression per code. `fit` returns self."""

    def __init__(self, min_count: int = 20, C: float = 4.0, seed: int = 0):
        self.min_count = min_count
        self.C = C
        self.seed = seed

    def fit(self, X: sp.csr_matrix, reasons: pd.Series) -> CommentReasons:
        labels = reason_matrix(pd.Series(np.asarray(reasons, dtype=object)))
        counts = labels.sum(axis=0)
        self.codes_ = [c for c in labels.columns if self.min_count <= counts[c] < len(labels)]
        self.estimators_: list[LogisticRegression] = []
        self.threshold_, self.metrics_ = 0.5, {"n_comments": int(X.shape[0]), "codes": {}}
        if not self.codes_:
            return self
        Y = labels[self.codes_].to_numpy(dtype=np.int8)
        valid = np.random.default_rng(self.seed).random(X.shape[0]) < VALID_SHARE
        proba = np.zeros((int(valid.sum()), len(self.codes_)))
        for j, code in enumerate(self.codes_):
            if len(np.unique(Y[~valid, j])) == 2:
                proba[:, j] = self._logit().fit(X[~valid], Y[~valid, j]).predict_proba(X[valid])[:, 1]
            self.estimators_.append(self._logit().fit(X, Y[:, j]))
            self.metrics_["codes"][code] = int(Y[:, j].sum())
        if valid.any():
            self.threshold_, f1 = best_threshold(Y[valid], proba)
            self.metrics_.update({"valid_micro_f1": f1, "n_valid": int(valid.sum())})
        self.metrics_["threshold"] = self.threshold_
        return self

    def _logit(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, max_iter=1000, solver=SOLVER)

    def predict_proba(self, X: sp.csr_matrix) -> pd.DataFrame:
        proba = [m.predict_proba(X)[:, 1] for m in self.estimators_]
        return pd.DataFrame(np.column_stack(proba) if proba else np.zeros((X.shape[0], 0)), columns=self.codes_)

    def predict_sets(self, X: sp.csr_matrix) -> pd.DataFrame:
        return (self.predict_proba(X) >= self.threshold_).astype(np.int8)

    def to_dict(self) -> dict[str, Any]:
        return {"min_count": self.min_count, "C": self.C, "seed": self.seed, "codes": self.codes_,
                "threshold": self.threshold_, "metrics": self.metrics_,
                "models": [logit_to_dict(m) for m in self.estimators_]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CommentReasons:
        model = cls(data["min_count"], data["C"], data["seed"])
        model.codes_, model.threshold_, model.metrics_ = data["codes"], data["threshold"], data["metrics"]
        model.estimators_ = [logit_from_dict(m) for m in data["models"]]
        return model


def fit_dissatisfaction(X: sp.csr_matrix, detractor: np.ndarray, C: float = 1.0) -> LogisticRegression | None:
    """P(author is a detractor | text); None when the texts hold only one class."""
    y = np.asarray(detractor, dtype=np.int8)
    if X.shape[0] == 0 or len(np.unique(y)) < 2:
        return None
    return LogisticRegression(C=C, max_iter=1000, solver=SOLVER).fit(X, y)


def cross_fitted_dissatisfaction(X: sp.csr_matrix, detractor: np.ndarray, answered: np.ndarray, authors: np.ndarray,
                                 folds: int, seed: int, complaint_min: float | None
                                 ) -> tuple[LogisticRegression | None, np.ndarray, float]:
    """(the model fitted on every answered text, P(detractor) per text, the complaint level). Answered texts are
    scored out of fold, folds by author, so a respondent's features carry no echo of their own answer; the rest
    by the full model. The complaint level is `complaint_min`, or when None the out-of-fold score above which the
    answered texts are as many as those written by detractors."""
    people = np.unique(authors[answered])
    fold_of = dict(zip(people, np.random.default_rng(seed).permutation(len(people)) % folds))
    fold = np.array([fold_of.get(a, -1) for a in authors])  # -1: never answered (fold -1 trains on every answer)

    def fit(k: int) -> LogisticRegression | None:
        return fit_dissatisfaction(X[answered & (fold != k)], detractor[answered & (fold != k)])

    # the full model and the folds' are independent fits and liblinear releases the GIL: one thread each, within
    # the thread budget (threads.split), in place of one after the other
    full, *held_out = threads.map_split(fit, range(-1, folds), threads.split(folds + 1)[0])
    diss = np.full(len(detractor), np.nan) if full is None else full.predict_proba(X)[:, 1]
    if full is not None:
        for k, model in enumerate(held_out):
            if model is not None and (fold == k).any():
                diss[fold == k] = model.predict_proba(X[fold == k])[:, 1]
    level = complaint_min
    if level is None:
        level = float(np.quantile(diss[answered], 1 - detractor[answered].mean())) if full is not None else 0.5
    return full, diss, level
