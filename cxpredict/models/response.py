"""Who answers the survey: a cross-fitted response propensity model and the weights that undo the bias."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted

from cxpredict.config import ResponseConfig
from cxpredict.errors import InputError
from cxpredict.metrics import standardized_differences
from cxpredict.models.base import (
    LgbmClassifier,
    binary_target,
    check_choice,
    check_number,
    features,
    keyword_init,
)
from cxpredict.models.components import (
    feature_meta,
    read_component_meta,
    set_feature_meta,
    write_component,
)
from cxpredict.models.lgbm import (
    case_control_sample,
    check_lgbm_keywords,
    cross_fit,
    fold_ids,
    lgbm_keywords,
    lgbm_params,
    train_booster,
)

FORMAT_VERSION = 2
MIN_PROPENSITY = 1e-4
TOP_DIFFERENCES = 10
WEIGHT_TARGETS = ("silent", "population")

ASSUMPTION = (
    "Response is assumed to depend only on observed behaviour (missing at random given the features): among "
    "customers who look alike in the data, respondents are assumed to feel like silent customers."
)
NOT_CORRECTABLE = (
    "If the answer itself drives who responds (e.g. unhappy customers answer more often than their behaviour "
    "predicts), this bias cannot be detected or corrected from behaviour alone; the estimate and its interval "
    "would then be off by an unknown amount."
)

# --------------------------------------------------------------------------------------------- response model
def response_keywords(cfg: ResponseConfig) -> dict[str, Any]:
    """The ResponsePropensity keywords a config's `response` section gives (the seed aside)."""
    return dict(cv=cfg.cv_folds, early_stopping_rounds=cfg.early_stopping_rounds, trim_quantile=cfg.trim_quantile,
                weight_target=cfg.weight_target, overlap_auc_warning=cfg.overlap_auc_warning, max_rows=cfg.max_rows,
                **lgbm_keywords(cfg.params))


class ResponsePropensity(LgbmClassifier):
    """Cross-fitted response propensity P(respondent | behaviour) and the weights that undo response bias.

    Fit on every customer: y is True/1 for respondents (the larger of two labels). `propensity_` holds each
    customer's cross-fitted propensity (from a model that never saw that customer), `weights_` the respondents'
    stabilised, trimmed inverse-propensity weights for `weight_target` ("silent": (1-e)/e, the customers the NPS
    model is applied to; "population": 1/e), capped at the `trim_quantile`. `predict_proba` scores new customers
    with the model fitted on all of them. Above `max_rows` customers the models train on every respondent and a
    weighted random subsample of the silent (`_training_sample`).
    """

    binary_only = True

    # the defaults are those of the config section, written once there
    __init__ = keyword_init(**response_keywords(ResponseConfig()), random_state=0)

    @classmethod
    def from_config(cls, cfg: ResponseConfig, seed: int = 0, **overrides) -> ResponsePropensity:
        """The estimator a config's `response` section (and `seed`) describes."""
        return cls(**{**response_keywords(cfg), "random_state": seed, **overrides})


    def fit(self, X, y) -> ResponsePropensity:
        """y: respondent flags of every customer in X."""
        check_number(self, "cv", 2, integer=True)
        check_number(self, "early_stopping_rounds", 1, integer=True, optional=True)
        check_number(self, "trim_quantile", 0.5, 1.0, low_open=True)
        check_choice(self, "weight_target", WEIGHT_TARGETS)
        check_number(self, "overlap_auc_warning", 0.5, 1.0)
        check_number(self, "max_rows", 1, integer=True)
        check_lgbm_keywords(self)
        X = features(self, X, reset=True)
        self.classes_, target = binary_target(y, len(X), "ResponsePropensity")
        r = target.astype(bool)
        if r.sum() < self.cv or (~r).sum() < self.cv:
            raise InputError(f"ResponsePropensity: need at least {self.cv} respondents and silent customers, got "
                             f"{int(r.sum())} and {int((~r).sum())} (n_samples={len(r)})")
        self.response_rate_ = float(r.mean())
        sampled, w = self._training_sample(r)
        params = lgbm_params(self, objective="binary")
        rows = np.flatnonzero(sampled)
        X_s, y_s, w_s = X.iloc[rows], target[rows], w[rows]
        raw = np.empty(len(r))
        raw[rows], self.rounds_ = cross_fit(X_s, y_s, w_s, params, self.n_estimators,
                                            fold_ids(r[rows], self.cv, self.random_state), r[rows],
                                            self.early_stopping_rounds, self.random_state)
        self.booster_ = train_booster(X_s, y_s, w_s, params, self.rounds_)
        if len(rows) < len(r):  # customers outside the sample: the final model never saw them either
            raw[~sampled] = self.compile().booster_predictions(X[~sampled], raw_score=True)[0]
        self.propensity_ = pd.Series(np.clip(1 / (1 + np.exp(-raw)), MIN_PROPENSITY, 1 - MIN_PROPENSITY),
                                     index=X.index, name="propensity")
        self.is_respondent_ = r
        self.weights_ = self.weights().to_numpy()
        self.auc_ = float(roc_auc_score(r, self.propensity_.to_numpy()))
        gain = self.booster_.feature_importance("gain")
        share = gain / gain.sum() if gain.sum() > 0 else gain
        self.importance_ = sorted(({"feature": f, "gain_share": float(g)} for f, g in zip(X.columns, share)),
                                  key=lambda d: -d["gain_share"])[:TOP_DIFFERENCES]
        self.differences_ = self._differences(X)
        self.overlap_warning_ = None
        if self.auc_ > self.overlap_auc_warning:
            self.overlap_warning_ = (
                f"Respondents and silent customers are easy to tell apart (AUC {self.auc_:.2f} > "
                f"{self.overlap_auc_warning}): little overlap, so some silent customers have no look-alike "
                "respondents; weights are extreme and predictions for them extrapolate. Treat the estimate with care.")
        return self

    def _training_sample(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows the propensity models train on, and their weights: every respondent (every member of the smaller
        group) plus a weighted random subsample of the silent when there are more than
        max(`max_rows`, 2 x respondents) customers (`case_control_sample`: exact inverse sampling rates, so the
        propensities stay calibrated for everyone). Cost grows with the answers, not with the population.
        Customers left out are scored once, by the final model (which never saw them either)."""
        return case_control_sample(r, max(self.max_rows, 2 * int(min(r.sum(), (~r).sum()))), self.random_state)

    def _differences(self, X: pd.DataFrame) -> list[dict[str, Any]]:
        """Top differences respondent vs comparison group, before and after weighting respondents."""
        r = self.is_respondent_
        before = standardized_differences(X, r).head(TOP_DIFFERENCES)
        w_all = np.ones(len(r))
        w_all[r] = self.weights_
        if self.weight_target == "silent":
            after = standardized_differences(X, r, w_all)
        else:  # weighted respondents against every customer: stack the two groups
            both = pd.concat([X[r], X], axis=0)
            flag = np.r_[np.ones(r.sum(), bool), np.zeros(len(X), bool)]
            after = standardized_differences(both, flag, np.r_[w_all[r], np.ones(len(X))])
        after_smd = dict(zip(after["feature"], after["smd"]))
        return [{"feature": row.feature, "respondent_mean": row.group_mean, "silent_mean": row.rest_mean,
                 "smd": row.smd, "smd_after_weighting": after_smd.get(row.feature)} for row in before.itertuples()]

    def weights(self, target: str | None = None) -> pd.Series:
        """Stabilised, trimmed inverse-propensity weights of the respondents (index = their ids), mean 1.

        target "silent": (1-e)/e (respondents stand for the silent customers); "population": 1/e (for all);
        None: `weight_target`.
        """
        check_is_fitted(self, "propensity_")
        target = target or self.weight_target
        if target not in WEIGHT_TARGETS:
            raise InputError(f"ResponsePropensity.weights: target {target!r} is not one of {list(WEIGHT_TARGETS)}")
        e = self.propensity_.to_numpy()[self.is_respondent_]
        raw = (1 - e) / e if target == "silent" else 1 / e
        cap = np.quantile(raw, self.trim_quantile)
        w = np.minimum(raw, cap)
        return pd.Series(w / w.mean(), index=self.propensity_.index[self.is_respondent_], name=f"weight_{target}")

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2): P(silent), P(respondent) of new customers from the model fitted on all customers."""
        check_is_fitted(self)
        p = np.clip(self.booster_predictions(features(self, X, reset=False))[0], MIN_PROPENSITY, 1 - MIN_PROPENSITY)
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        """The more likely label (respondent when the propensity is at least 0.5)."""
        positive = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[positive.astype(int)]

    def summary(self) -> dict[str, Any]:
        if not hasattr(self, "propensity_"):  # loaded from a bundle: the summary saved at training time
            return self.summary_
        w = self.weights_
        e = self.propensity_.to_numpy()
        return {
            "assumption": ASSUMPTION,
            "respondent_vs_silent_auc": self.auc_,
            "overlap_warning": self.overlap_warning_,
            "response_rate": self.response_rate_,
            "weight_target": self.weight_target,
            "trim_quantile": self.trim_quantile,
            "effective_sample_size": float(w.sum() ** 2 / (w**2).sum()),
            "n_respondents": int(self.is_respondent_.sum()),
            "max_weight": float(w.max()),
            "propensity_quantiles": {q: float(np.quantile(e, float(q))) for q in ("0.01", "0.5", "0.99")},
            "top_differences": self.differences_,
            "top_importance": self.importance_,
        }

    def save(self, directory: Path) -> None:
        """response.txt (LightGBM text) + response.json; per-customer propensities are not stored."""
        check_is_fitted(self)
        meta = {"format_version": FORMAT_VERSION, "params": self.get_params(), "classes": self.classes_.tolist(),
                **feature_meta(self), "rounds": self.rounds_, "summary": self.summary()}
        write_component(directory, "response.json", meta, {"response.txt": self.booster_})

    @classmethod
    def load(cls, directory: Path) -> ResponsePropensity:
        directory = Path(directory)
        meta = read_component_meta(directory / "response.json", "response model", FORMAT_VERSION)
        model = cls(**meta["params"])
        model.booster_ = lgb.Booster(model_file=str(directory / "response.txt"))
        model.classes_ = np.asarray(meta["classes"])
        set_feature_meta(model, meta)
        model.rounds_, model.summary_ = meta["rounds"], meta["summary"]
        model.auc_ = meta["summary"]["respondent_vs_silent_auc"]
        model.overlap_warning_ = meta["summary"]["overlap_warning"]
        return model
