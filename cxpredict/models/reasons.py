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

import json
import logging
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from cxpredict.config import DriversConfig
from cxpredict.errors import InputError
from cxpredict.models.components import read_component_meta
from cxpredict.models.lgbm import lgbm_params, train_booster

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
VALID_SHARE = 0.2
EARLY_STOPPING_ROUNDS = 30
ROUNDS_GROWTH = 1.1  # the refit sees 1 / (1 - VALID_SHARE) times more rows than the early-stopped fit


def reason_matrix(reasons: pd.Series, codes: list[str] | None = None) -> pd.DataFrame:
    """';'-separated codes -> 0/1 frame (rows x codes); missing text means no stated reason."""
    text = pd.Series(reasons, dtype="str").fillna("").str.replace(r"\s*;\s*", ";", regex=True).str.strip()
    dummies = text.str.get_dummies(sep=";")
    dummies = dummies.drop(columns=[c for c in dummies.columns if not c])
    if codes is not None:
        dummies = dummies.reindex(columns=codes, fill_value=0)
    return dummies.astype(np.int8)


def micro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Micro-averaged F1 over every (customer, code) pair; 0.0 when nothing is stated or predicted."""
    truth, predicted = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    tp = float((truth & predicted).sum())
    denominator = float(truth.sum() + predicted.sum())
    return 2 * tp / denominator if denominator else 0.0


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


class ReasonModel:
    """One LightGBM binary model per reason code. `fit` returns self; learned attributes end in `_`."""

    def __init__(self, cfg: DriversConfig | None = None, seed: int = 0):
        self.cfg = cfg or DriversConfig()
        self.seed = seed

    # ------------------------------------------------------------------ fitting
    def fit(self, X: pd.DataFrame, reasons: pd.Series, sample_weight: np.ndarray | None = None) -> ReasonModel:
        """Fit on respondents: `X` their model matrix, `reasons` their ';'-separated codes (NA: none stated)."""
        if len(X) != len(reasons):
            raise InputError(f"reason model: {len(X)} feature rows but {len(reasons)} reason values")
        labels = reason_matrix(pd.Series(np.asarray(reasons, dtype=object), index=X.index))
        counts = labels.sum(axis=0)
        self.codes_ = [c for c in labels.columns if counts[c] >= self.cfg.reason_min_count]
        self.dropped_codes_ = {c: int(counts[c]) for c in labels.columns if c not in self.codes_}
        if self.dropped_codes_:
            log.warning("reason codes stated by fewer than %d respondents get no model: %s",
                        self.cfg.reason_min_count, self.dropped_codes_)
        self.feature_names_ = list(X.columns)
        self.boosters_: list[lgb.Booster] = []
        self.threshold_, self.metrics_ = 0.5, {"n_respondents": len(X), "codes": {}}
        if not self.codes_:
            log.warning("no reason code was stated by at least %d respondents: no reason model",
                        self.cfg.reason_min_count)
            return self
        Y = labels[self.codes_].to_numpy(dtype=np.int8)
        rng = np.random.default_rng(self.seed)
        is_valid = rng.random(len(X)) < VALID_SHARE
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        params = lgbm_params(self.cfg.reason_params, self.seed, objective="binary")
        rounds = self.cfg.reason_params.n_estimators
        valid_proba = np.zeros((int(is_valid.sum()), len(self.codes_)))
        for j, code in enumerate(self.codes_):
            y = Y[:, j]
            fitted = train_booster(X[~is_valid], y[~is_valid], None if w is None else w[~is_valid], params, rounds,
                                   valid=(X[is_valid], y[is_valid], None if w is None else w[is_valid]),
                                   early_stopping_rounds=EARLY_STOPPING_ROUNDS)
            best = fitted.best_iteration or rounds
            valid_proba[:, j] = fitted.predict(X[is_valid], num_iteration=best)
            final_rounds = max(1, int(round(best * ROUNDS_GROWTH)))
            self.boosters_.append(train_booster(X, y, w, params, final_rounds))
            self.metrics_["codes"][code] = {"stated": int(y.sum()), "rounds": final_rounds}
        self.threshold_, valid_f1 = best_threshold(Y[is_valid], valid_proba)
        base_f1, _ = constant_baseline(Y[~is_valid], Y[is_valid])
        self.metrics_.update({"valid_micro_f1": valid_f1, "valid_base_micro_f1": base_f1,
                              "threshold": self.threshold_, "n_valid": int(is_valid.sum())})
        return self

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, X: pd.DataFrame) -> pd.DataFrame:
        """P(customer would state code) per code (columns in `codes_` order)."""
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise InputError(f"reason model: the frame lacks the model features {missing[:5]}")
        proba = np.column_stack([b.predict(X[self.feature_names_]) for b in self.boosters_]) if self.boosters_ \
            else np.zeros((len(X), 0))
        return pd.DataFrame(proba, index=X.index, columns=self.codes_)

    def predict_sets(self, X: pd.DataFrame) -> pd.DataFrame:
        """0/1 label sets at the micro-F1 threshold (for evaluation)."""
        return (self.predict_proba(X) >= self.threshold_).astype(np.int8)

    def top_reasons(self, X: pd.DataFrame, k: int | None = None, min_prob: float | None = None) -> pd.DataFrame:
        """reason_1..k (most likely codes, NA below `min_prob`), then reason_1_prob..k."""
        k = self.cfg.reasons_top_k if k is None else k
        min_prob = self.cfg.reason_min_prob if min_prob is None else min_prob
        proba = self.predict_proba(X).to_numpy()
        n = len(proba)
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(proba, order, axis=1)
        codes = np.array(self.codes_, dtype=object)
        out: dict[str, Any] = {}
        for i in range(k):
            ok = (best[:, i] >= min_prob) if i < best.shape[1] else np.zeros(n, dtype=bool)
            out[f"reason_{i + 1}"] = pd.array(np.where(ok, codes[order[:, i]] if i < best.shape[1] else None, None),
                                              dtype="str")
        for i in range(k):
            ok = (best[:, i] >= min_prob) if i < best.shape[1] else np.zeros(n, dtype=bool)
            out[f"reason_{i + 1}_prob"] = np.where(ok, best[:, i] if i < best.shape[1] else np.nan, np.nan).round(4)
        return pd.DataFrame(out, index=X.index)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        """reasons.json plus one LightGBM text model per code (reason_<j>.txt); no pickle."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = []
        for j, booster in enumerate(self.boosters_):
            files.append(f"reason_{j}.txt")
            booster.save_model(str(directory / files[-1]))
        meta = {"format_version": FORMAT_VERSION, "config": self.cfg.model_dump(mode="json"), "seed": self.seed,
                "codes": self.codes_, "dropped_codes": self.dropped_codes_, "files": files,
                "feature_names": self.feature_names_, "threshold": self.threshold_, "metrics": self.metrics_}
        (directory / "reasons.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> ReasonModel:
        directory = Path(directory)
        meta = read_component_meta(directory / "reasons.json", "reason model", FORMAT_VERSION)
        model = cls(DriversConfig(**meta["config"]), meta["seed"])
        model.codes_, model.dropped_codes_ = meta["codes"], meta["dropped_codes"]
        model.feature_names_, model.threshold_ = meta["feature_names"], meta["threshold"]
        model.metrics_ = meta["metrics"]
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
