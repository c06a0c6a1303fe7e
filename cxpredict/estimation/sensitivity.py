"""How far the population NPS would move if the answer itself drove response (missing NOT at random).

ASSUMPTION (in every result): response depends on observed behaviour only (missing at random). If the answer
itself drives response, no estimate from behaviour can see it: the curve here shows how far the NPS would move
if silent customers' odds of being a detractor were Gamma times those of respondents who look alike.
The estimate assumes Gamma = 1; this module moves only the silent customers' predictions, so the curve needs
their class probabilities and the headline, nothing else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import brentq

from cxpredict.estimation.estimators import nps_contribution

SENSITIVITY_GAMMAS = (0.5, 0.67, 0.8, 0.9, 1.0, 1.11, 1.25, 1.5, 2.0)
TIPPING_RANGE = (0.05, 20.0)  # Gamma searched for tipping points
TIPPING_SHIFT = 5.0  # points: "where the estimate moves by 5 points"


def tilt_detractor_odds(proba: np.ndarray, gamma: float) -> np.ndarray:
    """Class probabilities with the detractor odds multiplied by `gamma`, the other classes scaled to match."""
    proba = np.asarray(proba, dtype=float)
    new_det, rest = _tilted(proba[:, 0], gamma)
    return np.column_stack([new_det, proba[:, 1] * rest, proba[:, 2] * rest])


def _tilted(p_det: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """The tilted detractor probability and the factor the other classes are scaled by."""
    new_det = gamma * p_det / (gamma * p_det + 1 - p_det)
    return new_det, np.where(1 - p_det > 1e-12, (1 - new_det) / np.maximum(1 - p_det, 1e-12), 0.0)


def sensitivity_curve(base: dict[str, float | None], proba_silent: np.ndarray, n_customers: int,
                      gammas=SENSITIVITY_GAMMAS) -> dict[str, Any]:
    """The headline under answer-dependent response: silent customers' detractor odds x Gamma (Gamma = 1: MAR).

    The shift is the change of the silent customers' predicted NPS; the interval keeps its half-width. Tipping
    points: the Gamma at which the interval first includes 0 (or leaves it), and at which the estimate has
    moved by TIPPING_SHIFT points either way (None when not reached within TIPPING_RANGE)."""
    proba_silent = np.asarray(proba_silent, dtype=float)
    base_sum = nps_contribution(proba_silent).sum()
    p_det, p_pro = proba_silent[:, 0].copy(), proba_silent[:, 2].copy()

    def shift(gamma: float) -> float:
        """tilt_detractor_odds summed without building the (n, 3) array: the root searches call it ~200 times."""
        new_det, rest = _tilted(p_det, gamma)
        return float(100 * (np.dot(p_pro, rest) - new_det.sum() - base_sum) / n_customers)

    est, low, high = base["estimate"], base["low"], base["high"]
    half = None if low is None else (high - low) / 2
    rows = [{"gamma": g, "estimate": est + shift(g),
             "low": None if half is None else est + shift(g) - half,
             "high": None if half is None else est + shift(g) + half} for g in gammas]

    def solve(target: float, lo: float, hi: float) -> float | None:
        """Gamma in [lo, hi] (log scale) where est + shift(gamma) == target; shift decreases with gamma."""
        f_lo, f_hi = est + shift(lo) - target, est + shift(hi) - target
        if f_lo * f_hi > 0:
            return None
        # Brent's method on log Gamma: ~10 evaluations of `shift` (each a pass over the silent) instead of
        # bisection's 60, to the same precision
        root = brentq(lambda log_g: est + shift(np.exp(log_g)) - target, np.log(lo), np.log(hi), xtol=1e-12)
        return float(np.exp(root))

    tips: dict[str, float | None] = {
        "down_5_points": solve(est - TIPPING_SHIFT, 1.0, TIPPING_RANGE[1]),
        "up_5_points": solve(est + TIPPING_SHIFT, TIPPING_RANGE[0], 1.0),
        "interval_reaches_zero": None,
    }
    if half is not None:
        if low > 0:  # positive NPS: how many more detractors among the silent until zero is plausible
            tips["interval_reaches_zero"] = solve(half, 1.0, TIPPING_RANGE[1])
        elif high < 0:
            tips["interval_reaches_zero"] = solve(-half, TIPPING_RANGE[0], 1.0)
        else:
            tips["interval_reaches_zero"] = 1.0  # already includes zero under MAR
    return {
        "curve": rows, "tipping_points": tips, "tipping_range": list(TIPPING_RANGE),
        "meaning": ("Gamma: how many times higher silent customers' odds of being a detractor are than those of "
                    "respondents who look alike in the data (1 = missing at random, the estimate's assumption)."),
    }
