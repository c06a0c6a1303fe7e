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
from typing import Any

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


def _cell_sums(cell: np.ndarray, y: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: count, mean and sum of squared deviations of the non-missing y (two passes, as np.var)."""
    ok = ~np.isnan(y)
    if not ok.all():  # no copies when nothing is missing
        cell, y = cell[ok], y[ok]
    n = np.bincount(cell, minlength=cells).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(cell, weights=y, minlength=cells) / n
    ss = np.bincount(cell, weights=(y - mean[cell]) ** 2, minlength=cells)
    return n, mean, ss


def _cells(t: np.ndarray, group: np.ndarray, block: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Each row's (group, block, arm) cell, an integer below groups x blocks x 2."""
    return (group * shape[1] + block) * 2 + t.astype(np.int64)


def _blocked(y: np.ndarray, t: np.ndarray, group: np.ndarray, block: np.ndarray, shape: tuple[int, int],
             level: float, power: float, sums: tuple | None = None) -> dict[str, np.ndarray]:
    """Blocked effects of every group at once (group and block: integer codes, shape = (groups, blocks)).

    Per (group, block, arm) counts, means and variances from one pass over the rows (`sums`: that pass's
    _cell_sums when the caller made it); a block enters its group's estimate with its size as weight only when
    both arms have at least 2 customers (else it carries no comparison). Returns the Effect fields as arrays, one
    entry per group."""
    groups, blocks = shape
    sums = sums or _cell_sums(_cells(t, group, block, shape), y, groups * blocks * 2)
    n, mean, ss = (a.reshape(groups, blocks, 2) for a in sums)
    n0, n1, m0, m1 = n[..., 0], n[..., 1], mean[..., 0], mean[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        v0, v1 = ss[..., 0] / (n0 - 1), ss[..., 1] / (n1 - 1)
        valid = (n1 >= 2) & (n0 >= 2)
        w = np.where(valid, n1 + n0, 0.0)
        weight = w.sum(axis=1)
        est = np.where(valid, w * (m1 - m0), 0.0).sum(axis=1) / weight
        se = np.sqrt(np.where(valid, w * w * (v1 / n1 + v0 / n0), 0.0).sum(axis=1)) / weight
        mean1 = np.where(valid, w * m1, 0.0).sum(axis=1) / weight
        mean0 = np.where(valid, w * m0, 0.0).sum(axis=1) / weight
        gn, _, gss = _cell_sums(group, y, groups)
        pooled = np.where(gn > 1, gss / (gn - 1), np.nan)
    est, se = np.where(weight > 0, est, np.nan), np.where(weight > 0, se, np.nan)
    z, zp = z_value(level), float(norm.ppf(power))
    n_treated, n_control = n1.sum(axis=1).astype(int), n0.sum(axis=1).astype(int)
    return {"effect": est, "se": se, "low": est - z * se, "high": est + z * se, "n_treated": n_treated,
            "n_control": n_control, "mean_treated": np.where(weight > 0, mean1, np.nan),
            "mean_control": np.where(weight > 0, mean0, np.nan), "mde": (z + zp) * se, "variance": pooled,
            "treated_share": n_treated / np.maximum(n_treated + n_control, 1)}


def _complier(y: np.ndarray, t: np.ndarray, d: np.ndarray, group: np.ndarray, block: np.ndarray,
              shape: tuple[int, int], level: float, reuse: tuple | None = None) -> dict[str, np.ndarray]:
    """Effect on the contacted of every group at once: Wald ratio ITT(y) / ITT(contacted), delta-method interval.
    The covariance of the two blocked differences: per block, cov(y, d) within each arm over its size.
    `reuse`: the blocked effects of y and of d over all these rows and their _cell_sums, used when neither
    misses a value (the same numbers: an outcome's own effect, the contact rate and their cell sums are then
    not computed again)."""
    keep = ~np.isnan(y) & ~np.isnan(d)
    groups, blocks = shape
    cells = groups * blocks * 2
    if keep.all() and reuse is not None:
        num, den, (n, my, _), (_, md, _) = reuse
        cell = _cells(t, group, block, shape)
    else:
        y, t, d, group, block = y[keep], t[keep], d[keep], group[keep], block[keep]
        num, den = _blocked(y, t, group, block, shape, level, 0.8), _blocked(d, t, group, block, shape, level, 0.8)
        cell = _cells(t, group, block, shape)
        n, my, _ = _cell_sums(cell, y, cells)
        _, md, _ = _cell_sums(cell, d, cells)
    cross = np.bincount(cell, weights=(y - my[cell]) * (d - md[cell]), minlength=cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(n > 1, cross / (n - 1) / n, 0.0).reshape(groups, blocks, 2).sum(axis=2)
        w = n.reshape(groups, blocks, 2).sum(axis=2)
        cov = (w * w * c).sum(axis=1) / w.sum(axis=1) ** 2
        ratio = num["effect"] / den["effect"]
        var = (num["se"] ** 2 - 2 * ratio * cov + ratio ** 2 * den["se"] ** 2) / den["effect"] ** 2
    ok = np.isfinite(den["effect"]) & (den["effect"] > 0)
    ratio, se = np.where(ok, ratio, np.nan), np.where(ok, np.sqrt(np.maximum(var, 0.0)), np.nan)
    z = z_value(level)
    return {"effect": ratio, "se": se, "low": ratio - z * se, "high": ratio + z * se, "contact_rate": den["effect"]}


def _codes(blocks: Any, n: int) -> tuple[np.ndarray, int]:
    """Integer block codes (missing values are one block of their own) and the number of blocks."""
    if blocks is None:
        return np.zeros(n, dtype=np.int64), 1
    codes, uniques = pd.factorize(blocks if isinstance(blocks, pd.Series) else np.asarray(blocks),
                                  use_na_sentinel=False)
    return codes.astype(np.int64), max(len(uniques), 1)


def blocked_effect(y: np.ndarray, treated: np.ndarray, blocks: np.ndarray | None = None, level: float = 0.9,
                   power: float = 0.8) -> Effect:
    """Blocked difference in means (blocks = rules: each with its own treated share) with a Neyman interval."""
    y, t = np.asarray(y, dtype=float), np.asarray(treated, dtype=bool)
    block, n_blocks = _codes(blocks, len(y))
    e = _blocked(y, t, np.zeros(len(y), dtype=np.int64), block, (1, n_blocks), level, power)
    return Effect(**{k: (int(v[0]) if k.startswith("n_") else float(v[0])) for k, v in e.items()})


def complier_effect(y: np.ndarray, treated: np.ndarray, contacted: np.ndarray, blocks: np.ndarray | None = None,
                    level: float = 0.9) -> dict[str, float]:
    """Effect on the contacted: Wald ratio ITT(y) / ITT(contacted), delta-method interval."""
    y, t, d = np.asarray(y, dtype=float), np.asarray(treated, dtype=bool), np.asarray(contacted, dtype=float)
    block, n_blocks = _codes(blocks, len(y))
    c = _complier(y, t, d, np.zeros(len(y), dtype=np.int64), block, (1, n_blocks), level)
    return {k: float(v[0]) for k, v in c.items()}


def sample_needed(variance: float, min_effect: float, treated_share: float, level: float, power: float) -> float:
    """Customers (both groups, at this treated share) whose interval would detect `min_effect` with `power`."""
    if not np.isfinite(variance) or min_effect <= 0 or not 0 < treated_share < 1:
        return np.nan
    k = (z_value(level) + float(norm.ppf(power))) ** 2 * variance / min_effect ** 2
    return float(np.ceil(k * (1 / treated_share + 1 / (1 - treated_share))))


def effect_table(frame: pd.DataFrame, outcomes: list[str], by: list[str], level: float, power: float,
                 blocks: str = "rule", contacted: bool = False) -> pd.DataFrame:
    """One row per (group of `by`, outcome): effect, interval, counts, MDE, benefit interval, complier effect.
    All groups of an outcome are computed in one pass over the rows (groups in `groupby` order)."""
    grouped = frame.groupby(by, sort=True, observed=True, dropna=False)
    group = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = frame[by].iloc[np.unique(group, return_index=True)[1]].reset_index(drop=True)
    block, n_blocks = _codes(frame[blocks] if blocks in frame else None, len(frame))
    shape, t = (len(keys), n_blocks), frame["treated"].to_numpy(dtype=bool)
    d = frame["contacted"].to_numpy(dtype=float) if contacted else None
    cell, cells = _cells(t, group, block, shape), shape[0] * shape[1] * 2
    d_sums = _cell_sums(cell, d, cells) if contacted else None
    contact = _blocked(d, t, group, block, shape, level, power, d_sums) if contacted else None  # for each outcome
    parts = []
    for order, outcome in enumerate(outcomes):
        y = frame[outcome].to_numpy(dtype=float)
        y_sums = _cell_sums(cell, y, cells)
        blocked = _blocked(y, t, group, block, shape, level, power, y_sums)
        e = pd.DataFrame(blocked)
        sign = BENEFIT_SIGN.get(outcome, 1.0)
        part = keys.assign(outcome=outcome, **e, benefit=sign * e["effect"],
                           benefit_low=np.fmin(sign * e["low"], sign * e["high"]),
                           benefit_high=np.fmax(sign * e["low"], sign * e["high"]), _order=order,
                           _group=np.arange(len(keys)))
        if contacted:
            c = _complier(y, t, d, group, block, shape, level, reuse=(blocked, contact, y_sums, d_sums))
            part = part.assign(**{f"complier_{k}": v for k, v in c.items()})
        parts.append(part)
    if not parts or keys.empty:
        return pd.DataFrame()
    table = pd.concat(parts, ignore_index=True).sort_values(["_group", "_order"], kind="stable")
    return table.drop(columns=["_group", "_order"]).reset_index(drop=True)


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
