"""Who answers the survey: a cross-fitted response propensity model and the weights that undo the bias."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from cxpredict.config import ResponseConfig
from cxpredict.errors import InputError
from cxpredict.metrics import standardized_differences
from cxpredict.models.components import read_component_meta
from cxpredict.models.lgbm import cross_fit, fold_ids, lgbm_params, train_booster

FORMAT_VERSION = 1
MIN_PROPENSITY = 1e-4
TOP_DIFFERENCES = 10




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
class ResponseModel:
    """Cross-fitted response propensity. `fit` returns self; learned attributes end in `_`."""

    def __init__(self, cfg: ResponseConfig, seed: int = 0):
        self.cfg = cfg
        self.seed = seed

    def fit(self, X: pd.DataFrame, is_respondent) -> ResponseModel:
        r = np.asarray(is_respondent, dtype=bool)
        if len(r) != len(X):
            raise InputError(f"response model: {len(X)} customers but {len(r)} respondent flags")
        if r.sum() < self.cfg.cv_folds or (~r).sum() < self.cfg.cv_folds:
            raise InputError(f"response model: need at least {self.cfg.cv_folds} respondents and silent customers, "
                             f"got {int(r.sum())} and {int((~r).sum())}")
        self.feature_names_ = list(X.columns)
        self.response_rate_ = float(r.mean())
        y = r.astype(float)
        sampled, w = self._training_sample(r)
        params = lgbm_params(self.cfg.params, self.seed, objective="binary")
        folds = np.full(len(r), -1)
        folds[sampled] = fold_ids(r[sampled], self.cfg.cv_folds, self.seed)
        raw, self.rounds_ = cross_fit(X, y, w, params, self.cfg.params.n_estimators, folds, r,
                                      self.cfg.early_stopping_rounds, self.seed)
        self.propensity_ = pd.Series(np.clip(1 / (1 + np.exp(-raw)), MIN_PROPENSITY, 1 - MIN_PROPENSITY),
                                     index=X.index, name="propensity")
        self.booster_ = train_booster(X[sampled], y[sampled], w[sampled], params, self.rounds_)
        self.is_respondent_ = r
        self.auc_ = float(roc_auc_score(r, self.propensity_.to_numpy()))
        gain = self.booster_.feature_importance("gain")
        share = gain / gain.sum() if gain.sum() > 0 else gain
        self.importance_ = sorted(({"feature": f, "gain_share": float(g)} for f, g in zip(self.feature_names_, share)),
                                  key=lambda d: -d["gain_share"])[:TOP_DIFFERENCES]
        self.differences_ = self._differences(X)
        self.overlap_warning_ = None
        if self.auc_ > self.cfg.overlap_auc_warning:
            self.overlap_warning_ = (
                f"Respondents and silent customers are easy to tell apart (AUC {self.auc_:.2f} > "
                f"{self.cfg.overlap_auc_warning}): little overlap, so some silent customers have no look-alike "
                "respondents; weights are extreme and predictions for them extrapolate. Treat the estimate with care.")
        return self

    def _training_sample(self, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows the propensity models train on, and their weights.

        Above `max_rows` customers each group (respondents, silent) is subsampled at random (the smaller group
        keeps all its rows up to half of `max_rows`) and weighted by its inverse sampling rate, so probabilities
        stay calibrated for everyone while training costs stay bounded. Customers left out are scored by every
        fold model.
        """
        w = np.ones(len(r))
        if len(r) <= self.cfg.max_rows:
            return np.ones(len(r), dtype=bool), w
        rng = np.random.default_rng(self.seed)
        n_resp = min(int(r.sum()), max(self.cfg.max_rows // 2, self.cfg.max_rows - int((~r).sum())))
        sampled = np.zeros(len(r), dtype=bool)
        for group, n_keep in ((r, n_resp), (~r, min(int((~r).sum()), self.cfg.max_rows - n_resp))):
            members = np.flatnonzero(group)
            sampled[rng.choice(members, n_keep, replace=False)] = True
            w[members] = len(members) / n_keep
        return sampled, w

    def _differences(self, X: pd.DataFrame) -> list[dict[str, Any]]:
        """Top differences respondent vs comparison group, before and after weighting respondents."""
        r = self.is_respondent_
        before = standardized_differences(X, r).head(TOP_DIFFERENCES)
        w_all = np.ones(len(r))
        w_all[r] = self.weights().to_numpy()
        if self.cfg.weight_target == "silent":
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

        target "silent": (1-e)/e (respondents stand for the silent customers); "population": 1/e (for all).
        """
        target = target or self.cfg.weight_target
        e = self.propensity_.to_numpy()[self.is_respondent_]
        raw = (1 - e) / e if target == "silent" else 1 / e
        cap = np.quantile(raw, self.cfg.trim_quantile)
        w = np.minimum(raw, cap)
        return pd.Series(w / w.mean(), index=self.propensity_.index[self.is_respondent_], name=f"weight_{target}")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Response propensity of new customers from the model fitted on all customers."""
        return np.clip(self.booster_.predict(X[self.feature_names_]), MIN_PROPENSITY, 1 - MIN_PROPENSITY)

    def summary(self) -> dict[str, Any]:
        if not hasattr(self, "propensity_"):  # loaded from a bundle: the summary saved at training time
            return self.summary_
        w = self.weights()
        e = self.propensity_.to_numpy()
        return {
            "assumption": ASSUMPTION,
            "respondent_vs_silent_auc": self.auc_,
            "overlap_warning": self.overlap_warning_,
            "response_rate": self.response_rate_,
            "weight_target": self.cfg.weight_target,
            "trim_quantile": self.cfg.trim_quantile,
            "effective_sample_size": float(w.sum() ** 2 / (w**2).sum()),
            "n_respondents": int(self.is_respondent_.sum()),
            "max_weight": float(w.max()),
            "propensity_quantiles": {q: float(np.quantile(e, float(q))) for q in ("0.01", "0.5", "0.99")},
            "top_differences": self.differences_,
            "top_importance": self.importance_,
        }

    def save(self, directory: Path) -> None:
        """response.txt (LightGBM text) + response.json; per-customer propensities are not stored."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(directory / "response.txt"))
        meta = {"format_version": FORMAT_VERSION, "config": self.cfg.model_dump(mode="json"), "seed": self.seed,
                "feature_names": self.feature_names_, "rounds": self.rounds_, "summary": self.summary()}
        (directory / "response.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> ResponseModel:
        directory = Path(directory)
        meta = read_component_meta(directory / "response.json", "response model", FORMAT_VERSION)
        model = cls(ResponseConfig(**meta["config"]), meta["seed"])
        model.booster_ = lgb.Booster(model_file=str(directory / "response.txt"))
        model.feature_names_, model.rounds_ = meta["feature_names"], meta["rounds"]
        model.summary_ = meta["summary"]
        model.auc_ = meta["summary"]["respondent_vs_silent_auc"]
        model.overlap_warning_ = meta["summary"]["overlap_warning"]
        return model
