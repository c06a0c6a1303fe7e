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

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import ValidationError
from scipy.special import expit, logit
from sklearn.base import clone
from sklearn.metrics import accuracy_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from cxpredict.config import CLASSES, NpsModelConfig, Scale, ThresholdConfig
from cxpredict.errors import ConfigError, InputError
from cxpredict.metrics import nps_metrics, reliability_table, score_to_class
from cxpredict.models.base import (
    LgbmClassifier,
    check_choice,
    check_number,
    features,
    labels_1d,
    sample_weights,
    store_params,
)
from cxpredict.models.calibration import (
    EPS,
    apply_vector_scaling,
    classes_of_points,
    stage2_apply,
    stage2_fit,
    tune_offsets,
)
from cxpredict.models.components import feature_meta, read_component_meta, set_feature_meta, write_component
from cxpredict.models.lgbm import check_lgbm_keywords, cross_fit, fold_ids, lgbm_keywords, lgbm_params, train_booster

FORMAT_VERSION = 3
FORMULATIONS = ("multiclass", "regression", "ordinal")
SELECTION_METRICS = ("log_loss", "qwk", "macro_f1", "detractor_auc")
LOWER_IS_BETTER = {"log_loss"}
FEATURE_HINT = "; transform the data with the bundle's feature manifest"


def as_scale(scale) -> Scale:
    """A Scale from a Scale, a mapping of its fields, or None (NPS 0-10)."""
    if scale is None or isinstance(scale, Scale):
        return scale or Scale()
    try:
        return Scale(**dict(scale))
    except (TypeError, ValueError, ValidationError) as e:
        raise ConfigError(f"NpsClassifier: scale={scale!r} is not a scale ({e}); pass e.g. "
                          "{'min': 0, 'max': 10, 'detractor_max': 6, 'promoter_min': 9}") from None


def _has_distribution(model: NpsClassifier) -> bool:
    check_is_fitted(model)
    if model.formulation_ == "multiclass":
        raise AttributeError("predict_score_distribution: the multiclass formulation predicts the three classes "
                             "only; fit with formulation='regression' or 'ordinal' for per-point probabilities")
    return True


# --------------------------------------------------------------------------------------------- the model
class NpsClassifier(LgbmClassifier):
    """Calibrated NPS classifier (scikit-learn contract) of survey scores `y`.

    `classes_` are the NPS classes; `predict_proba` gives their probabilities (n, 3), `predict` the tuned class
    decision, `predict_score_distribution` the per-point probabilities (not for multiclass), `predict_frame` the
    scored file's NPS columns, `cross_validate` the metrics `fit` reports in `cv_metrics_`.
    Parameters: `scale` (a Scale or its fields; None = NPS 0-10), `formulation` ("auto" or one of FORMULATIONS),
    `selection_metric` (kept by "auto"), `cv` folds, `early_stopping_rounds` (None: off), `decision`
    ("macro_f1", "recall_targets" with `recall_targets` {class: recall}, "argmax"), `calibrate`, LightGBM's
    parameters by their scikit-learn names plus `extra_params`, `random_state`.
    """

    def __init__(self, *, scale=None, formulation="auto", selection_metric="log_loss", cv=5,
                 early_stopping_rounds=50, decision="macro_f1", recall_targets=None, calibrate=True,
                 n_estimators=300, learning_rate=0.05, num_leaves=31, min_child_samples=20, subsample=1.0,
                 subsample_freq=0, colsample_bytree=1.0, reg_lambda=0.0, reg_alpha=0.0, max_depth=-1, n_jobs=2,
                 extra_params=None, random_state=0):
        store_params(self, locals())

    @classmethod
    def from_config(cls, cfg: NpsModelConfig, scale: Scale | None = None, seed: int = 0, **overrides) -> NpsClassifier:
        """The estimator a config's `nps` section (and `scale`, `seed`) describes."""
        section = dict(scale=scale, formulation=cfg.formulation, selection_metric=cfg.selection_metric,
                       cv=cfg.cv_folds, early_stopping_rounds=cfg.early_stopping_rounds,
                       decision=cfg.thresholds.objective, recall_targets=dict(cfg.thresholds.recall_targets) or None,
                       calibrate=cfg.calibrate)
        return cls(**{**section, **lgbm_keywords(cfg.params), "random_state": seed, **overrides})


    def _check_params(self) -> ThresholdConfig:
        check_choice(self, "formulation", ("auto", *FORMULATIONS))
        check_choice(self, "selection_metric", SELECTION_METRICS)
        check_number(self, "cv", 2, integer=True)
        check_number(self, "early_stopping_rounds", 1, integer=True, optional=True)
        check_choice(self, "calibrate", (True, False))
        check_lgbm_keywords(self)
        try:
            return ThresholdConfig(objective=self.decision, recall_targets=self.recall_targets or {})
        except ValidationError as e:
            raise ConfigError(f"NpsClassifier: decision={self.decision!r} / recall_targets={self.recall_targets!r}"
                              f" are not valid: {e}") from None

    # ------------------------------------------------------------------ targets per formulation
    def _targets(self, formulation: str, score: np.ndarray) -> list[tuple[np.ndarray, dict]]:
        """(label, LightGBM objective) per booster; raw outputs increase with dissatisfaction (multiclass: class 0)."""
        if formulation == "multiclass":
            return [(score_to_class(score, self.scale_), {"objective": "multiclass", "num_class": 3})]
        if formulation == "regression":
            return [((self.scale_.max - score).astype(float), {"objective": "regression"})]
        return [((score <= k).astype(float), {"objective": "binary"}) for k in self.scale_.points[:-1]]

    def _raw(self, formulation: str, raw_parts: list[np.ndarray]) -> np.ndarray:
        return raw_parts[0] if formulation != "ordinal" else np.column_stack(raw_parts)

    # ------------------------------------------------------------------ fitting
    def _cross_fit(self, formulation: str, X, score, w, folds, strata) -> dict[str, Any]:
        """OOF raw outputs, round counts, and OOF predictions with a cross-fitted stage 2."""
        raw_parts, rounds, constants = [], [], []
        for label, objective in self._targets(formulation, score):
            constant = self._constant_logit(label, w, objective)
            if constant is not None:
                raw_parts.append(np.full(len(label), constant))
                rounds.append(0)
                constants.append(constant)
                continue
            oof, n_rounds = cross_fit(X, label, w, lgbm_params(self, **objective), self.n_estimators, folds, strata,
                                      self.early_stopping_rounds, self.random_state)
            raw_parts.append(oof)
            rounds.append(n_rounds)
            constants.append(None)
        raw = self._raw(formulation, raw_parts)
        dist = np.zeros((len(score), self.scale_.n_points)) if formulation != "multiclass" else None
        proba = np.zeros((len(score), 3))
        for k in np.unique(folds):
            other, this = folds != k, folds == k
            link, calibrator = stage2_fit(formulation, raw[other], score[other], w[other], self.scale_, self.calibrate)
            d, proba[this] = stage2_apply(formulation, raw[this], link, calibrator, self.scale_)
            if dist is not None:
                dist[this] = d
        return {"raw": raw, "rounds": rounds, "constants": constants, "dist": dist, "proba": proba}

    def _constant_logit(self, label: np.ndarray, w: np.ndarray, objective: dict) -> float | None:
        """A cumulative threshold with (almost) no rows on one side gets a constant smoothed logit, not a model."""
        if objective["objective"] != "binary":
            return None
        minority = min(int(label.sum()), int(len(label) - label.sum()))
        if minority >= max(10, self.min_child_samples):
            return None
        rate = (np.sum(w * label) + 0.5) / (np.sum(w) + 1.0)
        return float(logit(rate))

    def _metrics(self, score, w, dist, proba, offsets) -> dict[str, float]:
        pred = np.argmax(np.log(np.clip(proba, EPS, 1)) + offsets, axis=1)
        return nps_metrics(score_to_class(score, self.scale_), proba, pred, w, score,
                           self._expected_score(dist, proba))

    def _expected_score(self, dist: np.ndarray | None, proba: np.ndarray) -> np.ndarray:
        if dist is not None:
            return dist @ np.array(self.scale_.points, dtype=float)
        return proba @ np.asarray(self.class_mean_score_)

    def _cross_validated(self, X, y, sample_weight):
        """Shared by fit and cross_validate: checked inputs, each candidate formulation cross-fitted, the best."""
        rule = self._check_params()
        self.scale_ = as_scale(self.scale)
        X = features(self, X, reset=True)
        score = self._check_score(X, y)
        w = sample_weights(sample_weight, len(score), "NpsClassifier")
        w = np.ones(len(score)) if w is None else w / w.mean()
        cls = score_to_class(score, self.scale_)
        points, point_class = np.array(self.scale_.points), classes_of_points(self.scale_)
        self.class_mean_score_ = [  # expected score of the multiclass formulation; class midpoint if unseen
            float(np.average(score[cls == c], weights=w[cls == c])) if w[cls == c].sum() > 0
            else float(points[point_class == c].mean())
            for c in range(3)
        ]
        folds = fold_ids(cls, self.cv, self.random_state)
        candidates = FORMULATIONS if self.formulation == "auto" else (self.formulation,)
        fits, selection = {}, {}
        for formulation in candidates:
            fits[formulation] = f = self._cross_fit(formulation, X, score, w, folds, cls)
            f["offsets"] = tune_offsets(f["proba"], cls, w, rule)
            selection[formulation] = self._metrics(score, w, f["dist"], f["proba"], f["offsets"])
        sign = 1 if self.selection_metric in LOWER_IS_BETTER else -1
        chosen = min(candidates, key=lambda f: sign * selection[f][self.selection_metric]
                     if np.isfinite(selection[f][self.selection_metric]) else np.inf)
        f = fits[chosen]
        cv_metrics = dict(selection[chosen])
        unweighted = self._metrics(score, np.ones(len(score)), f["dist"], f["proba"], f["offsets"])
        cv_metrics.update({f"respondents_{k}": v for k, v in unweighted.items()})
        return X, score, w, cls, chosen, f, selection, cv_metrics

    def cross_validate(self, X, y, sample_weight=None) -> dict[str, Any]:
        """The cross-validated (out-of-fold, weighted) metrics `fit` reports in `cv_metrics_`, plus the chosen
        `formulation`, without fitting the final boosters: the objective `cxpredict tune` optimises. Works on a
        clone: this estimator is left as it was."""
        *_, chosen, _, _, cv_metrics = clone(self)._cross_validated(X, y, sample_weight)
        return {**cv_metrics, "formulation": chosen}

    def fit(self, X, y, sample_weight=None) -> NpsClassifier:
        """Cross-validate the configured formulation(s), keep the best, fit it on all rows, calibrate, tune.

        y: survey scores on the scale; sample_weight: e.g. the response weights (ResponsePropensity.weights_).
        """
        X, score, w, cls, self.formulation_, chosen, self.selection_, self.cv_metrics_ = \
            self._cross_validated(X, y, sample_weight)
        self.classes_ = np.array(CLASSES)
        # final boosters on every respondent, with the cross-validated round counts
        self.boosters_, self.constants_, self.rounds_ = [], chosen["constants"], chosen["rounds"]
        for (label, objective), constant, rounds in zip(self._targets(self.formulation_, score),
                                                       chosen["constants"], chosen["rounds"]):
            self.boosters_.append(None if constant is not None else train_booster(
                X, label, w, lgbm_params(self, **objective), rounds))
        self.link_, self.calibrator_ = stage2_fit(self.formulation_, chosen["raw"], score, w, self.scale_, self.calibrate)
        self.offsets_ = chosen["offsets"]
        self.oof_ = self._frame(X.index, chosen["dist"], chosen["proba"])
        self.reliability_ = {
            "respondents": reliability_table(cls == 0, chosen["proba"][:, 0]).to_dict(orient="records"),
            "weighted_population": reliability_table(cls == 0, chosen["proba"][:, 0], sample_weight=w)
            .to_dict(orient="records"),
        }
        return self

    def _check_score(self, X: pd.DataFrame, score) -> np.ndarray:
        s = labels_1d(score, len(X), "NpsClassifier")
        try:
            s = s.astype(float)
        except (TypeError, ValueError):
            raise InputError(f"NpsClassifier: Unknown label type: the target must be survey scores (numbers on the "
                             f"scale {self.scale_.min}..{self.scale_.max}), got {s.dtype} values") from None
        bad = ~np.isfinite(s) | (s < self.scale_.min) | (s > self.scale_.max) | (s != np.round(s))
        if bad.any():
            ids = ", ".join(str(i) for i in X.index[bad][:5])
            kind = "Unknown label type: continuous; " if np.any(np.isfinite(s) & (s != np.round(s))) else ""
            raise InputError(
                f"NpsClassifier: {kind}{int(bad.sum())} scores are missing, not whole numbers or outside the scale "
                f"{self.scale_.min}..{self.scale_.max} (customers {ids}); fix the survey table or `scale` in the config"
            )
        classes = np.unique(score_to_class(s, self.scale_))
        if len(classes) < 2 or len(s) < 2 * self.cv:
            raise InputError(f"NpsClassifier: need at least {2 * self.cv} samples in at least two classes; got "
                             f"n_samples={len(s)} in {len(classes)} class(es)")
        return s.astype(int)

    # ------------------------------------------------------------------ prediction
    def _frame(self, index: pd.Index, dist: np.ndarray | None, proba: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame(proba, index=index, columns=[f"p_{c}" for c in CLASSES])
        out.insert(0, "predicted_score", self._expected_score(dist, proba))
        out["predicted_class"] = pd.array(self.classes_[self._decide(proba)], dtype="str")
        if dist is not None:
            for j, k in enumerate(self.scale_.points):
                out[f"p_score_{k}"] = dist[:, j]
        return out

    def _decide(self, proba: np.ndarray) -> np.ndarray:
        return np.argmax(np.log(np.clip(proba, EPS, 1.0)) + self.offsets_, axis=1)

    def _raw_predict(self, X: pd.DataFrame, boosters: list, constants: list) -> np.ndarray:
        parts = [np.full(len(X), c) if b is None else b.predict(X, raw_score=True) for b, c in zip(boosters, constants)]
        return self._raw(self.formulation_, parts)

    def _predict(self, X) -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray]:
        check_is_fitted(self)
        X = features(self, X, reset=False, hint=FEATURE_HINT)
        raw = self._raw_predict(X, self.boosters_, self.constants_)
        return X, *stage2_apply(self.formulation_, raw, self.link_, self.calibrator_, self.scale_)

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities (n, 3), columns in `classes_` order (detractor, passive, promoter)."""
        return self._predict(X)[2]

    def predict(self, X) -> np.ndarray:
        """Class names from the tuned decision offsets (not argmax)."""
        decision = self._decide(self.predict_proba(X))
        return self.classes_[decision]

    @available_if(_has_distribution)
    def predict_score_distribution(self, X) -> np.ndarray:
        """Probability of every scale point (n, scale.n_points), consistent with `predict_proba`."""
        return self._predict(X)[1]

    def predict_frame(self, X) -> pd.DataFrame:
        """The scored file's NPS columns (index of X): predicted_score, p_detractor/p_passive/p_promoter,
        predicted_class and, unless multiclass, p_score_<k>."""
        X, dist, proba = self._predict(X)
        return self._frame(X.index, dist, proba)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of the predicted class against the class of the scores y."""
        truth = self.classes_[score_to_class(np.asarray(y, dtype=float), self.scale_)]
        return float(accuracy_score(truth, self.predict(X), sample_weight=sample_weight))

    def detractor_booster(self) -> tuple[lgb.Booster, int | None]:
        """Booster whose raw output increases with detraction risk, plus the class index for multiclass.

        multiclass: the softmax booster and class 0 ('detractor'); regression: the dissatisfaction (scale.max -
        score) model; ordinal: the P(score <= detractor_max) model. Raw outputs are before calibration.
        """
        if self.formulation_ == "multiclass":
            return self.boosters_[0], 0
        if self.formulation_ == "regression":
            return self.boosters_[0], None
        booster = self.boosters_[self.scale_.points.index(self.scale_.detractor_max)]
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
        X, X_new = features(self, X, reset=False, hint=FEATURE_HINT), features(self, X_new, reset=False,
                                                                                  hint=FEATURE_HINT)
        score = np.asarray(score, dtype=int)
        targets = self._targets(self.formulation_, score)
        used = range(len(targets))
        if self.formulation_ == "ordinal":
            used = sorted({self.scale_.points.index(self.scale_.detractor_max),
                           self.scale_.points.index(self.scale_.promoter_min - 1)})
        rounds = {j: self.rounds_[j] if not max_rounds else min(self.rounds_[j], max_rounds) for j in used}
        params = {j: lgbm_params(self, **targets[j][1],
                                 learning_rate=self.learning_rate * self.rounds_[j] / max(rounds[j], 1))
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
                yield stage2_apply(self.formulation_, parts[0], self.link_, self.calibrator_, self.scale_)[1]

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """LightGBM text files nps_<j>.txt plus nps.json (no pickle)."""
        check_is_fitted(self)
        files = [None if b is None else f"nps_{j}.txt" for j, b in enumerate(self.boosters_)]
        meta = {
            "format_version": FORMAT_VERSION, "params": {**self.get_params(), "scale": self.scale_.model_dump()}, "formulation": self.formulation_,
            **feature_meta(self), "booster_files": files, "constants": self.constants_, "rounds": self.rounds_,
            "link": self.link_, "calibrator": self.calibrator_, "offsets": self.offsets_.tolist(),
            "class_mean_score": self.class_mean_score_, "cv_metrics": self.cv_metrics_, "selection": self.selection_,
            "reliability": self.reliability_,
        }
        write_component(directory, "nps.json", meta, {f: b for f, b in zip(files, self.boosters_) if b is not None})

    @classmethod
    def load(cls, directory: Path) -> NpsClassifier:
        directory = Path(directory)
        meta = read_component_meta(directory / "nps.json", "NPS model", FORMAT_VERSION)
        model = cls(**meta["params"])
        model.scale_ = as_scale(model.scale)
        model.classes_ = np.array(CLASSES)
        model.formulation_ = meta["formulation"]
        set_feature_meta(model, meta)
        model.boosters_ = [None if f is None else lgb.Booster(model_file=str(directory / f))
                           for f in meta["booster_files"]]
        model.constants_, model.rounds_ = meta["constants"], meta["rounds"]
        model.link_, model.calibrator_ = meta["link"], meta["calibrator"]
        model.offsets_ = np.asarray(meta["offsets"], dtype=float)
        model.class_mean_score_ = meta["class_mean_score"]
        model.cv_metrics_, model.selection_ = meta["cv_metrics"], meta["selection"]
        model.reliability_ = meta["reliability"]
        return model
