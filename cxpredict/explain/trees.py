"""The trees of ONE output of a LightGBM model, flattened for the compiled kernels of treeshap.py.

Read from LightGBM's documented JSON dump (`Booster.dump_model()`), not by parsing the model text: the wanted
class's trees of a multiclass booster (every `num_tree_per_iteration`-th tree), rebuilt as LightGBM's own flat
arrays by models/forest.py (`tree_from_dump`, shared with the compiled predictor), then each tree's
pre-order positions with the static TreeSHAP quantities (cover fractions z per feature on the path) and the
Gauss-Legendre coefficients of treeshap.py's integral. `to_matrix` builds the float matrix LightGBM would predict
on. `single_class_booster` is the fair library reference: a one-output booster of the same trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from cxpredict.models import forest
from cxpredict.models.forest import tree_from_dump



# --------------------------------------------------------------------------------------------- the trees of one class
def class_tree_dumps(booster: lgb.Booster, class_index: int | None) -> list[dict]:
    """The `tree_info` entries of `class_index` from `Booster.dump_model()` (best iteration if set)."""
    dump = booster.dump_model()
    per_iteration = int(dump.get("num_tree_per_iteration", 1))
    trees = dump["tree_info"]
    if class_index is None:
        if per_iteration != 1:
            raise ValueError(f"the booster has {per_iteration} trees per iteration: give the class index to explain")
        return trees
    if not 0 <= class_index < per_iteration:
        raise ValueError(f"class index {class_index} out of range for {per_iteration} classes")
    return trees[class_index::per_iteration]


def single_class_booster(booster: lgb.Booster, class_index: int | None) -> lgb.Booster:
    """A one-output LightGBM booster with only the trees of `class_index`: its raw score IS that class's raw
    score, so LightGBM's own `pred_contrib` (and shap) on it do a third of the work of the 3-class model. The
    fair library reference for the kernel (scripts/bench_drivers.py). Edits the model text: LightGBM has no API
    to load a model from its JSON dump."""
    text = booster.model_to_string()
    head, sep, rest = text.partition("\nTree=")
    if not sep:
        raise ValueError("not a LightGBM text model: no 'Tree=' block")
    trees_text, _, tail = ("Tree=" + rest).partition("end of trees")
    blocks = [b.strip("\n") for b in trees_text.split("\n\n") if b.strip()]
    per_iteration = int(booster.dump_model(num_iteration=1).get("num_tree_per_iteration", 1))
    if class_index is not None:
        if not 0 <= class_index < per_iteration:
            raise ValueError(f"class index {class_index} out of range for {per_iteration} classes")
        blocks = blocks[class_index::per_iteration]
    replace = {"num_class": "num_class=1", "num_tree_per_iteration": "num_tree_per_iteration=1",
               "objective": "objective=regression"}
    header = [replace.get(line.split("=", 1)[0], line) for line in head.splitlines()
              if not line.startswith("tree_sizes=")]
    renumbered = [f"Tree={i}\n" + b.split("\n", 1)[1] for i, b in enumerate(blocks)]
    pandas_lines = [line for line in tail.splitlines() if line.startswith("pandas_categorical:")]
    text = ("\n".join(header) + "\n\n" + "\n\n".join(renumbered) + "\n\nend of trees\n\n" + "\n".join(pandas_lines)
            + "\n")
    return lgb.Booster(model_str=text)


@dataclass
class TreeArrays:
    """The trees of one output, flattened for the compiled kernels. Node children use LightGBM's encoding
    (>= 0 internal node, < 0 leaf ~index), local to each tree. Every node and leaf also has a position in its
    tree's pre-order (parents before children), where the static TreeSHAP quantities live."""

    node_start: np.ndarray  # (T+1,) offsets into the internal-node arrays
    leaf_start: np.ndarray  # (T+1,) offsets into leaf_value
    pos_start: np.ndarray  # (T+1,) offsets into the pre-order arrays (nodes + leaves)
    cat_start: np.ndarray  # (T,) offset of each tree's categorical boundaries in cat_bounds
    feature: np.ndarray
    threshold: np.ndarray
    decision: np.ndarray
    left: np.ndarray
    right: np.ndarray
    node_mean: np.ndarray  # cover-weighted mean leaf value under each node (path attributions)
    leaf_value: np.ndarray
    cat_bounds: np.ndarray  # categorical bitset boundaries, shifted to positions in cat_bits
    cat_bits: np.ndarray
    pre_node: np.ndarray  # node code at each pre-order position
    pre_parent: np.ndarray  # position of the parent (-1 for the root)
    pre_left: np.ndarray  # 1 if the position is its parent's left child
    pre_feature: np.ndarray  # feature of the split leading to the position
    pre_z: np.ndarray  # product of the cover fractions of that feature's splits on the path (training counts)
    pre_prev: np.ndarray  # position of the previous split on the same feature above (-1: none)
    tree_quad: np.ndarray  # (T,) quadrature size of each tree
    expected_value: float  # raw output with no feature known: the attributions' baseline
    max_quad: int
    max_positions: int
    feature_names: list[str]
    pandas_categorical: list[list] | None
    quad: dict[str, np.ndarray] = field(default_factory=dict)  # see _quadrature
    tables: dict = field(default_factory=dict, repr=False)  # treeshap._tables' decision-pattern tables, per grouping


def _preorder(tree: dict) -> tuple[list[tuple], np.ndarray, float, int]:
    """Pre-order positions (node, parent position, is_left, feature, merged z, previous same-feature position),
    the subtree means of the internal nodes, the tree's expected value and its largest distinct-feature count."""
    count = lambda c: tree["leaf_count"][~c] if c < 0 else tree["internal_count"][c]  # noqa: E731
    value = lambda c: float(tree["leaf_value"][~c])  # noqa: E731
    rows: list[tuple] = []
    # node, parent position, is_left, split feature above, cover, {feature: (position, merged z)} above, z
    stack: list[tuple] = [(0, -1, 0, -1, 1.0, {}, 1.0)]
    max_unique, expected = 1, 0.0
    while stack:
        node, parent, is_left, feat, cover, above, z = stack.pop()
        pos = len(rows)
        rows.append((node, parent, is_left, feat, z, above[feat][0] if feat in above else -1))
        path = {**above, feat: (pos, z)} if feat >= 0 else above
        if node < 0:
            expected += value(node) * cover
            max_unique = max(max_unique, len(path))
            continue
        f = int(tree["split_feature"][node])
        total = max(count(node), 1e-300)
        for child, left in ((int(tree["right_child"][node]), 0), (int(tree["left_child"][node]), 1)):
            share = max(count(child) / total, 1e-12)  # a zero-count child would give z = 0: keep it tiny
            stack.append((child, pos, left, f, cover * share, path, path.get(f, (-1, 1.0))[1] * share))
    means = np.zeros(tree["num_leaves"] - 1)
    for node, *_ in reversed(rows):  # children come after their parent in pre-order
        if node >= 0:
            l, r = int(tree["left_child"][node]), int(tree["right_child"][node])
            ml = value(l) if l < 0 else means[l]
            mr = value(r) if r < 0 else means[r]
            means[node] = (count(l) * ml + count(r) * mr) / max(count(l) + count(r), 1e-300)
    return rows, means, expected, max_unique


def tree_arrays(booster: lgb.Booster, class_index: int | None) -> TreeArrays:
    """The booster's trees for one output (from its JSON dump) as flat arrays for the kernels."""
    dumps = class_tree_dumps(booster, class_index)
    keys = ("feature", "threshold", "decision", "left", "right", "node_mean", "leaf_value", "cat_bounds",
            "cat_bits", "pre")
    parts: dict[str, list] = {k: [] for k in keys}
    node_start, leaf_start, pos_start, cat_start, tree_quad = [0], [0], [0], [], []
    expected, max_positions, n_bounds, n_bits = 0.0, 1, 0, 0
    for info in dumps:
        tree = tree_from_dump(info)
        n_nodes = tree["num_leaves"] - 1
        cat_start.append(n_bounds)
        parts["leaf_value"].append(tree["leaf_value"][: n_nodes + 1])
        if n_nodes == 0:
            expected += float(tree["leaf_value"][0])
            rows, quad = [], 1
        else:
            rows, means, tree_expected, max_unique = _preorder(tree)
            expected += tree_expected
            quad = (max_unique + 1) // 2
            for key, src in (("feature", "split_feature"), ("threshold", "threshold"),
                             ("decision", "decision_type"), ("left", "left_child"), ("right", "right_child")):
                parts[key].append(tree[src])
            parts["node_mean"].append(means)
            if "cat_boundaries" in tree:
                parts["cat_bounds"].append(tree["cat_boundaries"] + n_bits)
                parts["cat_bits"].append(tree["cat_threshold"])
                n_bounds += len(tree["cat_boundaries"])
                n_bits += len(tree["cat_threshold"])
        parts["pre"].extend(rows)
        tree_quad.append(quad)
        max_positions = max(max_positions, len(rows))
        node_start.append(node_start[-1] + n_nodes)
        leaf_start.append(leaf_start[-1] + n_nodes + 1)
        pos_start.append(pos_start[-1] + len(rows))

    def flat(key: str, dtype) -> np.ndarray:
        return np.concatenate(parts[key]).astype(dtype) if parts[key] else np.zeros(0, dtype=dtype)

    pre = np.array(parts["pre"], dtype=np.float64).reshape(-1, 6)
    arrays = TreeArrays(
        node_start=np.array(node_start, dtype=np.int64), leaf_start=np.array(leaf_start, dtype=np.int64),
        pos_start=np.array(pos_start, dtype=np.int64), cat_start=np.array(cat_start, dtype=np.int64),
        feature=flat("feature", np.int64), threshold=flat("threshold", np.float64),
        decision=flat("decision", np.int64), left=flat("left", np.int64), right=flat("right", np.int64),
        node_mean=flat("node_mean", np.float64), leaf_value=flat("leaf_value", np.float64),
        cat_bounds=flat("cat_bounds", np.int64), cat_bits=flat("cat_bits", np.uint32),
        pre_node=pre[:, 0].astype(np.int64), pre_parent=pre[:, 1].astype(np.int64),
        pre_left=pre[:, 2].astype(np.int64), pre_feature=pre[:, 3].astype(np.int64), pre_z=pre[:, 4].copy(),
        pre_prev=pre[:, 5].astype(np.int64), tree_quad=np.array(tree_quad, dtype=np.int64),
        expected_value=float(expected), max_quad=int(max(tree_quad, default=1)), max_positions=int(max_positions),
        feature_names=booster.feature_name(), pandas_categorical=booster.pandas_categorical,
    )
    arrays.quad = _quadrature(arrays)
    return arrays


def _quadrature(arrays: TreeArrays) -> dict[str, np.ndarray]:
    """Gauss-Legendre nodes on [0, 1] for every size up to max_quad, and the static per-position coefficients of
    treeshap.py's integral:
    hot (1 - z) w / (z (1 - t) + t), cold -w / (1 - t) (the z cancels), and the inverse factors."""
    qmax = arrays.max_quad
    t = np.zeros((qmax + 1, qmax))
    w = np.zeros((qmax + 1, qmax))
    for size in range(1, qmax + 1):
        nodes, weights = np.polynomial.legendre.leggauss(size)
        t[size, :size], w[size, :size] = (nodes + 1.0) / 2.0, weights / 2.0
    cold = np.where(w > 0, -w / (1.0 - t), 0.0)
    per_tree = np.repeat(arrays.tree_quad, np.diff(arrays.pos_start))
    tq, wq = t[per_tree], w[per_tree]  # (positions, qmax) nodes and weights of each position's tree
    z = arrays.pre_z[:, None]
    f_cold, f_hot = z * (1.0 - tq), z * (1.0 - tq) + tq
    with np.errstate(divide="ignore"):
        return {"t": t, "cold": cold, "hot": np.where(wq > 0, wq * (1.0 - z) / f_hot, 0.0),
                "inv_cold": np.where(wq > 0, 1.0 / f_cold, 0.0), "inv_hot": np.where(wq > 0, 1.0 / f_hot, 0.0)}


# --------------------------------------------------------------------------------------------- input matrix
def to_matrix(X: pd.DataFrame | np.ndarray, arrays: TreeArrays) -> np.ndarray:
    """The float64 matrix LightGBM would predict on (models/forest.py: to_matrix) for `arrays`' features."""
    return forest.to_matrix(X, arrays.feature_names, arrays.pandas_categorical)
