"""Segment NPS: every customer in exactly one level, each level with its interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
from nps_worlds import N, world

from cxpredict.estimation.population import population_nps


def test_segments_cover_every_customer_once():
    observed, proba, e, _ = world(4)
    seg = pd.DataFrame({"plan": np.where(np.arange(N) % 3 == 0, "a", "b")})
    pop = population_nps(observed, proba, e, segments=seg)
    rows = pop.segments
    assert sorted(r["level"] for r in rows) == ["a", "b"]
    assert sum(r["n_customers"] for r in rows) == N
    assert all(r["low"] < r["estimate"] < r["high"] for r in rows)
