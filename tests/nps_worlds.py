"""A planted world for the population NPS tests: answers and response both depend on x (missing at random given
x), so the respondents' own NPS is biased and the truth is known."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax

from cxpredict.estimation.estimators import class_contribution

N = 3000


def world(seed: int):
    """Customers whose answers and response both depend on x (missing at random given x)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 2))
    logits = np.column_stack([1.2 * x[:, 0] - 0.3, np.zeros(N), -1.2 * x[:, 0] + 0.5 * x[:, 1]])
    proba = softmax(logits, axis=1)
    cls = (rng.random(N)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
    e = expit(-1.8 + 0.8 * x[:, 0])  # detractor-prone customers answer more (overlap: e within ~0.02-0.6)
    responded = rng.random(N) < e
    truth = 100 * class_contribution(cls).mean()
    observed = np.where(responded, cls, -1)
    return observed, proba, e, truth
