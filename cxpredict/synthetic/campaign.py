"""Simulated campaign results with a planted truth: what each action does to whom, for the closed loop's yardstick.

Driven by the customers of synthetic/customers.py (their true churn probability, class and top driver) and an
assignment log (actions/holdout.py), so the demo and the benchmark can check that `learn` recovers the truth.

Planted effects, as the churn reduction if the action is delivered ("benefit"):
- retention / win-back: 0.5 x p x (1 - p), p = the customer's true churn probability, full for customers whose
  top problem is actionable, 15% of it otherwise. Persuadables sit in the middle: the customers most at risk are
  often lost causes, so targeting by risk alone wastes calls. Below p = HARM_RISK the call HARMS (-0.06, the
  "sleeping dogs": a retention call reminds a customer who was not thinking of leaving that they could).
- conversion: 0.2 x p (and +8 points of conversion).
- activation: no effect at all (a strategy to retire or keep testing).
- upsell: HELPS customers at low true churn risk (p < HARM_RISK: +0.03) and HARMS the others (-0.12: an offer
  to someone already thinking of leaving pushes them out), +6 points of conversion.
- referral: +0.015 (small, real), +2 points of conversion.
Delivery is imperfect: only CONTACT_RATE of the treated customers are reached (control customers never are), so
the intention-to-treat effect is the rate times the benefit, and the complier (contacted) effect is the benefit.
Potential outcomes share one uniform draw per customer, so treatment changes churn only where it should.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxpredict.synthetic.customers import SyntheticCX

CONTACT_RATE = {"retention": 0.70, "win-back": 0.70, "conversion": 0.90, "activation": 0.95, "upsell": 0.90,
                "referral": 0.90}
CONVERSION_LIFT = {"conversion": 0.08, "upsell": 0.06, "referral": 0.02}
ANSWER_RATE = 0.15  # share of customers who answer a survey during the campaign (new_score)
ORDER_VALUE = 60.0  # mean revenue of a conversion
HARM_RISK = 0.2  # the churn probability where retention starts to help and upsell starts to harm


def planted_benefit(truth: pd.DataFrame, strategy: str) -> np.ndarray:
    """True churn reduction per customer IF the strategy's action is delivered (negative: the action harms)."""
    p = truth["churn_prob"].to_numpy(dtype=float)
    if strategy in ("retention", "win-back"):
        actionable = truth["true_top_driver_actionable"].to_numpy(dtype=bool)
        return np.where(p < HARM_RISK, -0.06, 0.5 * p * (1 - p) * np.where(actionable, 1.0, 0.15))
    if strategy == "conversion":
        return 0.2 * p
    if strategy == "upsell":
        return np.where(p < HARM_RISK, 0.03, -0.12)
    if strategy == "referral":
        return np.full(len(truth), 0.015)
    return np.zeros(len(truth))


def planted_itt_uplift(truth: pd.DataFrame, strategy: str) -> np.ndarray:
    """True intention-to-treat churn reduction: contact rate x benefit (what an uplift model can learn)."""
    return CONTACT_RATE.get(strategy, 0.0) * planted_benefit(truth, strategy)


@dataclass
class CampaignSimulation:
    results: pd.DataFrame  # the results contract (data/campaigns.py), one row per assigned customer
    truth: pd.DataFrame  # per results row: benefit, itt_uplift, contacted, p_churn_control, p_churn_treated


def simulate_results(data: SyntheticCX, assignments: pd.DataFrame, seed: int = 0) -> CampaignSimulation:
    """Outcomes of the campaign in `assignments` (customer_id, campaign_id, rule, strategy, group) for the
    customers of `data`: churned within the horizon, converted, revenue, contacted, and some new survey answers."""
    rng = np.random.default_rng(seed)
    truth = data.truth.reindex(assignments["customer_id"].astype("str"))
    if truth["churn_prob"].isna().any():
        unknown = assignments["customer_id"][truth["churn_prob"].isna().to_numpy()].head(3).tolist()
        raise ValueError(f"assignments name customers the synthetic data lacks, e.g. {unknown}")
    n = len(assignments)
    strategy = assignments["strategy"].astype("str").to_numpy()
    treated = assignments["group"].astype("str").to_numpy() == "treated"
    benefit, rate, lift = np.zeros(n), np.zeros(n), np.zeros(n)
    for s in np.unique(strategy):
        rows = strategy == s
        benefit[rows] = planted_benefit(truth.iloc[np.flatnonzero(rows)], s)
        rate[rows], lift[rows] = CONTACT_RATE.get(s, 0.0), CONVERSION_LIFT.get(s, 0.0)
    contacted = treated & (rng.random(n) < rate)
    p0 = truth["churn_prob"].to_numpy(dtype=float)
    p1 = np.clip(p0 - benefit, 0.0, 1.0)
    churned = rng.random(n) < np.where(contacted, p1, p0)
    promoter = truth["true_class"].astype("str").to_numpy() == "promoter"
    converted = rng.random(n) < np.clip(0.03 + 0.05 * promoter + contacted * lift, 0, 1)
    revenue = np.where(converted, np.round(rng.gamma(4.0, ORDER_VALUE / 4.0, n), 2), 0.0)
    shift = np.where(contacted, np.sign(benefit), 0.0)  # a helpful action lifts the answer by a point
    answered = rng.random(n) < ANSWER_RATE
    new_score = np.clip(truth["true_score"].to_numpy(dtype=float) + shift, 0, 10)
    results = pd.DataFrame({
        "customer_id": assignments["customer_id"].astype("str").to_numpy(),
        "campaign_id": assignments["campaign_id"].astype("str").to_numpy(),
        "group": assignments["group"].astype("str").to_numpy(),
        "strategy": strategy, "rule": assignments["rule"].astype("str").to_numpy(),
        "contacted": contacted.astype(np.int64), "churned": churned.astype(np.int64),
        "converted": converted.astype(np.int64), "revenue": revenue,
        "new_score": pd.array(np.where(answered, new_score, np.nan)).astype("Int64"),
    })
    facts = pd.DataFrame({"benefit": benefit, "itt_uplift": rate * benefit, "contacted": contacted,
                          "p_churn_control": p0, "p_churn_treated": p1}, index=results.index)
    return CampaignSimulation(results=results, truth=facts)
