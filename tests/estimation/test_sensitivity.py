"""The answer-dependent-response sensitivity: the curve moves the right way and its tipping point is exact."""

from __future__ import annotations

import numpy as np
import pytest
from nps_worlds import N, world

from cxpredict.estimation.population import population_nps
from cxpredict.estimation.sensitivity import tilt_detractor_odds


def test_sensitivity_moves_down_with_more_silent_detractors():
    observed, proba, e, _ = world(5)
    pop = population_nps(observed, proba, e)
    curve = {row["gamma"]: row["estimate"] for row in pop.sensitivity["curve"]}
    assert curve[1.0] == pytest.approx(pop.estimate)
    gammas = sorted(curve)
    assert all(curve[a] > curve[b] for a, b in zip(gammas, gammas[1:]))
    down = pop.sensitivity["tipping_points"]["down_5_points"]
    assert down is not None and down > 1
    tilted = tilt_detractor_odds(proba[observed < 0], down)
    shift = 100 * ((tilted[:, 2] - tilted[:, 0]).sum() - (proba[observed < 0, 2] - proba[observed < 0, 0]).sum()) / N
    assert shift == pytest.approx(-5.0, abs=1e-6)



def test_tilting_keeps_probabilities_valid():
    proba = np.array([[0.2, 0.5, 0.3], [0.0, 0.4, 0.6], [1.0, 0.0, 0.0]])
    for gamma in (0.1, 1.0, 7.0):
        tilted = tilt_detractor_odds(proba, gamma)
        assert np.allclose(tilted.sum(axis=1), 1) and (tilted >= 0).all()
    assert np.allclose(tilt_detractor_odds(proba, 1.0), proba)
