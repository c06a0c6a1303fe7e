"""Synthetic CX data with a planted truth: the embedded demo data and the yardstick for every model.

Why synthetic: on real data nobody knows a silent customer's score, the population NPS or why a detractor is
unhappy. Here every one of those is planted, so tests can assert that models recover them.

How the truth is built (all vectorised numpy, one `np.random.default_rng(seed)` stream):
- Operational problems are sparse (zero-inflated counts: most customers have none, a few have one kind), so
  most detractors have ONE clearly dominant problem.
- Latent satisfaction = BASE + sum over the driver groups of an additive contribution f_g(x), where f_g reads
  only the group's own features (exactly as the data layer builds them, e.g. the ticket events of the 90 days up
  to `as_of`), times a segment weight (network counts 2x for mobile, delivery barely for mobile, price more on
  monthly contracts). Missing ages and charges are unrecorded, not absent: f_g uses the hidden true value.
- The answer: score = clip(floor(latent + logistic noise(scale 0.75) + 0.5), 0, 10), an ordered-logit model, so
  the noise-free `expected_score` has a closed form. Measured Spearman(expected_score, true_score) = 0.76 (n=200k,
  seeds 0-2: 0.757-0.758): this bounds what any model can reach against the true scores of silent customers,
  so a test threshold of ~0.5-0.6 on model predictions leaves room for estimation error.
- Response depends on observed behaviour only (missing at random): recent tickets and recent orders trigger
  transactional surveys, older, long-tenure and web customers answer more. Ticket holders are unhappier, so the
  respondents' NPS sits about 10 points below the true population NPS (a bias that propensity weighting can
  fix). `answer_dependent_response` > 0 adds a dependence on the answer itself (unhappy customers answer less):
  missing not at random, which weighting on behaviour cannot fix.
- Stated reasons name the theme of the most negative group (and often the second), plus some noise; promoters
  mostly give none.
- Churn within `churn_horizon_days` depends on the latent satisfaction (noise included) and on contract, tenure,
  usage decline and payment behaviour; base rate 20% per 90 days.

Window convention: no event falls on a window boundary (as_of itself, 30 or 90 days before it), so the
aggregates are the same whether the data layer treats window ends as inclusive or exclusive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .config import CLASSES
from .outputs import atomic_path, write_json

AS_OF = "2026-10-31"  # fixed for every seed so configs can name it
TABLES = ("customers", "usage", "billing", "tickets", "orders", "survey", "outcomes")

DRIVER_GROUPS: list[dict[str, Any]] = [
    {"name": "Network quality", "features": ["dropped_calls_30d", "network_incidents_90d", "outages_90d"],
     "actionable": True, "theme": "network"},
    {"name": "Billing", "features": ["billing_errors_90d", "bill_shock_pct"], "actionable": True, "theme": "billing"},
    # the 30-day count is grouped with its 90-day parent so correlated attributions add up in one place
    {"name": "Support", "features": ["tickets_count_90d", "tickets_count_30d", "tickets_mean_resolution_hours_90d"],
     "actionable": True, "theme": "support"},
    {"name": "Delivery", "features": ["orders_late_sum_90d", "orders_count_90d"], "actionable": True,
     "theme": "delivery"},
    {"name": "Price", "features": ["monthly_charges"], "actionable": True, "theme": "price"},
    {"name": "Usage decline", "features": ["usage_trend", "usage_gb_30d"], "actionable": True, "theme": "usage"},
    {"name": "Tenure & age", "features": ["tenure_months", "age"], "actionable": False, "theme": None},
]
# stated reason code -> driver theme ("coverage" is a synonym customers use for network problems)
REASON_THEMES: dict[str, str] = {
    "network": "network", "coverage": "network", "billing": "billing", "support": "support",
    "delivery": "delivery", "price": "price", "usage": "usage", "other": "other",
}
REASON_CODES = list(REASON_THEMES)

PLANS = np.array(["mobile", "broadband", "bundle"])
CONTRACTS = np.array(["monthly", "annual", "two-year"])
CHANNELS = np.array(["web", "store", "phone", "partner", "kiosk"])
REGIONS = np.array(["north", "south", "east", "west", "central"])

BASE = 8.3  # latent satisfaction of a customer whose contributions are all zero
NOISE_SCALE = 0.75  # logistic scale of the answer noise (sd = 1.36 points)
CHURN_RATE_90D = 0.20
ORPHAN_SHARE = 0.005
TICKET_CATEGORIES = np.array(["billing", "network", "delivery", "other"])


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
    params: dict[str, Any] = field(default_factory=dict)  # generate() arguments, for truth.json

    def summary(self) -> dict[str, Any]:
        """Headline numbers of the planted truth (written to truth.json)."""
        t = self.truth
        resp = t["responded"].to_numpy()
        mix = t["true_class"].value_counts(normalize=True)
        survey_ids = self.tables["survey"]["customer_id"]
        return {
            **self.params,
            "as_of": self.as_of,
            "n_customers": len(t),
            "n_respondents": int(resp.sum()),
            "orphan_respondents": len(survey_ids) - int(pc.sum(pc.is_in(pa.array(survey_ids),
                                                                        value_set=pa.array(t.index))).as_py() or 0),
            "true_population_nps": self.true_population_nps,
            "respondent_nps": nps_points(t["true_score"].to_numpy()[resp]),
            "class_mix": {c: round(float(mix.get(c, 0.0)), 4) for c in ("detractor", "passive", "promoter")},
            "churn_rate": float(t["churned"].mean()),
            "spearman_expected_vs_true": float(t["expected_score"].corr(t["true_score"], method="spearman")),
            "top_driver_share": {k: round(float(v), 4) for k, v in
                                 t.loc[t["true_class"] == "detractor", "true_top_driver"]
                                 .value_counts(normalize=True).items()},
        }


def nps_points(scores: np.ndarray) -> float:
    """NPS in points (-100..100) of 0-10 scores."""
    s = np.asarray(scores)
    return float(100.0 * ((s >= 9).mean() - (s <= 6).mean())) if len(s) else float("nan")


# --------------------------------------------------------------------------------------------- helpers
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def _sat(x: np.ndarray, scale: float) -> np.ndarray:
    """Saturating dose-response 0..1: the first incidents hurt most."""
    return 1.0 - np.exp(-np.asarray(x, dtype=float) / scale)


def _intercept_for_rate(eta: np.ndarray, target: float) -> float:
    """Intercept c with mean(sigmoid(c + eta)) == target (bisection; the mean is monotone in c)."""
    lo, hi = -40.0, 40.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _sigmoid(mid + eta).mean() < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _ids(numbers: np.ndarray, width: int) -> pa.Array:
    """'C0000001'-style ids (Arrow strings: millions of them cost megabytes, not Python objects)."""
    digits = pc.utf8_lpad(pa.array(numbers, type=pa.int64()).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise("C", digits, "")


def _take(labels: pa.Array | np.ndarray | list, index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """labels[index] as a pandas str array, through Arrow (fast); index -1 gives a missing value."""
    index = np.asarray(index, dtype=np.int64)
    taken = pa.array(labels, type=pa.string()).take(pa.array(index, mask=index < 0))
    return pd.array(taken, dtype="str")


def _dates(as_of: np.datetime64, days_back: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """ISO dates `days_back` days before `as_of` (negative: after), through a small lookup table."""
    lo, hi = int(days_back.min(initial=0)), int(days_back.max(initial=0))
    table = np.datetime_as_string(as_of - np.arange(lo, hi + 1).astype("timedelta64[D]"), unit="D")
    return _take(table, days_back - lo)


def _window_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """Days back in 1..89 avoiding 30 (so the 30- and 90-day windows have no event on their boundary)."""
    d = rng.integers(1, 89, size=n)  # 1..88 -> 1..29, 31..89
    return d + (d >= 30)


def _expand(counts: np.ndarray) -> np.ndarray:
    """Owner row index of each event, given per-customer event counts."""
    return np.repeat(np.arange(len(counts)), counts)


# --------------------------------------------------------------------------------------------- tables
def _customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    plan = rng.choice(3, size=n, p=[0.45, 0.30, 0.25])
    # mobile customers favour monthly plans; bundles come with longer contracts
    contract_p = np.array([[0.60, 0.28, 0.12], [0.45, 0.33, 0.22], [0.35, 0.35, 0.30]])
    contract = (rng.random(n)[:, None] > np.cumsum(contract_p[plan], axis=1)).sum(axis=1)
    channel = rng.choice(5, size=n, p=[0.42, 0.27, 0.17, 0.137, 0.003])
    region = rng.choice(5, size=n, p=[0.22, 0.24, 0.18, 0.20, 0.16])
    age = np.clip(np.rint(rng.normal(46, 15, n)), 18, 90).astype(np.int64)
    tenure = np.minimum(np.floor(rng.exponential(26, n)), 96).astype(np.int64) + (contract == 2) * 6
    charges = np.clip(rng.normal(np.array([40.0, 60.0, 95.0])[plan], np.array([12.0, 14.0, 20.0])[plan]), 15, 170)
    return {"plan": plan, "contract": contract, "channel": channel, "region": region, "age": age,
            "tenure": tenure, "charges": np.round(charges, 2),
            "age_missing": rng.random(n) < 0.03, "charges_missing": rng.random(n) < 0.01}


def _problems(rng: np.random.Generator, c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Hidden sparse problem flags; every observed count below is drawn from them."""
    n = len(c["plan"])
    net_rate = np.array([0.18, 0.10, 0.10, 0.10, 0.07])[c["region"]]  # the rural north has a worse network
    return {
        "network": rng.random(n) < net_rate,
        "billing": rng.random(n) < 0.05,
        "shock": rng.random(n) < 0.05,
        "support": rng.random(n) < 0.05,  # a support saga: many slow tickets
        "delivery": rng.random(n) < np.array([0.03, 0.10, 0.10])[c["plan"]],
        "usage": rng.random(n) < 0.08,
    }


def _usage_billing(rng: np.random.Generator, c, p) -> dict[str, np.ndarray]:
    n = len(c["plan"])
    med_gb = np.array([7.0, 180.0, 240.0])[c["plan"]]
    gb = np.round(med_gb * rng.lognormal(0.0, 0.7, n), 1) * (rng.random(n) > 0.01)  # 1% not using at all
    trend = np.where(p["usage"], rng.uniform(-0.6, -0.25, n), np.clip(rng.normal(0.02, 0.1, n), -0.3, 0.5))
    net = p["network"]
    autopay = rng.random(n) < 0.55
    return {
        "usage_gb_30d": gb,
        "usage_trend": np.round(trend, 3),
        "dropped_calls_30d": rng.poisson(np.where(net, 7.0, 0.3)),
        "network_incidents_90d": rng.poisson(np.where(net, 1.6, 0.04)),
        "outages_90d": rng.poisson(np.where(net, 0.7, 0.02)),
        "billing_errors_90d": np.where(p["billing"], 1 + rng.poisson(1.0, n), rng.poisson(0.01, n)),
        "bill_shock_pct": np.round(np.where(p["shock"], rng.uniform(15, 80, n), rng.normal(1.0, 4.0, n)), 1),
        "late_payments_12m": rng.poisson(np.where(autopay, 0.1, 0.6)),
        "autopay": autopay,
    }


def _tickets(rng: np.random.Generator, p, as_of: np.datetime64) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Ticket events: recent ones follow the problems (and a support saga), older ones are background noise."""
    n = len(p["network"])
    lam = (0.06 + 0.35 * p["network"] + 0.45 * p["billing"] + 0.25 * p["shock"] + 0.3 * p["delivery"]
           + 2.3 * p["support"])
    recent = rng.poisson(lam)
    older = rng.poisson(0.35, n)
    owner = np.concatenate([_expand(recent), _expand(older)])
    n_recent = int(recent.sum())
    days = np.concatenate([_window_days(rng, n_recent), rng.integers(91, 365, size=len(owner) - n_recent)])
    is_recent = np.arange(len(owner)) < n_recent
    saga = p["support"][owner] & is_recent
    hours = np.maximum(np.round(rng.lognormal(np.where(saga, np.log(80.0), np.log(16.0)), 0.8), 1), 0.1)
    unresolved = rng.random(len(owner)) < np.where(saga, 0.12, np.where(is_recent, 0.04, 0.01))
    hours[unresolved] = np.nan
    # category follows the customer's problem; 'other' is the background
    weights = np.stack([1.0 * p["billing"] + 0.6 * p["shock"], 1.0 * p["network"], 1.0 * p["delivery"],
                        np.full(n, 0.25)], axis=1)[owner]
    weights[~is_recent] = [0.25, 0.25, 0.15, 0.35]
    cum = np.cumsum(weights, axis=1)
    category = (rng.random(len(owner))[:, None] * cum[:, -1:] > cum).sum(axis=1)

    in90 = is_recent
    resolved90 = in90 & ~unresolved
    count90 = np.bincount(owner[in90], minlength=n)
    n_resolved = np.bincount(owner[resolved90], minlength=n)
    sum_hours = np.bincount(owner[resolved90], weights=hours[resolved90], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_hours = np.where(n_resolved > 0, sum_hours / np.maximum(n_resolved, 1), np.nan)
    aggregates = {
        "tickets_count_90d": count90,
        "tickets_count_30d": np.bincount(owner[in90 & (days < 30)], minlength=n),
        "tickets_mean_resolution_hours_90d": mean_hours,
    }
    order = np.lexsort((owner, -days))  # oldest first
    events = pd.DataFrame({"owner": owner[order], "opened_at": _dates(as_of, days[order]),
                           "category": _take(TICKET_CATEGORIES, category[order]),
                           "resolution_hours": hours[order]})
    return events, aggregates


def _orders(rng: np.random.Generator, c, p, as_of: np.datetime64) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    n = len(c["plan"])
    recent = rng.poisson(np.array([0.3, 0.5, 0.6])[c["plan"]]) + p["delivery"] * (1 + rng.poisson(0.5, n))
    older = rng.poisson(0.8, n)
    owner = np.concatenate([_expand(recent), _expand(older)])
    n_recent = int(recent.sum())
    days = np.concatenate([_window_days(rng, n_recent), rng.integers(91, 365, size=len(owner) - n_recent)])
    is_recent = np.arange(len(owner)) < n_recent
    late = (rng.random(len(owner)) < np.where(is_recent & p["delivery"][owner], 0.75, 0.04)).astype(np.int64)
    aggregates = {
        "orders_late_sum_90d": np.bincount(owner[is_recent], weights=late[is_recent], minlength=n).astype(np.int64),
        "orders_count_90d": np.bincount(owner[is_recent], minlength=n),
    }
    order = np.lexsort((owner, -days))
    events = pd.DataFrame({"owner": owner[order], "ordered_at": _dates(as_of, days[order]), "late": late[order]})
    return events, aggregates


# --------------------------------------------------------------------------------------------- truth
def _contributions(c, x) -> np.ndarray:
    """Uncentred f_g(x) per driver group (columns in DRIVER_GROUPS order), in score points."""
    plan, contract = c["plan"], c["contract"]
    severity = x["dropped_calls_30d"] / 6.0 + x["network_incidents_90d"] / 1.5 + x["outages_90d"] / 1.0
    network = -1.9 * np.array([2.0, 1.0, 1.3])[plan] * _sat(severity, 1.2)
    billing = -2.2 * _sat(x["billing_errors_90d"], 1.0) - 2.6 * np.clip((x["bill_shock_pct"] - 10) / 50, 0, 1.2)
    # one quick ticket barely hurts; repeated contacts and slow (or no) resolution do
    count = x["tickets_count_90d"]
    hours = x["tickets_mean_resolution_hours_90d"]
    slow = np.where(np.isnan(hours), 1.5, np.clip((np.nan_to_num(hours) - 24.0) / 72.0, 0, 1.5))
    support = (count > 0) * (-0.3 - 1.6 * slow) - 2.2 * _sat(np.maximum(count - 1, 0), 1.5)
    delivery = -2.6 * np.array([0.35, 1.0, 1.0])[plan] * _sat(x["orders_late_sum_90d"], 1.0)
    price = -1.1 * np.array([1.4, 1.0, 0.6])[contract] * np.clip((c["charges"] - 45) / 50, 0, 1.6)
    usage = -2.6 * np.clip((-0.08 - x["usage_trend"]) / 0.4, 0, 1.3) - 0.5 * (x["usage_gb_30d"] < 1.0)
    tenure_age = 1.0 * _sat(c["tenure"], 18.0) + 0.015 * np.clip(c["age"] - 45, -27, 35)
    return np.stack([network, billing, support, delivery, price, usage, tenure_age], axis=1)


def _expected_score(latent: np.ndarray) -> np.ndarray:
    """E[score] under the ordered logit: sum over k=1..10 of P(latent + noise >= k - 0.5)."""
    return sum(_sigmoid((latent - (k - 0.5)) / NOISE_SCALE) for k in range(1, 11))


def _class_codes(score: np.ndarray) -> np.ndarray:
    """0 detractor (<= 6), 1 passive (7-8), 2 promoter (>= 9): indices into config.CLASSES."""
    return (score >= 7).astype(np.int64) + (score >= 9)


# --------------------------------------------------------------------------------------------- survey
COMMENTS: dict[str, list[str]] = {
    "network": ["Calls keep dropping at home", "Signal is terrible, again", "No coverage in my street"],
    "coverage": ["No signal indoors", "Coverage map is a lie"],
    "billing": ["Bill went up 30%, no warning", "Charged twice this month", "Billing errors every quarter"],
    "support": ["Waited 3 days for an answer", "Support \"will call back\" - never did", "Ticket still open"],
    "delivery": ["Router arrived a week late", "Engineer missed the appointment", "Delivery was late, twice"],
    "price": ["Too expensive for what I get", "Cheaper offers elsewhere (≈20 € less)"],
    "usage": ["I barely use it anymore", "Don't need this much data now"],
    "other": ["Just average", "Nothing special", "Meh."],
    "": ["Great service, thanks!", "Works fine", "Très bien, merci", "Friendly staff in the store"],
}


def _reasons(rng: np.random.Generator, centred: np.ndarray, cls: np.ndarray):
    """Reason strings ('a;b', missing for none) and the lead code's index (-1 for none); `cls` are class codes."""
    m = len(cls)
    code_of = {code: i for i, code in enumerate(REASON_CODES)}
    group_code = np.array([code_of[g["theme"] or "other"] for g in DRIVER_GROUPS])
    ranked = np.argsort(centred, axis=1)[:, :2]
    top, second = ranked[:, 0], ranked[:, 1]
    second_value = np.take_along_axis(centred, ranked[:, 1:2], axis=1)[:, 0]
    p_first = np.array([0.9, 0.55, 0.04])[cls]
    first = np.where(rng.random(m) < p_first, group_code[top], -1)
    give_second = (cls < 2) & (second_value < -0.8) & (rng.random(m) < 0.6)
    second_code = np.where(give_second, group_code[second], -1)
    noise = np.where(rng.random(m) < 0.08, rng.integers(0, len(REASON_CODES), m), -1)
    codes = np.stack([first, second_code, noise], axis=1)
    swap = (codes == code_of["network"]) & (rng.random(codes.shape) < 0.3)
    codes[swap] = code_of["coverage"]
    codes[:, 1][codes[:, 1] == codes[:, 0]] = -1
    codes[:, 2][(codes[:, 2] == codes[:, 0]) | (codes[:, 2] == codes[:, 1])] = -1
    lead = np.where(codes[:, 0] >= 0, codes[:, 0], np.where(codes[:, 1] >= 0, codes[:, 1], codes[:, 2]))
    lead = np.where((lead < 0) & (cls == 0), code_of["other"], lead)  # a silent-on-reasons detractor is not glowing
    return _reason_text(codes), lead


def _reason_text(codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """'a;b' strings from rows of up to three code indices (-1 = none) via a table of every combination."""
    k = len(REASON_CODES) + 1
    combos = np.array(np.meshgrid(*[np.arange(-1, k - 1)] * 3, indexing="ij")).reshape(3, -1).T
    labels = [";".join(REASON_CODES[i] for i in row if i >= 0) for row in combos.tolist()]
    key = ((codes[:, 0] + 1) * k + codes[:, 1] + 1) * k + codes[:, 2] + 1
    return _take(labels, np.where(codes.max(axis=1) >= 0, key, -1))


def _comments(rng: np.random.Generator, lead: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """An optional short comment matching the lead reason (lead -1: a promoter-style comment)."""
    keys = REASON_CODES + [""]  # lead == -1 -> "" (positive comments)
    flat = [t for k in keys for t in COMMENTS[k]]
    sizes = np.array([len(COMMENTS[k]) for k in keys])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pick = starts[lead] + rng.integers(0, 1 << 30, len(lead)) % sizes[lead]
    return _take(flat, np.where(rng.random(len(lead)) < 0.35, pick, -1))


# --------------------------------------------------------------------------------------------- generate
def generate(n_customers: int = 20_000, seed: int = 0, response_rate: float = 0.10,
             answer_dependent_response: float = 0.0, churn_horizon_days: int = 90) -> SyntheticCX:
    """Generate the seven CX tables and the planted truth for `n_customers` customers (deterministic per seed)."""
    if n_customers < 10:
        raise ValueError(f"n_customers must be at least 10, got {n_customers}")
    if not 0.0 < response_rate < 1.0:
        raise ValueError(f"response_rate must be in (0, 1), got {response_rate}")
    if churn_horizon_days < 1:
        raise ValueError(f"churn_horizon_days must be >= 1, got {churn_horizon_days}")
    rng = np.random.default_rng(seed)
    n = n_customers
    as_of = np.datetime64(AS_OF, "D")
    width = max(7, len(str(n + n)))
    ids = _ids(np.arange(1, n + 1), width)

    c = _customers(rng, n)
    p = _problems(rng, c)
    x = _usage_billing(rng, c, p)
    tickets, ticket_agg = _tickets(rng, p, as_of)
    orders, order_agg = _orders(rng, c, p, as_of)
    x.update(ticket_agg)
    x.update(order_agg)

    f = _contributions(c, x)
    centred = f - f.mean(axis=0)
    latent = BASE + f.sum(axis=1)
    satisfaction = latent + rng.logistic(0.0, NOISE_SCALE, n)
    true_score = np.clip(np.floor(satisfaction + 0.5), 0, 10).astype(np.int64)
    true_class = _class_codes(true_score)
    top = np.argmin(centred, axis=1)
    two = np.partition(centred, 1, axis=1)[:, :2]

    # response: missing at random given observed behaviour, plus optional dependence on the answer itself
    observed_age = np.where(c["age_missing"], 46.0, c["age"])
    eta = (0.025 * (observed_age - 46) + 0.35 * np.log1p(c["tenure"] / 12)
           + np.array([0.4, 0.0, 0.1, -0.6, 0.0])[c["channel"]]
           + 1.3 * (x["tickets_count_30d"] > 0) + 0.4 * (x["tickets_count_90d"] > 0)
           + 0.4 * (x["orders_count_90d"] > 0)
           + answer_dependent_response * (true_score - 7.0) / 2.5)
    p_respond = _sigmoid(_intercept_for_rate(eta, response_rate) + eta)
    responded = rng.random(n) < p_respond

    # churn: dissatisfaction plus contract, tenure, usage decline and payment behaviour
    churn_eta = (-0.6 * (satisfaction - 7.0) + np.array([1.0, -0.3, -1.3])[c["contract"]]
                 - 0.4 * np.log1p(c["tenure"] / 12) + 2.0 * np.clip(-x["usage_trend"], 0, None)
                 + 0.2 * np.minimum(x["late_payments_12m"], 5) + 0.3 * ~x["autopay"])
    churn_target = 1.0 - (1.0 - CHURN_RATE_90D) ** (churn_horizon_days / 90.0)
    churn_prob = _sigmoid(_intercept_for_rate(churn_eta, churn_target) + churn_eta)
    churned = rng.random(n) < churn_prob
    churn_days = rng.integers(1, churn_horizon_days + 1, n)

    tables = _assemble_tables(rng, ids, width, c, x, tickets, orders, as_of, true_score, true_class, centred,
                              responded, churned, churn_days)
    names = [g["name"] for g in DRIVER_GROUPS]
    truth = pd.DataFrame(
        {
            "plan": _take(PLANS, c["plan"]), "contract": _take(CONTRACTS, c["contract"]),
            "channel": _take(CHANNELS, c["channel"]),
            **{f"contrib_{slug(g)}": centred[:, i] for i, g in enumerate(names)},
            "true_top_driver": _take(names, top),
            "true_top_driver_actionable": np.array([g["actionable"] for g in DRIVER_GROUPS])[top],
            "true_top_driver_margin": two[:, 1] - two[:, 0],
            "latent": latent, "expected_score": _expected_score(latent), "true_score": true_score,
            "true_class": _take(CLASSES, true_class), "p_respond": p_respond, "responded": responded,
            "churn_prob": churn_prob, "churned": churned.astype(np.int64),
            **{k: x[k] for k in (*ticket_agg, *order_agg)},
        },
        index=pd.Index(pd.array(ids, dtype="str"), name="customer_id"),
    )
    params = {"seed": seed, "n_customers": n, "response_rate": response_rate,
              "answer_dependent_response": answer_dependent_response, "churn_horizon_days": churn_horizon_days}
    return SyntheticCX(tables=tables, truth=truth, true_population_nps=nps_points(true_score),
                       driver_groups=[dict(g, features=list(g["features"])) for g in DRIVER_GROUPS],
                       as_of=AS_OF, params=params)


def _assemble_tables(rng, ids, width, c, x, tickets, orders, as_of, true_score, true_class, centred,
                     responded, churned, churn_days) -> dict[str, pd.DataFrame]:
    n = len(ids)
    age = pd.array(c["age"], dtype="Int64")
    age[c["age_missing"]] = pd.NA
    customers = pd.DataFrame({
        "customer_id": pd.array(ids, dtype="str"), "plan": _take(PLANS, c["plan"]),
        "contract": _take(CONTRACTS, c["contract"]), "channel": _take(CHANNELS, c["channel"]),
        "region": _take(REGIONS, c["region"]), "age": age, "tenure_months": c["tenure"],
        "monthly_charges": np.where(c["charges_missing"], np.nan, c["charges"]),
    })
    # behaviour tables come in another row order than customers: joins must go by key
    rows = rng.permutation(n)
    usage = pd.DataFrame({"customer_id": _take(ids, rows),
                          **{k: x[k][rows] for k in ("usage_gb_30d", "usage_trend", "dropped_calls_30d",
                                                     "network_incidents_90d", "outages_90d")}})
    rows = rng.permutation(n)
    billing = pd.DataFrame({"customer_id": _take(ids, rows),
                            **{k: x[k][rows] for k in ("billing_errors_90d", "bill_shock_pct", "late_payments_12m")},
                            "autopay": _take(["no", "yes"], x["autopay"][rows].astype(np.int64))})
    tickets.insert(0, "customer_id", _take(ids, tickets.pop("owner").to_numpy()))
    orders.insert(0, "customer_id", _take(ids, orders.pop("owner").to_numpy()))

    who = np.flatnonzero(responded)
    reasons, lead = _reasons(rng, centred[who], true_class[who])
    n_orphans = max(1, int(round(ORPHAN_SHARE * len(who))))
    orphan_ids = _ids(np.arange(n + 1, n + 1 + n_orphans), width)  # answers from customers absent from the data
    scores = true_score[who]
    survey = pd.DataFrame({
        "customer_id": _take(pa.concat_arrays([ids.take(pa.array(who)), orphan_ids]),
                             np.arange(len(who) + n_orphans)),
        "score": np.concatenate([scores, rng.choice(scores, n_orphans) if len(scores) else
                                 rng.integers(0, 11, n_orphans)]).astype(np.int64),
        "answered_at": _dates(as_of, rng.integers(1, 61, len(who) + n_orphans)),
        "reasons": pd.concat([pd.Series(reasons), pd.Series(pd.NA, index=range(n_orphans), dtype="str")],
                             ignore_index=True),
        "comment": pd.concat([pd.Series(_comments(rng, lead)), pd.Series(pd.NA, index=range(n_orphans), dtype="str")],
                             ignore_index=True),
    })
    survey = survey.iloc[rng.permutation(len(survey))].reset_index(drop=True)

    outcomes = pd.DataFrame({"customer_id": pd.array(ids, dtype="str"), "churned": churned.astype(np.int64),
                             "churned_at": _dates(as_of, np.where(churned, -churn_days, 0))})
    outcomes.loc[~churned, "churned_at"] = pd.NA
    return {"customers": customers, "usage": usage, "billing": billing, "tickets": tickets, "orders": orders,
            "survey": survey, "outcomes": outcomes}


# --------------------------------------------------------------------------------------------- writing
def write_tables(data: SyntheticCX, directory: str | Path,
                 fmt: Literal["csv", "parquet"] = "csv") -> dict[str, Path]:
    """Write every table, the truth and truth.json into `directory`; each file appears only when complete."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    frames = {**data.tables, "truth": data.truth.reset_index()}
    paths: dict[str, Path] = {}
    for name, frame in frames.items():
        path = directory / f"{name}.{fmt}"
        table = pa.Table.from_pandas(frame, preserve_index=False)
        with atomic_path(path) as tmp:
            if fmt == "csv":  # Arrow's writer: plain UTF-8, missing values as empty cells, 5x faster than pandas
                pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
            else:
                pq.write_table(table, tmp)
        paths[name] = path
    paths["truth_json"] = write_json(data.summary(), directory / "truth.json")
    return paths
