"""Synthetic text: off by default (tables as before), notes and comments in the asked language with their planted
topics, and the hidden text-only driver moves satisfaction only when `text_signal` > 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxpredict.data.text import detect_language, normalise
from cxpredict.errors import ConfigError
from cxpredict.synthetic import text as synthetic_text
from cxpredict.synthetic.customers import generate

N = 4_000


@pytest.fixture(scope="module")
def mixed():
    return generate(N, seed=3, text="mixed")


def test_without_text_the_behaviour_tables_do_not_change(mixed):
    plain = generate(N, seed=3)
    for name in ("customers", "usage", "billing", "orders"):
        pd.testing.assert_frame_equal(plain.tables[name], mixed.tables[name])
    pd.testing.assert_frame_equal(plain.tables["tickets"], mixed.tables["tickets"].drop(columns="note"))
    assert "note" not in plain.tables["tickets"] and "text_issue" not in plain.truth


def test_notes_follow_their_planted_topic_in_both_languages(mixed):
    notes = [normalise(t) for t in mixed.tables["tickets"]["note"]]
    language = np.array([detect_language(t) for t in notes])
    written = mixed.text_truth["note_language"]
    assert 0.4 < (written == "zh").mean() < 0.6
    assert (language == written).mean() > 0.85  # the rest: mixed-language texts
    topics = mixed.text_truth["note_topic"]
    billing = np.array([("bill" in t or "账单" in t) for t in notes])
    assert billing[topics == "billing"].mean() > 0.9 and billing[topics == "account"].mean() < 0.2


def test_comments_mention_the_stated_lead_reason(mixed):
    survey = mixed.tables["survey"].dropna(subset=["comment", "reasons"])
    lead = survey["reasons"].str.split(";").str[0]
    billing = survey["comment"].str.contains("bill|账单")
    assert billing[lead == "billing"].mean() > 0.9 and billing[lead == "delivery"].mean() < 0.2


def test_the_hidden_driver_moves_satisfaction_only_with_signal():
    on, off = generate(N, seed=3, text="en", text_signal=1.0), generate(N, seed=3, text="en", text_signal=0.0)
    issue = on.truth["text_issue"].to_numpy()
    shift = (on.truth["latent"] - off.truth["latent"]).to_numpy()
    np.testing.assert_allclose(shift, synthetic_text.staff_effect(issue))
    assert (issue < 0).mean() > 0.03 and (issue > 0).mean() > 0.03
    pd.testing.assert_frame_equal(on.tables["tickets"], off.tables["tickets"])  # the same texts either way


@pytest.mark.parametrize("kwargs", [{"text": "fr"}, {"text": "en", "text_signal": -1.0}])
def test_bad_text_arguments_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        generate(100, **kwargs)
