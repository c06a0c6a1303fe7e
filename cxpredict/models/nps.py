"""NPS model: a calibrated score distribution, class probabilities and a class decision for every customer.

Why this shape:
- The scale is ordered and the classes are unbalanced, so three LightGBM formulations compete on cross-validated
  metrics of the respondents (`nps.formulation: auto` keeps the best; default metric: weighted log loss of the
  three classes):
  * "multiclass": one softmax model over detractor / passive / promoter (no per-point distribution);
  * "regression": one model of the dissatisfaction `scale.max - score`, turned into a full score distribution by
    a proportional-odds link with learned cut points, P(score <= k) = sigmoid(theta_k + beta * z);
  * "ordinal": K-1 binary models of the cumulative P(score <= k); per customer the K-1 probabilities are sorted
    (monotone rearrangement), so the distribution is valid and P(score > k) never increases with k.
- Every booster is trained so that its RAW output increases with dissatisfaction (`detractor_booster`).
- Everything learned after the boosters ("stage 2": the cut points and the calibrator) is fitted on cross-fitted
  out-of-fold (OOF) predictions, weighted with the response weights the caller passes, so that probabilities match
  frequencies in the population the model is applied to rather than among respondents. The calibrator is vector
  scaling of the three class log-probabilities (softmax(a * log p + b), 6 numbers in JSON); the per-point
  distribution is rescaled within each class to stay consistent with the calibrated class probabilities.
- `oof_` holds cross-fitted predictions for the respondents (stage 2 itself cross-fitted), used for the honest
  `cv_metrics_`, the reliability tables and the class decision: per-class log-offsets tuned on `oof_` for
  weighted macro-F1 or per-class recall targets (`nps.thresholds`), not argmax.
- Early stopping never looks at the rows it is evaluated on: inside each CV fold an inner 15% split picks the
  number of rounds; the final model on all respondents uses the mean best round count x 1.1.
- Saved as LightGBM text files plus nps.json; nothing is pickled.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit, logit, softmax
from threadpoolctl import ThreadpoolController

from cxpredict.config import CLASSES, NpsModelConfig, Scale
from cxpredict.errors import InputError
from cxpredict.metrics import nps_metrics, reliability_table, score_to_class
from cxpredict.models.calibration import (
    EPS,
    apply_cutpoints,
    apply_vector_scaling,
    class_probabilities,
    classes_of_points,
    cumulative_to_distribution,
    fit_cutpoints,
    fit_vector_scaling,
    rescale_within_classes,
    tune_offsets,
)
from cxpredict.models.components import read_component_meta
from cxpredict.models.lgbm import (
    cross_fit,
    fold_ids,
    lgbm_params,
    train_booster,
)

FORMAT_VERSION = 2
FORMULATIONS = ("multiclass", "regression", "ordinal")
LOWER_IS_BETTER = {"log_loss"}
_THREADPOOLS = ThreadpoolController()


# --------------------------------------------------------------------------------------------- the model
class NpsModel:
    """Calibrated NPS model. `fit` returns self; learned attributes end in `_`."""

    def __init__(self, scale: Scale, cfg: NpsModelConfig, seed: int = 0):
        self.scale = scale
        self.cfg = cfg
        self.seed = seed

    # ------------------------------------------------------------------ targets per formulation
    def _targets(self, formulation: str, score: np.ndarray) -> list[tuple[np.ndarray, dict]]:
        """(label, LightGBM objective) per booster; raw outputs increase with dissatisfaction (multiclass: class 0)."""
        if formulation == "multiclass":
            return [(score_to_class(score, self.scale), {"objective": "multiclass", "num_class": 3})]
        if formulation == "regression":
            return [((self.scale.max - score).astype(float), {"objective": "regression"})]
        return [((score <= k).astype(float), {"objective": "binary"}) for k in self.scale.points[:-1]]

    def _raw(self, formulation: str, raw_parts: list[np.ndarray]) -> np.ndarray:
        return raw_parts[0] if formulation != "ordinal" else np.column_stack(raw_parts)

    def _base(self, formulation: str, raw: np.ndarray, link: dict | None) -> tuple[np.ndarray | None, np.ndarray]:
        """Raw outputs -> (point distribution or None, class probabilities), before calibration."""
        if formulation == "multiclass":
            return None, softmax(raw, axis=1)
        dist = apply_cutpoints(raw, link) if formulation == "regression" else cumulative_to_distribution(expit(raw))
        return dist, class_probabilities(dist, self.scale)

    @_THREADPOOLS.wrap(limits=1, user_api="blas")  # tiny optimisations: BLAS threads only contend with LightGBM
    def _stage2_fit(self, formulation: str, raw: np.ndarray, score: np.ndarray, w: np.ndarray):
        link = fit_cutpoints(raw, score, w, self.scale) if formulation == "regression" else None
        _, proba = self._base(formulation, raw, link)
        calibrator = fit_vector_scaling(proba, score_to_class(score, self.scale), w) if self.cfg.calibrate else None
        return link, calibrator

    def _stage2_apply(self, formulation: str, raw: np.ndarray, link, calibrator):
        dist, proba = self._base(formulation, raw, link)
        calibrated = apply_vector_scaling(proba, calibrator)
        if dist is not None:
            dist = rescale_within_classes(dist, proba, calibrated, self.scale)
        return dist, calibrated

    # ------------------------------------------------------------------ fitting
    def _cross_validate(self, formulation: str, X, score, w, folds, strata) -> dict[str, Any]:
        """OOF raw outputs, round counts, and OOF predictions with a cross-fitted stage 2."""
        raw_parts, rounds, constants = [], [], []
        for label, objective in self._targets(formulation, score):
            constant = self._constant_logit(label, w, objective)
            if constant is not None:
                raw_parts.append(np.full(len(label), constant))
                rounds.append(0)
                constants.append(constant)
                continue
            params = lgbm_params(self.cfg.params, self.seed, **objective)
            oof, n_rounds = cross_fit(X, label, w, params, self.cfg.params.n_estimators, folds, strata,
                                      self.cfg.early_stopping_rounds, self.seed)
            raw_parts.append(oof)
            rounds.append(n_rounds)
            constants.append(None)
        raw = self._raw(formulation, raw_parts)
        dist = np.zeros((len(score), self.scale.n_points)) if formulation != "multiclass" else None
        proba = np.zeros((len(score), 3))
        for k in np.unique(folds):
            other, this = folds != k, folds == k
            link, calibrator = self._stage2_fit(formulation, raw[other], score[other], w[other])
            d, proba[this] = self._stage2_apply(formulation, raw[this], link, calibrator)
            if dist is not None:
                dist[this] = d
        return {"raw": raw, "rounds": rounds, "constants": constants, "dist": dist, "proba": proba}

    def _constant_logit(self, label: np.ndarray, w: np.ndarray, objective: dict) -> float | None:
        """A cumulative threshold with (almost) no rows on one side gets a constant smoothed logit, not a model."""
        if objective["objective"] != "binary":
            return None
        minority = min(int(label.sum()), int(len(label) - label.sum()))
        if minority >= max(10, self.cfg.params.min_child_samples):
            return None
        rate = (np.sum(w * label) + 0.5) / (np.sum(w) + 1.0)
        return float(logit(rate))

    def _metrics(self, score, w, dist, proba, offsets) -> dict[str, float]:
        pred = np.argmax(np.log(np.clip(proba, EPS, 1)) + offsets, axis=1)
        return nps_metrics(score_to_class(score, self.scale), proba, pred, w, score,
                           self._expected_score(dist, proba))

    def _expected_score(self, dist: np.ndarray | None, proba: np.ndarray) -> np.ndarray:
        if dist is not None:
            return dist @ np.array(self.scale.points, dtype=float)
        return proba @ np.asarray(self.class_mean_score_)

    def fit(self, X: pd.DataFrame, score: np.ndarray, sample_weight: np.ndarray | None = None) -> NpsModel:
        """Cross-validate the configured formulation(s), keep the best, fit it on all rows, calibrate, tune."""
        score = self._check_score(X, score)
        w = np.ones(len(score)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if w.shape != score.shape or not np.all(np.isfinite(w)) or w.min() < 0 or w.sum() <= 0:
            raise InputError(f"sample_weight must be {len(score)} finite non-negative numbers with a positive sum")
        w = w / w.mean()
        y = score_to_class(score, self.scale)
        self.feature_names_ = list(X.columns)
        points, point_class = np.array(self.scale.points), classes_of_points(self.scale)
        self.class_mean_score_ = [  # expected score of the multiclass formulation; class midpoint if unseen
            float(np.average(score[y == c], weights=w[y == c])) if w[y == c].sum() > 0
            else float(points[point_class == c].mean())
            for c in range(3)
        ]
        strata = y
        folds = fold_ids(strata, self.cfg.cv_folds, self.seed)
        candidates = FORMULATIONS if self.cfg.formulation == "auto" else (self.cfg.formulation,)
        fits, self.selection_ = {}, {}
        for formulation in candidates:
            fits[formulation] = f = self._cross_validate(formulation, X, score, w, folds, strata)
            f["offsets"] = tune_offsets(f["proba"], y, w, self.cfg.thresholds)
            self.selection_[formulation] = self._metrics(score, w, f["dist"], f["proba"], f["offsets"])
        metric = self.cfg.selection_metric
        sign = 1 if metric in LOWER_IS_BETTER else -1
        self.formulation_ = min(candidates, key=lambda f: sign * self.selection_[f][metric]
                                if np.isfinite(self.selection_[f][metric]) else np.inf)
        chosen = fits[self.formulation_]

        # final boosters on every respondent, with the cross-validated round counts
        self.boosters_, self.constants_, self.rounds_ = [], chosen["constants"], chosen["rounds"]
        for (label, objective), constant, rounds in zip(self._targets(self.formulation_, score),
                                                       chosen["constants"], chosen["rounds"]):
            self.boosters_.append(None if constant is not None else train_booster(
                X, label, w, lgbm_params(self.cfg.params, self.seed, **objective), rounds))
        self.link_, self.calibrator_ = self._stage2_fit(self.formulation_, chosen["raw"], score, w)
        self.offsets_ = chosen["offsets"]

        self.oof_ = self._frame(X.index, chosen["dist"], chosen["proba"])
        self.cv_metrics_ = self._metrics(score, w, chosen["dist"], chosen["proba"], self.offsets_)
        unweighted = self._metrics(score, np.ones(len(score)), chosen["dist"], chosen["proba"], self.offsets_)
        self.cv_metrics_.update({f"respondents_{k}": v for k, v in unweighted.items()})
        self.reliability_ = {
            "respondents": reliability_table(y == 0, chosen["proba"][:, 0]).to_dict(orient="records"),
            "weighted_population": reliability_table(y == 0, chosen["proba"][:, 0], sample_weight=w)
            .to_dict(orient="records"),
        }
        return self

    def _check_score(self, X: pd.DataFrame, score) -> np.ndarray:
        s = np.asarray(score, dtype=float)
        if len(s) != len(X):
            raise InputError(f"NPS model: {len(X)} feature rows but {len(s)} scores")
        bad = ~np.isfinite(s) | (s < self.scale.min) | (s > self.scale.max) | (s != np.round(s))
        if bad.any():
            ids = ", ".join(str(i) for i in X.index[bad][:5])
            raise InputError(
                f"NPS model: {int(bad.sum())} scores are missing, not whole numbers or outside the scale "
                f"{self.scale.min}..{self.scale.max} (customers {ids}); fix the survey table or `scale` in the config"
            )
        classes = np.unique(score_to_class(s, self.scale))
        if len(classes) < 2 or len(s) < 2 * self.cfg.cv_folds:
            raise InputError(f"NPS model: need at least {2 * self.cfg.cv_folds} respondents in at least two classes, "
                             f"got {len(s)} in {len(classes)}")
        return s.astype(int)

    # ------------------------------------------------------------------ prediction
    def _frame(self, index: pd.Index, dist: np.ndarray | None, proba: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame(proba, index=index, columns=[f"p_{c}" for c in CLASSES])
        out.insert(0, "predicted_score", self._expected_score(dist, proba))
        decision = np.argmax(np.log(np.clip(proba, EPS, 1.0)) + self.offsets_, axis=1)
        out["predicted_class"] = pd.array(np.asarray(CLASSES)[decision], dtype="str")
        if dist is not None:
            for j, k in enumerate(self.scale.points):
                out[f"p_score_{k}"] = dist[:, j]
        return out

    def _raw_predict(self, X: pd.DataFrame, boosters: list, constants: list) -> np.ndarray:
        parts = [np.full(len(X), c) if b is None else b.predict(X, raw_score=True) for b, c in zip(boosters, constants)]
        return self._raw(self.formulation_, parts)

    def _features(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise InputError(f"NPS model: {len(missing)} feature column(s) missing from the data to score, e.g. "
                             f"{missing[:5]}; transform the data with the bundle's feature manifest")
        return X[self.feature_names_]

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per customer: predicted_score, p_detractor/p_passive/p_promoter, predicted_class, p_score_<k>."""
        raw = self._raw_predict(self._features(X), self.boosters_, self.constants_)
        dist, proba = self._stage2_apply(self.formulation_, raw, self.link_, self.calibrator_)
        return self._frame(X.index, dist, proba)

    def detractor_booster(self) -> tuple[lgb.Booster, int | None]:
        """Booster whose raw output increases with detraction risk, plus the class index for multiclass.

        multiclass: the softmax booster and class 0 ('detractor'); regression: the dissatisfaction (scale.max - score) model; ordinal: the P(score <=
        detractor_max) model. Raw outputs are before calibration (a monotone-ish map, same direction).
        """
        if self.formulation_ == "multiclass":
            return self.boosters_[0], 0
        if self.formulation_ == "regression":
            return self.boosters_[0], None
        booster = self.boosters_[self.scale.points.index(self.scale.detractor_max)]
        if booster is None:
            raise InputError("NPS model: too few detractors or non-detractors to train a detractor model")
        return booster, None

    # ------------------------------------------------------------------ bootstrap support
    def refit_class_probabilities(self, X: pd.DataFrame, score: np.ndarray, weight_draws: Iterable[np.ndarray],
                                  X_new: pd.DataFrame, max_rounds: int | None = None) -> Iterator[np.ndarray]:
        """For each weight vector (e.g. bootstrap counts x response weights), refit the class-deciding boosters
        (no CV), apply the fitted stage 2 to X_new and yield class probabilities (n_new, 3).

        The ordinal formulation refits only its two class-cut models (<= detractor_max, <= promoter_min - 1),
        the only ones the class probabilities depend on. Binned data sets are built once and reused. With
        `max_rounds`, a booster fitted with more rounds is refitted as a cheaper copy: `max_rounds` rounds with
        the learning rate scaled up by the same factor (same total step size).
        """
        X, X_new = self._features(X), self._features(X_new)
        score = np.asarray(score, dtype=int)
        targets = self._targets(self.formulation_, score)
        used = range(len(targets))
        if self.formulation_ == "ordinal":
            used = sorted({self.scale.points.index(self.scale.detractor_max),
                           self.scale.points.index(self.scale.promoter_min - 1)})
        rounds = {j: self.rounds_[j] if not max_rounds else min(self.rounds_[j], max_rounds) for j in used}
        params = {j: lgbm_params(self.cfg.params, self.seed, **targets[j][1],
                                 learning_rate=self.cfg.params.learning_rate * self.rounds_[j] / max(rounds[j], 1))
                  for j in used}
        datasets = {j: lgb.Dataset(X, label=targets[j][0], params=params[j], free_raw_data=False).construct()
                    for j in used if self.boosters_[j] is not None}
        for weights in weight_draws:
            w = np.asarray(weights, dtype=float)
            w = w / w.mean()
            parts = {}
            for j in used:
                if self.boosters_[j] is None:
                    parts[j] = np.full(len(X_new), self.constants_[j])
                    continue
                datasets[j].set_weight(w)
                booster = lgb.train(params[j], datasets[j], num_boost_round=rounds[j])
                parts[j] = booster.predict(X_new, raw_score=True)
            if self.formulation_ == "ordinal":
                d, p = parts[used[0]], parts[used[-1]]
                cdf_det, cdf_pass = expit(d), np.maximum(expit(p), expit(d))
                proba = np.column_stack([cdf_det, cdf_pass - cdf_det, 1 - cdf_pass])
                yield apply_vector_scaling(proba, self.calibrator_)
            else:
                yield self._stage2_apply(self.formulation_, parts[0], self.link_, self.calibrator_)[1]

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """LightGBM text files nps_<j>.txt plus nps.json (no pickle)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = []
        for j, booster in enumerate(self.boosters_):
            files.append(None if booster is None else f"nps_{j}.txt")
            if booster is not None:
                booster.save_model(str(directory / files[-1]))
        meta = {
            "format_version": FORMAT_VERSION,
            "formulation": self.formulation_,
            "scale": self.scale.model_dump(),
            "config": self.cfg.model_dump(mode="json"),
            "seed": self.seed,
            "feature_names": self.feature_names_,
            "booster_files": files,
            "constants": self.constants_,
            "rounds": self.rounds_,
            "link": self.link_,
            "calibrator": self.calibrator_,
            "offsets": self.offsets_.tolist(),
            "class_mean_score": self.class_mean_score_,
            "cv_metrics": self.cv_metrics_,
            "selection": self.selection_,
            "reliability": self.reliability_,
        }
        (directory / "nps.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> NpsModel:
        directory = Path(directory)
        meta = read_component_meta(directory / "nps.json", "NPS model", FORMAT_VERSION)
        model = cls(Scale(**meta["scale"]), NpsModelConfig(**meta["config"]), meta["seed"])
        model.formulation_ = meta["formulation"]
        model.feature_names_ = meta["feature_names"]
        model.boosters_ = [None if f is None else lgb.Booster(model_file=str(directory / f))
                           for f in meta["booster_files"]]
        model.constants_, model.rounds_ = meta["constants"], meta["rounds"]
        model.link_, model.calibrator_ = meta["link"], meta["calibrator"]
        model.offsets_ = np.asarray(meta["offsets"], dtype=float)
        model.class_mean_score_ = meta["class_mean_score"]
        model.cv_metrics_, model.selection_ = meta["cv_metrics"], meta["selection"]
        model.reliability_ = meta["reliability"]
        return model
