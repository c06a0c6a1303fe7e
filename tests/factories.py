"""Small synthetic frames shared by tests of several modules (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def scored_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A scored file as the earlier stages produce it (NPS, drivers, churn and value columns)."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([1, 1, 1], n)
    classes = np.array(["detractor", "passive", "promoter"])
    respondent = rng.random(n) < 0.2
    observed = np.where(respondent, rng.integers(0, 11, n), np.nan)
    observed_class = np.where(observed <= 6, "detractor", np.where(observed >= 9, "promoter", "passive"))
    churn = rng.beta(1.5, 4, n)
    value = rng.gamma(2.0, 300.0, n)
    drivers = np.array(["Billing", "Network", "Price", None], dtype=object)
    return pd.DataFrame({
        "customer_id": pd.array([f"C{i:05d}" for i in range(n)], dtype="str"),
        "is_respondent": respondent,
        "observed_score": pd.array(pd.Series(observed).round().astype("Int64")),
        "observed_class": pd.array(np.where(respondent, observed_class, None), dtype="str"),
        "predicted_score": p @ np.array([3.0, 7.5, 9.5]),
        "p_detractor": p[:, 0], "p_passive": p[:, 1], "p_promoter": p[:, 2],
        "predicted_class": pd.array(classes[p.argmax(axis=1)], dtype="str"),
        "driver_1": pd.array(drivers[rng.integers(0, 4, n)], dtype="str"),
        "driver_2": pd.array(drivers[rng.integers(0, 4, n)], dtype="str"),
        "churn_prob": churn, "value": value, "value_at_risk": churn * value,
    })
