"""Churn model: calibrated probability of churning within the configured horizon.

Why this shape:
- Churn outcomes are operational data, known for every customer, so the model trains on ALL customers with a
  known outcome (not only survey respondents) and needs no respondent-bias correction.
- A LightGBM booster is fitted on part of those customers and a calibrator (Platt or weighted isotonic) on a
  stratified hold-out. The reported metrics are honest: the calibrator is cross-fitted inside the hold-out
  (2 halves), so no reported probability comes from a calibrator that saw that customer's outcome.
- The predicted NPS probabilities can be features (`churn.use_nps_features`). They must be produced the same
  way at training and at scoring: for silent customers the NPS model never saw their survey answer, so for
  respondents (whose answers trained the NPS model) `cross_fit_nps_features` uses out-of-fold predictions.
  Without that, respondents' in-sample NPS predictions leak their own satisfaction into the churn features.
  The lift is measured on the same hold-out with and without those columns (`nps_feature_auc_lift`).
  At scoring, respondents get the full NPS model's (in-sample) probabilities: a small optimism for the few %
  who answered; silent customers, the point of the product, are scored exactly as they were trained.
- Label and horizon: the label is the outcomes table's `data.outcomes.label` (0/1, churned within
  `churn.horizon_days` after `data.as_of`); the horizon is recorded with the model and its metrics.
- Everything saved is LightGBM text plus JSON; nothing is pickled.

The value at stake per customer (value, value_at_risk) is computed in value.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils.validation import check_is_fitted

from cxpredict import threads
from cxpredict.config import ChurnConfig, ValueConfig
from cxpredict.errors import ConfigError, InputError
from cxpredict.metrics import expected_calibration_error, reliability_table
from cxpredict.models.base import (
    LgbmClassifier,
    binary_target,
    check_choice,
    check_number,
    compiled_forest,
    features,
    keyword_init,
    raw_predictions,
    sample_weights,
)
from cxpredict.models.components import (
    feature_meta,
    read_component_meta,
    set_feature_meta,
    write_component,
)
from cxpredict.models.lgbm import case_control_sample, check_lgbm_keywords, lgbm_keywords, lgbm_params
from cxpredict.models.value import valued, value_at_risk

FORMAT_VERSION = 2
MODEL_FILE = "churn.txt"
META_FILE = "churn.json"
# NPS model outputs used as churn features, renamed so they can never clash with behaviour columns
NPS_FEATURES = {"p_detractor": "nps_p_detractor", "p_passive": "nps_p_passive", "p_promoter": "nps_p_promoter"}
CALIBRATION_BINS = 10
CALIBRATIONS = ("platt", "isotonic")
FEATURE_HINT = "; the model was trained with NPS probabilities as features, add them with with_nps_features()"


# --------------------------------------------------------------------------------------------- calibration
@dataclass
class Calibrator:
    """Monotone map from the booster's raw margin to a probability, stored as plain numbers (JSON)."""

    method: Literal["platt", "isotonic"]
    slope: float = 1.0  # platt: p = sigmoid(slope * margin + intercept)
    intercept: float = 0.0
    knots_x: list[float] = field(default_factory=list)  # isotonic: piecewise-linear through these knots
    knots_y: list[float] = field(default_factory=list)

    @classmethod
    @threads.serial_blas_calls
    def fit(cls, method: str, margin: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> Calibrator:
        margin = np.asarray(margin, dtype=float)
        if method == "platt":
            lr = LogisticRegression(C=1e6, max_iter=1000)  # effectively unpenalised
            lr.fit(margin.reshape(-1, 1), y, sample_weight=weight)
            return cls("platt", slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))
        if method == "isotonic":
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(margin, y, sample_weight=weight)
            return cls("isotonic", knots_x=iso.X_thresholds_.tolist(), knots_y=iso.y_thresholds_.tolist())
        raise ConfigError(f"churn calibration: unknown method '{method}'; use one of {list(CALIBRATIONS)}")

    def transform(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=float)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.slope * margin + self.intercept)))
        return np.interp(margin, self.knots_x, self.knots_y)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(**data)


# --------------------------------------------------------------------------------------------- metrics
def calibration_table(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> pd.DataFrame:
    """Reliability table over 10 equal-width probability bins, with each bin's probability range."""
    table = reliability_table(y, p, n_bins=CALIBRATION_BINS, strategy="uniform", sample_weight=weight)
    table.insert(1, "p_low", table["bin"] / CALIBRATION_BINS)
    table.insert(2, "p_high", (table["bin"] + 1) / CALIBRATION_BINS)
    return table


def binary_metrics(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> dict[str, float]:
    """AUC, PR-AUC (average precision), Brier score, log loss and ECE of calibrated probabilities."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if len(np.unique(y)) < 2:
        raise InputError("churn metrics need both churners and non-churners in the evaluated customers")
    return {
        "n": int(len(y)),
        "base_rate": float(np.average(y, weights=weight)),
        "auc": float(roc_auc_score(y, p, sample_weight=weight)),
        "pr_auc": float(average_precision_score(y, p, sample_weight=weight)),
        "brier": float(brier_score_loss(y, p, sample_weight=weight)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), sample_weight=weight)),
        "ece": expected_calibration_error(y, p, n_bins=CALIBRATION_BINS, sample_weight=weight),
    }


# --------------------------------------------------------------------------------------------- model
def churn_keywords(cfg: ChurnConfig) -> dict[str, Any]:
    """The ChurnClassifier keywords a config's `churn` section gives (the seed aside)."""
    return dict(horizon_days=cfg.horizon_days, calibration=cfg.calibration, calibration_share=cfg.calibration_share,
                measure_nps_lift=cfg.measure_nps_lift, max_rows=cfg.max_rows, **lgbm_keywords(cfg.params))


class ChurnClassifier(LgbmClassifier):
    """Calibrated LightGBM churn classifier (scikit-learn contract; y: churned within the horizon, 0/1).

    The booster trains on all but a stratified `calibration_share` hold-out; the `calibration` ("platt" or
    "isotonic") is fitted on the hold-out, and `metrics_` are the hold-out's, with the calibrator cross-fitted
    inside it. `horizon_days` is recorded with the metrics. With NPS-probability columns among the features and
    `measure_nps_lift`, a second booster without them measures their AUC lift on the same hold-out. Above
    `max_rows` training customers the boosters train on a case-control subsample weighted by the exact inverse
    sampling rates (`case_control_sample`); the calibrator and the metrics still use the whole hold-out with its
    own weights, so the probabilities stay calibrated for everyone.
    """

    binary_only = True

    # the defaults are those of the config section, written once there
    __init__ = keyword_init(**churn_keywords(ChurnConfig()), random_state=0)

    @classmethod
    def from_config(cls, cfg: ChurnConfig, seed: int = 0, **overrides) -> ChurnClassifier:
        """The estimator a config's `churn` section (and `seed`) describes."""
        return cls(**{**churn_keywords(cfg), "random_state": seed, **overrides})


    # ------------------------------------------------------------------ training
    def _train_booster(self, X: pd.DataFrame, y: np.ndarray, w: np.ndarray | None, num_threads: int) -> lgb.Booster:
        return lgb.train(lgbm_params(self, objective="binary", num_threads=num_threads),
                         lgb.Dataset(X, label=y, weight=w), num_boost_round=self.n_estimators)

    def fit(self, X, y, sample_weight=None) -> ChurnClassifier:
        """Train the booster, calibrate on a stratified hold-out, report honest hold-out metrics."""
        check_number(self, "horizon_days", 1, integer=True)
        check_choice(self, "calibration", CALIBRATIONS)
        check_number(self, "calibration_share", 0, 1, low_open=True)
        check_choice(self, "measure_nps_lift", (True, False))
        check_number(self, "max_rows", 2, integer=True)
        check_lgbm_keywords(self)
        X = features(self, X, reset=True)
        self.classes_, y = binary_target(y, len(X), "ChurnClassifier")
        w = sample_weights(sample_weight, len(X), "ChurnClassifier")
        idx_fit, idx_cal = train_test_split(
            np.arange(len(X)), test_size=self.calibration_share, stratify=y, random_state=self.random_state
        )
        n_fit_customers = len(idx_fit)
        idx_fit, w_fit = self._training_rows(idx_fit, y, w)
        w_cal = None if w is None else w[idx_cal]
        nps_cols = [c for c in NPS_FEATURES.values() if c in X.columns]
        self.uses_nps_features_ = bool(nps_cols)
        lift = bool(nps_cols) and self.measure_nps_lift
        # the model and (for the NPS lift) the same model without the NPS features are independent: side by side,
        # each with its share of the threads (never nested; a booster alone on its thread waits at no barrier)
        sets = [X.iloc[idx_fit]] + ([X.iloc[idx_fit].drop(columns=nps_cols)] if lift else [])
        workers, per_worker = threads.split(len(sets), threads.count(self.n_jobs))
        boosters = threads.map_split(lambda rows: self._train_booster(rows, y[idx_fit], w_fit, per_worker), sets,
                                     workers)
        self.booster_ = boosters[0]
        margin_cal = self.compile().booster_predictions(X.iloc[idx_cal], raw_score=True)[0]
        self.calibrator_ = Calibrator.fit(self.calibration, margin_cal, y[idx_cal], w_cal)

        p_honest = self._cross_fitted_calibration(margin_cal, y[idx_cal], w_cal)
        self.calibration_table_ = calibration_table(y[idx_cal], p_honest, w_cal)
        self.metrics_: dict[str, Any] = {
            **binary_metrics(y[idx_cal], p_honest, w_cal),
            "n_train": int(len(idx_fit)),
            "n_train_customers": int(n_fit_customers),  # n_train is smaller when above max_rows (a subsample)
            "n_calibration": int(len(idx_cal)),
            "calibration": self.calibration,
            "horizon_days": self.horizon_days,
        }
        if lift:
            self.metrics_.update(self._nps_lift(X.drop(columns=nps_cols), boosters[1], y, w, idx_cal, margin_cal))
        return self

    def _training_rows(self, idx_fit: np.ndarray, y: np.ndarray, w: np.ndarray | None
                       ) -> tuple[np.ndarray, np.ndarray | None]:
        """The booster's rows and weights: all of `idx_fit`, or above `max_rows` a case-control subsample whose
        weights (the caller's times the inverse sampling rate) stand for every customer of `idx_fit`."""
        w_fit = None if w is None else w[idx_fit]
        if len(idx_fit) <= self.max_rows:
            return idx_fit, w_fit
        sampled, rate_w = case_control_sample(y[idx_fit], self.max_rows, self.random_state)
        return idx_fit[sampled], rate_w[sampled] * (1.0 if w_fit is None else w_fit[sampled])

    def _cross_fitted_calibration(self, margin: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
        """Probabilities for the hold-out from calibrators fitted on the other half of it (honest metrics)."""
        p = np.empty(len(y))
        folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=self.random_state)
        for a, b in folds.split(margin, y):
            cal = Calibrator.fit(self.calibration, margin[a], y[a], None if w is None else w[a])
            p[b] = cal.transform(margin[b])
        return p

    def _nps_lift(self, X_plain, plain, y, w, idx_cal, margin_cal) -> dict[str, float]:
        """Hold-out AUC with and without the NPS-probability features (`plain`: the booster fitted without them on
        the same rows and weights, same seed)."""
        w_cal = None if w is None else w[idx_cal]
        auc_with = roc_auc_score(y[idx_cal], margin_cal, sample_weight=w_cal)
        margin = raw_predictions(compiled_forest(self, [plain]), [plain], X_plain.iloc[idx_cal])[0]
        auc_without = roc_auc_score(y[idx_cal], margin, sample_weight=w_cal)
        return {"auc_without_nps": float(auc_without), "nps_feature_auc_lift": float(auc_with - auc_without)}

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) calibrated probabilities of staying and of churning within the horizon (`classes_` order)."""
        check_is_fitted(self)
        X = features(self, X, reset=False, hint=FEATURE_HINT)
        p = self.calibrator_.transform(self.booster_predictions(X, raw_score=True)[0])
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        """The more likely label (churn when its calibrated probability is at least 0.5)."""
        positive = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[positive.astype(int)]

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        check_is_fitted(self)
        meta = {
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            **feature_meta(self),
            "uses_nps_features": self.uses_nps_features_,
            "calibrator": self.calibrator_.to_dict(),
            "metrics": self.metrics_,
            "calibration_table": self.calibration_table_.to_dict(orient="records"),
        }
        directory = write_component(directory, META_FILE, meta, {MODEL_FILE: self.booster_})
        self.calibration_table_.to_csv(directory / "calibration_table.csv", index=False)

    @classmethod
    def load(cls, directory: str | Path) -> ChurnClassifier:
        directory = Path(directory)
        meta = read_component_meta(directory / META_FILE, "churn model", FORMAT_VERSION)
        model = cls(**meta["params"])
        model.booster_ = lgb.Booster(model_file=str(directory / MODEL_FILE))
        model.classes_ = np.asarray(meta["classes"])
        set_feature_meta(model, meta)
        model.uses_nps_features_ = bool(meta["uses_nps_features"])
        model.calibrator_ = Calibrator.from_dict(meta["calibrator"])
        model.metrics_ = meta["metrics"]
        model.calibration_table_ = pd.DataFrame(meta["calibration_table"])
        return model


# --------------------------------------------------------------------------------------------- NPS features
def nps_features(nps_prediction: pd.DataFrame) -> pd.DataFrame:
    """The NPS class probabilities from `NpsClassifier.predict_frame`, renamed to their churn-feature names.

    A frame that already holds the renamed columns (from `cross_fit_nps_features`) passes through.
    """
    if all(c in nps_prediction.columns for c in NPS_FEATURES.values()):
        return nps_prediction[list(NPS_FEATURES.values())].astype("float64")
    return nps_prediction[list(NPS_FEATURES)].rename(columns=NPS_FEATURES).astype("float64")


def with_nps_features(X: pd.DataFrame, nps_prediction: pd.DataFrame) -> pd.DataFrame:
    """Behaviour matrix plus the NPS-probability features (from `NpsClassifier.predict_frame` or
    `cross_fit_nps_features`), aligned on the index."""
    return pd.concat([X, nps_features(nps_prediction).reindex(X.index)], axis=1)


def cross_fit_nps_features(
    full_model: Any,
    X: pd.DataFrame,
    is_respondent: np.ndarray,
    make_nps_model: Callable[[], Any] | None = None,
    score: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
    predictions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """NPS-probability churn features without leakage.

    Silent customers get the full NPS model's prediction (it never saw their answer, as at scoring time).
    Respondents get out-of-fold predictions, so their own survey answer (often a near-copy of the churn
    outcome) never feeds their own churn features: the NPS model's cross-validated `oof_` when it has one,
    else NPS models refitted by `make_nps_model()` on the other respondents (`score` in the order of
    `X[is_respondent]`). `predictions`: the full model's `predict_frame(X)` when the caller already has it
    (training predicts every customer once, for the population estimate), so it is not predicted again.
    """
    is_respondent = np.asarray(is_respondent, dtype=bool)
    out = pd.DataFrame(np.nan, index=X.index, columns=list(NPS_FEATURES.values()))
    if (~is_respondent).any():
        silent = full_model.predict_frame(X[~is_respondent]) if predictions is None \
            else predictions.loc[X.index[~is_respondent]]
        out.loc[~is_respondent] = nps_features(silent).to_numpy()
    if not is_respondent.any():
        return out
    X_resp = X[is_respondent]
    oof_frame = getattr(full_model, "oof_", None)
    if isinstance(oof_frame, pd.DataFrame) and X_resp.index.isin(oof_frame.index).all():
        out.loc[is_respondent] = nps_features(oof_frame.loc[X_resp.index]).to_numpy()
        return out
    if make_nps_model is None or score is None:
        raise ValueError("the NPS model has no out-of-fold predictions; pass make_nps_model and score to refit")
    score = np.asarray(score)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    oof = np.empty((len(X_resp), len(NPS_FEATURES)))
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
        X_resp, np.digitize(score, np.unique(score)[1:])
    ):
        model = make_nps_model().fit(X_resp.iloc[train_idx], score[train_idx],
                                     sample_weight=None if w is None else w[train_idx])
        oof[test_idx] = nps_features(model.predict_frame(X_resp.iloc[test_idx])).to_numpy()
    out.loc[is_respondent] = oof
    return out


# --------------------------------------------------------------------------------------------- scoring
def churn_columns(model: ChurnClassifier | None, X: pd.DataFrame, nps_prediction: pd.DataFrame | None,
                  frame: pd.DataFrame, value_cfg: ValueConfig) -> pd.DataFrame:
    """Scoring stage: churn_prob, value and value_at_risk for one batch; `value` alone without a churn model (a
    survey-only bundle has no churn columns rather than empty ones)."""
    value, imputed = valued(frame, value_cfg)
    flag = imputed.astype("int8")  # 1: churn.value.default stands in (ImputedValues counts them for the warning)
    if model is None:
        return pd.DataFrame({"value": value, "value_imputed": flag}, index=X.index)
    X_churn = with_nps_features(X, nps_prediction) if model.uses_nps_features_ else X
    churn = model.predict_proba(X_churn)[:, 1]
    return pd.DataFrame({"churn_prob": churn, "value": value, "value_imputed": flag,
                         "value_at_risk": value_at_risk(churn, value)}, index=X.index)
