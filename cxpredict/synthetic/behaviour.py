"""Simulated behaviour of the synthetic customers: who they are (plan, contract, channel, region, age, tenure,
charges), their hidden sparse problems, and the usage, billing, ticket and order records those problems leave,
as arrays, the per-customer aggregates the data layer would build, and event tables. Also the Arrow helpers that
turn millions of codes into ids, labels and dates quickly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


PLANS = ["mobile", "broadband", "bundle"]
CONTRACTS = ["monthly", "annual", "two-year"]
CHANNELS = ["web", "store", "phone", "partner", "kiosk"]  # kiosk is the rare category (~0.3%)
REGIONS = ["north", "south", "east", "west", "central"]
TICKET_CATEGORIES = ["billing", "network", "delivery", "other"]


# --------------------------------------------------------------------------------------------- helpers
def customer_ids(numbers: np.ndarray, width: int) -> pa.Array:
    """'C0000001'-style ids as Arrow strings (millions of them cost megabytes, not Python objects)."""
    digits = pc.utf8_lpad(pa.array(numbers, type=pa.int64()).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise("C", digits, "")


def take(labels, index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """labels[index] as a pandas str array through Arrow (fast for millions of rows); index -1 -> missing."""
    index = np.asarray(index, dtype=np.int64)
    return pd.array(pa.array(labels, type=pa.string()).take(pa.array(index, mask=index < 0)), dtype="str")


def dates(as_of: np.datetime64, days_back: np.ndarray, missing: np.ndarray | None = None):
    """ISO dates `days_back` days before `as_of` (negative: after it), through a small lookup table."""
    lo, hi = int(days_back.min(initial=0)), int(days_back.max(initial=0))
    table = np.datetime_as_string(as_of - np.arange(lo, hi + 1).astype("timedelta64[D]"), unit="D")
    index = days_back - lo
    return take(table, index if missing is None else np.where(missing, -1, index))


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
    return pd.DataFrame({"owner": owner[order], date_column: dates(as_of, days[order]),
                         **{k: v[order] for k, v in columns.items()}})


# --------------------------------------------------------------------------------------------- behaviour
def customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
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


def problems(rng: np.random.Generator, c) -> dict[str, np.ndarray]:
    """Hidden sparse problem flags; the observed counts are drawn from them."""
    n = len(c["plan"])
    return {"network": rng.random(n) < np.array([0.18, 0.10, 0.10, 0.10, 0.07])[c["region"]],  # rural north
            "billing": rng.random(n) < 0.05, "shock": rng.random(n) < 0.05,
            "support": rng.random(n) < 0.05,  # a support saga: repeated, slow tickets
            "delivery": rng.random(n) < np.array([0.03, 0.10, 0.10])[c["plan"]], "usage": rng.random(n) < 0.08}


def usage_billing(rng: np.random.Generator, c, p) -> dict[str, np.ndarray]:
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


def tickets(rng: np.random.Generator, p, as_of) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
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
    frame["category"] = take(TICKET_CATEGORIES, frame["category"].to_numpy())
    return frame, aggregates


def orders(rng: np.random.Generator, c, p, as_of) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    n = len(c["plan"])
    count = rng.poisson(np.array([0.3, 0.5, 0.6])[c["plan"]]) + p["delivery"] * (1 + rng.poisson(0.5, n))
    owner, days, recent = _events(rng, count, 0.8)
    late = (rng.random(len(owner)) < np.where(recent & p["delivery"][owner], 0.75, 0.04)).astype(np.int64)
    aggregates = {"orders_late_sum_90d": np.bincount(owner[recent], weights=late[recent], minlength=n).astype(np.int64),
                  "orders_count_90d": np.bincount(owner[recent], minlength=n)}
    return _event_frame(owner, days, as_of, "ordered_at", {"late": late}), aggregates
