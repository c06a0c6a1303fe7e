"""The exact TreeSHAP kernel against shap's own TreeSHAP, the reference it is kept against (scripts/bench_drivers.py
times the two). shap.TreeExplainer on a LightGBM booster would hand the work to LightGBM's `pred_contrib` (checked
in test_drivers.py); here shap reads the booster's trees itself and runs its own path-dependent algorithm
(feature_perturbation="tree_path_dependent" on its internal tree format), so the two answers are computed
independently. shap's tree reader takes numeric splits only, so these models have no categorical feature."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
import shap

from cxpredict.explain import trees, treeshap


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Numeric features with missing values and an interaction; a 3-level label."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[rng.random(n) < 0.1, 1] = np.nan
    risk = X[:, 0] + np.nan_to_num(X[:, 1]) * X[:, 2] + (X[:, 3] > 0.5) + rng.normal(size=n)
    return X, np.digitize(risk, np.quantile(risk, [0.4, 0.7]))


def shap_path_dependent(booster: lgb.Booster, X: np.ndarray) -> tuple[np.ndarray, float]:
    """shap's own TreeSHAP (its C++ algorithm, not pred_contrib) on the trees shap parsed from the booster."""
    parsed = shap.TreeExplainer(booster).model.trees
    model = {"trees": [{"children_left": t.children_left, "children_right": t.children_right,
                        "children_default": t.children_default, "features": t.features,
                        "thresholds": t.thresholds, "values": t.values, "node_sample_weight": t.node_sample_weight}
                       for t in parsed]}
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    assert explainer.model.model_type == "internal"  # shap's algorithm, not a call back into LightGBM
    return np.asarray(explainer.shap_values(X)), float(np.ravel(explainer.expected_value)[0])


@pytest.mark.parametrize("class_index", [0, 2])
def test_kernel_equals_shap_tree_explainer_on_one_class_of_a_multiclass_model(class_index):
    X, y = _data(2000, seed=0)
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 15, "min_data_in_leaf": 5,
                         "verbose": -1, "seed": 0, "deterministic": True}, lgb.Dataset(X, y), num_boost_round=25)
    one = trees.single_class_booster(booster, class_index)
    arrays = trees.tree_arrays(booster, class_index)
    X_new, _ = _data(500, seed=1)
    ours = treeshap.attribute(trees.to_matrix(X_new, arrays), arrays)
    reference, expected_value = shap_path_dependent(one, X_new)
    assert np.abs(ours).max() > 0.1  # the attributions are not all near zero
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-9)
    raw = booster.predict(X_new, raw_score=True)[:, class_index]
    np.testing.assert_allclose(reference.sum(axis=1) + expected_value, raw, rtol=0, atol=1e-6)


def test_kernel_equals_shap_tree_explainer_on_a_binary_model_with_deep_trees():
    X, y = _data(3000, seed=2)
    booster = lgb.train({"objective": "binary", "num_leaves": 63, "min_data_in_leaf": 3, "verbose": -1, "seed": 0,
                         "deterministic": True}, lgb.Dataset(X, (y == 0).astype(int)), num_boost_round=20)
    arrays = trees.tree_arrays(booster, None)
    ours = treeshap.attribute(trees.to_matrix(X[:400], arrays), arrays)
    np.testing.assert_allclose(ours, shap_path_dependent(booster, X[:400])[0], rtol=0, atol=1e-9)


@pytest.mark.parametrize("num_leaves", [4, 11, 15])
def test_decision_tables_give_the_row_by_row_answer(monkeypatch, num_leaves):
    """Small trees are explained from a table of their decision patterns (treeshap._tables): the same numbers as
    the full pass per row, to float rounding, with categorical splits, NaN and zero-as-missing, grouped columns,
    trees of the largest tabled size (11 leaves: 10 splits), and table trees and row trees together (15 leaves:
    14-split tables, as many as a budget of 10 allows)."""
    if num_leaves == 15:
        monkeypatch.setattr(treeshap, "TABLE_MAX_SPLITS", 14)
        monkeypatch.setattr(treeshap, "TABLE_MAX_VALUES", 10 * (1 << 14) * 4)
    rng = np.random.default_rng(5)
    X, y = _data(3000, seed=3)
    X[:, 4] = rng.integers(0, 40, size=len(X))  # categorical codes, some unseen later
    X[rng.random(len(X)) < 0.2, 5] = 0.0
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": num_leaves, "min_data_in_leaf": 5,
                         "zero_as_missing": True, "verbose": -1, "seed": 0, "deterministic": True},
                        lgb.Dataset(X, y, categorical_feature=[4]), num_boost_round=30)
    arrays = trees.tree_arrays(booster, 1)
    X_new, _ = _data(700, seed=4)
    X_new[:, 4] = rng.integers(-1, 50, size=len(X_new)).astype(float)
    X_new[rng.random(len(X_new)) < 0.1, 4] = np.nan
    X_new[rng.random(len(X_new)) < 0.2, 5] = 0.0
    matrix, column_of = trees.to_matrix(X_new, arrays), np.array([0, 1, 1, 2, 3, 0])
    tabled = treeshap.attribute(matrix, arrays, column_of, 4)
    starts = next(iter(arrays.tables.values()))[0][:-1]
    assert (starts >= 0).any() and (num_leaves != 15 or (starts < 0).sum() == 20)  # tables; rows past the budget
    monkeypatch.setattr(treeshap, "TABLE_MAX_SPLITS", 0)
    rows = treeshap.attribute(matrix, arrays, column_of, 4)
    assert np.abs(rows).max() > 0.1
    np.testing.assert_allclose(tabled, rows, rtol=0, atol=1e-12)
    contrib = booster.predict(X_new, pred_contrib=True)[:, 7:13]  # class 1: its 6 features (then its bias)
    np.testing.assert_allclose(tabled, np.stack([contrib[:, column_of == g].sum(axis=1) for g in range(4)], axis=1),
                               rtol=0, atol=1e-9)
