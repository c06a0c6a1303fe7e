"""NPS model: calibrated class probabilities, a score distribution and a class decision for every customer.

Why this shape:
- Model selection that is never worse than plain. Which LightGBM settings suit a survey depends on the number of
  respondents and on how the answers relate to behaviour, so `candidates="auto"` cross-validates a small, fixed
  set (models/candidates.py: the set, the rule and how they were chosen) beside the configured model, whose
  defaults ARE plain LightGBM (100 rounds, learning rate 0.1, 31 leaves), and keeps one.
- Formulations (multiclass, regression with a cut-point link, ordinal) and their stage 2: models/formulations.py.
- Trees are grown on the respondents as they are (`sample_weight` is honoured but the pipeline passes none):
  under missing-at-random the answer given behaviour is the same for respondents and the silent, and weighting
  trees only adds variance. `population_weight` (the response weights) instead weights what is fitted on top of
  the trees ("stage 2": cut points and a vector-scaling calibrator, fitted on cross-fitted out-of-fold (OOF)
  predictions), the class decision, the selection and the reported metrics, so probabilities are calibrated for
  the customers they are applied to. The population NPS does not rely on the calibration: estimation.population
  corrects it with the respondents' residuals.
- `oof_`: the kept candidate's out-of-fold predictions (stage 2 cross-fitted too), for the decision offsets
  (weighted macro-F1 or recall targets, not argmax) and the population estimate's residuals. `held_out_`: the
  predictions no choice saw (models/held_out.py), for `cv_metrics_` (interval: `cv_intervals_`), the
  reliability tables and the signal check: when the interval of their detractor AUC includes 0.5, `no_signal_`
  is set (the headline is then the weighted respondent NPS; per-customer classes are flagged unreliable).
- `cross_fitted_proba(X)` predicts new rows (the silent customers) with the fold models of the chosen candidate
  (their mean, or one fold model per row), so the population estimate's predictions and residuals come from the
  same models. Fold models are kept in
  memory only; a loaded model predicts with the final boosters.
- Saved as LightGBM text files plus nps.json; nothing is pickled.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import ValidationError
from sklearn.base import clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from cxpredict import threads
from cxpredict.codes import code_labels
from cxpredict.config import CLASSES, NpsModelConfig, Scale, ThresholdConfig
from cxpredict.errors import ConfigError, InputError
from cxpredict.metrics import score_to_class
from cxpredict.models.base import (
    LgbmClassifier,
    check_choice,
    check_number,
    compiled_forest,
    features,
    keyword_init,
    labels_1d,
    raw_predictions,
    sample_weights,
)
from cxpredict.models.calibration import EPS, point_probabilities, point_shares, present_classes
from cxpredict.models.candidates import CandidateSearch
from cxpredict.models.components import (
    feature_meta,
    read_component_meta,
    set_feature_meta,
    write_component,
)
from cxpredict.models.formulations import FORMULATIONS, stage2_apply, stage2_fit
from cxpredict.models.held_out import decide, held_out_report
from cxpredict.models.lgbm import check_lgbm_keywords, fold_ids, lgbm_keywords, train_booster

FORMAT_VERSION = 5  # 5: classes_ = scores, held-out metrics
SELECTION_METRICS = ("log_loss", "qwk", "macro_f1", "detractor_auc")
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
        raise AttributeError("predict_score_distribution: the multiclass formulation predicts the classes only; "
                             "fit with formulation='regression' or 'ordinal' for per-point probabilities")
    return True


def _can_cross_fit(model: NpsClassifier) -> bool:
    check_is_fitted(model)
    if not getattr(model, "fold_models_", None):
        raise AttributeError("cross_fitted_proba: the fold models exist only in the process that fitted the model "
                             "(they are not saved in the bundle)")
    return True


# --------------------------------------------------------------------------------------------- the model
def nps_keywords(cfg: NpsModelConfig) -> dict[str, Any]:
    """The NpsClassifier keywords a config's `nps` section gives (scale and seed aside)."""
    return dict(formulation=cfg.formulation, candidates=cfg.candidates, selection_metric=cfg.selection_metric,
                selection_rule=cfg.selection_rule, cv=cfg.cv_folds, early_stopping_rounds=cfg.early_stopping_rounds,
                decision=cfg.thresholds.objective, recall_targets=dict(cfg.thresholds.recall_targets) or None,
                calibrate=cfg.calibrate, screen_rows=cfg.contest.screen_rows,
                screen_folds=cfg.contest.screen_folds, **lgbm_keywords(cfg.params))


class NpsClassifier(CandidateSearch, LgbmClassifier):
    """Calibrated NPS classifier (scikit-learn contract) of survey scores `y`.

    `classes_` are the scores y held, `predict_proba` their probabilities, `predict` its argmax (scikit-learn's
    contract, so probabilistic scorers work); `class_names_` the NPS classes the scale has (no passive on a
    two-point scale), `predict_class_proba` their probabilities, `predict_class` the tuned class decision;
    `predict_score_distribution` every point's probability (not multiclass), `predict_frame` the scored file's,
    `cross_fitted_proba` out-of-fold-style predictions for new rows, `cross_validate` the metrics `fit` reports.
    Parameters: `scale` (a Scale or its fields; None = NPS 0-10), `formulation` of the configured model ("auto":
    multiclass and regression), `candidates` ("auto": the configured model and CANDIDATES compete; "configured":
    only the configured model), `selection_metric` and `selection_rule` ("one_se": the simplest candidate within
    one paired standard error of the best log loss; "best"), `cv` folds, `early_stopping_rounds` of the configured
    model (None: off), `decision` ("macro_f1", "recall_targets" with `recall_targets` {class: recall}, "argmax"),
    `calibrate`, LightGBM's parameters by their scikit-learn names plus `extra_params`, `screen_rows` and
    `screen_folds` (models/candidates.py), `random_state`.
    """

    # the defaults are those of the config section, written once there
    __init__ = keyword_init(scale=None, **nps_keywords(NpsModelConfig()), random_state=0)

    @classmethod
    def from_config(cls, cfg: NpsModelConfig, scale: Scale | None = None, seed: int = 0, **overrides) -> NpsClassifier:
        """The estimator a config's `nps` section (and `scale`, `seed`) describes."""
        return cls(**{**nps_keywords(cfg), "scale": scale, "random_state": seed, **overrides})

    def _check_params(self) -> ThresholdConfig:
        check_choice(self, "formulation", ("auto", *FORMULATIONS))
        check_choice(self, "candidates", ("auto", "configured"))
        check_choice(self, "selection_metric", SELECTION_METRICS)
        check_choice(self, "selection_rule", ("one_se", "best"))
        check_number(self, "cv", 2, integer=True)
        check_number(self, "early_stopping_rounds", 1, integer=True, optional=True)
        check_choice(self, "calibrate", (True, False))
        check_lgbm_keywords(self)
        try:
            return ThresholdConfig(objective=self.decision, recall_targets=self.recall_targets or {})
        except ValidationError as e:
            raise ConfigError(f"NpsClassifier: decision={self.decision!r} / recall_targets={self.recall_targets!r}"
                              f" are not valid: {e}") from None

    def _cross_validated(self, X, y, sample_weight, population_weight):
        """Shared by fit and cross_validate: checked inputs, every candidate cross-fitted, the kept one, and the
        held-out predictions and metrics no choice saw (models/held_out.py)."""
        rule = self._check_params()
        self.scale_ = as_scale(self.scale)
        self.present_ = present_classes(self.scale_)
        X = features(self, X, reset=True)
        score = self._check_score(X, y)
        w_train = sample_weights(sample_weight, len(score), "NpsClassifier")
        w_pop = sample_weights(population_weight, len(score), "NpsClassifier (population_weight)")
        w_eval = w_pop if w_pop is not None else w_train
        w_eval = np.ones(len(score)) if w_eval is None else w_eval / w_eval.mean()
        w_train = None if w_train is None else w_train / w_train.mean()
        cls = score_to_class(score, self.scale_)
        self.class_mean_score_ = self._class_means(score, cls, w_eval)
        folds = fold_ids(cls, self.cv, self.random_state)
        fits, chosen, table, offsets, held = self._contest(X, score, cls, w_train, w_eval, folds, rule)
        f = fits[chosen] | {"offsets": offsets}
        # the diagnostic: the OOF metrics of the kept candidate, on the rows its choice saw (optimistic)
        selected = self._metrics(score, w_eval, f["dist"], f["proba"], f["offsets"])
        unweighted = self._metrics(score, np.ones(len(score)), f["dist"], f["proba"], f["offsets"])
        selected.update({f"respondents_{k}": v for k, v in unweighted.items()})
        return X, score, w_train, w_eval, cls, f, table, selected, held

    def cross_validate(self, X, y, sample_weight=None, population_weight=None) -> dict[str, Any]:
        """The cross-validated (out-of-fold) metrics `fit` reports in `cv_metrics_`, weighted by
        `population_weight`, plus the kept `candidate`, without fitting the final boosters: the objective
        `cxpredict tune` optimises. Works on a clone: this estimator is left as it was."""
        *_, f, _, _, held = clone(self)._cross_validated(X, y, sample_weight, population_weight)
        return {**held["metrics"], "candidate": f["candidate"].name, "formulation": f["candidate"].formulation}

    def fit(self, X, y, sample_weight=None, population_weight=None) -> NpsClassifier:
        """Cross-validate the candidates, keep one (module doc), fit it on all rows, calibrate, tune the decision.

        y: survey scores on the scale. sample_weight: weights every step, trees included (scikit-learn's
        meaning). population_weight: e.g. the response weights (ResponsePropensity.weights()): weights stage 2,
        the decision, the selection and the metrics, not the trees.
        """
        X, score, w_train, w_eval, cls, chosen, self.selection_, self.selected_oof_metrics_, held = \
            self._cross_validated(X, y, sample_weight, population_weight)
        candidate = chosen["candidate"]
        self.candidate_ = asdict(candidate) | {"params": candidate.resolved(len(score))}
        self.formulation_ = candidate.formulation
        self.class_names_ = np.array(CLASSES)[self.present_]
        self.point_shares_ = point_shares(score, w_eval, self.scale_)
        params = self._native(candidate, len(score))
        self.boosters_, self.constants_, self.rounds_ = [], chosen["constants"], chosen["rounds"]
        for (label, objective), constant, rounds in zip(self._targets(self.formulation_, score),
                                                       chosen["constants"], chosen["rounds"]):
            self.boosters_.append(None if constant is not None else train_booster(
                X, label, w_train, {**params, **objective}, rounds))
        self.link_, self.calibrator_ = stage2_fit(self.formulation_, chosen["raw"], score, w_eval, self.scale_,
                                                  self.calibrate)
        self.offsets_ = chosen["offsets"]
        self.fold_models_, self.stage2_folds_ = chosen["fold_models"], chosen["stage2"]
        self._fold_forests = {}  # fold -> compiled forest of its models (or None), made by _fold_raw when first asked
        self.oof_ = self._frame(X.index, chosen["dist"], chosen["proba"])
        self.cv_metrics_, self.cv_intervals_, self.held_out_choices_ = \
            held["metrics"], held["intervals"], held["choices"]
        report = held_out_report(held, cls, w_eval, X.index)
        self.held_out_, self.reliability_ = report["frame"], report["reliability"]
        self.signal_, self.no_signal_ = report["signal"], report["no_signal"]
        return self

    def _check_score(self, X: pd.DataFrame, score) -> np.ndarray:
        s = y = labels_1d(score, len(X), "NpsClassifier")
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
        self.classes_ = np.unique(y)  # scikit-learn's contract: the values of y (the scores given), as given
        return s.astype(int)

    # ------------------------------------------------------------------ prediction
    def _frame(self, index: pd.Index, dist: np.ndarray | None, proba: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame(proba, index=index, columns=[f"p_{c}" for c in CLASSES])
        out.insert(0, "predicted_score", self._expected_score(dist, proba))
        out["predicted_class"] = code_labels(self._decide(proba), CLASSES)
        if dist is not None:
            for j, k in enumerate(self.scale_.points):
                out[f"p_score_{k}"] = dist[:, j]
        return out

    def _decide(self, proba: np.ndarray) -> np.ndarray:
        return decide(proba, self.offsets_)

    def _predict(self, X) -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray]:
        check_is_fitted(self)
        X = features(self, X, reset=False, hint=FEATURE_HINT)
        parts = [np.full(len(X), c) if p is None else p
                 for p, c in zip(self.booster_predictions(X, raw_score=True), self.constants_)]
        raw = self._raw(self.formulation_, parts)
        return X, *stage2_apply(self.formulation_, raw, self.link_, self.calibrator_, self.scale_)

    def _given_points(self, dist: np.ndarray | None, proba: np.ndarray) -> np.ndarray:
        """Probabilities of the scores in `classes_`, renormalised over them: a point no answer gave in training
        is not a label scikit-learn can score."""
        points = point_probabilities(dist, proba, self.point_shares_, self.scale_)
        given = points[:, np.searchsorted(np.array(self.scale_.points), np.asarray(self.classes_, dtype=float))]
        total = given.sum(axis=1, keepdims=True)
        return np.where(total > 0, given / np.maximum(total, EPS), 1.0 / given.shape[1])

    def predict_proba(self, X) -> np.ndarray:
        """Probability of every score in `classes_`, so scikit-learn's probabilistic scorers work; the NPS
        classes' probabilities: `predict_class_proba` or `predict_frame`."""
        _, dist, proba = self._predict(X)
        return self._given_points(dist, proba)

    def predict(self, X) -> np.ndarray:
        """The most probable score of `classes_` per row (scikit-learn: the argmax of `predict_proba`); the NPS
        class decision, tuned for macro-F1 or recall targets rather than argmax, is `predict_class`."""
        proba = self.predict_proba(X)  # first: checks the model is fitted
        return np.asarray(self.classes_)[np.argmax(proba, axis=1)]

    def predict_class_proba(self, X) -> np.ndarray:
        """Calibrated NPS class probabilities, columns in `class_names_` order (detractor, [passive,] promoter)."""
        return self._predict(X)[2][:, self.present_]

    def predict_class(self, X) -> np.ndarray:
        """NPS class names from the tuned decision offsets (not argmax)."""
        return np.asarray(CLASSES)[self._decide(self._predict(X)[2])]

    @available_if(_has_distribution)
    def predict_score_distribution(self, X) -> np.ndarray:
        """Probability of every scale point (n, scale.n_points), consistent with `predict_proba`."""
        return self._predict(X)[1]

    @threads.serial_blas_calls  # thin products (rows x the scale's points): a second BLAS thread only spins
    def predict_frame(self, X) -> pd.DataFrame:
        """The scored file's NPS columns (index of X): predicted_score, p_detractor/p_passive/p_promoter,
        predicted_class, class_reliable (False when the model found no signal, `no_signal_`) and, unless
        multiclass, p_score_<k>."""
        X, dist, proba = self._predict(X)
        out = self._frame(X.index, dist, proba)
        out.insert(out.columns.get_loc("predicted_class") + 1, "class_reliable", not self.no_signal_)
        return out

    @available_if(_can_cross_fit)
    def cross_fitted_proba(self, X, folds: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (n, 3: detractor, passive, promoter) of new rows from the fold models, each with
        its fold's stage 2: the same models that gave the respondents' out-of-fold predictions. folds: None,
        the mean of every fold model; a fold number per row, that fold's model alone (each row is predicted
        once instead of once per fold: textbook cross-fitting, what the population estimate uses for many
        silent customers, estimation/population.py)."""
        X = features(self, X, reset=False, hint=FEATURE_HINT)
        n_folds = len(next(m for m in self.fold_models_ if m is not None))
        if folds is not None and (len(folds) != len(X) or np.any((folds < 0) | (folds >= n_folds))):
            raise InputError(f"cross_fitted_proba: folds must give a fold number 0..{n_folds - 1} for each of the "
                             f"{len(X)} rows")
        total = np.zeros((len(X), 3))
        for k in range(n_folds):
            rows = np.arange(len(X)) if folds is None else np.flatnonzero(folds == k)
            if len(rows) == 0:
                continue
            parts = self._fold_raw(k, X if folds is None else X.iloc[rows])
            link, calibrator = self.stage2_folds_[k]
            total[rows] += stage2_apply(self.formulation_, self._raw(self.formulation_, parts), link, calibrator,
                                        self.scale_)[1]
        return total / n_folds if folds is None else total

    def _fold_raw(self, k: int, X: pd.DataFrame) -> list[np.ndarray]:
        """Raw scores of fold k's models (a constant where a target has none), from one compiled forest of them
        (LightGBM's to the bit), built at the fold's first call after `fit`; LightGBM where the forest does not
        take them."""
        live = [models[k] for models in self.fold_models_ if models is not None]
        boosters, rounds = [b for b, _ in live], [n for _, n in live]
        if k not in self._fold_forests:
            self._fold_forests[k] = compiled_forest(self, boosters, rounds)
        raw = iter(raw_predictions(self._fold_forests[k], boosters, X, rounds))
        return [np.full(len(X), c) if models is None else next(raw)
                for models, c in zip(self.fold_models_, self.constants_)]

    def detractor_booster(self) -> tuple[lgb.Booster, int | None]:
        """Booster whose raw output increases with detraction risk, plus the class index for multiclass.

        multiclass: the softmax booster and class 0 ('detractor') (a two-point scale: the binary detractor model);
        regression: the dissatisfaction (scale.max - score) model; ordinal: the P(score <= detractor_max) model.
        Raw outputs are before calibration.
        """
        if self.formulation_ == "multiclass":
            return self.boosters_[0], 0 if self.present_[1] else None
        if self.formulation_ == "regression":
            return self.boosters_[0], None
        booster = self.boosters_[self.scale_.points.index(self.scale_.detractor_max)]
        if booster is None:
            raise InputError("NPS model: too few detractors or non-detractors to train a detractor model")
        return booster, None

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """LightGBM text files nps_<j>.txt plus nps.json (no pickle; the fold models are not saved)."""
        check_is_fitted(self)
        files = [None if b is None else f"nps_{j}.txt" for j, b in enumerate(self.boosters_)]
        meta = {
            "format_version": FORMAT_VERSION, "params": {**self.get_params(), "scale": self.scale_.model_dump()},
            "formulation": self.formulation_, "candidate": self.candidate_, **feature_meta(self),
            "booster_files": files, "constants": self.constants_, "rounds": self.rounds_, "link": self.link_,
            "calibrator": self.calibrator_, "offsets": self.offsets_.tolist(),
            "class_mean_score": self.class_mean_score_, "classes": self.classes_.tolist(),
            "point_shares": self.point_shares_.tolist(), "cv_metrics": self.cv_metrics_,
            "cv_intervals": self.cv_intervals_, "held_out_choices": self.held_out_choices_,
            "selected_oof_metrics": self.selected_oof_metrics_, "selection": self.selection_,
            "reliability": self.reliability_, "signal": self.signal_, "no_signal": self.no_signal_,
        }
        write_component(directory, "nps.json", meta, {f: b for f, b in zip(files, self.boosters_) if b is not None})

    @classmethod
    def load(cls, directory: Path) -> NpsClassifier:
        directory = Path(directory)
        meta = read_component_meta(directory / "nps.json", "NPS model", FORMAT_VERSION)
        model = cls(**meta["params"])
        model.scale_ = as_scale(model.scale)
        model.present_ = present_classes(model.scale_)
        model.class_names_ = np.array(CLASSES)[model.present_]
        model.classes_, model.point_shares_ = np.asarray(meta["classes"]), np.asarray(meta["point_shares"], float)
        model.formulation_, model.candidate_ = meta["formulation"], meta["candidate"]
        set_feature_meta(model, meta)
        model.boosters_ = [None if f is None else lgb.Booster(model_file=str(directory / f))
                           for f in meta["booster_files"]]
        model.constants_, model.rounds_ = meta["constants"], meta["rounds"]
        model.link_, model.calibrator_ = meta["link"], meta["calibrator"]
        model.offsets_ = np.asarray(meta["offsets"], dtype=float)
        model.class_mean_score_ = meta["class_mean_score"]
        model.cv_metrics_, model.cv_intervals_, model.selection_ = meta["cv_metrics"], meta["cv_intervals"], \
            meta["selection"]
        model.held_out_choices_, model.selected_oof_metrics_ = meta["held_out_choices"], meta["selected_oof_metrics"]
        model.reliability_, model.signal_, model.no_signal_ = meta["reliability"], meta["signal"], meta["no_signal"]
        model.fold_models_ = model.stage2_folds_ = None
        return model
