"""Heterogeneous uplift per strategy: a cross-fitted doubly-robust (DR-) learner on LightGBM, saved as text + JSON.

Why a DR-learner (Kennedy 2023) written here rather than causalml or econml: both install with the pinned stack,
but causalml drags in xgboost and a 350 MB CUDA collective library, and neither persists a fitted learner in any
form but pickle, which the bundle refuses; both also model the propensity, where a randomised holdout KNOWS it.
The learner is short:
  1. outcome models mu0(x), mu1(x) on the control and treated customers, cross-fitted (K folds: each customer's
     mu comes from models that never saw it);
  2. the pseudo-outcome phi = mu1 - mu0 + T (y - mu1) / e - (1 - T) (y - mu0) / (1 - e), with e the KNOWN
     treated share of the customer's rule: its mean is the customer's true effect even when mu is wrong;
  3. a regression of phi on x: cross-fitted for honest Qini curves (`oof_uplift_`), then once on all rows for
     scoring (`booster_`).
`y` is the benefit-oriented outcome (the caller flips churn so that a prevented churn is +1), so predictions are
"churn reduction" and larger is better. Large arms are subsampled to `max_rows` per fit (bounded cost); the
features are binned once per fit (bin edges from all of the strategy's customers) and every booster trains on a
subset of that binned data.
Predictions of stump ensembles (every tree one numerical split, the default) are summed here tree by tree
(`stump_predict`: numpy decides each split's side, a small compiled loop adds the leaves): the same comparisons and
the same order of additions as LightGBM's predictor, so the same numbers, at a fraction of its per-row cost (it
rebuilds each row as a sparse vector); any other tree shape is left to LightGBM. The boosters of one fit (per fold
and arm, then the effect's) are independent and run side by side on the thread budget; `fit_learners` puts several
learners' boosters on one pool, so binning and predicting between the steps never leave a core waiting.
The default boosters are stumps (campaign.uplift_params, the keyword defaults): per customer the pseudo-outcome's
noise dwarfs the effect, and deeper trees fit that noise (on the planted truth they ranked customers markedly worse).
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numba
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from cxpredict import threads
from cxpredict.config import CampaignConfig
from cxpredict.errors import InputError
from cxpredict.models.base import check_number, keyword_init
from cxpredict.models.components import read_component_meta
from cxpredict.models.forest import ZERO
from cxpredict.models.lgbm import check_lgbm_keywords, fold_ids, lgbm_keywords, lgbm_params

FORMAT_VERSION = 1
META_FILE = "uplift.json"
PREDICT_ROWS = 200_000  # rows per prediction call: LightGBM copies its input, so memory stays bounded
IN_FLIGHT = 2  # learners fit_learners holds at a time: one boosts while the next is binned or predicted
SNAPSHOT_FEATURES = ("predicted_score", "p_detractor", "p_promoter", "churn_prob", "value")  # model outputs as inputs


def uplift_keywords(cfg: CampaignConfig) -> dict[str, Any]:
    """The DRLearner keywords a config's `campaign` section gives (its uplift_* keys; the seed aside)."""
    return dict(n_folds=cfg.uplift_folds, max_rows=cfg.uplift_max_rows, outcome_rows=cfg.uplift_outcome_rows,
                **lgbm_keywords(cfg.uplift_params))


class DRLearner(BaseEstimator):
    """Conditional average treatment effect tau(x) = E[y(1) - y(0) | x] for a randomised binary treatment.

    Keyword parameters as every cxpredict estimator: LightGBM's (shared by the outcome and effect boosters),
    `n_folds` of the cross-fitting, `max_rows` per fit (`outcome_rows` per outcome model); `from_config(campaign section, seed)` bridges the YAML."""

    # the defaults are those of the config section, written once there
    __init__ = keyword_init(**uplift_keywords(CampaignConfig()), random_state=0)

    @classmethod
    def from_config(cls, cfg: CampaignConfig, seed: int = 0, **overrides) -> DRLearner:
        """The learner a config's `campaign` section (and `seed`) describes."""
        return cls(**{**uplift_keywords(cfg), "random_state": seed, **overrides})

    def _sample(self, rows: np.ndarray, rng: np.random.Generator, cap: int) -> np.ndarray:
        return np.sort(rng.choice(rows, cap, replace=False)) if len(rows) > cap else rows

    def _boost(self, binned: lgb.Dataset, jobs: list[tuple[np.ndarray, np.ndarray]], params: dict
               ) -> list[lgb.Booster]:
        """One booster per (rows, labels) job, each on a subset of the binned rows, side by side on the thread
        budget (threads.split: single-threaded boosters on parallel workers, never nested): a stump's boosting
        round is too short to share among threads, and LightGBM is deterministic, so the models are those of
        a serial fit."""
        workers, per_worker = threads.split(len(jobs), threads.count(self.n_jobs))
        params = {**params, "num_threads": per_worker}
        return threads.map_split(lambda part: _train(params, part, self.n_estimators),
                                 _subsets(binned, jobs, params), workers)

    def fit(self, X: pd.DataFrame, y: Any, treatment: Any, propensity: Any) -> DRLearner:
        steps = self._fit_steps(X, y, treatment, propensity)
        try:
            request = next(steps)
            while True:
                request = steps.send(self._boost(*request))
        except StopIteration:
            return self

    def _fit_steps(self, X: pd.DataFrame, y: Any, treatment: Any, propensity: Any) -> Steps:
        """The fit in two boosting steps: each yields (binned data, jobs (rows, labels), params) and is sent the
        jobs' boosters, so `fit` boosts them on its own and `fit_learners` several learners' on one pool."""
        check_lgbm_keywords(self)
        check_number(self, "n_folds", 2, integer=True)
        check_number(self, "max_rows", 100, integer=True)
        check_number(self, "outcome_rows", 100, integer=True)
        y = np.asarray(y, dtype=float)
        t = np.asarray(treatment, dtype=bool)
        e = np.broadcast_to(np.asarray(propensity, dtype=float), y.shape).copy()
        if len(y) != len(X) or len(t) != len(X):
            raise InputError(f"uplift: X has {len(X)} rows but y has {len(y)} and treatment {len(t)}")
        if np.isnan(y).any():
            raise InputError("uplift: the outcome has missing values; drop those customers first")
        if t.sum() < self.n_folds * 2 or (~t).sum() < self.n_folds * 2:
            raise InputError(f"uplift: needs treated and control customers in every fold, got {int(t.sum())} "
                             f"treated and {int((~t).sum())} control")
        if ((e <= 0) | (e >= 1)).any():
            raise InputError("uplift: every treated share (propensity) must lie strictly between 0 and 1")
        rng = np.random.default_rng(self.random_state)
        folds = fold_ids(t.astype(int), self.n_folds, self.random_state)
        params = lgbm_params(self, objective="regression")
        # binned once: every booster of the fit trains on a subset of it (same bin edges), since binning the
        # rows again for each of the 2 x folds + folds + 1 boosters cost more than the boosting
        binned = lgb.Dataset(X, label=y, params=params).construct()
        # the subsamples are drawn in one fixed order (mu0, mu1 per fold; then the effect's folds and the final
        # fit), whatever the order in which the boosters finish
        outcome_cap = min(self.outcome_rows, self.max_rows)
        arms = [(k, arm) for k in range(self.n_folds) for arm in (False, True)]
        rows = [self._sample(np.flatnonzero((folds != k) & (t == arm)), rng, outcome_cap) for k, arm in arms]
        models = yield binned, [(r, y[r]) for r in rows], params
        reads = _as_lightgbm_reads(models[0], X, set(X.columns))  # what the stumps compare, read from X once
        mu = {False: np.empty(len(y)), True: np.empty(len(y))}
        for (k, arm), model in zip(arms, models):
            mu[arm][folds == k] = _predict_rows(model, X, reads, folds == k)
        mu0, mu1 = mu[False], mu[True]
        phi = mu1 - mu0 + t * (y - mu1) / e - (~t) * (y - mu0) / (1 - e)
        rows = [self._sample(np.flatnonzero(folds != k), rng, self.max_rows) for k in range(self.n_folds)]
        rows.append(self._sample(np.arange(len(y)), rng, self.max_rows))
        *fold_models, self.booster_ = yield binned, [(r, phi[r]) for r in rows], params
        oof = np.empty(len(y))
        for k, model in enumerate(fold_models):
            oof[folds == k] = _predict_rows(model, X, reads, folds == k)
        self.feature_names_ = list(X.columns)
        self.pseudo_outcome_, self.oof_uplift_ = phi, oof
        self.ate_ = float(phi.mean())

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise InputError(f"uplift model: feature column(s) missing, e.g. {missing[:3]}")
        if list(X.columns) != self.feature_names_:  # the model's columns in its order (a copy only when needed)
            X = X[self.feature_names_]
        return np.concatenate([stump_predict(self.booster_, X.iloc[start:start + PREDICT_ROWS])
                               for start in range(0, len(X), PREDICT_ROWS)] or [np.empty(0)])


Steps = Generator[tuple[lgb.Dataset, list[tuple[np.ndarray, np.ndarray]], dict], list[lgb.Booster], None]


def _subsets(binned: lgb.Dataset, jobs: list[tuple[np.ndarray, np.ndarray]], params: dict) -> list[lgb.Dataset]:
    """Each job's rows of the binned data, labelled: taken one at a time on the calling thread (they read the
    binned parent)."""
    parts = []
    for rows, labels in jobs:
        part = binned.subset(rows, params).construct()
        part.set_label(labels)
        parts.append(part)
    return parts


def _train(params: dict, part: lgb.Dataset, rounds: int) -> lgb.Booster:
    return lgb.train(params, part, num_boost_round=rounds)


def fit_learners(fits: Iterable[tuple[DRLearner, tuple]], budget: int | None = None) -> list[DRLearner]:
    """learner.fit(*args) for each (learner, args), the boosters of all on one pool of single-threaded workers.

    Fitted one after another, each learner leaves a core idle while the calling thread bins its data, takes
    the subsets and predicts between its two boosting steps; here the calling thread does that for one learner
    while the workers boost another's queued jobs (at most IN_FLIGHT learners, and their data, at a time: `fits`
    may be a generator that builds each learner's data when it starts). Every booster is fitted as in
    `DRLearner._boost` on the same budget (one thread each, LightGBM deterministic), so the models are the same.
    `budget`: the workers (default: the first learner's n_jobs through the thread policy, as its own fit)."""
    fits = iter(fits)
    if (first := next(fits, None)) is None:
        return []
    fits = itertools.chain([first], fits)
    budget = threads.count(first[0].n_jobs) if budget is None else budget
    if budget <= 1:
        return [learner.fit(*args) for learner, args in fits]
    done: list[DRLearner] = []
    with threads.workers(budget) as pool:

        def advance(steps: Steps, learner: DRLearner, boosters: list[lgb.Booster] | None
                    ) -> list | None:  # the jobs' futures, None once the learner is fitted
            try:
                binned, jobs, params = steps.send(boosters)
            except StopIteration:
                return None
            params = {**params, "num_threads": 1}
            return [pool.submit(_train, params, part, learner.n_estimators)
                    for part in _subsets(binned, jobs, params)]

        flight: deque[tuple[Steps, DRLearner, list]] = deque()
        while True:
            if len(flight) < IN_FLIGHT and (task := next(fits, None)) is not None:
                learner, args = task
                steps = learner._fit_steps(*args)
                done.append(learner)
                flight.append((steps, learner, advance(steps, learner, None)))
                continue
            if not flight:
                return done
            steps, learner, futures = flight.popleft()
            if (futures := advance(steps, learner, [f.result() for f in futures])) is not None:
                flight.append((steps, learner, futures))


STUMP_BLOCK = 1 << 14  # rows summed at a time by stump_predict


def _stumps(booster: lgb.Booster) -> list[tuple] | None:
    """(feature name, threshold or left categories, default_left, missing_type, left value, right value) per
    tree (a tree without a split: (None, ..., value, value)); None when a tree is not a stump (LightGBM predicts)."""
    cached = getattr(booster, "_cxpredict_stumps", False)
    if cached is not False:
        return cached
    dump = booster.dump_model()
    names, trees = dump["feature_names"], []
    if dump.get("objective", "").split(" ")[0] != "regression" or dump.get("average_output"):
        trees = None  # another output transform (or random-forest averaging): LightGBM predicts
    for tree in dump["tree_info"] if trees is not None else ():
        node = tree["tree_structure"]
        if "leaf_value" in node:
            trees.append((None, 0.0, True, "None", node["leaf_value"], node["leaf_value"]))
            continue
        left, right = node["left_child"], node["right_child"]
        if node["decision_type"] not in ("<=", "==") or "leaf_value" not in left or "leaf_value" not in right \
                or "leaf_coeff" in left or "leaf_coeff" in right:  # linear leaves: LightGBM predicts
            trees = None
            break
        threshold = float(node["threshold"]) if node["decision_type"] == "<=" else \
            np.array([int(c) for c in str(node["threshold"]).split("||")], dtype=float)
        trees.append((names[node["split_feature"]], threshold, bool(node["default_left"]), node["missing_type"],
                      left["leaf_value"], right["leaf_value"]))
    booster._cxpredict_stumps = trees
    return trees


def _as_lightgbm_reads(booster: lgb.Booster, X: pd.DataFrame, used: set[str]) -> dict[str, np.ndarray] | None:
    """The float64 values LightGBM's predictor sees for the `used` columns (categoricals as codes of the
    training categories, -1 as NaN), or None where it would see other numbers (a float32 frame)."""
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    known = booster.pandas_categorical or []
    if len(categorical) != len(known) or not any(np.result_type(X[c].dtype.type, np.float32) == np.float64
                                                 for c in X.columns if c not in categorical):
        return None
    values = {}
    for c in used:
        if c in categorical:
            s = X[c]
            cats = known[categorical.index(c)]
            if list(s.cat.categories) != list(cats):
                s = s.cat.set_categories(cats)
            codes = s.cat.codes.to_numpy().astype(np.float64)
            values[c] = np.where(codes < 0, np.nan, codes)
        elif pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]):
            values[c] = X[c].to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            return None
    return values


def _split_masks(trees: list[tuple], columns: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(masks, mask_of): one row of `masks` per distinct split, 1 where a row goes left; mask_of[t] is tree t's
    row of `masks` (-1: a tree without a split)."""
    masks, nans, mask_of = {}, {}, np.full(len(trees), -1, dtype=np.int64)
    for i, (name, threshold, default_left, missing, _, _) in enumerate(trees):
        if name is None:  # a tree without a split: `left` for every row
            continue
        key = (name, threshold.tobytes() if isinstance(threshold, np.ndarray) else threshold, default_left, missing)
        if key not in masks:
            x = columns[name]
            nan = nans[name] if name in nans else nans.setdefault(name, np.isnan(x))
            if isinstance(threshold, np.ndarray):  # categorical: NaN is not in the list, so it goes right
                go_left = np.isin(np.trunc(x), threshold) & (x >= 0)
            elif missing == "NaN":
                go_left = (x <= threshold) | nan if default_left else x <= threshold
            else:
                x = np.where(nan, 0.0, x)
                go_left = np.where(np.abs(x) <= ZERO, default_left, x <= threshold) if missing == "Zero" \
                    else x <= threshold
            masks[key] = (len(masks), go_left)
        mask_of[i] = masks[key][0]
    stacked = np.stack([m for _, m in masks.values()]) if masks else np.ones((1, n), dtype=bool)
    return stacked.view(np.uint8), mask_of


@numba.njit(cache=True, nogil=True)
def _add_stumps(masks, mask_of, values, out, block):
    """out[i] += the value of row i's leaf of tree t, tree by tree in order (the sum LightGBM's predictor makes):
    values[t] = (right, left), masks[mask_of[t], i] = 1 where row i goes left (mask_of -1: a tree without a
    split). Compiled, without branches, `block` rows at a time (they stay in the CPU cache across the trees):
    numpy's where + add per tree cost several times more."""
    for start in range(0, out.shape[0], block):
        part = out[start:start + block]
        for t in range(mask_of.shape[0]):
            if mask_of[t] < 0:
                part += values[t, 1]
            else:
                left = masks[mask_of[t], start:start + block]
                for i in range(part.shape[0]):
                    part[i] += values[t, left[i]]


def stump_predict(booster: lgb.Booster, X: pd.DataFrame) -> np.ndarray:
    """booster.predict(X) for a regression booster, summed here (_add_stumps) when every tree is a stump.

    LightGBM's rules, per tree in its order. A numerical split: a missing value counts as 0 unless its
    missing_type is NaN; a missing (NaN type) or zero (Zero type) value goes the default way, any other
    x <= threshold left. A categorical split: a missing or negative value goes right, a listed category left."""
    trees = _stumps(booster)
    if trees is None:
        return booster.predict(X)
    columns = _as_lightgbm_reads(booster, X, {t[0] for t in trees if t[0] is not None})
    if columns is None:
        return booster.predict(X)
    return _stump_sum(trees, columns, len(X))


def _predict_rows(booster: lgb.Booster, X: pd.DataFrame, reads: dict[str, np.ndarray] | None,
                  rows: np.ndarray) -> np.ndarray:
    """stump_predict(booster, X[rows]) from LightGBM's reads of all of X made once (`reads`, None: LightGBM's
    predictor): a fit predicts each fold with several boosters of the same training data."""
    trees = _stumps(booster)
    if trees is None or reads is None:
        return booster.predict(X[rows])
    return _stump_sum(trees, {c: reads[c][rows] for c in {t[0] for t in trees if t[0] is not None}},
                      int(np.count_nonzero(rows)))


def _stump_sum(trees: list[tuple], columns: dict[str, np.ndarray], n: int) -> np.ndarray:
    masks, mask_of = _split_masks(trees, columns, n)
    values = np.array([(t[5], t[4]) for t in trees], dtype=np.float64).reshape(-1, 2)
    out = np.zeros(n)
    _add_stumps(masks, mask_of, values, out, STUMP_BLOCK)
    return out


def uplift_features(X: pd.DataFrame, snapshot: pd.DataFrame) -> pd.DataFrame:
    """The uplift models' inputs: the bundle's model matrix plus the scores recorded at assignment time (the same
    columns scoring computes before the playbook runs), aligned by row."""
    extra = {c: pd.to_numeric(snapshot[c], errors="coerce").to_numpy(dtype=float)
             for c in SNAPSHOT_FEATURES if c in snapshot.columns}
    return pd.concat([X.reset_index(drop=True), pd.DataFrame(extra)], axis=1).set_axis(X.index)


class UpliftModels:
    """One DR-learner per strategy, for the bundle (uplift/): `columns` gives uplift_<strategy> while scoring."""

    def __init__(self, models: dict[str, DRLearner], outcome: str, sign: float, feature_names: list[str]):
        self.models, self.outcome, self.sign, self.feature_names = models, outcome, sign, feature_names

    def columns(self, X: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
        features = uplift_features(X, scored)
        return pd.DataFrame({f"uplift_{s}": m.predict(features) for s, m in self.models.items()}, index=X.index)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = {}
        for i, (strategy, model) in enumerate(sorted(self.models.items())):
            files[strategy] = f"strategy_{i}.txt"
            model.booster_.save_model(str(directory / files[strategy]))
        meta = {"format_version": FORMAT_VERSION, "outcome": self.outcome, "sign": self.sign,
                "feature_names": self.feature_names, "files": files,
                "ate": {s: m.ate_ for s, m in self.models.items()},
                "learner": {s: m.get_params() for s, m in self.models.items()}}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> UpliftModels:
        directory = Path(directory)
        meta = read_component_meta(directory / META_FILE, "uplift models", FORMAT_VERSION)
        models = {}
        for strategy, name in meta["files"].items():
            m = DRLearner(**meta["learner"][strategy])
            m.booster_ = lgb.Booster(model_file=str(directory / name))
            m.feature_names_ = list(meta["feature_names"])
            m.ate_ = meta["ate"][strategy]
            models[strategy] = m
        return cls(models, meta["outcome"], meta["sign"], list(meta["feature_names"]))
