"""The planted truth behind the synthetic customers: the driver groups and each group's contribution to latent
satisfaction, the expected score under the ordered logit, and the probabilities of answering the survey and of
churning (the model each test and benchmark measures recovery against; see synthetic/customers.py).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np


DRIVER_GROUPS: list[dict[str, Any]] = [
    {"name": "Network quality", "features": ["dropped_calls_30d", "network_incidents_90d", "outages_90d"],
     "actionable": True, "theme": "network"},
    {"name": "Billing", "features": ["billing_errors_90d", "bill_shock_pct"], "actionable": True, "theme": "billing"},
    # the 30-day count sits with its 90-day parent so correlated attributions add up in one group
    {"name": "Support", "features": ["tickets_count_90d", "tickets_count_30d", "tickets_mean_resolution_hours_90d"],
     "actionable": True, "theme": "support"},
    {"name": "Delivery", "features": ["orders_late_sum_90d", "orders_count_90d"], "actionable": True,
     "theme": "delivery"},
    {"name": "Price", "features": ["monthly_charges"], "actionable": True, "theme": "price"},
    {"name": "Usage decline", "features": ["usage_trend", "usage_gb_30d"], "actionable": True, "theme": "usage"},
    {"name": "Tenure & age", "features": ["tenure_months", "age"], "actionable": False, "theme": None},
]
BASE = 8.3  # latent satisfaction when every contribution is zero
NOISE_SCALE = 0.75  # logistic scale of the answer noise (sd 1.36 points)
CHURN_RATE_90D = 0.20


def slug(name: str) -> str:
    """'Tenure & age' -> 'tenure_age': the suffix of the truth's contrib_<slug> columns."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# --------------------------------------------------------------------------------------------- helpers
def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def _sat(x: np.ndarray, scale: float) -> np.ndarray:
    """Saturating dose-response 0..1: the first incidents hurt most."""
    return 1.0 - np.exp(-np.asarray(x, dtype=float) / scale)


def intercept_for_rate(eta: np.ndarray, target: float) -> float:
    """Intercept c with mean(sigmoid(c + eta)) == target (bisection: the mean increases with c)."""
    lo, hi = -40.0, 40.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if sigmoid(mid + eta).mean() < target else (lo, mid)
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------------------------- truth
def contributions(c, x) -> np.ndarray:
    """Uncentred f_g(x) per driver group (columns in DRIVER_GROUPS order), in score points."""
    plan, contract = c["plan"], c["contract"]
    severity = x["dropped_calls_30d"] / 6.0 + x["network_incidents_90d"] / 1.5 + x["outages_90d"]
    network = -1.9 * np.array([2.0, 1.0, 1.3])[plan] * _sat(severity, 1.2)
    billing = -2.2 * _sat(x["billing_errors_90d"], 1.0) - 2.6 * np.clip((x["bill_shock_pct"] - 10) / 50, 0, 1.2)
    # one quick ticket barely hurts; repeated contacts and slow (or no) resolution do
    count, hours = x["tickets_count_90d"], x["tickets_mean_resolution_hours_90d"]
    slow = np.where(np.isnan(hours), 1.5, np.clip((np.nan_to_num(hours) - 24.0) / 72.0, 0, 1.5))
    support = (count > 0) * (-0.3 - 1.6 * slow) - 2.2 * _sat(np.maximum(count - 1, 0), 1.5)
    delivery = -2.6 * np.array([0.35, 1.0, 1.0])[plan] * _sat(x["orders_late_sum_90d"], 1.0)
    price = -1.1 * np.array([1.4, 1.0, 0.6])[contract] * np.clip((c["charges"] - 45) / 50, 0, 1.6)
    usage = -2.6 * np.clip((-0.08 - x["usage_trend"]) / 0.4, 0, 1.3) - 0.5 * (x["usage_gb_30d"] < 1.0)
    tenure_age = _sat(c["tenure"], 18.0) + 0.015 * np.clip(c["age"] - 45, -27, 35)
    return np.stack([network, billing, support, delivery, price, usage, tenure_age], axis=1)


def expected_score(latent: np.ndarray, points: np.ndarray) -> np.ndarray:
    """E[score] under the ordered logit on a scale whose point for answer k is points[k]:
    points[0] + sum over k=1..10 of (points[k] - points[k-1]) * P(latent + noise >= k - 0.5)."""
    return points[0] + sum((points[k] - points[k - 1]) * sigmoid((latent - (k - 0.5)) / NOISE_SCALE)
                           for k in range(1, 11))


def response_probability(c, x, answer, rate: float, answer_dependence: float) -> np.ndarray:
    """P(answering): observed behaviour only (MAR), plus `answer_dependence` log-odds per 2.5 points of the
    0-10 answer."""
    observed_age = np.where(c["age_missing"], 46.0, c["age"])  # an unrecorded age cannot steer who is surveyed
    eta = (0.025 * (observed_age - 46) + 0.35 * np.log1p(c["tenure"] / 12)
           + np.array([0.4, 0.0, 0.1, -0.6, 0.0])[c["channel"]]  # web answers most, partner sales least
           + 1.3 * (x["tickets_count_30d"] > 0) + 0.4 * (x["tickets_count_90d"] > 0)  # post-contact surveys
           + 0.4 * (x["orders_count_90d"] > 0)  # post-delivery surveys
           + answer_dependence * (answer - 7.0) / 2.5)
    return sigmoid(intercept_for_rate(eta, rate) + eta)


def churn_probability(c, x, satisfaction, horizon_days: int) -> np.ndarray:
    eta = (-0.6 * (satisfaction - 7.0) + np.array([1.0, -0.3, -1.3])[c["contract"]]
           - 0.4 * np.log1p(c["tenure"] / 12) + 2.0 * np.clip(-x["usage_trend"], 0, None)
           + 0.2 * np.minimum(x["late_payments_12m"], 5) + 0.3 * ~x["autopay"])
    target = 1.0 - (1.0 - CHURN_RATE_90D) ** (horizon_days / 90.0)  # a constant hazard over the horizon
    return sigmoid(intercept_for_rate(eta, target) + eta)
