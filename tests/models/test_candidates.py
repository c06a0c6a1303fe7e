"""The NPS candidate contest: the screening sample and the contest with and without it (models/candidates.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxpredict.errors import ConfigError
from cxpredict.models.candidates import screening_rows
from cxpredict.models.nps import NpsClassifier

FAST = {"n_estimators": 40, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1}


def simulate(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"tickets": rng.poisson(1.0, n).astype(float), "tenure": rng.uniform(0, 60, n),
                      "noise": rng.normal(size=n)})
    latent = 8.0 - 1.2 * X["tickets"] + 0.02 * X["tenure"] + rng.logistic(0, 1.0, n)
    return X, np.clip(np.floor(latent + 0.5), 0, 10).astype(int).to_numpy()


def test_screening_sample_is_bounded_and_stratified():
    rng = np.random.default_rng(0)
    strata = rng.choice(12, 5_000, p=np.r_[0.3, 0.2, 0.1, np.full(9, 0.4 / 9)])
    assert screening_rows(strata, 5_000, seed=0) is None and screening_rows(strata, None, seed=0) is None
    mask = screening_rows(strata, 1_234, seed=0)
    assert mask.dtype == bool and mask.sum() == 1_234
    share = 1_234 / 5_000
    for s in range(12):  # every stratum keeps its share, rounded
        assert abs(mask[strata == s].sum() - share * (strata == s).sum()) < 1
    assert (screening_rows(strata, 1_234, seed=0) == mask).all()  # reproducible
    assert (screening_rows(strata, 1_234, seed=1) != mask).any()


def test_small_samples_keep_the_full_contest():
    """Up to screen_rows answers, every candidate competes on every answer: the same model as without screening."""
    X, score = simulate(1_200)
    full = NpsClassifier(cv=3, random_state=2, screen_rows=None, **FAST).fit(X, score)
    kept = NpsClassifier(cv=3, random_state=2, screen_rows=1_200, **FAST).fit(X, score)
    assert {row["contest_rows"] for row in kept.selection_} == {1_200}
    assert kept.selection_ == full.selection_ and kept.cv_metrics_ == full.cv_metrics_
    pd.testing.assert_frame_equal(kept.held_out_, full.held_out_)


def test_many_answers_screen_the_candidates_on_a_sample_and_refit_only_the_kept_ones():
    X, score = simulate(2_400)
    model = NpsClassifier(cv=3, random_state=2, screen_rows=1_000, **FAST).fit(X, score)
    assert {row["contest_rows"] for row in model.selection_} == {1_000}
    assert len(model.selection_) == 6 and sum(row["chosen"] for row in model.selection_) == 1
    assert len(model.oof_) == len(model.held_out_) == 2_400  # the kept candidate is cross-fitted on every answer
    columns = ["p_detractor", "p_passive", "p_promoter"]
    for k, name in enumerate(model.held_out_choices_):  # a fold the overall choice scores: its OOF predictions
        rows = (model.held_out_["fold"] == k).to_numpy()
        if name == model.candidate_["name"]:
            np.testing.assert_allclose(model.held_out_.loc[rows, columns], model.oof_.loc[rows, columns])
    assert model.cv_metrics_["detractor_auc"] > 0.7  # the planted signal is found through the screened contest


def test_a_screening_sample_too_small_to_compare_candidates_is_refused():
    X, score = simulate(300)
    with pytest.raises(ConfigError, match="screen_rows"):
        NpsClassifier(screen_rows=500, **FAST).fit(X, score)


def test_parallel_screening_keeps_the_selection_of_sequential_screening(monkeypatch):
    """The screened contest with its small folds fitted in parallel (candidates side by side, `_screen`) and one
    after another: the same boosters, so the same selection and metrics."""
    from cxpredict.models import lgbm

    X, score = simulate(2_400, seed=4)
    settings = dict(cv=3, random_state=5, screen_rows=1_000, **{**FAST, "n_jobs": 2})
    assert lgbm.fold_threads({"num_threads": 2}, 1_000, X.shape[1], 3)[0] == 2
    parallel = NpsClassifier(**settings).fit(X, score)
    monkeypatch.setattr(lgbm, "SMALL_FIT_CELLS", -1)
    sequential = NpsClassifier(**settings).fit(X, score)
    assert parallel.selection_ == sequential.selection_ and parallel.cv_metrics_ == sequential.cv_metrics_
    pd.testing.assert_frame_equal(parallel.held_out_, sequential.held_out_)


def test_screening_runs_candidates_side_by_side_with_single_threaded_boosters(monkeypatch):
    """Small screening folds: one pool over the candidates (no nested pools: each candidate's folds then run in a
    plain loop of one-thread boosters); large folds: candidates one after another."""
    from cxpredict import threads
    from cxpredict.models import lgbm

    calls = []
    real = threads.map_split

    def spy(fn, tasks, workers):
        calls.append((len(tasks), workers))
        return real(fn, tasks, workers)

    monkeypatch.setattr(threads, "map_split", spy)
    X, score = simulate(2_400, seed=4)
    NpsClassifier(cv=3, random_state=5, screen_rows=1_000, **{**FAST, "n_jobs": 2}).fit(X, score)
    assert calls[0] == (6, 2)  # the screening: six candidates on two workers
    screening = calls[1:7]  # each candidate's cross-fit (one target each) inside a worker
    assert screening and all(workers == 1 for _, workers in screening)
    calls.clear()
    monkeypatch.setattr(lgbm, "SMALL_FIT_CELLS", -1)
    NpsClassifier(cv=3, random_state=5, screen_rows=1_000, **{**FAST, "n_jobs": 2}).fit(X, score)
    assert all(workers == 1 for _, workers in calls)


def _screening_folds_seen(monkeypatch) -> list[np.ndarray]:
    """The folds the screening cross-fits its sample on, recorded at every fit."""
    from cxpredict.models.candidates import CandidateSearch

    seen, real = [], CandidateSearch._screen

    def spy(self, candidates, X, score, w_train, w_eval, folds):
        seen.append(np.asarray(folds))
        return real(self, candidates, X, score, w_train, w_eval, folds)

    monkeypatch.setattr(CandidateSearch, "_screen", spy)
    return seen


def test_many_answers_screen_on_fewer_folds_than_the_contest(monkeypatch):
    """Above screen_rows the sample is cross-fitted on screen_folds class-stratified folds (fewer boosters), the
    kept candidate on the cv folds of every answer; screen_folds >= cv keeps the sample's own folds."""
    seen = _screening_folds_seen(monkeypatch)
    X, score = simulate(2_400, seed=3)
    model = NpsClassifier(cv=5, random_state=1, screen_rows=1_000, screen_folds=3, **FAST).fit(X, score)
    assert len(seen) == 1 and len(seen[0]) == 1_000 and sorted(np.unique(seen[0])) == [0, 1, 2]
    assert sorted(model.held_out_["fold"].unique()) == [0, 1, 2, 3, 4]  # the reported metrics keep the cv folds
    assert len(model.held_out_choices_) == 5 and model.cv_metrics_["detractor_auc"] > 0.7
    NpsClassifier(cv=5, random_state=1, screen_rows=1_000, screen_folds=5, **FAST).fit(X, score)
    assert sorted(np.unique(seen[1])) == [0, 1, 2, 3, 4]


def test_small_samples_ignore_screen_folds(monkeypatch):
    """Up to screen_rows answers the contest runs on every answer and its cv folds: screen_folds changes nothing."""
    seen = _screening_folds_seen(monkeypatch)
    X, score = simulate(1_200, seed=3)
    few = NpsClassifier(cv=5, random_state=1, screen_rows=5_000, screen_folds=2, **FAST).fit(X, score)
    same = NpsClassifier(cv=5, random_state=1, screen_rows=5_000, screen_folds=5, **FAST).fit(X, score)
    assert not seen  # no screening
    assert few.selection_ == same.selection_ and few.cv_metrics_ == same.cv_metrics_
    pd.testing.assert_frame_equal(few.held_out_, same.held_out_)


def test_screen_folds_below_two_is_refused():
    X, score = simulate(300)
    with pytest.raises(ConfigError, match="screen_folds"):
        NpsClassifier(screen_folds=1, **FAST).fit(X, score)
