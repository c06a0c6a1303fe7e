"""Single-thread CPU seconds per 100k rows of each model evaluation in `cxpredict score` (bundle 500k_25k)."""
import json, time, numpy as np, lightgbm as lgb, pyarrow.parquet as pq, numba
from cxpredict.io.bundle import load_bundle
from cxpredict.explain import trees, treeshap
B = "/tmp/bench-scale/bundle-500k_25k"
b = load_bundle(B)
frame = pq.read_table("/tmp/score-helper/pop-250k/part-00000.parquet").to_pandas().iloc[:100_000]
frame = frame.set_index(frame.columns[0])
X = b.manifest.transform(frame, "x", lambda c: c)
def cpu(f, reps=3):
    best = 1e9
    for _ in range(reps):
        c = time.process_time(); f(); best = min(best, time.process_time() - c)
    return round(best, 3)
out = {}
nps = lgb.Booster(model_file=f"{B}/nps/nps_0.txt")
M = trees.to_matrix(X[nps.feature_name()], trees.tree_arrays(nps, None))
out["nps_predict_400_trees"] = cpu(lambda: nps.predict(M, raw_score=True, num_threads=1))
churn = lgb.Booster(model_file=f"{B}/churn/churn.txt")
Mc = np.random.default_rng(0).random((len(X), churn.num_feature()))
Mc[:, :M.shape[1]] = M  # layout approximates the real input: only CPU per row matters here
out["churn_predict_300_trees(approx input)"] = cpu(lambda: churn.predict(Mc, raw_score=True, num_threads=1))
reasons = [lgb.Booster(model_file=f"{B}/reasons/reason_{j}.txt") for j in range(8)]
out["reasons_predict_8_boosters_944_trees"] = cpu(lambda: [r.predict(M, num_threads=1) for r in reasons])
arr = trees.tree_arrays(nps, None)
treeshap.attribute(M[:100], arr, n_threads=1)
out["treeshap_exact_nps_400_trees"] = cpu(lambda: treeshap.attribute(M, arr, n_threads=1))
out["pred_contrib_nps_400_trees"] = cpu(lambda: nps.predict(M, pred_contrib=True, num_threads=1), reps=1)
out["note"] = "CPU seconds per 100,000 rows, one thread, best of 3, shared loaded machine"
print(json.dumps(out, indent=1))
json.dump(out, open("/tmp/score-helper/budget.json", "w"), indent=1)
