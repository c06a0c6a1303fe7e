"""LightGBM trees as flat arrays, and a compiled predictor that scores several boosters in one pass over the rows.

Why: scoring evaluates the NPS, churn and eight reason boosters on every customer, and `Booster.predict` converts
the frame once per booster and walks each row down each tree, a chain of dependent, unpredictable branches. Here
the trees are read once (at bundle load) from LightGBM's documented JSON dump (`Booster.dump_model()`, which keeps
the best iteration; `tree_from_dump`: LightGBM's own flat layout) and evaluated the QuickScorer way (Lucchese et
al., 2015): a tree's leaves, numbered left to right, are the bits of a 64-bit word; every split a row does NOT go
left at rules out the leaves of its left subtree, and the row's leaf is the lowest bit left. Every split is tested
for 128 rows at once with no branches (vector instructions), the rows' features in cache for all the trees of all
the boosters. Raw scores equal LightGBM's to the bit: the same decisions (LightGBM's Tree::Decision: missing types
None/Zero/NaN, default_left, NaN and negative categories right, and its dense-input rule that |x| <=
kZeroThreshold is 0) and each output summed tree by tree in LightGBM's order (tests/models/test_forest.py).
LightGBM stays the reference it is checked against (scripts/bench_predict.py times both on the same matrix).

`tree_from_dump` and `to_matrix` are also what explain/trees.py builds the TreeSHAP arrays from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightgbm as lgb
import numba
import numpy as np
import pandas as pd
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from cxpredict import threads

MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}  # LightGBM's decision_type bits 2-3
ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float literal): |x| <= ZERO counts as 0
BLOCK = 512  # rows that go through each tree together: 512-2048 alike, 128 ~15% slower (the per-tree setup); the
# block of a few hundred features still fits a core's L2 cache


# --------------------------------------------------------------------------------------------- one dumped tree
def _bitset(categories: list[int]) -> list[int]:
    """32-bit words with bit c set for each category c (LightGBM's Common::ConstructBitset)."""
    words = [0] * (max(categories) // 32 + 1 if categories else 1)
    for c in categories:
        words[c // 32] |= 1 << (c % 32)
    return words


def tree_from_dump(info: dict) -> dict[str, np.ndarray]:
    """One `tree_info` entry of `Booster.dump_model()` as LightGBM's own flat arrays: internal nodes by
    split_index, children >= 0 internal and ~leaf_index for leaves, categorical splits as bitsets (threshold =
    the split's index in cat_boundaries)."""
    n_leaves = int(info["num_leaves"])
    n_nodes = n_leaves - 1
    tree = {"num_leaves": n_leaves, "leaf_value": np.zeros(n_leaves), "leaf_count": np.zeros(n_leaves)}
    if n_nodes == 0:
        tree["leaf_value"][0] = float(info["tree_structure"]["leaf_value"])
        return tree
    for key in ("split_feature", "threshold", "decision_type", "left_child", "right_child", "internal_count"):
        tree[key] = np.zeros(n_nodes)
    boundaries, bits = [0], []

    def code(node: dict) -> int:
        return int(node["split_index"]) if "split_index" in node else ~int(node["leaf_index"])

    stack = [info["tree_structure"]]
    while stack:
        node = stack.pop()
        if "leaf_index" in node:
            if "leaf_coeff" in node:
                raise ValueError("linear trees (linear_tree=true) are not supported here; retrain without them")
            tree["leaf_value"][node["leaf_index"]] = float(node["leaf_value"])
            tree["leaf_count"][node["leaf_index"]] = float(node.get("leaf_count", 0))
            continue
        i = int(node["split_index"])
        tree["split_feature"][i] = node["split_feature"]
        tree["internal_count"][i] = node.get("internal_count", 0)
        decision = (2 if node.get("default_left") else 0) | (MISSING_TYPES[node.get("missing_type", "None")] << 2)
        if node["decision_type"] == "==":  # categorical: the categories going left, as a bitset
            decision |= 1
            tree["threshold"][i] = len(boundaries) - 1
            bits.extend(_bitset([int(c) for c in str(node["threshold"]).split("||") if c != ""]))
            boundaries.append(len(bits))
        elif node["decision_type"] == "<=":
            tree["threshold"][i] = float(node["threshold"])
        else:
            raise ValueError(f"unknown LightGBM decision type {node['decision_type']!r}")
        tree["decision_type"][i] = decision
        tree["left_child"][i], tree["right_child"][i] = code(node["left_child"]), code(node["right_child"])
        stack.extend((node["left_child"], node["right_child"]))
    if bits:
        tree["cat_boundaries"], tree["cat_threshold"] = np.array(boundaries, float), np.array(bits, float)
    return tree


# --------------------------------------------------------------------------------------------- input matrix
def to_matrix(X: pd.DataFrame | np.ndarray, feature_names: list[str], pandas_categorical: list | None,
              order: str = "C") -> np.ndarray:
    """The float64 matrix LightGBM would predict on: model feature order, pandas categoricals as the training
    category codes (unseen -> NaN), exactly like LightGBM's own pandas conversion. `order` "C" (row-major) or
    "F" (column-major: each feature contiguous, what the forest's kernel reads, filled without strided writes)."""
    if isinstance(X, np.ndarray):
        if X.ndim != 2 or X.shape[1] != len(feature_names):
            raise ValueError(f"expected {len(feature_names)} feature columns, got shape {X.shape}")
        return np.asarray(X, dtype=np.float64, order=order)
    named = {str(c): c for c in X.columns}  # LightGBM names features by their columns' text (0 -> "0")
    missing = [c for c in feature_names if c not in named]
    if missing:
        raise ValueError(f"the model's features are missing from the frame: {missing[:5]}")
    out = np.empty((len(X), len(feature_names)), dtype=np.float64, order=order)
    categories = iter(pandas_categorical or [])
    for j, col in enumerate(feature_names):
        s = X[named[col]]
        if isinstance(s.dtype, pd.CategoricalDtype):
            levels = next(categories, None)
            if levels is not None and list(s.cat.categories) != list(levels):
                s = s.cat.set_categories(levels)
            codes = s.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            out[:, j] = pd.to_numeric(s).to_numpy(dtype=np.float64, na_value=np.nan)
    return out


# --------------------------------------------------------------------------------------------- kernel
@numba.njit(cache=True, inline="always")
def _category_left(value, bounds_at, cat_bounds, cat_bits):
    """LightGBM's categorical decision: the category's bit in the split's bitset (NaN, negative: right)."""
    if np.isnan(value):
        return False
    iv = int(value)
    if iv < 0:
        return False
    lo, hi = cat_bounds[bounds_at], cat_bounds[bounds_at + 1]
    word = iv // 32
    if word >= hi - lo:
        return False
    return (cat_bits[lo + word] >> np.uint32(iv % 32)) & np.uint32(1) == np.uint32(1)


@intrinsic
def _lowest_bit(typingctx, word):
    """The index of a 64-bit word's lowest set bit (LLVM's cttz: one instruction, vectorised over a block)."""
    def codegen(context, builder, signature, args):
        cttz = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), [
            ir.IntType(64), ir.IntType(1)]), "llvm.cttz.i64")
        return builder.call(cttz, [args[0], ir.Constant(ir.IntType(1), 0)])
    return types.int64(types.uint64), codegen


@numba.njit(cache=True, parallel=True, nogil=True)
def _forest_kernel(XT, n_out, node_start, leaf_start, tree_output, feature, threshold, special, special_left,
                   node_kind, cat_word, false_mask, leaf_value, cat_bounds, cat_bits, n_parts):
    """(rows, n_out) raw scores of the rows of XT (features x rows: each feature's values contiguous)."""
    n_features, n, n_trees = XT.shape[0], XT.shape[1], len(node_start) - 1
    out = np.zeros((n, n_out))
    n_blocks = (n + BLOCK - 1) // BLOCK
    n_parts = max(1, min(n_parts, n_blocks))
    everything = np.uint64(0xFFFFFFFFFFFFFFFF)
    for part in numba.prange(n_parts):
        xt = np.zeros((n_features, BLOCK))  # the block's rows, feature-major: a node tests all of them in a row
        alive = np.empty(BLOCK, dtype=np.uint64)  # per row, the leaves no false node has ruled out
        acc = np.zeros((n_out, BLOCK))  # the block's sums, tree by tree in LightGBM's order, then copied out
        for b in range(part * n_blocks // n_parts, (part + 1) * n_blocks // n_parts):
            r0 = b * BLOCK
            m = min(BLOCK, n - r0)
            for j in range(n_features):
                for i in range(m):
                    v = XT[j, r0 + i]
                    xt[j, i] = 0.0 if -ZERO <= v <= ZERO else v  # LightGBM's dense input keeps no tiny values
            acc[:, :] = 0.0
            for t in range(n_trees):
                alive[:] = everything
                for g in range(node_start[t], node_start[t + 1]):
                    row = xt[feature[g]]
                    cut, keep_out = threshold[g], false_mask[g]
                    kind = node_kind[g]
                    if kind == 1:  # categorical, categories below 64: the bitset is one word
                        word = cat_word[g]
                        for i in range(BLOCK):
                            x = row[i]
                            known = (x > -1.0) & (x < 64.0)  # NaN too: right; int() truncates as C does
                            bit = (word >> np.uint64(x if known else 0.0)) & np.uint64(1)
                            alive[i] &= keep_out | (everything * (bit & np.uint64(known)))
                        continue
                    if kind == 2:  # categorical with larger categories
                        at = int(cut)
                        for i in range(m):
                            if not _category_left(row[i], at, cat_bounds, cat_bits):
                                alive[i] &= keep_out
                        continue
                    odd, odd_left = special[g], special_left[g]
                    if np.isnan(odd):  # missing type None or NaN (the usual split): only NaN is odd
                        if odd_left:  # NaN goes left, so a row goes right exactly when x > cut
                            for i in range(BLOCK):
                                alive[i] &= keep_out if row[i] > cut else everything
                        else:  # NaN goes right, so a row goes left exactly when x <= cut
                            for i in range(BLOCK):
                                alive[i] &= everything if row[i] <= cut else keep_out
                        continue
                    for i in range(BLOCK):  # missing type Zero: 0.0 and NaN go where special_left says
                        x = row[i]
                        odd_x = (x != x) | (x == odd)
                        go_left = (odd_x & odd_left) | ((~odd_x) & (x <= cut))
                        alive[i] &= keep_out | (everything * np.uint64(go_left))
                l0, o = leaf_start[t], tree_output[t]
                sums = acc[o]
                for i in range(BLOCK):  # the row's leaf: the lowest bit still alive
                    sums[i] += leaf_value[l0 + _lowest_bit(alive[i])]
            for i in range(m):
                for o in range(n_out):
                    out[r0 + i, o] = acc[o, i]
    return out


# --------------------------------------------------------------------------------------------- the forest
MAX_LEAVES = 64  # the leaves of a tree are the bits of one 64-bit word


def _tree_nodes(tree: dict, bounds_offset: int, bits_offset: int) -> dict[str, np.ndarray]:
    """A flat tree as the kernel's arrays: its leaves numbered left to right (leaf_value in that order), and per
    internal node the leaves its left subtree holds, ruled out (`false_mask`) when a row goes right there;
    the numerical missing-value rule as `special` (0.0 for missing type Zero, else NaN: no value equals it) and
    where NaN or a special value goes (`special_left`)."""
    n_leaves = tree["num_leaves"]
    if n_leaves > MAX_LEAVES:
        raise ValueError(f"a tree with {n_leaves} leaves: the forest predicts trees of up to {MAX_LEAVES}")
    n_nodes = n_leaves - 1
    position = np.zeros(n_leaves, dtype=np.int64)  # leaf index -> left-to-right position
    first = np.zeros(n_nodes, dtype=np.int64)  # leaves under each node: positions first..last
    last = np.zeros(n_nodes, dtype=np.int64)
    counter = [0]

    def visit(code: int) -> tuple[int, int]:
        if code < 0:
            position[~code] = counter[0]
            counter[0] += 1
            return position[~code], position[~code]
        lo, mid = visit(int(tree["left_child"][code]))
        left_last = mid
        _, hi = visit(int(tree["right_child"][code]))
        first[code], last[code] = lo, left_last
        return lo, hi

    leaf_value = np.zeros(n_leaves)
    if n_nodes:
        visit(0)
    leaf_value[position] = tree["leaf_value"]
    if n_nodes == 0:
        return {"leaf_value": leaf_value}
    widths = last - first + 1
    left_bits = ((np.uint64(1) << widths.astype(np.uint64)) - np.uint64(1)) << first.astype(np.uint64)
    left_bits[widths == 64] = np.uint64(0xFFFFFFFFFFFFFFFF)
    decision = tree["decision_type"].astype(np.int64)
    missing, default_left = (decision >> 2) & 3, (decision & 2) != 0
    categorical = (decision & 1) == 1
    threshold = tree["threshold"].copy()
    node_kind, cat_word = np.zeros(n_nodes, np.int64), np.zeros(n_nodes, np.uint64)
    bounds, bits = tree.get("cat_boundaries", np.zeros(1)).astype(np.int64), tree.get("cat_threshold", np.zeros(0))
    for i in np.flatnonzero(categorical):
        words = [int(w) for w in bits[bounds[int(threshold[i])]:bounds[int(threshold[i]) + 1]]]
        node_kind[i] = 1 if len(words) <= 2 else 2
        cat_word[i] = np.uint64(sum(w << (32 * k) for k, w in enumerate(words[:2])))
    threshold[categorical] += bounds_offset
    zero_type = missing == MISSING_TYPES["Zero"]
    return {
        "feature": tree["split_feature"].astype(np.int64), "threshold": threshold,
        "special": np.where(zero_type, 0.0, np.nan),
        "special_left": np.where(missing == MISSING_TYPES["None"], 0.0 <= threshold, default_left),
        "node_kind": node_kind, "cat_word": cat_word, "false_mask": ~left_bits, "leaf_value": leaf_value,
        "cat_bounds": tree.get("cat_boundaries", np.zeros(0)) + bits_offset,
        "cat_bits": tree.get("cat_threshold", np.zeros(0)),
    }


@dataclass
class Forest:
    """The trees of several boosters on the same features, each tree with the output column it adds to, as
    arrays for the kernel (`_tree_nodes`)."""

    node_start: np.ndarray  # (T+1,) offsets into the internal-node arrays
    leaf_start: np.ndarray  # (T+1,) offsets into leaf_value
    tree_output: np.ndarray  # (T,) output column of each tree
    nodes: dict[str, np.ndarray]  # _tree_nodes' arrays of every tree, concatenated
    outputs: list[tuple[int, int, str]]  # per booster: (first output column, outputs, objective)
    feature_names: list[str]
    pandas_categorical: list | None

    @classmethod
    def of(cls, boosters: list[lgb.Booster], iterations: list[int | None] | None = None) -> Forest:
        """The boosters' trees, in LightGBM's order within each output: of the first `iterations[i]` iterations of
        booster i, as `predict(num_iteration=...)` takes them (None: the best iteration, as `predict` uses)."""
        names, categorical = boosters[0].feature_name(), boosters[0].pandas_categorical
        keys = ("feature", "threshold", "special", "special_left", "node_kind", "cat_word", "false_mask", "leaf_value",
                "cat_bounds", "cat_bits")
        dtypes = (np.int64, np.float64, np.float64, np.bool_, np.int64, np.uint64, np.uint64, np.float64, np.int64,
                  np.uint32)
        parts: dict[str, list] = {k: [] for k in keys}
        node_start, leaf_start, tree_output, outputs = [0], [0], [], []
        n_bounds = n_bits = n_out = 0
        for booster, iteration in zip(boosters, iterations or [None] * len(boosters)):
            if booster.feature_name() != names or booster.pandas_categorical != categorical:
                raise ValueError("a forest's boosters must share their features and categories")
            dump = booster.dump_model(num_iteration=iteration)
            per_iteration = int(dump.get("num_tree_per_iteration", 1))
            objective = str(dump.get("objective", "regression"))
            _check_objective(objective.split(" ")[0])
            outputs.append((n_out, per_iteration, objective))
            for k, info in enumerate(dump["tree_info"]):
                tree = tree_from_dump(info)
                arrays = _tree_nodes(tree, n_bounds, n_bits)
                for key, value in arrays.items():
                    parts[key].append(value)
                n_bounds += len(arrays.get("cat_bounds", ()))
                n_bits += len(arrays.get("cat_bits", ()))
                tree_output.append(n_out + k % per_iteration)
                node_start.append(node_start[-1] + tree["num_leaves"] - 1)
                leaf_start.append(leaf_start[-1] + tree["num_leaves"])
            n_out += per_iteration
        nodes = {k: np.concatenate(parts[k]).astype(d) if parts[k] else np.zeros(0, d) for k, d in zip(keys, dtypes)}
        return cls(np.array(node_start, np.int64), np.array(leaf_start, np.int64), np.array(tree_output, np.int64),
                   nodes, outputs, names, categorical)

    def matrix(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The (rows, features) matrix in column-major order, as the kernel reads it."""
        return to_matrix(X, self.feature_names, self.pandas_categorical, order="F")

    def raw(self, X: pd.DataFrame | np.ndarray, n_threads: int | None = None) -> np.ndarray:
        """(rows, outputs) raw scores of every booster's outputs side by side (`outputs` says which columns)."""
        XT = np.ascontiguousarray(self.matrix(X).T)  # features x rows: a view of the column-major matrix
        n_out = self.outputs[-1][0] + self.outputs[-1][1]
        a = self.nodes
        with threads.numba_threads(n_threads) as n:
            return _forest_kernel(XT, n_out, self.node_start, self.leaf_start, self.tree_output, a["feature"],
                                  a["threshold"], a["special"], a["special_left"], a["node_kind"], a["cat_word"],
                                  a["false_mask"], a["leaf_value"], a["cat_bounds"], a["cat_bits"], 4 * n)

    def predict(self, X: pd.DataFrame | np.ndarray, raw_score: bool = False, n_threads: int | None = None
                ) -> list[np.ndarray]:
        """Each booster's `Booster.predict(X, raw_score=raw_score)`: (rows,) for one output, else (rows, k)."""
        scores = self.raw(X, n_threads)
        result = []
        for start, k, objective in self.outputs:
            part = scores[:, start:start + k]
            part = part if raw_score else _transform(part, objective)
            result.append(part[:, 0] if k == 1 else part)
        return result


_IDENTITY = {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}


def _check_objective(objective: str) -> None:
    if objective not in _IDENTITY | {"binary", "multiclass"}:
        raise ValueError(f"objective {objective!r}: the forest predicts raw scores and the probabilities of "
                         f"binary, multiclass and regression objectives only")


def _transform(raw: np.ndarray, objective: str) -> np.ndarray:
    """LightGBM's output transform of an objective (the dump's objective string, e.g. 'binary sigmoid:1')."""
    name, *args = objective.split(" ")
    if name == "binary":
        sigmoid = next((float(a.split(":")[1]) for a in args if a.startswith("sigmoid:")), 1.0)
        return _sigmoid(np.ascontiguousarray(raw), sigmoid)
    if name == "multiclass":
        return _softmax(np.ascontiguousarray(raw))
    return raw


# compiled like LightGBM's own loops, with the C library's exp (numpy's differs in the last bit)
@numba.njit(cache=True)
def _sigmoid(raw, sigmoid):
    out = np.empty_like(raw)
    for i in range(raw.shape[0]):
        for k in range(raw.shape[1]):
            out[i, k] = 1.0 / (1.0 + math.exp(-sigmoid * raw[i, k]))
    return out


@numba.njit(cache=True)
def _softmax(raw):
    out = np.empty_like(raw)
    for i in range(raw.shape[0]):
        top = raw[i, 0]
        for k in range(1, raw.shape[1]):
            top = max(raw[i, k], top)
        total = 0.0
        for k in range(raw.shape[1]):
            out[i, k] = math.exp(raw[i, k] - top)
            total += out[i, k]
        for k in range(raw.shape[1]):
            out[i, k] /= total
    return out
