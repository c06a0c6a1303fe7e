#!/usr/bin/env python
"""Benchmark of issue 14 (campaign learning): prints one JSON object and writes it to --out.

Synthetic part (planted truth of cxpredict.synthetic.campaign on the customers of cxpredict.synthetic.customers).
Features are the behaviour columns through the data layer's FeatureManifest, plus a churn score from a churn
model fitted on the customers' past churn (ChurnClassifier), as `score` would record them; segments are its risk bands.
- uplift_spearman: per strategy with planted heterogeneity (retention, conversion, upsell), `n_treated` treated
  customers and a learning design (`design_share` control), DR-learner out-of-fold uplift vs planted ITT
  uplift; the mean over strategies (per strategy and the same at the default 10% share in `uplift_detail`).
- harmful_retired_rate / helpful_retired_rate: `seeds` campaigns (new random groups and outcomes each, default
  10% control) over strategy x risk-band cells; a cell is harmful when its true mean ITT benefit is below 0,
  helpful when it is at least campaign.min_effect; rate = retired cells / cells of that kind.
- policy_vs_risk_ratio: a retention uplift model fitted on a round-1 campaign over population A's detractors (25%
  control, the demo's learning round); on a fresh population B the retention capacity of the shipped playbook
  (sum over its capacity-limited retention actions) is filled among the detractors by the learned policy
  (expected uplift x value - cost) and by churn risk; ratio of TRUE churns prevented (also: by uplift alone, by
  value at risk, and the true net value of each choice).
- ate_coverage: share of `replicates` campaigns whose 90% per-strategy interval covers the true ITT effect.
- learn_s: the `learn` workflow (config, bundle, results and assignment log on disk) on `learn_rows` assignment
  rows; the full run uses 1,000,000 (learn_s_1m). Timing depends on machine load: re-time on an idle machine.
Hillstrom part (real randomised e-mail campaign, ../shared/datasets/hillstrom): per e-mail vs No E-Mail effects on
visit / conversion / spend with 95% intervals against the README's verified figures, and a DR-learner's Qini
(AUUC excess) on `visit` per e-mail, with the KNOWN design propensity (1/3 per arm, realised share per pair).

Usage: python scripts/bench_uplift.py --out bench_uplift.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from cxpredict.actions.playbook import load_playbook  # noqa: E402
from cxpredict.actions.policy import top_k  # noqa: E402
from cxpredict.config import DEFAULT_PLAYBOOK, DEMO_CONFIG, CampaignConfig, FeaturesConfig  # noqa: E402
from cxpredict.data.features import FeatureManifest  # noqa: E402
from cxpredict.estimation.effects import auuc, blocked_effect, effect_table, verdicts  # noqa: E402
from cxpredict.models.churn import ChurnClassifier  # noqa: E402
from cxpredict.models.uplift import DRLearner, uplift_features  # noqa: E402
from cxpredict.synthetic.campaign import planted_itt_uplift, simulate_results  # noqa: E402
from cxpredict.synthetic.customers import generate  # noqa: E402

HILLSTROM = ROOT.parent / "shared" / "datasets" / "hillstrom" / "hillstrom.csv"
HILLSTROM_README = {  # verified figures of the dataset's README (difference in means, 95% normal intervals)
    "Mens E-Mail": {"visit": (0.0766, 0.0700, 0.0832), "conversion": (0.00681, 0.00500, 0.00861),
                    "spend": (0.770, 0.485, 1.054)},
    "Womens E-Mail": {"visit": (0.0452, 0.0389, 0.0516), "conversion": (0.00311, 0.00150, 0.00472),
                      "spend": (0.424, 0.169, 0.680)},
}
CAMPAIGN = CampaignConfig()
BANDS = (0.2, 0.5)  # the default churn risk bands


def population(n: int, seed: int):
    """Customers, their model matrix + churn score (as `score` records it) and a risk band."""
    data = generate(n_customers=n, seed=seed)
    t = data.tables
    frame = t["customers"].set_index("customer_id")
    for name in ("usage", "billing"):
        frame = frame.join(t[name].set_index("customer_id"))
    for col in ("tickets_count_90d", "tickets_count_30d", "tickets_mean_resolution_hours_90d",
                "orders_late_sum_90d", "orders_count_90d"):
        frame[col] = data.truth[col]
    X = FeatureManifest.fit(frame, FeaturesConfig()).transform(frame, source="bench")
    churn = ChurnClassifier(n_estimators=150, num_leaves=15, measure_nps_lift=False, random_state=seed).fit(
        X, data.truth["churned"].to_numpy())
    snap = pd.DataFrame({"churn_prob": churn.predict_proba(X)[:, 1], "value": frame["monthly_charges"].fillna(60) * 12},
                        index=X.index)
    snap["risk_band"] = pd.cut(snap["churn_prob"], [-np.inf, *BANDS, np.inf], right=False,
                               labels=["low", "medium", "high"]).astype("str")
    return data, uplift_features(X, snap), snap


def campaign(data, ids: np.ndarray, strategy: str, share: float, seed: int):
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(len(ids)) < share, "control", "treated")
    log = pd.DataFrame({"customer_id": ids, "campaign_id": f"bench-{seed}", "rule": strategy, "strategy": strategy,
                        "group": group})
    sim = simulate_results(data, log, seed=seed)
    return sim.results.assign(treated=group == "treated"), sim.truth


def learner(seed: int) -> DRLearner:
    return DRLearner.from_config(CAMPAIGN, seed, n_jobs=2)


def bench_spearman(data, features, n_treated: int, shares=(0.5, 0.1)) -> dict:
    detail = {}
    rng = np.random.default_rng(7)
    for strategy in ("retention", "conversion", "upsell"):
        for share in shares:
            n = min(int(n_treated / (1 - share)), len(features))
            ids = rng.choice(features.index.to_numpy(), n, replace=False)
            results, truth = campaign(data, ids, strategy, share, seed=11)
            model = learner(0).fit(features.loc[ids], -results["churned"].to_numpy(float), results["treated"], 1 - share)
            rho = float(spearmanr(model.oof_uplift_, truth["itt_uplift"])[0])
            detail[f"{strategy}@{share}"] = round(rho, 4)
    design = [v for k, v in detail.items() if k.endswith(f"@{shares[0]}")]
    return {"uplift_spearman": round(float(np.mean(design)), 4), "uplift_design_share": shares[0],
            "uplift_n_treated": n_treated, "uplift_detail": detail}


def bench_retirement(data, snap, seeds: int, n: int) -> dict:
    rng = np.random.default_rng(3)
    ids = {s: rng.choice(snap.index.to_numpy(), n, replace=False) for s in ("retention", "upsell", "referral")}
    true_cells = {}
    for s, who in ids.items():
        itt = pd.Series(planted_itt_uplift(data.truth.loc[who], s), index=who)
        true_cells[s] = itt.groupby(snap.loc[who, "risk_band"].to_numpy()).mean()
    harmful = helpful = harmful_retired = helpful_retired = 0
    for seed in range(seeds):
        for s, who in ids.items():
            results, _ = campaign(data, who, s, 0.1, seed=1000 + seed)
            results["risk_band"] = snap.loc[who, "risk_band"].to_numpy()
            table = effect_table(results, ["churned"], ["strategy", "risk_band"], CAMPAIGN.interval, CAMPAIGN.power)
            v = verdicts(table, CAMPAIGN.min_effect, CAMPAIGN.min_cell, CAMPAIGN.interval, CAMPAIGN.power)
            for r in v.itertuples():
                truth = true_cells[s].get(r.risk_band, np.nan)
                if truth < 0:
                    harmful, harmful_retired = harmful + 1, harmful_retired + (r.verdict == "retire")
                elif truth >= CAMPAIGN.min_effect:
                    helpful, helpful_retired = helpful + 1, helpful_retired + (r.verdict == "retire")
    return {"harmful_retired_rate": round(harmful_retired / max(harmful, 1), 4),
            "helpful_retired_rate": round(helpful_retired / max(helpful, 1), 4), "retirement_seeds": seeds,
            "harmful_cells": harmful, "helpful_cells": helpful, "retirement_customers_per_strategy": n,
            "true_cell_benefit": {s: c.round(4).to_dict() for s, c in true_cells.items()}}


def bench_policy(data_a, feat_a, data_b, feat_b, snap_b, share: float = 0.25) -> dict:
    book = load_playbook(DEFAULT_PLAYBOOK)
    rules = [r for r in book.rules if r.strategy == "retention" and r.capacity]
    capacity, cost = sum(r.capacity for r in rules), float(np.mean([r.cost for r in rules]))
    ids = feat_a.index[(data_a.truth.loc[feat_a.index, "true_class"].astype("str") == "detractor").to_numpy()]
    results, _ = campaign(data_a, ids.to_numpy(), "retention", share, seed=21)  # round 1: the retention rules
    model = learner(0).fit(feat_a.loc[ids], -results["churned"].to_numpy(float), results["treated"],
                           results["treated"].mean())
    pool = (data_b.truth["true_class"].astype("str") == "detractor").to_numpy()  # the retention rules' customers
    truth = planted_itt_uplift(data_b.truth, "retention")
    value, uplift = snap_b["value"].to_numpy(), model.predict(feat_b)
    net = uplift * value - cost
    chosen = {"policy": top_k(np.where(net > 0, net, np.nan), capacity, pool),
              "uplift": top_k(uplift, capacity, pool),
              "churn_risk": top_k(snap_b["churn_prob"].to_numpy(), capacity, pool),
              "value_at_risk": top_k(snap_b["churn_prob"].to_numpy() * value, capacity, pool)}
    prevented = {k: float(truth[c].sum()) for k, c in chosen.items()}
    saved = {k: float((truth * value)[c].sum() - cost * c.sum()) for k, c in chosen.items()}
    return {"policy_vs_risk_ratio": round(prevented["policy"] / prevented["churn_risk"], 4),
            "policy_capacity": capacity, "policy_churns_prevented_true": {k: round(v, 2) for k, v in prevented.items()},
            "policy_net_value_true": {k: round(v, 1) for k, v in saved.items()},
            "policy_round1_customers": len(ids), "policy_round1_share": share}


def bench_coverage(data, snap, replicates: int, n: int) -> dict:
    rng = np.random.default_rng(9)
    out = {}
    for s in ("retention", "upsell", "activation"):
        who = rng.choice(snap.index.to_numpy(), n, replace=False)
        target = -float(planted_itt_uplift(data.truth.loc[who], s).mean())  # churn effect (treated - control)
        hits = 0
        for r in range(replicates):
            results, _ = campaign(data, who, s, 0.1, seed=5000 + r)
            e = blocked_effect(results["churned"], results["treated"], level=0.9)
            hits += e.low <= target <= e.high
        out[s] = hits / replicates
    return {"ate_coverage": round(float(np.mean(list(out.values()))), 4), "ate_coverage_by_strategy": out,
            "ate_replicates": replicates, "ate_customers": n}


def bench_learn(rows: int) -> dict:
    """`learn` on `rows` assignment rows: a bundle trained on 20k demo customers, scored data of `rows` customers."""
    import shutil

    from conftest import FAST_OVERRIDES

    from cxpredict.actions.holdout import ASSIGNMENT_COLUMNS, hash_unit
    from cxpredict.config import load_config
    from cxpredict.io.bundle import load_bundle
    from cxpredict.synthetic.tables import write_tables
    from cxpredict.workflows.learn import learn
    from cxpredict.workflows.train import train

    tmp = Path(tempfile.mkdtemp(prefix="bench-uplift-"))
    small = generate(n_customers=20_000, seed=0, response_rate=0.1)
    write_tables(small, tmp / "data" / "demo")
    cfg = load_config(DEMO_CONFIG, [*FAST_OVERRIDES, "tracking.enabled=false", f"data.dir={tmp / 'data' / 'demo'}"])
    bundle = load_bundle(train(cfg, tmp / "model").bundle_path)
    big = generate(n_customers=rows, seed=1, response_rate=0.02)
    write_tables(big, tmp / "data" / "demo")  # learn reads the features of the campaign's customers
    t = big.truth
    strategy = np.select([t["true_class"] == "detractor", t["true_class"] == "passive"], ["retention", "conversion"],
                         np.where(t["churn_prob"] < 0.3, "upsell", "referral"))
    log = pd.DataFrame({"customer_id": t.index.astype("str"), "campaign_id": "bench", "strategy": strategy})
    log["rule"] = log["strategy"].map({r.strategy: r.name for r in reversed(load_playbook(DEFAULT_PLAYBOOK).rules)})
    log["action"] = "action"
    log["group"] = np.where(hash_unit(log["customer_id"], "bench") < 0.1, "control", "treated")
    for col in ASSIGNMENT_COLUMNS:
        if col not in log.columns:
            log[col] = {"segment": "s", "risk_band": "low", "deferred": False, "assigned_at": "2026-10-31"}.get(
                col, t["churn_prob"].to_numpy() if col in ("churn_prob", "priority", "p_detractor") else 0.5)
    log.to_csv(tmp / "assignments.csv", index=False)
    simulate_results(big, log, seed=2).results.to_csv(tmp / "results.csv", index=False)
    started = time.perf_counter()
    learned = learn(cfg, bundle, tmp / "results.csv", tmp / "assignments.csv", tmp / "learn")
    seconds = time.perf_counter() - started
    shutil.rmtree(tmp, ignore_errors=True)
    return {"learn_s": round(seconds, 1), "learn_rows": rows, "learn_timings": learned.manifest["timings"],
            "load_average": os.getloadavg()[0]}


def bench_hillstrom() -> dict:
    if not HILLSTROM.is_file():
        return {"hillstrom": "not available (../shared/datasets/hillstrom/hillstrom.csv)"}
    raw = pd.read_csv(HILLSTROM)
    raw.insert(0, "customer_id", np.arange(len(raw)))  # the README's advice: row position as the ID
    X = pd.get_dummies(raw[["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]],
                       columns=["zip_code", "channel"], dtype=float)
    out = {}
    for arm, figures in HILLSTROM_README.items():
        part = raw["segment"].isin([arm, "No E-Mail"]).to_numpy()
        treated = (raw.loc[part, "segment"] == arm).to_numpy()
        row = {}
        for outcome, (ref, ref_low, ref_high) in figures.items():
            e = blocked_effect(raw.loc[part, outcome].to_numpy(float), treated, level=0.95)
            row[outcome] = {"effect": round(e.effect, 5), "low": round(e.low, 5), "high": round(e.high, 5),
                            "readme": ref, "matches_readme": bool(abs(e.effect - ref) < 5e-4 * max(1, abs(ref) * 10)
                                                                  and abs(e.low - ref_low) < 2e-3 * max(1, ref * 10))}
        model = learner(0).fit(X[part].reset_index(drop=True), raw.loc[part, "visit"].to_numpy(float), treated,
                               treated.mean())  # the design share: 1/3 per arm, realised share of this pair
        row["visit_qini"] = {k: round(v, 5) for k, v in auuc(model.oof_uplift_, model.pseudo_outcome_, 0.9).items()}
        out[arm] = row
    return {"hillstrom": out}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="smaller populations; seeds/replicates as the targets ask")
    args = ap.parse_args()
    quick = args.quick
    started = time.perf_counter()
    data, features, snap = population(60_000 if quick else 200_000, seed=1)
    result = {"quick": quick, "load_average_start": os.getloadavg()[0]}
    result |= bench_spearman(data, features, 10_000 if quick else 20_000)
    result |= bench_retirement(data, snap, 100, 20_000 if quick else 60_000)
    result |= bench_coverage(data, snap, 300, 10_000 if quick else 30_000)
    data_b, features_b, snap_b = population(30_000 if quick else 100_000, seed=2)
    result |= bench_policy(data, features, data_b, features_b, snap_b)
    result |= bench_hillstrom()
    result |= bench_learn(100_000 if quick else 1_000_000)
    if not quick:
        result["learn_s_1m"] = result["learn_s"]
    result["total_s"] = round(time.perf_counter() - started, 1)
    result["load_average_end"] = os.getloadavg()[0]
    text = json.dumps(result, indent=2, default=float)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
