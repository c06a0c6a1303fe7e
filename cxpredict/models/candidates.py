"""The NPS model's built-in candidates and the rule that keeps one (cxpredict/models/nps.py fits them).

Why these: on development data no benchmark uses (scripts/dev_nps_candidates.py, experiments/nps_candidates/),
plain LightGBM (the configured default) overfits a few hundred answers, while shallow or smooth ensembles overfit
less and a larger one wins only with many thousands of answers and strong non-linear signal; the set spans that
range at a bounded cost (fixed rounds, no early stopping, so the cross-validated losses are honest).

The rule: among the candidates whose response-weighted out-of-fold log loss is within one standard error of the
best one's, PAIRED (the standard error of the per-respondent loss differences, so the noise common to all
candidates cancels), keep the simplest, the one with the fewest leaves in its ensemble. With another selection
metric, or `selection_rule: best`, the best value wins.

With many answers the candidates compete on a stratified sample (`screen_rows`), cross-fitted on fewer folds
(`screen_folds`), and only the kept ones are cross-fitted on all answers (`CandidateSearch._contest` and
`_screening_folds` say why and what they keep honest).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np

from cxpredict import threads
from cxpredict.config import ThresholdConfig
from cxpredict.metrics import detractor_auc, nps_metrics, score_to_class
from cxpredict.models.base import check_number
from cxpredict.models.calibration import classes_of_points, tune_offsets
from cxpredict.models.formulations import (
    AUTO_FORMULATIONS,
    boosters_per_round,
    constant_logit,
    join_raw,
    stage2_apply,
    stage2_fit,
    targets,
)
from cxpredict.models.held_out import (
    bootstrap_intervals,
    decide,
    fold_mean_auc,
    held_out_predictions,
    log_losses,
)
from cxpredict.models.lgbm import LGBM_KEYS, FoldDatasets, cross_fit, fold_ids, lgbm_params, small_fit

LOWER_IS_BETTER = {"log_loss"}
MIN_SCREEN_ROWS = 1_000  # fewer would not tell the candidates apart (the screened sample's size: nps.contest)
DECISION_METRICS = ("qwk", "macro_f1")  # selection metrics of the class decision: offsets tuned per candidate


@dataclass(frozen=True)
class Candidate:
    """One model the selection may keep: a formulation and the LightGBM keywords it sets (the rest shared).

    min_child_samples "auto": a fiftieth of the training rows, kept within [5, 40], so a leaf never needs more
    rows than a few hundred respondents can give nor fits single answers of thousands."""

    name: str
    formulation: str
    params: dict[str, Any] = field(default_factory=dict)

    def resolved(self, n_rows: int) -> dict[str, Any]:
        params = dict(self.params)
        if params.get("min_child_samples") == "auto":
            params["min_child_samples"] = int(np.clip(n_rows / 50, 5, 40))
        return params


_SHALLOW = {"n_estimators": 600, "learning_rate": 0.02, "num_leaves": 3, "min_child_samples": "auto",
            "colsample_bytree": 0.8, "reg_lambda": 5.0}
_SMOOTH = {"n_estimators": 400, "learning_rate": 0.03, "num_leaves": 7, "min_child_samples": "auto",
           "colsample_bytree": 0.8, "reg_lambda": 1.0}
_LARGE = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
          "colsample_bytree": 0.8}
CANDIDATES = (
    Candidate("shallow-regression", "regression", _SHALLOW),
    Candidate("shallow-multiclass", "multiclass", _SHALLOW),
    Candidate("smooth-regression", "regression", _SMOOTH),
    Candidate("smooth-multiclass", "multiclass", _SMOOTH),
    Candidate("large-multiclass", "multiclass", _LARGE),
)


def select(table: list[dict[str, Any]], losses: list[np.ndarray], w: np.ndarray, metric: str, rule: str
           ) -> tuple[int, list[dict[str, Any]]]:
    """(index kept, table with loss_minus_best / se_of_difference / chosen) from one row per candidate holding
    `complexity` and the candidate's cross-validated `metric`; `losses` are the per-respondent log losses."""
    values = np.array([row[metric] for row in table], dtype=float)
    values = np.where(np.isfinite(values), values, np.inf if metric in LOWER_IS_BETTER else -np.inf)
    best = int(np.argmin(values if metric in LOWER_IS_BETTER else -values))
    chosen = best
    if rule == "one_se" and metric == "log_loss":
        within = []
        for i, loss in enumerate(losses):
            diff = loss - losses[best]
            mean = float(np.average(diff, weights=w))
            se = float(np.sqrt(np.sum(w**2 * (diff - mean) ** 2)) / w.sum())
            table[i].update({"loss_minus_best": mean, "se_of_difference": se})
            if mean <= se:
                within.append(i)
        chosen = min(within, key=lambda i: (table[i]["complexity"], i))
    for i, row in enumerate(table):
        row["chosen"] = i == chosen
    return chosen, table


class CandidateSearch:
    """NpsClassifier's cross-fitting of the candidates, the choice of one, and the held-out predictions that
    judge the choice (models/held_out.py): the parts of the estimator that run before its final fit."""

    def _candidates(self) -> list[Candidate]:
        """The configured model in its formulation(s), then the built-in set (duplicates of it dropped)."""
        configured = {k: getattr(self, k) for k in LGBM_KEYS if k != "n_jobs"}
        forms = AUTO_FORMULATIONS if self.formulation == "auto" else (self.formulation,)
        out = [Candidate(f"configured-{f}", f, configured) for f in forms]
        if self.candidates == "auto":
            out += [c for c in CANDIDATES if not any(c.formulation == o.formulation and
                                                     {**configured, **c.params} == o.params for o in out)]
        return out

    def _native(self, candidate: Candidate, n_rows: int, **objective) -> dict:
        """LightGBM's native parameters of a candidate: its keywords over the estimator's shared ones."""
        shared = {k: getattr(self, k) for k in LGBM_KEYS}
        keywords = SimpleNamespace(**{**shared, **candidate.resolved(n_rows)}, extra_params=self.extra_params,
                                   random_state=self.random_state)
        # one binned Dataset per fold serves candidates with different min_child_samples (lgbm.FoldDatasets)
        return lgbm_params(keywords, feature_pre_filter=False, **objective)

    def _targets(self, formulation: str, score: np.ndarray) -> list[tuple[np.ndarray, dict]]:
        return targets(formulation, score, self.scale_)

    def _raw(self, formulation: str, raw_parts: list[np.ndarray]) -> np.ndarray:
        return join_raw(formulation, raw_parts)

    def _complexity(self, candidate: Candidate, rounds: list[int]) -> int:
        """Leaves in the ensemble: the simplicity order of the one-standard-error rule."""
        leaves = int(candidate.params.get("num_leaves", self.num_leaves))
        return int(sum(rounds) * boosters_per_round(candidate.formulation, self.scale_) * leaves)

    # ------------------------------------------------------------------ fitting
    def _cross_fit(self, candidate: Candidate, X, score, w_train, w_eval, folds, datasets: FoldDatasets
                   ) -> dict[str, Any]:
        """OOF raw outputs, fold models, round counts, and OOF predictions with a cross-fitted stage 2; the
        boosters of every fold train on `datasets` (the folds' bins, shared by all candidates)."""
        boosted = self._boost(candidate, X, score, w_train, folds, datasets)
        return self._with_stage2(boosted, score, w_eval, folds)

    def _boost(self, candidate: Candidate, X, score, w_train, folds, datasets: FoldDatasets,
               n_jobs: int | None = None) -> dict[str, Any]:
        """The boosters' part of `_cross_fit` (OOF raw outputs, rounds, constants, fold models); `n_jobs`
        overrides the threads of each booster (the screening runs candidates side by side)."""
        formulation = candidate.formulation
        es = self.early_stopping_rounds if candidate.name.startswith("configured") else None
        n_rows = int(len(score) * (self.cv - 1) / self.cv)
        params = self._native(candidate, n_rows)
        if n_jobs is not None:
            params["num_threads"] = n_jobs
        max_rounds = int(candidate.resolved(n_rows).get("n_estimators", self.n_estimators))
        raw_parts, rounds, constants, fold_models = [], [], [], []
        for label, objective in self._targets(formulation, score):
            constant = constant_logit(label, w_train, objective, params["min_child_samples"])
            if constant is not None:
                raw_parts.append(np.full(len(label), constant))
                rounds.append(0)
                constants.append(constant)
                fold_models.append(None)
                continue
            oof, n_rounds, models = cross_fit(X, label, w_train, {**params, **objective}, max_rounds, folds,
                                              score_to_class(score, self.scale_), es, self.random_state,
                                              keep_models=True, datasets=datasets)
            raw_parts.append(oof)
            rounds.append(n_rounds)
            constants.append(None)
            fold_models.append(models)
        return {"candidate": candidate, "raw": self._raw(formulation, raw_parts), "rounds": rounds,
                "constants": constants, "fold_models": fold_models}

    def _with_stage2(self, boosted: dict[str, Any], score, w_eval, folds) -> dict[str, Any]:
        """`_boost`'s result with the OOF predictions of a stage 2 cross-fitted on the same folds."""
        formulation, raw = boosted["candidate"].formulation, boosted["raw"]
        dist = np.zeros((len(score), self.scale_.n_points)) if formulation != "multiclass" else None
        proba = np.zeros((len(score), 3))
        stage2 = {}
        for k in np.unique(folds):
            other, this = folds != k, folds == k
            stage2[k] = stage2_fit(formulation, raw[other], score[other], w_eval[other], self.scale_, self.calibrate)
            d, proba[this] = stage2_apply(formulation, raw[this], *stage2[k], self.scale_)
            if dist is not None:
                dist[this] = d
        return {**boosted, "dist": dist, "proba": proba, "stage2": stage2}

    def _screen(self, candidates: list[Candidate], X, score, w_train, w_eval, folds) -> list[dict[str, Any]]:
        """Every candidate cross-fitted on the screening sample. Its folds are small (lgbm.small_fit): the
        candidates' boosters run side by side (threads.split), each worker fitting its candidates' folds one after
        another with single-threaded boosters on its own binned folds, costliest candidates first; the boosters
        are those of one candidate at a time (the same models). Stage 2 follows in this thread (its BLAS limit is
        process-wide state)."""
        n_rows = int((folds >= 0).sum())
        workers, per_worker = 1, None
        if small_fit(n_rows, X.shape[1], len(np.unique(folds))):
            workers, per_worker = threads.split(len(candidates), threads.count(self.n_jobs))
        local = threading.local()

        def boost(i: int) -> dict[str, Any]:
            if not hasattr(local, "datasets"):
                local.datasets = FoldDatasets(X, w_train, folds)
            return self._boost(candidates[i], X, score, w_train, folds, local.datasets, per_worker)

        order = sorted(range(len(candidates)), key=lambda i: -self._cost(candidates[i], n_rows))
        boosted = dict(zip(order, threads.map_split(boost, order, workers)))
        return [self._with_stage2(boosted[i], score, w_eval, folds) for i in range(len(candidates))]

    def _screening_folds(self, cls: np.ndarray, folds: np.ndarray) -> np.ndarray:
        """The screening sample's folds: its rows' own folds when `screen_folds` >= `cv`, else `screen_folds`
        new class-stratified folds. Why fewer: a booster's cost is mostly per tree at the sample's size, so 3
        folds instead of 5 fit 3 boosters per candidate and target instead of 5 (about half the screening's
        CPU), while every sampled answer still gets an out-of-fold prediction, so the losses the choice compares
        have the standard error of the whole sample; the price is boosters trained on 2/3 of the sample instead
        of 4/5. The held-out choices stay honest: `choose` selects on the sampled rows outside a fold of `cv`
        whatever folds predicted them, as before."""
        if self.screen_folds >= self.cv:
            return folds
        return fold_ids(cls, self.screen_folds, self.random_state)

    def _cost(self, candidate: Candidate, n_rows: int) -> float:
        """A candidate's relative fitting cost (trees x a leaf-count factor): the screening's order of work."""
        params = {**{k: getattr(self, k) for k in LGBM_KEYS}, **candidate.resolved(n_rows)}
        boosters = len(self.scale_.points) - 1 if candidate.formulation == "ordinal" else 1
        trees = params["n_estimators"] * boosters_per_round(candidate.formulation, self.scale_) * boosters
        return trees * np.log2(params["num_leaves"] + 1)

    def _metrics(self, score, w, dist, proba, offsets) -> dict[str, float]:
        return nps_metrics(score_to_class(score, self.scale_), proba, decide(proba, offsets), w, score,
                           self._expected_score(dist, proba))

    def _expected_score(self, dist: np.ndarray | None, proba: np.ndarray, class_means=None) -> np.ndarray:
        if dist is not None:
            return dist @ np.array(self.scale_.points, dtype=float)
        return proba @ np.asarray(self.class_mean_score_ if class_means is None else class_means)

    def _class_means(self, score: np.ndarray, cls: np.ndarray, w: np.ndarray) -> list[float]:
        """Weighted mean score per class (the multiclass formulation's expected score); class midpoint if unseen."""
        points, point_class = np.array(self.scale_.points), classes_of_points(self.scale_)
        return [float(np.average(score[cls == c], weights=w[cls == c])) if w[cls == c].sum() > 0
                else float(points[point_class == c].mean()) if self.present_[c] else 0.0 for c in range(3)]

    def _choose(self, fits: list[dict], score, cls, w, rule: ThresholdConfig, rows: np.ndarray,
                tune_chosen: bool = True):
        """The selection made on `rows` only: (kept index, selection table, the kept one's decision offsets, or
        None without `tune_chosen`). Offsets are tuned for every candidate only when the selection metric
        depends on the decision."""
        w_rows = w[rows]
        losses = [log_losses(f["proba"][rows], cls[rows]) for f in fits]
        offsets: dict[int, np.ndarray] = {}
        if self.selection_metric in DECISION_METRICS:
            offsets = {i: tune_offsets(f["proba"][rows], cls[rows], w_rows, rule) for i, f in enumerate(fits)}
        values = [float(np.average(loss, weights=w_rows)) if self.selection_metric == "log_loss"
                  else detractor_auc(cls[rows] == 0, f["proba"][rows, 0], w_rows)
                  if self.selection_metric == "detractor_auc"
                  else self._metrics(score[rows], w_rows, None if f["dist"] is None else f["dist"][rows],
                                     f["proba"][rows], offsets[i])[self.selection_metric]
                  for i, (f, loss) in enumerate(zip(fits, losses))]
        table = [{"candidate": f["candidate"].name, "formulation": f["candidate"].formulation,
                  "complexity": self._complexity(f["candidate"], f["rounds"]), self.selection_metric: v}
                 for f, v in zip(fits, values)]
        chosen, table = select(table, losses, w_rows, self.selection_metric, self.selection_rule)
        if chosen not in offsets and tune_chosen:
            offsets[chosen] = tune_offsets(fits[chosen]["proba"][rows], cls[rows], w_rows, rule)
        return chosen, table, offsets.get(chosen)

    def _held_out(self, fits, score, cls, w, folds, choose: Callable[[np.ndarray], tuple[int, np.ndarray]]
                  ) -> dict[str, Any]:
        """Every row predicted by the choice made without its fold (models/held_out.py), its metrics, intervals.
        fits: the candidates' cross-fits on all rows by index; choose(rows): (index kept, offsets) from `rows`."""
        def expected(fit, rows, fit_rows):
            dist = None if fit["dist"] is None else fit["dist"][rows]
            return self._expected_score(dist, fit["proba"][rows],
                                        self._class_means(score[fit_rows], cls[fit_rows], w[fit_rows]))

        held = held_out_predictions(fits, folds, choose, expected)
        proba, pred, expected_score = held["proba"], held["predicted_class"], held["predicted_score"]
        metrics = nps_metrics(cls, proba, pred, w, score, expected_score)
        unweighted = nps_metrics(cls, proba, pred, None, score, expected_score)
        metrics.update({f"respondents_{k}": v for k, v in unweighted.items()})
        metrics["detractor_auc"] = fold_mean_auc(cls == 0, proba[:, 0], folds, w)  # within folds (held_out.py)
        metrics["respondents_detractor_auc"] = fold_mean_auc(cls == 0, proba[:, 0], folds)
        return {**held, "folds": folds, "metrics": metrics,
                "intervals": bootstrap_intervals(cls, proba, w, folds, self.random_state)}

    # ------------------------------------------------------------------ the contest
    def _contest(self, X, score, cls, w_train, w_eval, folds, rule: ThresholdConfig) -> tuple:
        """(cross-fits on all rows by candidate index, kept index, selection table, its offsets, held-out).

        Up to `screen_rows` answers every candidate is cross-fitted on all of them. Above, the candidates
        compete on a stratified sample of `screen_rows` answers (`screening_rows`), and only the candidates a
        choice keeps (the overall one, and the one chosen without each fold for the held-out predictions) are
        cross-fitted on all answers; offsets and everything after are fitted on those. Why: the contest exists
        for small samples, where the candidates differ most; with many answers a sample of thousands tells them
        apart as well, while the cost of the full contest grows with the answers. The sample is cross-fitted on
        `screen_folds` folds of its own (`_screening_folds`). Honesty is kept: the losses the choice for fold k
        compares are those of rows outside fold k, in the sample or out of it.
        """
        check_number(self, "screen_rows", MIN_SCREEN_ROWS, integer=True, optional=True)
        check_number(self, "screen_folds", 2, integer=True)
        candidates = self._candidates()
        datasets = FoldDatasets(X, w_train, folds)
        full = _Lazy(lambda i: self._cross_fit(candidates[i], X, score, w_train, w_eval, folds, datasets))
        screen = screening_rows(folds * 3 + cls, self.screen_rows, self.random_state)
        if screen is None:
            fits = [full[i] for i in range(len(candidates))]
            chosen, table, offsets = self._choose(fits, score, cls, w_eval, rule, np.ones(len(score), bool))

            def choose(rows):
                return self._choose(fits, score, cls, w_eval, rule, rows)[::2]
        else:
            sub = np.flatnonzero(screen)
            s_score, s_cls, s_w = score[sub], cls[sub], w_eval[sub]
            s_folds = self._screening_folds(s_cls, folds[sub])
            s_train = None if w_train is None else w_train[sub]
            trial = self._screen(candidates, X.iloc[sub], s_score, s_train, s_w, s_folds)

            def choose(rows):
                i = self._choose(trial, s_score, s_cls, s_w, rule, rows[sub], tune_chosen=False)[0]
                return i, tune_offsets(full[i]["proba"][rows], cls[rows], w_eval[rows], rule)

            chosen, table, _ = self._choose(trial, s_score, s_cls, s_w, rule, np.ones(len(sub), bool),
                                            tune_chosen=False)
            offsets = tune_offsets(full[chosen]["proba"], cls, w_eval, rule)
        for row in table:
            row["contest_rows"] = len(score) if screen is None else int(screen.sum())
        return full, chosen, table, offsets, self._held_out(full, score, cls, w_eval, folds, choose)


class _Lazy(dict):
    """Values made on first use: the candidates' cross-fits on all rows, fitted only when a choice needs them."""

    def __init__(self, make: Callable[[int], dict]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: int) -> dict:
        self[key] = value = self._make(key)
        return value


def screening_rows(strata: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray | None:
    """The rows the candidates compete on (a mask) when there are more than `max_rows`, else None (all rows).

    Exactly `max_rows` rows, without replacement; every stratum (the caller's fold x class) keeps its share of
    the rows, rounded by largest remainders, so each fold keeps its class mix and no fold is left empty."""
    strata = np.asarray(strata)
    if max_rows is None or len(strata) <= max_rows:
        return None
    _, inverse, counts = np.unique(strata, return_inverse=True, return_counts=True)
    quota = counts * max_rows / len(strata)
    take = np.floor(quota).astype(int)
    take[np.argsort(take - quota, kind="stable")[: max_rows - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(strata), dtype=bool)
    for group, n_take in enumerate(take):
        mask[rng.choice(np.flatnonzero(inverse.ravel() == group), n_take, replace=False)] = True
    return mask
