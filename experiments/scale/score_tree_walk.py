"""numba tree walks over trees.py arrays vs LightGBM predict: CPU and bit-equality (session 4, score speed)."""
import time, sys, numpy as np, lightgbm as lgb, pyarrow.parquet as pq, numba
from cxpredict.io.bundle import load_bundle
from cxpredict.explain import trees
from cxpredict.explain.treeshap import _goes_left
b = load_bundle("/tmp/bench-scale/bundle-500k_25k")
frame = pq.read_table("/tmp/score-helper/pop-250k/part-00000.parquet").to_pandas().iloc[:100_000]
frame = frame.set_index(frame.columns[0])
X = b.manifest.transform(frame, "x", lambda c: c)

@numba.njit(cache=True, parallel=True)
def _naive(X, node_start, leaf_start, cat_start, feature, threshold, decision, left, right, leaf_value, cat_bounds, cat_bits):
    n, n_trees = X.shape[0], len(node_start) - 1
    out = np.zeros(n)
    for r in numba.prange(n):
        x = X[r]
        s = 0.0
        for t in range(n_trees):
            n0, l0 = node_start[t], leaf_start[t]
            if node_start[t + 1] == n0:
                s += leaf_value[l0]
                continue
            node = 0
            while node >= 0:
                g = n0 + node
                node = left[g] if _goes_left(x[feature[g]], g, threshold, decision, cat_start[t], cat_bounds, cat_bits) else right[g]
            s += leaf_value[l0 + ~node]
        out[r] = s
    return out

LANE = 64
@numba.njit(cache=True, parallel=True)
def _blocked(X, node_start, leaf_start, cat_start, feature, threshold, decision, left, right, leaf_value, cat_bounds, cat_bits, numeric_only):
    n, n_trees = X.shape[0], len(node_start) - 1
    out = np.zeros(n)
    n_blocks = (n + LANE - 1) // LANE
    for b in numba.prange(n_blocks):
        r0 = b * LANE
        m = min(LANE, n - r0)
        acc = np.zeros(LANE)
        for t in range(n_trees):
            n0, l0 = node_start[t], leaf_start[t]
            if node_start[t + 1] == n0:
                for i in range(m):
                    acc[i] += leaf_value[l0]
                continue
            for i in range(m):
                node = 0
                while node >= 0:
                    g = n0 + node
                    node = left[g] if _goes_left(X[r0 + i, feature[g]], g, threshold, decision, cat_start[t], cat_bounds, cat_bits) else right[g]
                acc[i] += leaf_value[l0 + ~node]
        for i in range(m):
            out[r0 + i] = acc[i]
    return out

for path in ("nps/nps_0.txt", "reasons/reason_5.txt", "reasons/reason_0.txt"):
    f = "/tmp/bench-scale/bundle-500k_25k/" + path
    bo = lgb.Booster(model_file=f)
    Xs = X[bo.feature_name()]
    a = trees.tree_arrays(bo, None)
    M = trees.to_matrix(Xs, a)
    args = (a.node_start, a.leaf_start, a.cat_start, a.feature, a.threshold, a.decision, a.left, a.right, a.leaf_value, a.cat_bounds, a.cat_bits)
    numba.set_num_threads(1)
    _naive(M[:10], *args); _blocked(M[:10], *args, True)
    for rep in range(2):
        t = time.perf_counter(); c = time.process_time(); ref = bo.predict(M, raw_score=True, num_threads=1)
        print(path, "lgb nt1", round(time.perf_counter()-t, 2), "cpu", round(time.process_time()-c, 2))
        t = time.perf_counter(); c = time.process_time(); r = _naive(M, *args)
        print(path, "naive nt1", round(time.perf_counter()-t, 2), "cpu", round(time.process_time()-c, 2), np.abs(r-ref).max())
        t = time.perf_counter(); c = time.process_time(); r = _blocked(M, *args, True)
        print(path, "blocked nt1", round(time.perf_counter()-t, 2), "cpu", round(time.process_time()-c, 2), np.abs(r-ref).max(), (r==ref).all())
