"""Exact TreeSHAP for ONE output of a LightGBM model, summed into feature groups, in compiled parallel code.

Why: drivers need one class of a multiclass model summed into ~10 groups for every customer, at scoring speed.
trees.py reads the wanted class's trees from LightGBM's documented JSON dump (`Booster.dump_model()`); this module
computes path-dependent TreeSHAP with a numba kernel over rows on all cores: the values of LightGBM's
`pred_contrib` and of shap's own TreeSHAP algorithm, equal to 1e-9 (tests/explain/test_drivers.py and
test_treeshap.py). scripts/bench_drivers.py times it, on the same one-class model, rows and threads, against
`pred_contrib` and `shap.TreeExplainer` (the kernel stays only while it is at least 2x faster than the better of
the two; the figures: experiments/drivers). Compiled code is cached on disk (numba `cache=True`),
so a fresh process pays the compilation once per installation, not once per run.

The algorithm (exact, no sampling): for a leaf l with value v, let U be the distinct features on its path,
z_j the product of the cover fractions of the path's splits on feature j, and s_j = 1 when the row follows
every split on j along the path (else 0). The Shapley weights k!(d-k-1)!/d! are Beta integrals, which turns the
TreeSHAP sum over subsets into a one-dimensional integral of a polynomial of degree |U|-1:

    phi_i += v * (s_i - z_i) * integral_0^1  prod_{j in U, j != i} (z_j (1 - t) + s_j t)  dt

Gauss-Legendre quadrature with ceil(max|U| / 2) nodes per tree integrates it exactly. As in Linear TreeSHAP
(Yu et al., 2022) the leaf polynomials are summed bottom-up, so feature i's share is taken once per split on i
(the deepest one above each leaf): O(nodes x quadrature nodes) per tree and row, no divisions (the factors'
inverses are precomputed), versus TreeSHAP's O(leaves x depth^2). 64 rows go through a tree together so the
inner loops vectorise. The expected value is sum_l v_l * prod_j z_j.

Small trees (at most TABLE_MAX_SPLITS splits, the usual NPS model) are not walked per row: a tree's attributions
depend on a row only through its decisions at the tree's splits, so `_tables` runs the same algorithm once per
decision pattern (2^splits lanes) and each row then adds its pattern's row of the table, about the cost of a
prediction. Numerical decisions are taken without branches on the data, on the matrix transposed once per call.

`path` attributions (Saabas), the cheap approximation: each split hands the change in the cover-weighted mean
of the subtree to its feature. They sum to the same raw output but are not Shapley values.
"""

from __future__ import annotations

import numba
import numpy as np

from cxpredict import threads
from cxpredict.explain.trees import TreeArrays
from cxpredict.models.forest import ZERO


# --------------------------------------------------------------------------------------------- kernels
@numba.njit(cache=True, inline="always")
def _goes_left(value, node, threshold, decision, cat_start_t, cat_bounds, cat_bits):
    """LightGBM's Tree::Decision: numerical with missing handling, or a categorical bitset."""
    dt = decision[node]
    if dt & 1:  # categorical
        if np.isnan(value):
            return False
        iv = int(value)
        if iv < 0:
            return False
        ci = cat_start_t + int(threshold[node])
        lo, hi = cat_bounds[ci], cat_bounds[ci + 1]
        word = iv // 32
        if word >= hi - lo:
            return False
        return (cat_bits[lo + word] >> np.uint32(iv % 32)) & np.uint32(1) == np.uint32(1)
    missing_type = (dt >> 2) & 3
    if np.isnan(value) and missing_type != 2:
        value = 0.0
    if (missing_type == 1 and -ZERO <= value <= ZERO) or (missing_type == 2 and np.isnan(value)):
        return (dt & 2) != 0
    return value <= threshold[node]


@numba.njit(cache=True, inline="always")
def _decisions(Xt, r0, m, g, threshold, decision, feature, cat_start_t, cat_bounds, cat_bits, went_left):
    """went_left[i] = the decision at node g of row r0 + i (i < m) of the transposed matrix Xt (features, rows).
    Numerical splits without branches on the data (so the loop vectorises and mispredicts nothing), the same
    answers as _goes_left; categorical splits through _goes_left."""
    x = Xt[feature[g]]
    dt = decision[g]
    if dt & 1:
        for i in range(m):
            went_left[i] = _goes_left(x[r0 + i], g, threshold, decision, cat_start_t, cat_bounds, cat_bits)
        return
    missing_type, default_left, thr = (dt >> 2) & 3, (dt & 2) != 0, threshold[g]
    for i in range(m):
        v = x[r0 + i]
        nan = np.isnan(v)
        v = 0.0 if nan else v
        special = ((missing_type == 1) & (v >= -ZERO) & (v <= ZERO)) | ((missing_type == 2) & nan)
        went_left[i] = (special & default_left) | (~special & (v <= thr))


ROWS_PER_LANE = 64  # rows explained together (inner loops run across them); 64 measured best of 4..256
TABLE_MAX_SPLITS = 10  # trees of at most this many splits are explained from a table (2^splits decision patterns)
TABLE_MAX_VALUES = 1 << 22  # and only while every such table together holds at most this many values (32 MB)


@numba.njit(cache=True, inline="always")
def _tree_lane(t, m, left_of, out, r0, column_of, leaf_start, pos_start, leaf_value, pre_node, pre_parent, pre_left,
               pre_feature, pre_z, pre_prev, tree_quad, quad_t, cold_coef, hot_coef, inv_cold, inv_hot, poly, below,
               deeper, hot, acc):
    """Tree t's exact attributions of a lane of rows into out[r0 + i] (i < m), given the rows' decision at every
    internal position (left_of, filled by the caller): the whole algorithm, shared by rows and tables."""
    lane = poly.shape[2]
    p0, n_pos = pos_start[t], pos_start[t + 1] - pos_start[t]
    l0, nq = leaf_start[t], tree_quad[t]
    # pass 1, parents first: s and the path polynomial at every position
    for k in range(n_pos):
        pos = p0 + k
        if k == 0:
            hot[0, :] = 1.0
            poly[0, :nq, :] = 1.0
        else:
            par, prev, z = pre_parent[pos], pre_prev[pos], pre_z[pos]
            want_left = pre_left[pos] == 1
            for i in range(lane):
                follows = 1.0 if left_of[par, i] == want_left else 0.0
                hot[k, i] = follows * (hot[prev, i] if prev >= 0 else 1.0)
            for q in range(nq):
                tq = quad_t[nq, q]
                base = z * (1.0 - tq)
                if prev >= 0:  # undo the earlier factor of the same feature
                    ic, ih = inv_cold[p0 + prev, q], inv_hot[p0 + prev, q]
                    for i in range(lane):
                        poly[k, q, i] = (poly[par, q, i] * (base + hot[k, i] * tq)
                                         * (ic + hot[prev, i] * (ih - ic)))
                else:
                    for i in range(lane):
                        poly[k, q, i] = poly[par, q, i] * (base + hot[k, i] * tq)
        node = pre_node[pos]
        v = 0.0 if node >= 0 else leaf_value[l0 + ~node]  # internal nodes start with an empty leaf sum
        for q in range(nq):
            for i in range(lane):
                below[k, q, i] = v * poly[k, q, i]
                deeper[k, q, i] = 0.0
    # pass 2, children first: each split's feature gets (s - z) * integral(leaf sum / its factor)
    for k in range(n_pos - 1, 0, -1):
        pos = p0 + k
        par, prev = pre_parent[pos], pre_prev[pos]
        for i in range(lane):
            acc[i] = 0.0
        for q in range(nq):
            cc, ch = cold_coef[nq, q], hot_coef[pos, q]
            for i in range(lane):
                acc[i] += (cc + hot[k, i] * (ch - cc)) * (below[k, q, i] - deeper[k, q, i])
                below[par, q, i] += below[k, q, i]
            if prev >= 0:
                for i in range(lane):
                    deeper[prev, q, i] += below[k, q, i]
        col = column_of[pre_feature[pos]]
        for i in range(m):
            out[r0 + i, col] += acc[i]


@numba.njit(cache=True, parallel=True)
def _table_kernel(tabled, table_start, column_of, n_out, node_start, leaf_start, pos_start, leaf_value, pre_node,
                  pre_parent, pre_left, pre_feature, pre_z, pre_prev, tree_quad, quad_t, cold_coef, hot_coef,
                  inv_cold, inv_hot, max_positions):
    """Every tabled tree's attributions for each of its 2^splits decision patterns (bit j: goes left at node j):
    row table_start[t] + pattern. A tree's attributions depend on a row only through these decisions."""
    lane, qmax = ROWS_PER_LANE, quad_t.shape[1]
    table = np.zeros((table_start[-1], n_out))
    for w in numba.prange(len(tabled)):
        t = tabled[w]
        poly = np.empty((max_positions, qmax, lane))
        below = np.empty((max_positions, qmax, lane))
        deeper = np.empty((max_positions, qmax, lane))
        hot = np.zeros((max_positions, lane))
        left_of = np.zeros((max_positions, lane), dtype=np.bool_)
        acc = np.zeros(lane)
        n_patterns = 1 << (node_start[t + 1] - node_start[t])
        for r0 in range(0, n_patterns, lane):
            m = min(lane, n_patterns - r0)
            for k in range(pos_start[t + 1] - pos_start[t]):
                node = pre_node[pos_start[t] + k]
                if node >= 0:
                    for i in range(m):
                        left_of[k, i] = ((r0 + i) >> node) & 1 == 1
            _tree_lane(t, m, left_of, table, table_start[t] + r0, column_of, leaf_start, pos_start, leaf_value,
                       pre_node, pre_parent, pre_left, pre_feature, pre_z, pre_prev, tree_quad, quad_t, cold_coef,
                       hot_coef, inv_cold, inv_hot, poly, below, deeper, hot, acc)
    return table


@numba.njit(cache=True, parallel=True)
def _treeshap_kernel(Xt, column_of, n_out, node_start, leaf_start, pos_start, cat_start, feature, threshold,
                     decision, leaf_value, cat_bounds, cat_bits, pre_node, pre_parent, pre_left, pre_feature, pre_z,
                     pre_prev, tree_quad, quad_t, cold_coef, hot_coef, inv_cold, inv_hot, max_positions, n_workers,
                     table_start, table):
    n, n_trees, qmax = Xt.shape[1], len(node_start) - 1, quad_t.shape[1]
    lane = ROWS_PER_LANE
    out = np.zeros((n, n_out))
    n_lanes = (n + lane - 1) // lane
    n_parts = min(n_lanes, 4 * n_workers)
    for part in numba.prange(n_parts):
        # scratch per worker, reused for every lane (every entry read is written first for the tree at hand)
        poly = np.empty((max_positions, qmax, lane))  # prod over distinct path features of (z (1 - t) + s t)
        below = np.empty((max_positions, qmax, lane))  # sum over the leaves below of value * poly
        deeper = np.empty((max_positions, qmax, lane))  # the part of `below` under a deeper same-feature split
        hot = np.zeros((max_positions, lane))  # s = 1.0: the row follows every split on the feature so far
        left_of = np.zeros((max_positions, lane), dtype=np.bool_)  # the row's decision at an internal node
        acc = np.zeros(lane)
        went_left = np.zeros(lane, dtype=np.bool_)
        pattern = np.zeros(lane, dtype=np.int64)
        for b in range(part * n_lanes // n_parts, (part + 1) * n_lanes // n_parts):
            r0 = b * lane
            m = min(lane, n - r0)
            for t in range(n_trees):
                p0, n_pos = pos_start[t], pos_start[t + 1] - pos_start[t]
                if n_pos == 0:
                    continue  # a single-leaf tree only moves the expected value
                n0 = node_start[t]
                if table_start[t] >= 0:  # the rows' decision patterns pick their rows of the tree's table
                    pattern[:] = 0
                    for j in range(node_start[t + 1] - n0):
                        _decisions(Xt, r0, m, n0 + j, threshold, decision, feature, cat_start[t], cat_bounds,
                                   cat_bits, went_left)
                        for i in range(m):
                            pattern[i] |= np.int64(went_left[i]) << j
                    for i in range(m):
                        row = table_start[t] + pattern[i]
                        for c in range(n_out):
                            out[r0 + i, c] += table[row, c]
                    continue
                for k in range(n_pos):
                    node = pre_node[p0 + k]
                    if node >= 0:
                        _decisions(Xt, r0, m, n0 + node, threshold, decision, feature, cat_start[t], cat_bounds,
                                   cat_bits, went_left)
                        left_of[k, :m] = went_left[:m]
                _tree_lane(t, m, left_of, out, r0, column_of, leaf_start, pos_start, leaf_value, pre_node,
                           pre_parent, pre_left, pre_feature, pre_z, pre_prev, tree_quad, quad_t, cold_coef,
                           hot_coef, inv_cold, inv_hot, poly, below, deeper, hot, acc)
    return out


@numba.njit(cache=True, parallel=True)
def _path_kernel(X, column_of, n_out, node_start, leaf_start, cat_start, feature, threshold, decision, left,
                 right, node_mean, leaf_value, cat_bounds, cat_bits):
    n, n_trees = X.shape[0], len(node_start) - 1
    out = np.zeros((n, n_out))
    for r in numba.prange(n):
        x = X[r]
        for t in range(n_trees):
            n0, l0 = node_start[t], leaf_start[t]
            if node_start[t + 1] == n0:
                continue
            node = 0
            while node >= 0:
                g = n0 + node
                node = left[g] if _goes_left(x[feature[g]], g, threshold, decision, cat_start[t], cat_bounds,
                                             cat_bits) else right[g]
                after = leaf_value[l0 + ~node] if node < 0 else node_mean[n0 + node]
                out[r, column_of[feature[g]]] += after - node_mean[g]
    return out


def attribute(X: np.ndarray, arrays: TreeArrays, column_of: np.ndarray | None = None, n_out: int | None = None,
              method: str = "exact", n_threads: int | None = None) -> np.ndarray:
    """(rows, n_out) float64 attributions of the raw output; feature f adds into column `column_of[f]`
    (default: one column per feature). Rows sum to raw output - `arrays.expected_value`."""
    n_features = len(arrays.feature_names)
    column_of = np.arange(n_features, dtype=np.int64) if column_of is None else np.asarray(column_of, np.int64)
    n_out = n_features if n_out is None else n_out
    X = np.ascontiguousarray(X, dtype=np.float64)
    with threads.numba_threads(n_threads) as n_threads:
        if method == "path":
            return _path_kernel(X, column_of, n_out, arrays.node_start, arrays.leaf_start, arrays.cat_start,
                                arrays.feature, arrays.threshold, arrays.decision, arrays.left, arrays.right,
                                arrays.node_mean, arrays.leaf_value, arrays.cat_bounds, arrays.cat_bits)
        if method != "exact":
            raise ValueError(f"unknown attribution method {method!r}; use 'exact' or 'path'")
        q = arrays.quad
        table_start, table = _tables(arrays, column_of, n_out)
        return _treeshap_kernel(np.ascontiguousarray(X.T), column_of, n_out, arrays.node_start, arrays.leaf_start,
                                arrays.pos_start, arrays.cat_start, arrays.feature, arrays.threshold, arrays.decision,
                                arrays.leaf_value, arrays.cat_bounds, arrays.cat_bits, arrays.pre_node,
                                arrays.pre_parent, arrays.pre_left, arrays.pre_feature, arrays.pre_z,
                                arrays.pre_prev, arrays.tree_quad, q["t"], q["cold"], q["hot"], q["inv_cold"],
                                q["inv_hot"], arrays.max_positions, n_threads, table_start, table)


def _tables(arrays: TreeArrays, column_of: np.ndarray, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(table_start per tree, -1: explained row by row; the tables): the attributions of every decision pattern
    of the small trees, smallest first while they fit TABLE_MAX_VALUES. Kept on `arrays` per (column_of, n_out).

    Why: a tree's exact attributions depend on a row only through its decisions at the tree's splits, so a tree
    of s splits has at most 2^s distinct answers. Looking the answer up costs about a prediction; computing it
    costs the whole TreeSHAP pass. The same numbers to float rounding (a row adds a tree's per-column sums
    instead of its per-split terms one by one)."""
    max_splits = TABLE_MAX_SPLITS
    key = (column_of.tobytes(), n_out, max_splits)
    cached = arrays.tables.get(key)
    if cached is not None:
        return cached
    splits = np.diff(arrays.node_start)
    sizes = np.where((splits > 0) & (splits <= max_splits), (1 << np.minimum(splits, max_splits)) * n_out, 0)
    tabled = np.zeros(len(splits), dtype=bool)
    order = np.argsort(sizes, kind="stable")
    fits = np.cumsum(sizes[order]) <= TABLE_MAX_VALUES
    tabled[order[fits & (sizes[order] > 0)]] = True
    table_start = np.full(len(splits) + 1, -1, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(np.where(tabled, 1 << np.minimum(splits, max_splits), 0))])
    table_start[:-1][tabled] = starts[:-1][tabled]
    table_start[-1] = starts[-1]
    q = arrays.quad
    table = _table_kernel(np.flatnonzero(tabled), table_start, column_of, n_out, arrays.node_start,
                          arrays.leaf_start, arrays.pos_start, arrays.leaf_value, arrays.pre_node, arrays.pre_parent,
                          arrays.pre_left, arrays.pre_feature, arrays.pre_z, arrays.pre_prev, arrays.tree_quad,
                          q["t"], q["cold"], q["hot"], q["inv_cold"], q["inv_hot"], arrays.max_positions)
    arrays.tables[key] = (table_start, table)
    return table_start, table
