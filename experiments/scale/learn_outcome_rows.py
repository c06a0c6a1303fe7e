"""What capping the DR-learner's outcome models (campaign.uplift_outcome_rows) costs in uplift quality and saves in
CPU, on bench_scale's 1M campaign (planted truth of cxpredict.synthetic.campaign, regenerated with its seeds).

Usage: python experiments/scale/learn_outcome_rows.py UPLIFT_INPUTS.pkl ASSIGNMENTS CONFIG OUT.json ROWS[,ROWS..] SEEDS N
(N: the customers bench_scale generated, e.g. 1000000)
UPLIFT_INPUTS.pkl: (cfg, frame, features) as `learn` hands them to fit_uplift (pickled from a run). Per variant
(outcome rows) and seed (campaign seed: folds and subsamples): per strategy Spearman of the out-of-fold uplift
with the planted ITT uplift, the AUUC excess on the pseudo-outcomes, the ATE, and the CPU seconds of fit_uplift."""
import json, pickle, sys, time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from cxpredict.config import load_config
from cxpredict.estimation.effects import auuc
from cxpredict.io.people import load_scored
from cxpredict.synthetic.campaign import simulate_results
from cxpredict.synthetic.customers import generate
from cxpredict.workflows.learn import fit_uplift

inputs, assignments, config, out, variants, seeds, n = sys.argv[1:8]
_, frame, features = pickle.load(open(inputs, "rb"))
log = load_scored(assignments)
n = int(n)
truth_file = Path(inputs).with_name("truth_itt.pkl")
if not truth_file.is_file():
    data = generate(n_customers=n, seed=1, response_rate=max(n // 20, 10) / n)
    sim = simulate_results(data, log, seed=1)
    pickle.dump(sim.truth.assign(customer_id=log["customer_id"].astype("str").to_numpy())
                .set_index("customer_id")["itt_uplift"], open(truth_file, "wb"))
truth = pickle.load(open(truth_file, "rb")).reindex(frame["customer_id"].astype("str")).to_numpy()
rows = []
for rows_cap in [int(v) for v in variants.split(",")]:
    for seed in [int(s) for s in seeds.split(",")]:
        cfg = load_config(Path(config), overrides=[f"campaign.uplift_outcome_rows={rows_cap}", f"seed={seed}"])
        c = time.process_time()
        models, oof = fit_uplift(cfg, frame, features)
        cpu = time.process_time() - c
        for s in models:
            part = ((frame["strategy"] == s) & oof["pseudo"].notna()).to_numpy()
            u, p = oof["uplift_oof"].to_numpy()[part], oof["pseudo"].to_numpy()[part]
            rows.append({"outcome_rows": rows_cap, "seed": seed, "strategy": s, "cpu_s": round(cpu, 2),
                         "spearman_truth": round(float(spearmanr(u, truth[part]).statistic), 4),
                         "auuc_excess": auuc(u, p, 0.9)["excess"], "ate": models[s].ate_})
        print(json.dumps(rows[-len(models):]), flush=True)
Path(out).write_text(json.dumps(rows, indent=1))
