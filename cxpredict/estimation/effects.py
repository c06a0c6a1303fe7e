"""What a randomised campaign did: treated-minus-control effects with intervals, what the sample can detect, the
keep / retire / keep-testing verdicts, and how good a targeting ranking is (Qini curves, AUUC, value of a policy).

Why these estimators:
- Assignment is random with a known share per rule (actions/holdout.py), so the difference in means is unbiased;
  the share differs between rules (the per-rule minimum), so effects over several rules are BLOCKED: per-rule
  differences averaged with the rules' sizes as weights (never one pooled difference, which would mix shares
  with outcome levels). The variance is Neyman's (unequal variances), the interval normal: n is large.
- Intention-to-treat is the default: it is what assigning the action does, delivery failures included. With a
  `contacted` column the effect on the contacted (compliers) is the Wald / instrumental-variable ratio
  ITT(outcome) / ITT(contacted), its interval by the delta method (assignment is the instrument; control
  customers cannot be contacted, so there are no always-takers).
- Verdicts compare the BENEFIT interval (effect signed so that larger is better: fewer churns, more revenue)
  with the minimum worthwhile effect: `retire` when its upper bound is below it (a harmful action has an upper
  bound below 0), `keep` when its lower bound is above 0, otherwise `keep testing` with the sample that would
  detect the minimum effect. A one-sided test at (1 - level) / 2 per cell: a truly worthwhile cell is retired at
  most that often.
- Ranking quality uses doubly-robust pseudo-outcomes (models/uplift.py): summed over the customers a ranking
  puts first they estimate the benefit of treating exactly those customers, without assuming the model is right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

BENEFIT_SIGN = {"churned": -1.0, "converted": 1.0, "revenue": 1.0, "new_score": 1.0, "visit": 1.0, "spend": 1.0}
KEEP, RETIRE, KEEP_TESTING = "keep", "retire", "keep testing"


def z_value(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


@dataclass
class Effect:
    """Treated minus control for one outcome in one group of customers."""

    effect: float
    se: float
    low: float
    high: float
    n_treated: int
    n_control: int
    mean_treated: float
    mean_control: float
    mde: float  # smallest |effect| detected with `power` at this sample size
    variance: float  # pooled outcome variance (for the sample needed)
    treated_share: float

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def _arm_stats(y: np.ndarray, t: np.ndarray) -> tuple[float, float, float, float, int, int]:
    y1, y0 = y[t], y[~t]
    v1 = float(y1.var(ddof=1)) if len(y1) > 1 else np.nan
    v0 = float(y0.var(ddof=1)) if len(y0) > 1 else np.nan
    return float(y1.mean()) if len(y1) else np.nan, float(y0.mean()) if len(y0) else np.nan, v1, v0, len(y1), len(y0)


def blocked_effect(y: np.ndarray, treated: np.ndarray, blocks: np.ndarray | None = None, level: float = 0.9,
                   power: float = 0.8) -> Effect:
    """Blocked difference in means (blocks = rules: each with its own treated share) with a Neyman interval."""
    y, t = np.asarray(y, dtype=float), np.asarray(treated, dtype=bool)
    keep = ~np.isnan(y)
    y, t = y[keep], t[keep]
    blocks = np.zeros(len(y), dtype=int) if blocks is None else pd.factorize(np.asarray(blocks)[keep])[0]
    est, var, weight, m1, m0 = 0.0, 0.0, 0, 0.0, 0.0
    for b in np.unique(blocks):
        rows = blocks == b
        mean1, mean0, v1, v0, n1, n0 = _arm_stats(y[rows], t[rows])
        if n1 < 2 or n0 < 2:  # a block without both arms carries no comparison
            continue
        w = int(rows.sum())
        est += w * (mean1 - mean0)
        var += w * w * (v1 / n1 + v0 / n0)
        m1, m0, weight = m1 + w * mean1, m0 + w * mean0, weight + w
    n1, n0 = int(t.sum()), int((~t).sum())
    pooled = float(y.var(ddof=1)) if len(y) > 1 else np.nan
    z, zp = z_value(level), float(norm.ppf(power))
    if weight == 0:
        return Effect(np.nan, np.nan, np.nan, np.nan, n1, n0, np.nan, np.nan, np.nan, pooled, n1 / max(n1 + n0, 1))
    est, se = est / weight, float(np.sqrt(var)) / weight
    return Effect(effect=est, se=se, low=est - z * se, high=est + z * se, n_treated=n1, n_control=n0,
                  mean_treated=m1 / weight, mean_control=m0 / weight, mde=(z + zp) * se, variance=pooled,
                  treated_share=n1 / (n1 + n0))


def complier_effect(y: np.ndarray, treated: np.ndarray, contacted: np.ndarray, blocks: np.ndarray | None = None,
                    level: float = 0.9) -> dict[str, float]:
    """Effect on the contacted: Wald ratio ITT(y) / ITT(contacted), delta-method interval."""
    y, t, d = np.asarray(y, dtype=float), np.asarray(treated, dtype=bool), np.asarray(contacted, dtype=float)
    keep = ~np.isnan(y) & ~np.isnan(d)
    y, t, d = y[keep], t[keep], d[keep]
    blocks = None if blocks is None else np.asarray(blocks)[keep]
    num, den = blocked_effect(y, t, blocks, level), blocked_effect(d, t, blocks, level)
    if not np.isfinite(den.effect) or den.effect <= 0:
        return {"effect": np.nan, "se": np.nan, "low": np.nan, "high": np.nan, "contact_rate": den.effect}
    # covariance of the two blocked differences: per block, cov(y, d) within each arm over its size
    b = np.zeros(len(y), dtype=int) if blocks is None else pd.factorize(blocks)[0]
    cov, weight = 0.0, 0
    for k in np.unique(b):
        rows = b == k
        c = 0.0
        for arm in (True, False):
            sel = rows & (t == arm)
            if sel.sum() > 1:
                c += float(np.cov(y[sel], d[sel], ddof=1)[0, 1]) / sel.sum()
        w = int(rows.sum())
        cov, weight = cov + w * w * c, weight + w
    cov /= weight * weight
    ratio = num.effect / den.effect
    var = (num.se ** 2 - 2 * ratio * cov + ratio ** 2 * den.se ** 2) / den.effect ** 2
    se = float(np.sqrt(max(var, 0.0)))
    z = z_value(level)
    return {"effect": ratio, "se": se, "low": ratio - z * se, "high": ratio + z * se, "contact_rate": den.effect}


def sample_needed(variance: float, min_effect: float, treated_share: float, level: float, power: float) -> float:
    """Customers (both groups, at this treated share) whose interval would detect `min_effect` with `power`."""
    if not np.isfinite(variance) or min_effect <= 0 or not 0 < treated_share < 1:
        return np.nan
    k = (z_value(level) + float(norm.ppf(power))) ** 2 * variance / min_effect ** 2
    return float(np.ceil(k * (1 / treated_share + 1 / (1 - treated_share))))


def effect_table(frame: pd.DataFrame, outcomes: list[str], by: list[str], level: float, power: float,
                 blocks: str = "rule", contacted: bool = False) -> pd.DataFrame:
    """One row per (group of `by`, outcome): effect, interval, counts, MDE, benefit interval, complier effect."""
    rows = []
    for key, part in frame.groupby(by, sort=True, observed=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        t = part["treated"].to_numpy()
        for outcome in outcomes:
            y = part[outcome].to_numpy(dtype=float)
            e = blocked_effect(y, t, part[blocks].to_numpy() if blocks in part else None, level, power)
            sign = BENEFIT_SIGN.get(outcome, 1.0)
            row = {**dict(zip(by, key)), "outcome": outcome, **e.as_dict(),
                   "benefit": sign * e.effect, "benefit_low": min(sign * e.low, sign * e.high),
                   "benefit_high": max(sign * e.low, sign * e.high)}
            if contacted:
                c = complier_effect(y, t, part["contacted"].to_numpy(dtype=float),
                                    part[blocks].to_numpy() if blocks in part else None, level)
                row |= {f"complier_{k}": v for k, v in c.items()}
            rows.append(row)
    return pd.DataFrame(rows)


def verdicts(effects: pd.DataFrame, min_effect: float, min_cell: int, level: float, power: float) -> pd.DataFrame:
    """keep / retire / keep testing per row of an effect table (one outcome), with the evidence in words."""
    out = effects.copy()
    verdict, evidence, needed = [], [], []
    for r in out.itertuples(index=False):
        n = r.n_treated + r.n_control
        need = sample_needed(r.variance, min_effect, r.treated_share, level, power)
        pct = f"{level:.0%}"
        if n < min_cell or r.n_control < 2 or r.n_treated < 2 or not np.isfinite(r.benefit_high):
            verdict.append(KEEP_TESTING)
            evidence.append(f"only {n} customers ({r.n_control} control); a verdict needs {min_cell}")
        elif r.benefit_high < min_effect:
            verdict.append(RETIRE)
            harm = " (it harms: even the upper bound is below 0)" if r.benefit_high < 0 else ""
            evidence.append(f"benefit {r.benefit:+.4f}, {pct} upper bound {r.benefit_high:+.4f} is below the "
                            f"minimum worthwhile effect {min_effect:+.4f}{harm}; n={n}")
        elif r.benefit_low > 0:
            verdict.append(KEEP)
            evidence.append(f"benefit {r.benefit:+.4f} [{r.benefit_low:+.4f}, {r.benefit_high:+.4f}] ({pct}); n={n}")
        else:
            verdict.append(KEEP_TESTING)
            evidence.append(f"benefit {r.benefit:+.4f} [{r.benefit_low:+.4f}, {r.benefit_high:+.4f}] ({pct}) "
                            f"includes 0 and {min_effect:+.4f}; n={n}, ~{need:,.0f} would detect {min_effect}")
        needed.append(max(0.0, need - n) if np.isfinite(need) and verdict[-1] == KEEP_TESTING else np.nan)
    out["verdict"], out["evidence"], out["more_customers_needed"] = verdict, evidence, needed
    return out


# --------------------------------------------------------------------------------------------- ranking quality
def uplift_curve(score: np.ndarray, pseudo: np.ndarray, points: int = 50, level: float = 0.9) -> pd.DataFrame:
    """Cumulative benefit per customer of the population when treating the top share by `score` (Qini-style
    uplift curve from DR pseudo-outcomes), with a per-point interval and the random-targeting line."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    phi = np.asarray(pseudo, dtype=float)[order]
    n = len(phi)
    cum, cum2 = np.concatenate([[0.0], np.cumsum(phi)]), np.concatenate([[0.0], np.cumsum(phi ** 2)])
    share = np.linspace(0, 1, points + 1)
    k = np.round(share * n).astype(int)
    gain = cum[k] / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var_sum = np.where(k > 1, cum2[k] - cum[k] ** 2 / np.maximum(k, 1), 0.0)  # sum of squared deviations
    se = np.sqrt(np.maximum(var_sum, 0)) / n
    z = z_value(level)
    return pd.DataFrame({"share": share, "customers": k, "gain": gain, "low": gain - z * se, "high": gain + z * se,
                         "random": share * gain[-1]})


def auuc(score: np.ndarray, pseudo: np.ndarray, level: float = 0.9, bins: int = 20) -> dict[str, float]:
    """Area under the uplift curve, the random line's area, and their difference with a normal interval.

    The area is linear in the pseudo-outcomes (weight 1 - rank/n each), so its variance is the weighted sum of
    their variances, estimated by squared deviations from the mean of their rank bin."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    phi = np.asarray(pseudo, dtype=float)[order]
    n = len(phi)
    if n < 2:
        return {"auuc": np.nan, "random": np.nan, "excess": np.nan, "low": np.nan, "high": np.nan}
    weight = 1.0 - (np.arange(n) + 0.5) / n
    area, random = float((weight * phi).sum() / n), float(phi.mean() / 2)
    c = (weight - 0.5) / n
    bin_id = np.minimum((np.arange(n) * bins) // n, bins - 1)
    local = np.bincount(bin_id, weights=phi, minlength=bins) / np.maximum(np.bincount(bin_id, minlength=bins), 1)
    se = float(np.sqrt(np.sum(c ** 2 * (phi - local[bin_id]) ** 2)))
    z = z_value(level)
    excess = area - random
    return {"auuc": area, "random": random, "excess": excess, "low": excess - z * se, "high": excess + z * se,
            "se": se}


def targeted_benefit(selected: np.ndarray, pseudo: np.ndarray, value: np.ndarray, cost: float | np.ndarray,
                     level: float = 0.9) -> dict[str, float]:
    """Benefit (e.g. churns prevented), value saved and cost of treating the `selected` customers, estimated
    from their pseudo-outcomes, with intervals for the first two."""
    sel = np.asarray(selected, dtype=bool)
    phi, v = np.asarray(pseudo, dtype=float)[sel], np.asarray(value, dtype=float)[sel]
    cost_total = float(np.sum(np.broadcast_to(cost, sel.shape)[sel]))
    z = z_value(level)

    def total(x: np.ndarray) -> tuple[float, float]:
        return float(x.sum()), float(np.sqrt(((x - x.mean()) ** 2).sum())) if len(x) > 1 else np.nan

    b, b_se = total(phi)
    s, s_se = total(phi * v)
    return {"customers": int(sel.sum()), "benefit": b, "benefit_low": b - z * b_se, "benefit_high": b + z * b_se,
            "value_saved": s, "value_low": s - z * s_se, "value_high": s + z * s_se, "cost": cost_total,
            "net_value": s - cost_total}
