"""The composed population NPS result: the headline method and its notes."""

from __future__ import annotations

from nps_worlds import world

from cxpredict.estimation.population import population_nps


def test_no_signal_makes_hajek_the_headline():
    observed, proba, e, _ = world(2)
    pop = population_nps(observed, proba, e, no_signal=True)
    assert pop.method == "hajek" and pop.estimate == pop.hajek
    assert any("No signal" in note for note in pop.notes)
