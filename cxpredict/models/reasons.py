"""Stated-reason model: which reasons would a silent customer give if surveyed, and how likely is each?

Respondents state zero or more reason codes (';'-separated, e.g. "network;billing"). The model is multi-label:
one LightGBM binary classifier per reason code stated by at least `drivers.reason_min_count` respondents, on
the same model matrix as the NPS model. Each classifier stops early on a seeded 20% validation split of the
respondents and is refitted on all of them with the round count found. One global probability threshold, chosen
for micro-F1 on the validation split, turns probabilities into label sets (used only for the metric); scoring
gives every customer the `reasons_top_k` most likely codes with their probabilities, an empty slot below
`drivers.reason_min_prob`.

The micro-F1 in `metrics_` is measured on the validation split that also chose the threshold and the round
counts (slightly optimistic); `scripts/bench_drivers.py` measures it on respondents the model never saw, next to
the base rate of the best constant label set.

Themes link stated reasons to behavioural drivers (`drivers.reason_themes`: code -> theme, DriverGroup.theme):
`theme_agreement` counts how often a customer's top imputed reason and top driver point at the same theme.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from cxpredict import threads
from cxpredict.config import DriversConfig
from cxpredict.errors import InputError
from cxpredict.models.base import (
    LgbmClassifier,
    check_number,
    features,
    keyword_init,
    labels_1d,
    sample_weights,
)
from cxpredict.models.components import (
    feature_meta,
    read_component_meta,
    set_feature_meta,
    write_component,
)
from cxpredict.models.lgbm import (
    check_lgbm_keywords,
    lgbm_keywords,
    lgbm_params,
    train_booster,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
VALID_SHARE = 0.2
EARLY_STOPPING_ROUNDS = 30
ROUNDS_GROWTH = 1.1  # the refit sees 1 / (1 - VALID_SHARE) times more rows than the early-stopped fit
MIN_ROWS = 10


def reason_matrix(reasons: pd.Series, codes: list[str] | None = None) -> pd.DataFrame:
    """';'-separated codes -> 0/1 frame (rows x codes); missing text means no stated reason."""
    text = pd.Series(reasons, dtype="str").fillna("").str.replace(r"\s*;\s*", ";", regex=True).str.strip()
    dummies = text.str.get_dummies(sep=";")
    dummies = dummies.drop(columns=[c for c in dummies.columns if not c])
    if codes is not None:
        dummies = dummies.reindex(columns=codes, fill_value=0)
    return dummies.astype(np.int8)


def reason_labels(y, index: pd.Index) -> tuple[pd.DataFrame, bool]:
    """ReasonClassifier's target as a 0/1 frame (rows x codes) and whether it is multi-label, in scikit-learn's
    two forms: a 0/1 label matrix (multi-label; a frame's columns name the codes: `reason_matrix` turns the
    survey's ';'-separated texts into one), or one label per row (multiclass: each row states exactly one)."""
    what = "ReasonClassifier"
    y = y if isinstance(y, pd.DataFrame) or y is None else np.asarray(y)
    if isinstance(y, pd.DataFrame) or (y is not None and y.ndim == 2 and y.shape[1] > 1):
        frame = y if isinstance(y, pd.DataFrame) else pd.DataFrame(y)
        if not np.isin(frame.to_numpy(), (0, 1)).all():
            raise InputError(f"{what}: a 2-d target must be a 0/1 label matrix (rows x codes); reason_matrix() "
                             "turns ';'-separated reason texts into one")
        if len(index) != len(frame):
            raise InputError(f"{what}: {len(frame)} label rows for {len(index)} feature rows")
        return frame.set_axis(index, axis=0).astype(np.int8), True
    y = labels_1d(y, len(index), what)
    try:
        check_classification_targets(y)
    except ValueError as e:
        raise InputError(f"{what}: {e}; pass one label per row, or a 0/1 label matrix") from None
    classes = np.unique(y)
    return pd.DataFrame((y[:, None] == classes).astype(np.int8), index=index, columns=classes), False


def micro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Micro-averaged F1 over every (customer, code) pair: scikit-learn's F1 of the flattened 0/1 matrices (the
    same for one code or many), 2 TP / (stated + predicted) as it computes it, without its input checks (the
    threshold search calls this dozens of times per fit; a test keeps it equal to f1_score); 0.0 when nothing is
    stated or predicted."""
    truth, predicted = np.asarray(truth, dtype=int).ravel() == 1, np.asarray(predicted, dtype=int).ravel() == 1
    both = int(np.count_nonzero(truth)) + int(np.count_nonzero(predicted))
    return 2.0 * np.count_nonzero(truth & predicted) / both if both else 0.0


def constant_baseline(train: np.ndarray, test: np.ndarray) -> tuple[float, list[int]]:
    """Micro-F1 on `test` of the best constant label set (the m most frequent codes in `train`, m chosen on
    `train`): the base rate a model has to beat."""
    order = np.argsort(-train.mean(axis=0), kind="stable")
    best_m, best_f1 = 0, -1.0
    for m in range(1, train.shape[1] + 1):
        guess = np.zeros(train.shape[1], dtype=bool)
        guess[order[:m]] = True
        f1 = micro_f1(train, np.broadcast_to(guess, train.shape))
        if f1 > best_f1:
            best_m, best_f1 = m, f1
    guess = np.zeros(train.shape[1], dtype=bool)
    guess[order[:best_m]] = True
    return micro_f1(test, np.broadcast_to(guess, test.shape)), sorted(order[:best_m].tolist())


def best_threshold(truth: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    """(threshold, micro-F1) maximising micro-F1 of `proba >= threshold` over a grid of 0.05 .. 0.95."""
    scores = [(micro_f1(truth, proba >= t), t) for t in np.arange(0.05, 0.951, 0.025)]
    f1, threshold = max(scores)
    return float(round(threshold, 3)), f1


def reason_keywords(cfg: DriversConfig) -> dict[str, Any]:
    """The ReasonClassifier keywords a config's `drivers` section gives (its reason_* keys; the seed aside)."""
    return dict(min_count=cfg.reason_min_count, top_k=cfg.reasons_top_k, min_prob=cfg.reason_min_prob,
                **lgbm_keywords(cfg.reason_params))


class ReasonClassifier(LgbmClassifier):
    """Multi-label classifier of stated reasons: one LightGBM binary model per code (scikit-learn contract).

    y, as scikit-learn's classifiers take it: a 0/1 label matrix (respondents x codes; `reason_matrix` makes one
    from the survey's ';'-separated texts, a row of zeros = no reason stated) or one label per row (multiclass).
    `classes_` are the codes (a matrix's columns, or the labels) stated by at least `min_count` respondents.
    Multi-label: `predict_proba` gives P(code) per code (n, codes), `predict` the 0/1 label sets at the
    micro-F1 threshold. Multiclass: the same per-code models, their probabilities normalised to sum to 1 and
    `predict` the most likely label. `top_reasons` gives the scored file's reason columns (`top_k`, `min_prob`).
    """

    # the defaults are those of the config section, written once there
    __init__ = keyword_init(**reason_keywords(DriversConfig()), random_state=0)

    @classmethod
    def from_config(cls, cfg: DriversConfig, seed: int = 0, **overrides) -> ReasonClassifier:
        """The estimator a config's `drivers` section (reason_* keys, and `seed`) describes."""
        return cls(**{**reason_keywords(cfg), "random_state": seed, **overrides})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, sample_weight=None) -> ReasonClassifier:
        """Fit on respondents: `X` their model matrix, `y` their 0/1 reason matrix (or one label each)."""
        check_number(self, "min_count", 1, integer=True)
        check_number(self, "top_k", 1, integer=True)
        check_number(self, "min_prob", 0, 1)
        check_lgbm_keywords(self)
        X = features(self, X, reset=True)
        labels, self.multi_label_ = reason_labels(y, X.index)
        if len(X) < MIN_ROWS:
            raise InputError(f"ReasonClassifier: need at least {MIN_ROWS} respondents (a validation share of "
                             f"{VALID_SHARE} picks the rounds), got n_samples={len(X)}")
        counts = labels.sum(axis=0)
        kept = [c for c in labels.columns if counts[c] >= self.min_count]
        self.classes_ = np.array(kept, dtype=object) if self.multi_label_ else np.asarray(labels.columns)[
            np.isin(labels.columns, kept)]
        self.dropped_codes_ = {c: int(counts[c]) for c in labels.columns if c not in self.classes_}
        if self.dropped_codes_:
            log.warning("reason codes stated by fewer than %d respondents get no model: %s",
                        self.min_count, self.dropped_codes_)
        self.boosters_: list[lgb.Booster] = []
        self.threshold_, self.metrics_ = 0.5, {"n_respondents": len(X), "codes": {}}
        if not len(self.classes_):
            log.warning("no reason code was stated by at least %d respondents: no reason model", self.min_count)
            return self
        Y = labels[list(self.classes_)].to_numpy(dtype=np.int8)
        rng = np.random.default_rng(self.random_state)
        is_valid = rng.random(len(X)) < VALID_SHARE
        w = sample_weights(sample_weight, len(X), "ReasonClassifier")
        params = lgbm_params(self, objective="binary")
        # one code's boosters are independent of the others': side by side, each with its share of the threads
        # (threads.split: never nested). A booster alone on its thread has no OpenMP barrier to wait at, which
        # is what made these fits crawl beside busy processes.
        workers, per_worker = threads.split(len(self.classes_), int(params["num_threads"]))
        params = {**params, "num_threads": per_worker}

        def fit_code(j: int) -> tuple[lgb.Booster, np.ndarray, int]:
            y = Y[:, j]
            fitted = train_booster(X[~is_valid], y[~is_valid], None if w is None else w[~is_valid], params,
                                   self.n_estimators, valid=(X[is_valid], y[is_valid], None if w is None else
                                                             w[is_valid]), early_stopping_rounds=EARLY_STOPPING_ROUNDS)
            best = fitted.best_iteration or self.n_estimators
            final_rounds = max(1, int(round(best * ROUNDS_GROWTH)))
            return train_booster(X, y, w, params, final_rounds), fitted.predict(X[is_valid], num_iteration=best), \
                final_rounds

        fits = threads.map_split(fit_code, range(len(self.classes_)), workers)
        valid_proba = np.column_stack([proba for _, proba, _ in fits])
        for (booster, _, final_rounds), code, y in zip(fits, self.classes_, Y.T):
            self.boosters_.append(booster)
            self.metrics_["codes"][code] = {"stated": int(y.sum()), "rounds": final_rounds}
        self.threshold_, valid_f1 = best_threshold(Y[is_valid], valid_proba)
        base_f1, _ = constant_baseline(Y[~is_valid], Y[is_valid])
        self.metrics_.update({"valid_micro_f1": valid_f1, "valid_base_micro_f1": base_f1,
                              "threshold": self.threshold_, "n_valid": int(is_valid.sum())})
        return self

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, X) -> np.ndarray:
        """P(customer would state code) per code, (n, len(classes_)); multiclass: normalised to sum to 1."""
        check_is_fitted(self)
        X = features(self, X, reset=False)
        if not self.boosters_:
            return np.zeros((len(X), 0))
        proba = np.column_stack(self.booster_predictions(X))
        return proba if self.multi_label_ else proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        """Multi-label: 0/1 label sets (n, len(classes_)) at the micro-F1 threshold; multiclass: the likeliest
        label."""
        proba = self.predict_proba(X)
        if not self.multi_label_:
            return self.classes_[np.argmax(proba, axis=1)]
        return (proba >= self.threshold_).astype(int)

    def score(self, X, y, sample_weight=None) -> float:
        """Multi-label: micro-F1 of the predicted label sets against y's; multiclass: accuracy."""
        if not self.multi_label_:
            return super().score(X, y, sample_weight)
        truth, _ = reason_labels(y, pd.RangeIndex(len(y)))
        return micro_f1(truth.reindex(columns=list(self.classes_), fill_value=0).to_numpy(), self.predict(X))

    def top_reasons(self, X, k: int | None = None, min_prob: float | None = None) -> pd.DataFrame:
        """reason_1..k (most likely codes, NA below `min_prob`), then reason_1_prob..k (index of X)."""
        k = self.top_k if k is None else k
        min_prob = self.min_prob if min_prob is None else min_prob
        proba = self.predict_proba(X)
        n = len(proba)
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(proba, order, axis=1)
        codes = np.asarray(self.classes_, dtype=object)
        out: dict[str, Any] = {}
        for i in range(k):
            ok = (best[:, i] >= min_prob) if i < best.shape[1] else np.zeros(n, dtype=bool)
            out[f"reason_{i + 1}"] = pd.array(np.where(ok, codes[order[:, i]] if i < best.shape[1] else None, None),
                                              dtype="str")
        for i in range(k):
            ok = (best[:, i] >= min_prob) if i < best.shape[1] else np.zeros(n, dtype=bool)
            out[f"reason_{i + 1}_prob"] = np.where(ok, best[:, i] if i < best.shape[1] else np.nan, np.nan).round(4)
        return pd.DataFrame(out, index=X.index if isinstance(X, pd.DataFrame) else None)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        """reasons.json plus one LightGBM text model per code (reason_<j>.txt); no pickle."""
        check_is_fitted(self)
        files = [f"reason_{j}.txt" for j in range(len(self.boosters_))]
        meta = {"format_version": FORMAT_VERSION, "params": self.get_params(), "codes": self.classes_.tolist(),
                "multi_label": self.multi_label_,
                "dropped_codes": self.dropped_codes_, "files": files, **feature_meta(self),
                "threshold": self.threshold_, "metrics": self.metrics_}
        write_component(directory, "reasons.json", meta, dict(zip(files, self.boosters_)))

    @classmethod
    def load(cls, directory: str | Path) -> ReasonClassifier:
        directory = Path(directory)
        meta = read_component_meta(directory / "reasons.json", "reason model", FORMAT_VERSION)
        model = cls(**meta["params"])
        model.multi_label_ = meta.get("multi_label", True)  # bundles written before multiclass y: multi-label
        model.classes_ = np.array(meta["codes"], dtype=object if model.multi_label_ else None)
        model.dropped_codes_ = meta["dropped_codes"]
        set_feature_meta(model, meta)
        model.threshold_, model.metrics_ = meta["threshold"], meta["metrics"]
        model.boosters_ = [lgb.Booster(model_file=str(directory / f)) for f in meta["files"]]
        return model


# --------------------------------------------------------------------------------------------- themes
def theme_agreement(reason_1: pd.Series, driver_1: pd.Series, group_themes: dict[str, str | None],
                    reason_themes: dict[str, str]) -> tuple[int, int]:
    """(agreeing, compared): customers whose top imputed reason and top driver both have a theme, and how many
    of them share it. Sum the pairs over scoring batches; agreement = agreeing / compared."""
    reason_theme = pd.Series(reason_1, dtype="str").map(reason_themes)
    driver_theme = pd.Series(driver_1, dtype="str").map(group_themes)
    both = (reason_theme.notna() & driver_theme.notna()).to_numpy()
    same = reason_theme.to_numpy(dtype=object)[both] == driver_theme.to_numpy(dtype=object)[both]
    return int(same.sum()), int(both.sum())
