"""The compiled forest against LightGBM, the reference: raw scores and probabilities equal to the bit (the same
decisions, each output summed tree by tree in LightGBM's order, the same transforms)."""

from __future__ import annotations

import glob

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from cxpredict.models.forest import ZERO, Forest


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Numbers with NaN, exact zeros and tiny values; a pandas categorical with NaN; integer-coded categories."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{j}": rng.normal(size=n) for j in range(5)})
    X.loc[rng.random(n) < 0.15, "x0"] = np.nan
    X.loc[rng.random(n) < 0.3, "x1"] = 0.0
    X.loc[rng.random(n) < 0.05, "x1"] = ZERO / 3  # LightGBM's dense input reads these as 0
    X.loc[rng.random(n) < 0.2, "x2"] = np.nan
    X["plan"] = pd.Categorical(rng.choice(["a", "b", "c", "d", "e", None], n))
    X["code"] = rng.integers(0, 90, n).astype(float)  # categories past 64: bitsets of more than two words
    return X


def _target(X: pd.DataFrame, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (X["x0"].fillna(1.0) + (X["x1"] == 0) + X["plan"].cat.codes * 0.3 + (X["code"] % 7 == 0)
            + rng.normal(scale=0.5, size=len(X)))


PARAMS = {"num_leaves": 15, "min_child_samples": 5, "verbosity": -1, "num_threads": 1, "seed": 1,
          "cat_smooth": 1, "min_data_per_group": 5, "max_cat_to_onehot": 8}


def _train(objective: str, rounds: int = 40, **extra) -> tuple[lgb.Booster, pd.DataFrame]:
    X = _frame(3000, 0)
    y = _target(X, 1)
    if objective == "binary":
        y = (y > np.median(y)).astype(int)
    elif objective == "multiclass":
        y = np.digitize(y, np.quantile(y, [0.33, 0.66]))
        extra = {"num_class": 3, **extra}
    params = {**PARAMS, "objective": objective, **extra}
    data = lgb.Dataset(X, label=y, categorical_feature=["plan", "code"])
    return lgb.train(params, data, num_boost_round=rounds), X


def _unseen(X: pd.DataFrame, seed: int) -> pd.DataFrame:
    """New rows: unseen, negative and NaN categories, a category level training never had."""
    new = _frame(2000, seed)
    rng = np.random.default_rng(seed)
    new.loc[rng.random(len(new)) < 0.1, "code"] = -3.0
    new.loc[rng.random(len(new)) < 0.1, "code"] = 500.0
    new.loc[rng.random(len(new)) < 0.05, "code"] = np.nan
    plan = new["plan"].astype(object)
    plan[rng.random(len(new)) < 0.1] = "never-seen"
    new["plan"] = pd.Categorical(plan)
    return new


@pytest.mark.parametrize("objective", ["regression", "binary", "multiclass"])
def test_raw_scores_equal_lightgbm_to_the_bit(objective):
    booster, _ = _train(objective)
    X = _unseen(_frame(10, 0), 7)
    expected = booster.predict(X, raw_score=True)
    (ours,) = Forest.of([booster]).predict(X, raw_score=True, n_threads=2)
    assert ours.shape == expected.shape
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("objective", ["binary", "multiclass"])
def test_probabilities_are_lightgbm_output_transform(objective):
    booster, _ = _train(objective)
    X = _unseen(_frame(10, 0), 8)
    (ours,) = Forest.of([booster]).predict(X)
    np.testing.assert_array_equal(ours, booster.predict(X))


def test_missing_types_zero_and_nan_and_none_follow_lightgbm():
    """zero_as_missing gives missing type Zero; use_missing=false gives None (NaN read as 0)."""
    for extra in ({"zero_as_missing": True}, {"use_missing": False}):
        booster, _ = _train("regression", **extra)
        types = {n["missing_type"] for t in booster.dump_model()["tree_info"] for n in _nodes(t["tree_structure"])
                 if n["decision_type"] == "<="}
        assert ("Zero" in types) if "zero_as_missing" in extra else (types == {"None"})
        X = _unseen(_frame(10, 0), 9)
        np.testing.assert_array_equal(Forest.of([booster]).raw(X)[:, 0], booster.predict(X, raw_score=True))


def _nodes(node: dict):
    if "split_index" in node:
        yield node
        yield from _nodes(node["left_child"])
        yield from _nodes(node["right_child"])


def test_best_iteration_is_what_predict_uses():
    X = _frame(3000, 0)
    y = _target(X, 1)
    fit, valid = np.arange(2400), np.arange(2400, 3000)
    train = lgb.Dataset(X.iloc[fit], label=y.iloc[fit])
    booster = lgb.train({**PARAMS, "objective": "regression", "learning_rate": 0.5}, train, num_boost_round=300,
                        valid_sets=[lgb.Dataset(X.iloc[valid], label=y.iloc[valid], reference=train)],
                        callbacks=[lgb.early_stopping(5, verbose=False)], keep_training_booster=True)
    assert 0 < booster.best_iteration < booster.current_iteration()
    new = _unseen(X, 3)
    np.testing.assert_array_equal(Forest.of([booster]).raw(new)[:, 0], booster.predict(new, raw_score=True))


def test_iterations_given_are_what_predict_num_iteration_uses():
    """A fold model's rounds (models/nps.py: fold_models_ keep (booster, rounds)): the first n iterations of
    each booster, as `predict(num_iteration=n)` takes them."""
    multiclass, X = _train("multiclass", rounds=12)
    binary, _ = _train("binary", rounds=12)
    new = _unseen(X, 5)
    forest = Forest.of([multiclass, binary], [4, 9])
    for ours, booster, n in zip(forest.predict(new, raw_score=True), (multiclass, binary), (4, 9)):
        np.testing.assert_array_equal(ours, booster.predict(new, raw_score=True, num_iteration=n))
        assert not np.array_equal(ours, booster.predict(new, raw_score=True))


def test_single_leaf_trees_and_several_boosters_in_one_pass():
    """A booster of constant trees (nothing to split on) beside a multiclass and a binary one: each booster's
    columns are its own predictions."""
    X = _frame(500, 0)
    constant = lgb.train({**PARAMS, "objective": "regression", "min_child_samples": 10_000},
                         lgb.Dataset(X, label=np.arange(500.0)), num_boost_round=3)
    assert all(t["num_leaves"] == 1 for t in constant.dump_model()["tree_info"])
    multiclass, _ = _train("multiclass", rounds=10)
    binary, _ = _train("binary", rounds=10)
    forest = Forest.of([constant, multiclass, binary])
    assert [o[:2] for o in forest.outputs] == [(0, 1), (1, 3), (4, 1)]
    new = _unseen(X, 4)
    for ours, booster in zip(forest.predict(new, raw_score=True), (constant, multiclass, binary)):
        np.testing.assert_array_equal(ours, booster.predict(new, raw_score=True))


def test_numpy_input_and_one_row():
    booster, X = _train("binary", rounds=5)
    forest = Forest.of([booster])
    matrix = forest.matrix(X.iloc[:1])
    np.testing.assert_array_equal(forest.raw(matrix)[:, 0], booster.predict(matrix, raw_score=True))
    assert forest.raw(matrix[:0]).shape == (0, 1)


def test_boosters_of_other_features_or_objectives_are_refused():
    booster, X = _train("binary", rounds=3)
    other = lgb.train({**PARAMS, "objective": "binary"}, lgb.Dataset(X[["x0", "x1"]], label=np.arange(3000) % 2),
                      num_boost_round=2)
    with pytest.raises(ValueError, match="share their features"):
        Forest.of([booster, other])
    poisson = lgb.train({**PARAMS, "objective": "poisson"}, lgb.Dataset(X[["x0"]], label=np.arange(3000) % 3),
                        num_boost_round=2)
    with pytest.raises(ValueError, match="poisson"):
        Forest.of([poisson])


def test_a_trained_bundle_predicts_as_lightgbm(trained_bundle, demo_config):
    """Every booster of a small demo training run, on the demo customers' model matrix."""
    from cxpredict.data.customers import load_customers
    from cxpredict.io.bundle import load_bundle

    X = load_bundle(trained_bundle).manifest.transform(load_customers(demo_config).frame)
    files = sorted(glob.glob(f"{trained_bundle}/*/*.txt"))
    assert files
    for path in files:
        booster = lgb.Booster(model_file=path)
        if set(booster.feature_name()) - set(X.columns):  # churn's NPS-probability features
            continue
        forest = Forest.of([booster])
        np.testing.assert_array_equal(forest.raw(X)[:, 0] if booster.num_model_per_iteration() == 1
                                      else forest.raw(X), booster.predict(X[booster.feature_name()], raw_score=True))


def test_compiled_estimators_predict_what_lightgbm_does(trained_bundle, demo_config):
    """The stages compile their estimators when built; every scored column equals LightGBM's, and a refit
    estimator drops the forest of its old boosters."""
    from cxpredict.data.customers import load_customers
    from cxpredict.io.bundle import load_bundle
    from cxpredict.models.churn import with_nps_features
    from cxpredict.models.stages import ChurnStage, NpsStage, ReasonStage

    compiled, reference = load_bundle(trained_bundle), load_bundle(trained_bundle)
    X = compiled.manifest.transform(load_customers(demo_config).frame)
    nps = NpsStage(compiled.nps).model
    assert nps._compiled is not None and getattr(reference.nps, "_compiled", None) is None
    pd.testing.assert_frame_equal(nps.predict_frame(X), reference.nps.predict_frame(X))
    reasons = ReasonStage(compiled.get("reasons")).model
    np.testing.assert_array_equal(reasons.predict_proba(X), reference.get("reasons").predict_proba(X))
    churn = ChurnStage(compiled.get("churn"), demo_config.churn).model
    X_churn = with_nps_features(X, nps.predict_frame(X)) if churn.uses_nps_features_ else X
    np.testing.assert_array_equal(churn.predict_proba(X_churn), reference.get("churn").predict_proba(X_churn))
    reasons.boosters_ = reasons.boosters_[:1]
    np.testing.assert_array_equal(reasons.predict_proba(X), reference.get("reasons").boosters_[0].predict(X)[:, None])


def test_trees_of_over_64_leaves_stay_with_lightgbm():
    """The forest refuses them (a tree's leaves are the bits of one word); an estimator then predicts with
    LightGBM, the same numbers."""
    from cxpredict.models.base import LgbmClassifier

    X = _frame(3000, 0)
    big = lgb.train({**PARAMS, "objective": "regression", "num_leaves": 100, "min_child_samples": 2},
                    lgb.Dataset(X, label=_target(X, 1)), num_boost_round=2)
    assert max(t["num_leaves"] for t in big.dump_model()["tree_info"]) > 64
    with pytest.raises(ValueError, match="64"):
        Forest.of([big])
    estimator = LgbmClassifier()
    estimator.booster_ = big
    assert estimator.compile()._forest() is None
    np.testing.assert_array_equal(estimator.booster_predictions(X, raw_score=True)[0], big.predict(X, raw_score=True))
