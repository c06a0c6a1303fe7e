"""Effects recover a planted truth: intervals cover it, harmful actions are retired, helpful ones are not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxpredict.estimation.effects import (
    auuc,
    blocked_effect,
    complier_effect,
    effect_table,
    verdicts,
)


def _campaign(n: int, effects: dict[str, float], seed: int, share: float = 0.5, base: float = 0.3) -> pd.DataFrame:
    """Churn experiment: `effects` maps segment -> change of the churn probability when treated."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(list(effects), n)
    treated = rng.random(n) > share
    p = base + treated * np.vectorize(effects.get)(segment)
    return pd.DataFrame({"strategy": "upsell", "rule": "r", "segment": segment, "treated": treated,
                         "churned": (rng.random(n) < p).astype(float)})


def test_interval_covers_the_true_effect_at_its_level():
    hits = []
    for seed in range(300):
        frame = _campaign(4_000, {"a": -0.05}, seed)
        e = blocked_effect(frame["churned"], frame["treated"], level=0.9)
        hits.append(e.low <= -0.05 <= e.high)
    # 300 replicates of a 90% interval: the binomial sd is 1.7 points, so 0.86-0.94 is a wide margin
    assert 0.86 <= np.mean(hits) <= 0.94


def test_blocks_with_different_shares_do_not_bias_the_effect():
    rng = np.random.default_rng(0)
    n = 40_000
    rule = rng.choice(["low", "high"], n)
    treated = rng.random(n) < np.where(rule == "low", 0.9, 0.5)
    p = np.where(rule == "low", 0.1, 0.6) - 0.05 * treated  # true effect -0.05 in both rules
    y = (rng.random(n) < p).astype(float)
    naive = y[treated].mean() - y[~treated].mean()
    blocked = blocked_effect(y, treated, rule)
    assert blocked.low <= -0.05 <= blocked.high
    assert not (-0.05 - 0.02 <= naive <= -0.05 + 0.02)  # pooling would mix shares with churn levels


def test_planted_harmful_segment_is_retired_and_helpful_one_kept():
    frame = _campaign(20_000, {"helped": -0.08, "harmed": +0.10}, seed=3, share=0.2)
    table = effect_table(frame, ["churned"], ["strategy", "segment"], level=0.9, power=0.8)
    v = verdicts(table, min_effect=0.01, min_cell=200, level=0.9, power=0.8).set_index("segment")
    assert v.loc["harmed", "verdict"] == "retire" and "harms" in v.loc["harmed", "evidence"]
    assert v.loc["helped", "verdict"] == "keep"


def test_too_little_data_is_keep_testing_with_the_sample_it_needs():
    frame = _campaign(300, {"a": -0.01}, seed=1)
    table = effect_table(frame, ["churned"], ["strategy"], level=0.9, power=0.8)
    v = verdicts(table, min_effect=0.01, min_cell=200, level=0.9, power=0.8).iloc[0]
    assert v["verdict"] == "keep testing" and v["more_customers_needed"] > 10_000


def test_complier_effect_divides_by_the_contact_rate():
    rng = np.random.default_rng(5)
    n = 60_000
    treated = rng.random(n) < 0.5
    contacted = treated & (rng.random(n) < 0.6)
    y = (rng.random(n) < 0.3 - 0.10 * contacted).astype(float)
    c = complier_effect(y, treated, contacted.astype(float))
    assert c["low"] <= -0.10 <= c["high"] and abs(c["contact_rate"] - 0.6) < 0.01


def test_effect_table_complier_columns_match_each_group_computed_alone():
    """effect_table reuses an outcome's own effect and the contact rate for the complier effect when nothing is
    missing; with and without missing values each group's figures are those of complier_effect on its rows."""
    rng = np.random.default_rng(7)
    n = 40_000
    frame = pd.DataFrame({"strategy": rng.choice(["a", "b"], n), "rule": rng.choice(["r1", "r2", "r3"], n),
                          "treated": rng.random(n) < 0.6})
    frame["contacted"] = (frame["treated"] & (rng.random(n) < 0.7)).astype(float)
    frame["churned"] = (rng.random(n) < 0.3 - 0.1 * frame["contacted"]).astype(float)
    frame["revenue"] = np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2.0, 10.0, n) * (1 + frame["contacted"]))
    table = effect_table(frame, ["churned", "revenue"], ["strategy"], level=0.9, power=0.8, contacted=True)
    for row in table.itertuples():
        part = frame[frame["strategy"] == row.strategy]
        alone = complier_effect(part[row.outcome].to_numpy(), part["treated"].to_numpy(),
                                part["contacted"].to_numpy(), part["rule"], level=0.9)
        for key, value in alone.items():
            np.testing.assert_allclose(getattr(row, f"complier_{key}"), value, rtol=1e-12, err_msg=key)


def test_auuc_excess_is_positive_for_an_informative_ranking_only():
    rng = np.random.default_rng(2)
    tau = rng.uniform(-0.1, 0.3, 20_000)
    pseudo = tau + rng.normal(0, 1.0, tau.size)
    good, noise = auuc(tau, pseudo), auuc(rng.random(tau.size), pseudo)
    assert good["low"] > 0
    assert noise["low"] < 0 < noise["high"]


def test_effect_table_rows_are_the_effects_of_each_group_alone():
    """The table computes every group in one pass; each row must be what blocked_effect / complier_effect give on
    that group's customers alone (missing outcomes, a group without control, uneven blocks included)."""
    rng = np.random.default_rng(4)
    n = 6_000
    frame = pd.DataFrame({"strategy": rng.choice(["a", "b", "c"], n), "segment": rng.choice(["x", "y"], n),
                          "rule": rng.choice(["r1", "r2", "r3"], n), "treated": rng.random(n) < 0.7})
    frame.loc[frame["strategy"] == "c", "treated"] = True  # no control: no comparison
    frame["churned"] = np.where(rng.random(n) < 0.1, np.nan, (rng.random(n) < 0.3 - 0.1 * frame["treated"]))
    frame["contacted"] = np.where(frame["treated"], rng.random(n) < 0.6, 0.0)
    table = effect_table(frame, ["churned"], ["strategy", "segment"], level=0.9, power=0.8, contacted=True)
    assert len(table) == 6 and table["effect"].notna().sum() == 4
    for row in table.itertuples():
        part = frame[(frame["strategy"] == row.strategy) & (frame["segment"] == row.segment)]
        alone = blocked_effect(part["churned"], part["treated"], part["rule"].to_numpy(), level=0.9, power=0.8)
        complier = complier_effect(part["churned"], part["treated"], part["contacted"], part["rule"].to_numpy(), 0.9)
        for key, value in alone.as_dict().items():
            np.testing.assert_allclose(getattr(row, key), value, rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(row.complier_effect, complier["effect"], rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(row.complier_se, complier["se"], rtol=1e-12, equal_nan=True)
    # one block: the plain difference in means with Neyman's standard error, written out
    part = frame[frame["strategy"] == "a"].dropna(subset=["churned"])
    y1, y0 = part.loc[part["treated"], "churned"], part.loc[~part["treated"], "churned"]
    plain = blocked_effect(part["churned"], part["treated"])
    np.testing.assert_allclose(plain.effect, y1.mean() - y0.mean(), rtol=1e-12)
    np.testing.assert_allclose(plain.se, np.sqrt(y1.var() / len(y1) + y0.var() / len(y0)), rtol=1e-12)
