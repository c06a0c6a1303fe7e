"""Stated-reason model: parsing, metrics, a learnable multi-label problem, top reasons, save/load, themes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from cxpredict.errors import BundleError
from cxpredict.models.reasons import (
    ReasonClassifier,
    constant_baseline,
    micro_f1,
    reason_matrix,
    theme_agreement,
)


def test_reason_matrix_parses_codes_and_missing():
    labels = reason_matrix(pd.Series(["price;network", " network ; billing", None, "price"], dtype="str"))
    assert list(labels.columns) == ["billing", "network", "price"]
    assert labels.to_numpy().tolist() == [[0, 1, 1], [1, 1, 0], [0, 0, 0], [0, 0, 1]]
    fixed = reason_matrix(pd.Series(["price;rare"], dtype="str"), codes=["network", "price"])
    assert fixed.to_numpy().tolist() == [[0, 1]]


@pytest.mark.parametrize("seed", range(6))
def test_micro_f1_equals_scikit_learn_f1_of_the_flattened_matrices(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 300)), int(rng.integers(1, 9)))
    truth = rng.random(shape) < [0.0, 0.05, 0.3, 0.9, 1.0, 0.5][seed]
    predicted = rng.random(shape) < [0.0, 0.3, 0.05, 1.0, 0.5, 0.0][seed]
    expected = f1_score(truth.ravel().astype(int), predicted.ravel().astype(int), zero_division=0.0)
    assert micro_f1(truth, predicted) == expected


def test_micro_f1_and_constant_baseline_by_hand():
    truth = np.array([[1, 0], [1, 1], [0, 0]])
    predicted = np.array([[1, 1], [1, 0], [0, 0]])
    assert micro_f1(truth, predicted) == pytest.approx(2 * 2 / (3 + 3))
    assert micro_f1(np.zeros((2, 2)), np.zeros((2, 2))) == 0.0
    f1, codes = constant_baseline(truth, truth)
    assert codes == [0]  # guessing code 0 for everyone: 2 hits in 3 guesses of 3 stated codes; both: 3 in 6
    assert f1 == pytest.approx(2 * 2 / (3 + 3))  # a tie with {0, 1} (2 * 3 / (6 + 3)): the smaller set wins


def _survey(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """'billing' follows billing errors, 'network' dropped calls, 'rare' is stated by 5 people only."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"billing_errors": rng.poisson(0.5, n).astype(float), "dropped": rng.poisson(0.7, n).astype(float),
                      "noise": rng.normal(size=n)})
    X["plan"] = pd.Categorical(rng.choice(["a", "b"], n))
    codes = []
    for b, d, u in zip(X["billing_errors"], X["dropped"], rng.random(n)):
        stated = (["billing"] if b > 0 and u < 0.85 else []) + (["network"] if d > 1 and u > 0.1 else [])
        codes.append(";".join(stated) or None)
    reasons = pd.Series(codes, index=X.index, dtype="str")
    reasons.iloc[:5] = "rare"
    return X, reasons


@pytest.fixture(scope="module")
def fitted():
    X, reasons = _survey(2500, seed=0)
    model = ReasonClassifier(min_count=20, n_estimators=100, num_leaves=7, random_state=3)
    return model.fit(X, reason_matrix(reasons))


def test_multi_label_model_beats_the_constant_base_rate(fitted):
    assert fitted.classes_.tolist() == ["billing", "network"]
    assert fitted.dropped_codes_ == {"rare": 5}
    X, reasons = _survey(1500, seed=1)
    truth = reason_matrix(reasons, list(fitted.classes_)).to_numpy()
    f1 = micro_f1(truth, fitted.predict(X))
    assert fitted.score(X, reason_matrix(reasons)) == f1
    base, _ = constant_baseline(truth, truth)
    assert f1 > 0.8 and f1 > base + 0.2
    assert fitted.metrics_["valid_micro_f1"] > 0.8


def test_top_reasons_are_ordered_and_empty_when_unlikely(fitted):
    X = pd.DataFrame({"billing_errors": [3.0, 0.0, 2.0], "dropped": [0.0, 0.0, 4.0], "noise": [0.0, 0.0, 0.0]})
    X["plan"] = pd.Categorical(["a", "a", "b"], categories=["a", "b"])
    top = fitted.top_reasons(X, k=2, min_prob=0.2)
    assert list(top.columns) == ["reason_1", "reason_2", "reason_1_prob", "reason_2_prob"]
    assert top.loc[0, "reason_1"] == "billing" and pd.isna(top.loc[0, "reason_2"])
    assert top.loc[1].isna().all()  # nothing wrong: no reason rather than noise
    assert set(top.loc[2, ["reason_1", "reason_2"]]) == {"billing", "network"}
    assert top.loc[2, "reason_1_prob"] >= top.loc[2, "reason_2_prob"] >= 0.2


def test_save_load_roundtrip_without_pickle(fitted, tmp_path):
    fitted.save(tmp_path / "reasons")
    assert sorted(p.name for p in (tmp_path / "reasons").iterdir()) == ["reason_0.txt", "reason_1.txt",
                                                                       "reasons.json"]
    loaded = ReasonClassifier.load(tmp_path / "reasons")
    X, _ = _survey(300, seed=2)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert loaded.threshold_ == fitted.threshold_ and loaded.get_params() == fitted.get_params()
    (tmp_path / "reasons" / "reasons.json").write_text("{", encoding="utf-8")
    with pytest.raises(BundleError, match="reasons.json"):
        ReasonClassifier.load(tmp_path / "reasons")


def test_no_frequent_code_gives_an_empty_model():
    X, _ = _survey(100, seed=4)
    model = ReasonClassifier(min_count=50).fit(X, reason_matrix(pd.Series(["a"] * 3 + [None] * 97, dtype="str")))
    assert len(model.classes_) == 0
    top = model.top_reasons(X)
    assert len(top) == 100 and top.isna().all().all()


def test_theme_agreement_counts_only_rows_with_both_themes():
    reason_1 = pd.Series(["coverage", "price", "billing", None, "other"], dtype="str")
    driver_1 = pd.Series(["Network quality", "Billing", "Billing", "Billing", "Tenure & age"], dtype="str")
    group_themes = {"Network quality": "network", "Billing": "billing", "Tenure & age": None}
    reason_themes = {"coverage": "network", "price": "price", "billing": "billing", "other": "other"}
    assert theme_agreement(reason_1, driver_1, group_themes, reason_themes) == (2, 3)


def test_codes_are_fitted_side_by_side_with_one_thread_per_booster(monkeypatch):
    """The codes' boosters are independent: two threads give two boosters at a time of one thread each (never
    nested), and the model is the one a single thread fits code after code."""
    import lightgbm as lgb

    from cxpredict import threads

    X, reasons = _survey(600, seed=1)
    serial = ReasonClassifier(min_count=20, n_estimators=30, num_leaves=7, random_state=3, n_jobs=1)
    serial.fit(X, reason_matrix(reasons))
    booster_threads, workers = [], []
    train, map_split = lgb.train, threads.map_split
    monkeypatch.setattr(lgb, "train", lambda params, *a, **k: booster_threads.append(params["num_threads"])
                        or train(params, *a, **k))
    monkeypatch.setattr(threads, "map_split", lambda fn, tasks, n: workers.append(n) or map_split(fn, tasks, n))
    side_by_side = ReasonClassifier(min_count=20, n_estimators=30, num_leaves=7, random_state=3, n_jobs=2)
    side_by_side.fit(X, reason_matrix(reasons))
    assert workers == [2] and set(booster_threads) == {1} and len(booster_threads) == 2 * 2
    np.testing.assert_array_equal(side_by_side.predict_proba(X), serial.predict_proba(X))
