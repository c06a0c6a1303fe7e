"""LightGBM plumbing shared by every model: flat parameters, stratified folds, and cross-fitting.

The estimators take LightGBM's parameters flat, named as LightGBM's scikit-learn API names them
(`LGBM_KEYS`, plus `extra_params` for any other native parameter), so `set_params(learning_rate=...)` and grid
searches work; `lgbm_keywords` turns a config section's `params` into those keywords, `lgbm_params` turns an
estimator's keywords into LightGBM's native parameters.

Cross-fitting gives each row a prediction from a model that never saw it. Early stopping never looks at the rows
it is evaluated on: inside each fold an inner stratified split (INNER_VALID_SHARE) picks the number of rounds; a
final model on all rows uses the mean best round count x ROUNDS_GROWTH (it sees more rows than any fold).

Case-control sampling (`case_control_sample`) bounds the rows a binary model trains on when the data are large:
each class is a simple random sample of its rows, weighted by the exact inverse of its sampling rate.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from cxpredict import threads
from cxpredict.config import LgbmParams
from cxpredict.models.base import check_number

INNER_VALID_SHARE = 0.15
# a fold's training rows x features up to which its boosters run single-threaded, the folds in parallel
# (cross_fit: a booster alone on its thread has no OpenMP barrier to wait at; on small folds the per-round overhead
# outweighs the work, and beside busy processes a barrier can wait out whole time slices: the response model's
# folds at 500k customers (~1M cells) took the same time idle and a third beside two busy loops; experiments/threads)
SMALL_FIT_CELLS = 5_000_000
ROUNDS_GROWTH = 1.1  # the final model sees ~1/(0.8*0.85) more rows than a fold's inner training split


# keyword -> (low, high, integer, low excluded) for the checks in fit
LGBM_KEYS: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "n_estimators": (1, None, True, False),
    "learning_rate": (0, None, False, True),
    "num_leaves": (2, None, True, False),
    "min_child_samples": (0, None, True, False),
    "subsample": (0, 1, False, True),
    "subsample_freq": (0, None, True, False),
    "colsample_bytree": (0, 1, False, True),
    "reg_lambda": (0, None, False, False),
    "reg_alpha": (0, None, False, False),
    "max_depth": (None, None, True, False),
    "n_jobs": (None, None, True, False),
}


def lgbm_keywords(p: LgbmParams) -> dict[str, Any]:
    """A config section's `params` as estimator keywords (the bridge from YAML to the estimators)."""
    return {**{k: getattr(p, k) for k in LGBM_KEYS}, "extra_params": dict(p.extra) or None}


def check_lgbm_keywords(est: Any) -> None:
    """Validate an estimator's LightGBM keywords in fit (errors name the parameter and its allowed range)."""
    for name, (low, high, integer, low_open) in LGBM_KEYS.items():
        check_number(est, name, low, high, integer=integer, low_open=low_open, optional=name == "n_jobs")
    check_number(est, "random_state", integer=True)
    if est.extra_params is not None and not isinstance(est.extra_params, dict):
        raise TypeError(f"{type(est).__name__}: extra_params must be a dict of LightGBM parameters or None")


def lgbm_params(est: Any, **overrides) -> dict:
    """LightGBM native parameters from an estimator's keywords (deterministic given its random_state)."""
    params = {
        "learning_rate": est.learning_rate,
        "num_leaves": est.num_leaves,
        "min_child_samples": est.min_child_samples,
        "bagging_fraction": est.subsample,
        "bagging_freq": est.subsample_freq,
        "feature_fraction": est.colsample_bytree,
        "lambda_l2": est.reg_lambda,
        "lambda_l1": est.reg_alpha,
        "max_depth": est.max_depth,
        "num_threads": threads.count(est.n_jobs),
        "seed": est.random_state,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
        **(est.extra_params or {}),
    }
    params.update(overrides)
    return params


def train_booster(X: pd.DataFrame, y: np.ndarray, w: np.ndarray | None, params: dict, rounds: int,
                  valid: tuple[pd.DataFrame, np.ndarray, np.ndarray | None] | None = None,
                  early_stopping_rounds: int | None = None) -> lgb.Booster:
    """One booster; with `valid` and `early_stopping_rounds`, `best_iteration` is the round count to keep."""
    train_set = lgb.Dataset(X, label=y, weight=w, free_raw_data=False)
    if valid is None or not early_stopping_rounds:
        return lgb.train(params, train_set, num_boost_round=rounds)
    valid_set = lgb.Dataset(valid[0], label=valid[1], weight=valid[2], reference=train_set)
    return lgb.train(params, train_set, num_boost_round=rounds, valid_sets=[valid_set],
                     callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False)])


def case_control_sample(y: np.ndarray, max_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows a binary model trains on (a mask) and every row's weight, at most `max_rows` rows.

    Up to `max_rows` rows: all of them, weight 1. Above: the smaller class keeps all its rows up to half of
    `max_rows` (more when the larger class has fewer than the other half), the larger class fills the rest; each
    class is a simple random sample without replacement, so a row of class c is drawn with probability
    n_c / N_c exactly and its weight is N_c / n_c. The weights of the sampled rows of a class sum to its size, so
    weighted sums over the sample are unbiased for the full data's and the weighted base rate is the full one.
    Weights of rows left out are their class's, for callers that weight predictions of them.
    """
    y = np.asarray(y, dtype=bool)
    w = np.ones(len(y))
    if len(y) <= max_rows:
        return np.ones(len(y), dtype=bool), w
    small, large = (y, ~y) if y.sum() <= (~y).sum() else (~y, y)
    n_small = min(int(small.sum()), max(max_rows // 2, max_rows - int(large.sum())))
    rng = np.random.default_rng(seed)
    sampled = np.zeros(len(y), dtype=bool)
    for group, n_keep in ((small, n_small), (large, min(int(large.sum()), max_rows - n_small))):
        members = np.flatnonzero(group)
        sampled[rng.choice(members, n_keep, replace=False)] = True
        w[members] = len(members) / n_keep
    return sampled, w


def fold_ids(strata: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number per row from scikit-learn's shuffled StratifiedKFold (each stratum spread over the folds)."""
    strata = np.asarray(strata)
    folds = np.empty(len(strata), dtype=int)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, test) in enumerate(splitter.split(np.zeros((len(strata), 1)), strata)):
        folds[test] = k
    return folds


def inner_split(idx: np.ndarray, strata: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows into fit / early-stopping rows (stratified, INNER_VALID_SHARE held out)."""
    is_valid = fold_ids(strata[idx], int(round(1 / INNER_VALID_SHARE)), seed) == 0
    return idx[~is_valid], idx[is_valid]


class FoldDatasets:
    """The binned training rows of every fold, built once and shared by every booster cross-fitted on them.

    Why: the NPS contest trains (candidates x targets) boosters on each fold's rows, which differ only in their
    label; binning the rows (LightGBM's Dataset construction) once per fold instead of once per booster saves
    that work, and LightGBM lets a constructed Dataset change its label. The bins are those a Dataset of the
    fold's rows alone would get, so a booster is the one a Dataset of its own would give (a test keeps them
    equal). Boosters must be trained on a fold's set one after another (its label is shared state), with
    `feature_pre_filter` off (LightGBM refuses another `min_child_samples` on a pre-filtered Dataset).
    """

    def __init__(self, X: pd.DataFrame, w: np.ndarray | None, folds: np.ndarray) -> None:
        self.X, self.w, self.folds = X, w, folds
        self._sets: dict[int, lgb.Dataset] = {}

    def train_set(self, k: int, y: np.ndarray, params: dict) -> lgb.Dataset:
        """Fold k's training rows (fold not k, not -1) labelled with y (a label for every row of X)."""
        rows = np.flatnonzero((self.folds != k) & (self.folds >= 0))
        if k not in self._sets:
            self._sets[k] = lgb.Dataset(self.X.iloc[rows], label=y[rows],
                                        weight=None if self.w is None else self.w[rows],
                                        params=params, free_raw_data=True).construct()
        return self._sets[k].set_label(y[rows])


def small_fit(n_rows: int, n_features: int, n_folds: int) -> bool:
    """Whether a fold's boosters are small (SMALL_FIT_CELLS): then single-threaded boosters side by side beat
    boosters with every thread one after another."""
    return n_rows * (n_folds - 1) // max(n_folds, 1) * n_features <= SMALL_FIT_CELLS


def fold_threads(params: dict, n_rows: int, n_features: int, n_folds: int) -> tuple[int, dict]:
    """(workers, params with each booster's threads) for cross-fitting: small folds (`small_fit`) are fitted
    in parallel with single-threaded boosters, larger ones one after another with every thread; never both."""
    budget = int(params.get("num_threads") or threads.count())
    if not small_fit(n_rows, n_features, n_folds):
        return 1, params
    workers, per_worker = threads.split(n_folds, budget)
    return workers, {**params, "num_threads": per_worker}


def cross_fit(X: pd.DataFrame, y: np.ndarray, w: np.ndarray | None, params: dict, max_rounds: int,
              folds: np.ndarray, strata: np.ndarray, early_stopping_rounds: int | None, seed: int,
              keep_models: bool = False, datasets: FoldDatasets | None = None) -> tuple:
    """Out-of-fold raw predictions (each row from a model that never saw it) and the round count for a final fit;
    with `keep_models`, also (booster, best round) per fold, to cross-fit new rows later.

    Rows with fold -1 are never trained on; they get the mean raw prediction of all fold models.
    `datasets`: the folds' binned rows shared with other calls (not used with early stopping, whose inner split
    trains on fewer rows). Small folds are fitted in parallel (`fold_threads`): each fold's set is still used
    by one booster at a time.
    """
    w = np.ones(len(y)) if w is None else w
    fold_numbers = np.unique(folds[folds >= 0])
    outside = np.flatnonzero(folds < 0)
    workers, params = fold_threads(params, int((folds >= 0).sum()), X.shape[1], len(fold_numbers))

    def fit_fold(k: int) -> tuple[lgb.Booster, int, np.ndarray, np.ndarray | None]:
        train_idx, test_idx = np.flatnonzero((folds != k) & (folds >= 0)), np.flatnonzero(folds == k)
        if early_stopping_rounds:
            fit_idx, val_idx = inner_split(train_idx, strata, seed + 7919 * (k + 1))
            booster = train_booster(X.iloc[fit_idx], y[fit_idx], w[fit_idx], params, max_rounds,
                                    (X.iloc[val_idx], y[val_idx], w[val_idx]), early_stopping_rounds)
            best = booster.best_iteration or max_rounds
        elif datasets is not None:
            booster = lgb.train(params, datasets.train_set(k, y, params), num_boost_round=max_rounds)
            best = max_rounds
        else:
            booster = train_booster(X.iloc[train_idx], y[train_idx], w[train_idx], params, max_rounds)
            best = max_rounds
        pred = booster.predict(X.iloc[test_idx], raw_score=True, num_iteration=best)
        extra = booster.predict(X.iloc[outside], raw_score=True, num_iteration=best) if len(outside) else None
        return booster, best, pred, extra

    results = threads.map_split(fit_fold, list(fold_numbers), workers)
    oof = np.zeros((len(X),) + np.shape(results[0][2])[1:])
    for k, (_, _, pred, extra) in zip(fold_numbers, results):
        oof[folds == k] = pred
        if extra is not None:
            oof[outside] += extra / len(fold_numbers)
    best = [r[1] for r in results]
    rounds = max(1, int(round(np.mean(best) * ROUNDS_GROWTH))) if early_stopping_rounds else max_rounds
    if keep_models:
        return oof, rounds, [(r[0], r[1]) for r in results]
    return oof, rounds
