"""Synthetic CX data with a planted truth: the embedded demo data and the yardstick for every model.

On real data nobody knows a silent customer's score, the population NPS or why a detractor is unhappy; here
all are planted, so tests can assert that models recover them. Vectorised numpy, one seeded stream.

- Problems are sparse (zero-inflated counts), so most detractors have ONE dominant problem (n=200k: 56% have
  a top contribution below -1 point with a runner-up under half of it; 19% are detractors by noise alone).
- Latent satisfaction = BASE + sum of group contributions f_g(x); f_g reads only its group's features as the
  data layer builds them (e.g. tickets of the 90 days up to `as_of`), times a segment weight (network 2x for
  mobile, delivery barely for mobile, price more on monthly contracts). Unrecorded ages and charges act through
  their hidden true value. `true_top_driver` = the group with the most negative f_g - mean(f_g).
- Answer = clip(floor(latent + logistic noise(scale 0.75) + 0.5), 0, 10) (ordered logit; 32% detractors, 38%
  passives, 30% promoters). Spearman(expected_score, true_score) = 0.73 (n=200k, seeds 0-2: 0.728-0.731) is
  the ceiling for any model against the true scores, so a test threshold near 0.5 leaves room for the error of
  a model fitted on a few thousand answers.
- Response depends on observed behaviour only (MAR): recent tickets/orders trigger surveys; older, long-tenure
  and web customers answer more. Respondents' NPS is 9-10 points below the true NPS; weighting on behaviour can
  fix that. `answer_dependent_response` (log-odds per 2.5 answer points; MNAR, not fixable that way): 0.3 puts
  respondents ~6 points above the truth, 1.0 ~38 above.
- `signal` scales every customer's deviation from the average contribution (1: as above; 0.3: a weak signal;
  0: the NEGATIVE CONTROL, the answer is pure noise around one constant and nothing in behaviour predicts it,
  while response still depends on behaviour; the contributions are then 0 and `true_top_driver` means nothing).
  The average latent level, hence roughly the class mix, stays.
- `scale` reports the 0-10 answer on another survey scale (`SCALES`): "csat" 1-5 in bands 0-2, 3-4, 5-6, 7-8,
  9-10 (with the CSAT cuts detractor <= 3 and promoter 5 the classes equal the NPS classes, the points are
  coarser); "binary" satisfied (1) when the answer is 7 or more, else 0 (the NPS detractors; no passives).
  Answer-dependent response reads the 0-10 answer whatever the scale.
- Stated reasons follow the most negative group (often also the second), plus noise; promoters mostly give none.
- Churn: satisfaction (noise included), contract, tenure, usage decline, payments; 20% per 90 days, 42% of
  detractors vs 4% of promoters; the top 5% by true churn_prob churn 4.2x as often as average.

No event falls on a window boundary (as_of, 30 or 90 days before), so inclusive and exclusive window ends agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cxpredict.config import CLASSES, Scale
from cxpredict.errors import ConfigError
from cxpredict.metrics import nps_from_scores, score_to_class
from cxpredict.synthetic import text as synthetic_text
from cxpredict.synthetic.text import (
    comment_index,
    comment_texts,
    reason_keys,
    reason_labels,
)

AS_OF = "2026-10-31"  # fixed for every seed so configs can name it
TABLES = ("customers", "usage", "billing", "tickets", "orders", "survey", "outcomes")

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
PLANS = ["mobile", "broadband", "bundle"]
CONTRACTS = ["monthly", "annual", "two-year"]
CHANNELS = ["web", "store", "phone", "partner", "kiosk"]  # kiosk is the rare category (~0.3%)
REGIONS = ["north", "south", "east", "west", "central"]
TICKET_CATEGORIES = ["billing", "network", "delivery", "other"]

NPS_SCALE = Scale()  # 0-10, detractor <= 6, promoter >= 9
# survey scales the 0-10 answer can be reported on: (the scale's config, its point for each answer 0..10)
SCALES: dict[str, tuple[Scale, np.ndarray]] = {
    "nps": (NPS_SCALE, np.arange(11)),
    "csat": (Scale(min=1, max=5, detractor_max=3, promoter_min=5), np.array([1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])),
    "binary": (Scale(min=0, max=1, detractor_max=0, promoter_min=1), np.array([0] * 7 + [1] * 4)),
}
BASE = 8.3  # latent satisfaction when every contribution is zero
NOISE_SCALE = 0.75  # logistic scale of the answer noise (sd 1.36 points)
CHURN_RATE_90D = 0.20
ORPHAN_SHARE = 0.005  # survey answers whose customer is missing from the behaviour tables


def slug(name: str) -> str:
    """'Tenure & age' -> 'tenure_age': the suffix of the truth's contrib_<slug> columns."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass
class SyntheticCX:
    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame  # index customer_id, one row per customer
    true_population_nps: float
    driver_groups: list[dict[str, Any]]
    as_of: str
    params: dict[str, Any] = field(default_factory=dict)  # the generate() arguments
    text_truth: dict[str, np.ndarray] = field(default_factory=dict)  # planted topic per ticket note (text=...)
    scale: Scale = field(default_factory=Scale)  # the survey scale of `true_score` and the survey table

    def summary(self) -> dict[str, Any]:
        """Headline numbers of the planted truth (written to truth.json)."""
        t = self.truth
        resp = t["responded"].to_numpy()
        survey_ids = pa.array(self.tables["survey"]["customer_id"])
        known = pc.sum(pc.is_in(survey_ids, value_set=pa.array(t.index))).as_py() or 0
        detractors = t.loc[t["true_class"] == CLASSES[0], "true_top_driver"]
        return {
            **self.params, "as_of": self.as_of, "n_customers": len(t), "n_respondents": int(resp.sum()),
            "orphan_respondents": len(survey_ids) - int(known),
            "true_population_nps": self.true_population_nps,
            "respondent_nps": nps_from_scores(t["true_score"].to_numpy()[resp], self.scale),
            "class_mix": {c: round(float((t["true_class"] == c).mean()), 4) for c in CLASSES},
            "churn_rate": float(t["churned"].mean()),
            "spearman_expected_vs_true": float(t["expected_score"].corr(t["true_score"], method="spearman")),
            "detractor_top_drivers": detractors.value_counts(normalize=True).round(4).to_dict(),
        }


# --- helpers ----------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def _sat(x: np.ndarray, scale: float) -> np.ndarray:
    """Saturating dose-response 0..1: the first incidents hurt most."""
    return 1.0 - np.exp(-np.asarray(x, dtype=float) / scale)


def _intercept_for_rate(eta: np.ndarray, target: float) -> float:
    """Intercept c with mean(sigmoid(c + eta)) == target (bisection: the mean increases with c)."""
    lo, hi = -40.0, 40.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _sigmoid(mid + eta).mean() < target else (lo, mid)
    return 0.5 * (lo + hi)


def _ids(numbers: np.ndarray, width: int) -> pa.Array:
    """'C0000001'-style ids as Arrow strings (millions of them cost megabytes, not Python objects)."""
    digits = pc.utf8_lpad(pa.array(numbers, type=pa.int64()).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise("C", digits, "")


def _take(labels, index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """labels[index] as a pandas str array through Arrow (fast for millions of rows); index -1 -> missing."""
    index = np.asarray(index, dtype=np.int64)
    return pd.array(pa.array(labels, type=pa.string()).take(pa.array(index, mask=index < 0)), dtype="str")


def _dates(as_of: np.datetime64, days_back: np.ndarray, missing: np.ndarray | None = None):
    """ISO dates `days_back` days before `as_of` (negative: after it), through a small lookup table."""
    lo, hi = int(days_back.min(initial=0)), int(days_back.max(initial=0))
    table = np.datetime_as_string(as_of - np.arange(lo, hi + 1).astype("timedelta64[D]"), unit="D")
    index = days_back - lo
    return _take(table, index if missing is None else np.where(missing, -1, index))


def _events(rng: np.random.Generator, recent: np.ndarray, older_rate: float):
    """Owner row, days back and recency of events: `recent[i]` inside 90 days, Poisson(older_rate) in 91-364.

    Recent days avoid 30 so neither the 30- nor the 90-day window has an event on its boundary.
    """
    older = rng.poisson(older_rate, len(recent))
    owner = np.concatenate([np.repeat(np.arange(len(recent)), recent), np.repeat(np.arange(len(older)), older)])
    n_recent = int(recent.sum())
    d = rng.integers(1, 89, size=n_recent)  # 1..88 -> 1..29, 31..89
    days = np.concatenate([d + (d >= 30), rng.integers(91, 365, size=len(owner) - n_recent)])
    return owner, days, np.arange(len(owner)) < n_recent


def _event_frame(owner, days, as_of, date_column: str, columns: dict[str, Any]) -> pd.DataFrame:
    order = np.lexsort((owner, -days))  # oldest first, as an export would list them
    return pd.DataFrame({"owner": owner[order], date_column: _dates(as_of, days[order]),
                         **{k: v[order] for k, v in columns.items()}})


# --- behaviour ----------------------------------------
def _customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    plan = rng.choice(3, size=n, p=[0.45, 0.30, 0.25])
    contract_p = np.array([[0.60, 0.28, 0.12], [0.45, 0.33, 0.22], [0.35, 0.35, 0.30]])  # bundles commit longer
    contract = (rng.random(n)[:, None] > np.cumsum(contract_p[plan], axis=1)).sum(axis=1)
    age = np.clip(np.rint(rng.normal(46, 15, n)), 18, 90).astype(np.int64)
    tenure = np.minimum(np.floor(rng.exponential(26, n)), 96).astype(np.int64) + 6 * (contract == 2)
    charges = np.clip(rng.normal(np.array([40.0, 60.0, 95.0])[plan], np.array([12.0, 14.0, 20.0])[plan]), 15, 170)
    return {"plan": plan, "contract": contract,
            "channel": rng.choice(5, size=n, p=[0.42, 0.27, 0.17, 0.137, 0.003]),
            "region": rng.choice(5, size=n, p=[0.22, 0.24, 0.18, 0.20, 0.16]),
            "age": age, "tenure": tenure,
            "charges": np.round(charges, 2), "age_missing": rng.random(n) < 0.03,
            "charges_missing": rng.random(n) < 0.01}


def _problems(rng: np.random.Generator, c) -> dict[str, np.ndarray]:
    """Hidden sparse problem flags; the observed counts are drawn from them."""
    n = len(c["plan"])
    return {"network": rng.random(n) < np.array([0.18, 0.10, 0.10, 0.10, 0.07])[c["region"]],  # rural north
            "billing": rng.random(n) < 0.05, "shock": rng.random(n) < 0.05,
            "support": rng.random(n) < 0.05,  # a support saga: repeated, slow tickets
            "delivery": rng.random(n) < np.array([0.03, 0.10, 0.10])[c["plan"]], "usage": rng.random(n) < 0.08}


def _usage_billing(rng: np.random.Generator, c, p) -> dict[str, np.ndarray]:
    n, net = len(c["plan"]), p["network"]
    gb = np.round(np.array([7.0, 180.0, 240.0])[c["plan"]] * rng.lognormal(0.0, 0.7, n), 1) * (rng.random(n) > 0.01)
    trend = np.where(p["usage"], rng.uniform(-0.6, -0.25, n), np.clip(rng.normal(0.02, 0.1, n), -0.3, 0.5))
    autopay = rng.random(n) < 0.55
    return {"usage_gb_30d": gb, "usage_trend": np.round(trend, 3),
            "dropped_calls_30d": rng.poisson(np.where(net, 7.0, 0.3)),
            "network_incidents_90d": rng.poisson(np.where(net, 1.6, 0.04)),
            "outages_90d": rng.poisson(np.where(net, 0.7, 0.02)),
            "billing_errors_90d": np.where(p["billing"], 1 + rng.poisson(1.0, n), rng.poisson(0.01, n)),
            "bill_shock_pct": np.round(np.where(p["shock"], rng.uniform(15, 80, n), rng.normal(1.0, 4.0, n)), 1),
            "late_payments_12m": rng.poisson(np.where(autopay, 0.1, 0.6)), "autopay": autopay}


def _tickets(rng: np.random.Generator, p, as_of) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Recent tickets follow the problems (a saga most of all); older ones are background noise."""
    n = len(p["network"])
    lam = (0.06 + 0.35 * p["network"] + 0.45 * p["billing"] + 0.25 * p["shock"] + 0.3 * p["delivery"]
           + 2.3 * p["support"])
    owner, days, recent = _events(rng, rng.poisson(lam), 0.35)
    saga = p["support"][owner] & recent
    hours = np.maximum(np.round(rng.lognormal(np.where(saga, np.log(80.0), np.log(16.0)), 0.8), 1), 0.1)
    hours[rng.random(len(owner)) < np.where(saga, 0.12, np.where(recent, 0.04, 0.01))] = np.nan  # unresolved
    weights = np.stack([p["billing"] + 0.6 * p["shock"], 1.0 * p["network"], 1.0 * p["delivery"],
                        np.full(n, 0.25)], axis=1)[owner]  # the category follows the customer's problem
    weights[~recent] = [0.25, 0.25, 0.15, 0.35]
    cum = np.cumsum(weights, axis=1)
    category = (rng.random(len(owner))[:, None] * cum[:, -1:] > cum).sum(axis=1)
    solved = recent & ~np.isnan(hours)
    n_solved = np.bincount(owner[solved], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_hours = np.bincount(owner[solved], weights=hours[solved], minlength=n) / n_solved  # 0/0 -> NaN
    aggregates = {"tickets_count_90d": np.bincount(owner[recent], minlength=n),
                  "tickets_count_30d": np.bincount(owner[recent & (days < 30)], minlength=n),
                  "tickets_mean_resolution_hours_90d": mean_hours}
    frame = _event_frame(owner, days, as_of, "opened_at",
                         {"category": category, "resolution_hours": hours})
    frame["category"] = _take(TICKET_CATEGORIES, frame["category"].to_numpy())
    return frame, aggregates


def _orders(rng: np.random.Generator, c, p, as_of) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    n = len(c["plan"])
    count = rng.poisson(np.array([0.3, 0.5, 0.6])[c["plan"]]) + p["delivery"] * (1 + rng.poisson(0.5, n))
    owner, days, recent = _events(rng, count, 0.8)
    late = (rng.random(len(owner)) < np.where(recent & p["delivery"][owner], 0.75, 0.04)).astype(np.int64)
    aggregates = {"orders_late_sum_90d": np.bincount(owner[recent], weights=late[recent], minlength=n).astype(np.int64),
                  "orders_count_90d": np.bincount(owner[recent], minlength=n)}
    return _event_frame(owner, days, as_of, "ordered_at", {"late": late}), aggregates


# --- truth ----------------------------------------
def _contributions(c, x) -> np.ndarray:
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


def _expected_score(latent: np.ndarray, points: np.ndarray) -> np.ndarray:
    """E[score] under the ordered logit on a scale whose point for answer k is points[k]:
    points[0] + sum over k=1..10 of (points[k] - points[k-1]) * P(latent + noise >= k - 0.5)."""
    return points[0] + sum((points[k] - points[k - 1]) * _sigmoid((latent - (k - 0.5)) / NOISE_SCALE)
                           for k in range(1, 11))


def _response_probability(c, x, answer, rate: float, answer_dependence: float) -> np.ndarray:
    """P(answering): observed behaviour only (MAR), plus `answer_dependence` log-odds per 2.5 points of the
    0-10 answer."""
    observed_age = np.where(c["age_missing"], 46.0, c["age"])  # an unrecorded age cannot steer who is surveyed
    eta = (0.025 * (observed_age - 46) + 0.35 * np.log1p(c["tenure"] / 12)
           + np.array([0.4, 0.0, 0.1, -0.6, 0.0])[c["channel"]]  # web answers most, partner sales least
           + 1.3 * (x["tickets_count_30d"] > 0) + 0.4 * (x["tickets_count_90d"] > 0)  # post-contact surveys
           + 0.4 * (x["orders_count_90d"] > 0)  # post-delivery surveys
           + answer_dependence * (answer - 7.0) / 2.5)
    return _sigmoid(_intercept_for_rate(eta, rate) + eta)


def _churn_probability(c, x, satisfaction, horizon_days: int) -> np.ndarray:
    eta = (-0.6 * (satisfaction - 7.0) + np.array([1.0, -0.3, -1.3])[c["contract"]]
           - 0.4 * np.log1p(c["tenure"] / 12) + 2.0 * np.clip(-x["usage_trend"], 0, None)
           + 0.2 * np.minimum(x["late_payments_12m"], 5) + 0.3 * ~x["autopay"])
    target = 1.0 - (1.0 - CHURN_RATE_90D) ** (horizon_days / 90.0)  # a constant hazard over the horizon
    return _sigmoid(_intercept_for_rate(eta, target) + eta)


# --- generate ----------------------------------------
def generate(n_customers: int = 20_000, seed: int = 0, response_rate: float = 0.10,
             answer_dependent_response: float = 0.0, churn_horizon_days: int = 90, signal: float = 1.0,
             scale: str = "nps", text: str | None = None, text_signal: float = 1.0) -> SyntheticCX:
    """The seven CX tables and the planted truth for `n_customers` customers (deterministic per seed).

    `response_rate`: expected share who answer (an intercept is solved for it). `answer_dependent_response`:
    log-odds of answering per 2.5 points of the customer's own 0-10 answer (> 0: unhappy customers answer less).
    `churn_horizon_days`: the outcome window after `as_of` (constant hazard, 20% per 90 days).
    `signal` (>= 0): factor on how much behaviour moves satisfaction (0: answers independent of behaviour).
    `scale`: "nps", "csat" or "binary" (`SCALES`). Neither changes the random stream: with the same seed the
    behaviour (and, without answer-dependent response, who answers) is the same.
    `text` ("en", "zh" or "mixed"): comments and ticket notes in that language (text.py), with a hidden
    text-only driver scaled by `text_signal` (0: the negative control); None keeps the tables as they were.
    """
    if n_customers < 10:
        raise ConfigError(f"n_customers must be at least 10, got {n_customers}")
    if not 0.0 < response_rate < 1.0:
        raise ConfigError(f"response_rate must be a share strictly between 0 and 1 (e.g. 0.1), got {response_rate}")
    if not np.isfinite(answer_dependent_response):
        raise ConfigError(f"answer_dependent_response must be a finite number, got {answer_dependent_response}")
    if churn_horizon_days < 1:
        raise ConfigError(f"churn_horizon_days must be at least 1, got {churn_horizon_days}")
    if not (np.isfinite(signal) and signal >= 0):
        raise ConfigError(f"signal must be a finite number >= 0 (1: default, 0: answers ignore behaviour), "
                          f"got {signal}")
    if scale not in SCALES:
        raise ConfigError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    survey_scale, points = SCALES[scale]
    if text is not None and text not in synthetic_text.TEXT_MODES:
        raise ConfigError(f"text must be one of {list(synthetic_text.TEXT_MODES)} or None, got {text!r}")
    if not (np.isfinite(text_signal) and text_signal >= 0):
        raise ConfigError(f"text_signal must be a finite number >= 0, got {text_signal}")
    rng, n, as_of = np.random.default_rng(seed), n_customers, np.datetime64(AS_OF, "D")
    c = _customers(rng, n)
    p = _problems(rng, c)
    x = _usage_billing(rng, c, p)
    tickets, ticket_agg = _tickets(rng, p, as_of)
    orders, order_agg = _orders(rng, c, p, as_of)
    x |= ticket_agg | order_agg

    f = _contributions(c, x)
    deviation = f - f.mean(axis=0)
    centred = signal * deviation
    latent = BASE + f.sum(axis=1) + (signal - 1.0) * deviation.sum(axis=1)  # signal 1: exactly BASE + sum f
    if text:  # its own random stream: without text the tables are exactly as before
        text_rng = np.random.default_rng([seed, 16])
        ticket_owner = tickets["owner"].to_numpy()
        ticket_recent = (as_of - tickets["opened_at"].to_numpy(dtype="datetime64[D]")) < np.timedelta64(90, "D")
        hidden = synthetic_text.hidden_issue(text_rng, ticket_owner, ticket_recent, n)
        latent = latent + text_signal * synthetic_text.staff_effect(hidden)
    satisfaction = latent + rng.logistic(0.0, NOISE_SCALE, n)
    answer = np.clip(np.floor(satisfaction + 0.5), 0, 10).astype(np.int64)  # on the 0-10 scale
    true_score = points[answer]
    true_class = score_to_class(true_score, survey_scale)  # 0 detractor, 1 passive, 2 promoter
    p_respond = _response_probability(c, x, answer, response_rate, answer_dependent_response)
    responded = rng.random(n) < p_respond
    churn_prob = _churn_probability(c, x, satisfaction, churn_horizon_days)
    churned = rng.random(n) < churn_prob

    n_orphans = max(1, round(ORPHAN_SHARE * int(responded.sum())))
    all_ids = _ids(np.arange(1, n + n_orphans + 1), max(7, len(str(n + n_orphans))))  # the last n_orphans: absent
    tables = _tables(rng, all_ids, n, c, x, tickets, orders, as_of, true_score, true_class, centred, responded,
                     churned, rng.integers(1, churn_horizon_days + 1, n))
    text_truth = synthetic_text.add_text(tables, text_rng, text, ticket_owner, ticket_recent, p["support"], hidden,
                                         n, survey_scale) if text else {}
    names = [g["name"] for g in DRIVER_GROUPS]
    top, two = np.argmin(centred, axis=1), np.partition(centred, 1, axis=1)
    truth = pd.DataFrame(
        {"plan": _take(PLANS, c["plan"]), "contract": _take(CONTRACTS, c["contract"]),
         "channel": _take(CHANNELS, c["channel"]),
         **{f"contrib_{slug(g)}": centred[:, i] for i, g in enumerate(names)},
         "true_top_driver": _take(names, top),
         "true_top_driver_actionable": np.array([g["actionable"] for g in DRIVER_GROUPS])[top],
         "true_top_driver_margin": two[:, 1] - two[:, 0],
         "latent": latent, "expected_score": _expected_score(latent, points), "true_score": true_score,
         "true_class": _take(CLASSES, true_class), "p_respond": p_respond, "responded": responded,
         "churn_prob": churn_prob, "churned": churned.astype(np.int64),
         **{k: x[k] for k in (*ticket_agg, *order_agg)}, **({"text_issue": hidden} if text else {})},
        index=pd.Index(_take(all_ids, np.arange(n)), name="customer_id"),
    )
    params = {"seed": seed, "n_customers": n, "response_rate": response_rate,
              "answer_dependent_response": answer_dependent_response, "churn_horizon_days": churn_horizon_days,
              "signal": signal, "scale": scale, **({"text": text, "text_signal": text_signal} if text else {})}
    return SyntheticCX(tables=tables, truth=truth, true_population_nps=nps_from_scores(true_score, survey_scale),
                       driver_groups=[dict(g, features=list(g["features"])) for g in DRIVER_GROUPS],
                       as_of=AS_OF, params=params, scale=survey_scale, text_truth=text_truth)


def _tables(rng, all_ids, n, c, x, tickets, orders, as_of, true_score, true_class, centred, responded,
            churned, churn_days) -> dict[str, pd.DataFrame]:
    age = pd.array(c["age"], dtype="Int64")
    age[c["age_missing"]] = pd.NA
    customers = pd.DataFrame({
        "customer_id": _take(all_ids, np.arange(n)), "plan": _take(PLANS, c["plan"]),
        "contract": _take(CONTRACTS, c["contract"]), "channel": _take(CHANNELS, c["channel"]),
        "region": _take(REGIONS, c["region"]), "age": age, "tenure_months": c["tenure"],
        "monthly_charges": np.where(c["charges_missing"], np.nan, c["charges"])})
    # the other per-customer tables come in their own row order: joins must go by key
    rows = rng.permutation(n)
    usage = pd.DataFrame({"customer_id": _take(all_ids, rows), **{k: x[k][rows] for k in (
        "usage_gb_30d", "usage_trend", "dropped_calls_30d", "network_incidents_90d", "outages_90d")}})
    rows = rng.permutation(n)
    billing = pd.DataFrame({"customer_id": _take(all_ids, rows), **{k: x[k][rows] for k in (
        "billing_errors_90d", "bill_shock_pct", "late_payments_12m")},
        "autopay": _take(["no", "yes"], x["autopay"][rows].astype(np.int64))})
    for events in (tickets, orders):
        events.insert(0, "customer_id", _take(all_ids, events.pop("owner").to_numpy()))

    who = np.flatnonzero(responded)
    reason_key, lead = reason_keys(rng, centred[who], true_class[who], [g["theme"] for g in DRIVER_GROUPS])
    n_orphans = len(all_ids) - n
    no_text = np.full(n_orphans, -1)
    survey = pd.DataFrame({
        "customer_id": _take(all_ids, np.concatenate([who, np.arange(n, n + n_orphans)])),
        "score": np.concatenate([true_score[who], rng.choice(true_score[who], n_orphans) if len(who)
                                 else rng.integers(0, 11, n_orphans)]),
        "answered_at": _dates(as_of, rng.integers(1, 61, len(who) + n_orphans)),
        "reasons": _take(reason_labels(), np.concatenate([reason_key, no_text])),
        "comment": _take(comment_texts(), np.concatenate([comment_index(rng, lead), no_text]))})
    survey = survey.take(rng.permutation(len(survey))).reset_index(drop=True)
    outcomes = pd.DataFrame({"customer_id": _take(all_ids, np.arange(n)), "churned": churned.astype(np.int64),
                             "churned_at": _dates(as_of, -churn_days, missing=~churned)})
    return {"customers": customers, "usage": usage, "billing": billing, "tickets": tickets, "orders": orders,
            "survey": survey, "outcomes": outcomes}

