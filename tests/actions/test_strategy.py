"""Segments, applying the playbook (priority, capacity deferral) and the files people read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import scored_frame

from cxpredict.actions.playbook import load_playbook, playbook_from_dict
from cxpredict.actions.segments import Segmenter
from cxpredict.actions.strategy import (
    ROW_RULES,
    ActionStage,
    CapacityQueue,
    apply_playbook,
    check_stages,
    defer_over_capacity,
    rows_needing_drivers,
    segment_and_act,
)
from cxpredict.config import ChurnConfig, DEFAULT_PLAYBOOK, StrategyConfig, config_from_dict
from cxpredict.errors import ConfigError

DEFAULT = {"name": "default", "strategy": "no-action", "action": "No action"}


# ------------------------------------------------------------------ segments
def test_segments_use_observed_class_for_respondents_and_band_cut_points():
    scored = pd.DataFrame({
        "predicted_class": pd.array(["promoter", "detractor", "passive"], dtype="str"),
        "observed_class": pd.array(["detractor", None, None], dtype="str"),
        "churn_prob": [0.1, 0.2, np.nan],  # 0.2 sits on a cut point: it belongs to the upper band
        "value": [10.0, 500.0, 80.0],
    })
    seg = Segmenter.fit(ChurnConfig(), StrategyConfig(value_bands=[100.0], value_band_mode="fixed"))
    out = seg.assign(scored)
    assert out["segment"].astype("str").tolist() == [
        "detractor/low-risk/low-value", "detractor/medium-risk/high-value", "passive/unknown-risk/low-value"]
    predicted = Segmenter.fit(ChurnConfig(), StrategyConfig(class_source="predicted")).assign(scored)
    assert predicted["segment"].astype("str").tolist()[0] == "promoter/low-risk"  # no value bands configured
    assert "value_band" not in predicted.columns  # no value bands configured




def test_segments_leave_out_the_part_of_an_absent_model():
    """Churn-only runs have no class, survey-only runs no churn risk: the segment is made of what exists."""
    churn_only = pd.DataFrame({"churn_prob": [0.1, 0.7], "value": [10.0, 500.0]})
    seg = Segmenter.fit(ChurnConfig(), StrategyConfig(value_bands=[100.0], value_band_mode="fixed"))
    out = seg.assign(churn_only)
    assert out["segment"].astype("str").tolist() == ["low-risk/low-value", "high-risk/high-value"]
    assert "segment_class" not in out.columns
    survey_only = pd.DataFrame({"predicted_class": pd.array(["promoter", "detractor"], dtype="str")})
    out = Segmenter.fit(ChurnConfig(), StrategyConfig()).assign(survey_only)
    assert out["segment"].astype("str").tolist() == ["promoter", "detractor"]
    assert "risk_band" not in out.columns
    with pytest.raises(ConfigError, match="segments need"):
        Segmenter.fit(ChurnConfig(), StrategyConfig()).assign(pd.DataFrame({"value": [1.0]}))

def test_quantile_value_bands_are_fixed_at_fit_time():
    values = np.arange(1, 101, dtype=float)
    seg = Segmenter.fit(ChurnConfig(risk_bands=[0.5], risk_band_labels=["calm", "alarm"]),
                        StrategyConfig(value_bands=[0.5, 0.9], value_band_labels=["s", "m", "l"]), values)
    assert seg.value_cuts == pytest.approx([50.5, 90.1])
    again = Segmenter.from_json(seg.to_json())
    assert again == seg
    one = pd.DataFrame({"predicted_class": pd.array(["passive"], dtype="str"), "churn_prob": [0.7],
                        "value": [95.0]})
    assert again.assign(one)["segment"].astype("str").tolist() == ["passive/alarm-risk/l-value"]
    with pytest.raises(ConfigError, match="too uniform"):
        Segmenter.fit(ChurnConfig(), StrategyConfig(value_bands=[0.3, 0.6]), np.ones(50))


# ------------------------------------------------------------------ priority and capacity
def test_capacity_defers_lowest_priorities_and_never_drops_anyone():
    action = np.array([0, 0, 1, 0, 0, 1, 0])
    priority = np.array([5.0, 9.0, 1.0, np.nan, 7.0, 2.0, 7.0])
    deferred = defer_over_capacity(action, priority, {0: 2})
    # action 0 serves 9.0 and the first 7.0 (ties: earlier row first); NaN priority goes last
    assert deferred.tolist() == [True, False, False, True, False, False, True]
    assert defer_over_capacity(action, priority, {0: 0, 1: 5}).tolist() == [
        True, True, False, True, True, False, True]


def test_apply_playbook_serves_highest_value_at_risk_first():
    scored = scored_frame()
    pb = playbook_from_dict({"rules": [
        {"name": "call", "when": "churn_prob >= 0.3", "strategy": "retention", "action": "Call back",
         "channel": "phone", "owner_team": "care", "sla_hours": 24, "capacity": 10},
        {**DEFAULT},
    ]})
    out = apply_playbook(scored, pb)
    called = out["rule"] == "call"
    assert len(out) == len(scored) and called.sum() > 10  # nobody dropped, more candidates than capacity
    served = out[called & ~out["deferred"]]
    waiting = out[called & out["deferred"]]
    assert len(served) == 10 and len(waiting) == called.sum() - 10
    assert served["priority"].min() >= waiting["priority"].max()
    assert np.allclose(out["priority"], scored["value_at_risk"])
    assert not out.loc[~called, "deferred"].any()
    assert out.loc[called, "sla_hours"].eq(24).all() and out.loc[~called, "sla_hours"].isna().all()
    assert (out.loc[called, "strategy"] == "retention").all()


def test_expected_uplift_priority_hook_prefers_specific_segment_keys():
    scored = scored_frame(50)
    scored["segment"] = pd.array(np.where(scored.index < 25, "detractor/high-risk", "passive/low-risk"), dtype="str")
    pb = playbook_from_dict({
        "priority": {"method": "expected_uplift", "default_uplift": 0.01,
                     "uplift": {"retention": 0.1, "retention|detractor/high-risk": 0.3}},
        "rules": [{"name": "r", "when": "churn_prob >= 0", "strategy": "retention", "action": "a"}, {**DEFAULT}],
    })
    priority = apply_playbook(scored, pb)["priority"].to_numpy()
    value = scored["value"].to_numpy()
    assert np.allclose(priority[:25], 0.3 * value[:25]) and np.allclose(priority[25:], 0.1 * value[25:])


def test_priority_needs_its_column():
    pb = playbook_from_dict({"rules": [{**DEFAULT}]})
    with pytest.raises(ConfigError, match="value_at_risk"):
        apply_playbook(pd.DataFrame({"predicted_class": ["passive"]}), pb)


def test_unknown_column_in_playbook_is_a_config_error_naming_it():
    pb = playbook_from_dict({"rules": [
        {"name": "typo", "when": 'driver1 == "Billing"', "strategy": "retention", "action": "a"}, {**DEFAULT}]})
    with pytest.raises(ConfigError, match=r"rule 'typo': unknown column 'driver1' \(did you mean 'driver_1'\?\)"):
        apply_playbook(scored_frame(20), pb)


# ------------------------------------------------------------------ streaming stages
def test_capacity_queue_over_batches_equals_whole_population(repo_root, tmp_path):
    pb = load_playbook(DEFAULT_PLAYBOOK)
    scored = scored_frame(900, seed=4)
    seg = Segmenter.fit(ChurnConfig(), StrategyConfig(value_bands=[0.5, 0.8]), scored["value"].to_numpy())
    whole = segment_and_act(scored, seg, pb)
    small = playbook_from_dict({**pb.model_dump(exclude_none=True), "rules": [
        {**r.model_dump(exclude_none=True), **({"capacity": 7} if r.capacity else {})} for r in pb.rules]})
    whole = segment_and_act(scored, seg, small)
    assert whole["deferred"].sum() > 0
    stage = ActionStage(seg, small)
    queue = CapacityQueue(small, tmp_path)
    for lo in range(0, len(scored), 200):
        queue.add(stage.apply(scored.iloc[lo:lo + 200]))
    streamed = pd.concat(list(queue.batches()), ignore_index=True)
    pd.testing.assert_series_equal(streamed["deferred"], whole["deferred"].reset_index(drop=True))
    pd.testing.assert_series_equal(streamed["rule"].astype("str"), whole["rule"].astype("str").reset_index(drop=True))
    assert not list(tmp_path.iterdir())  # spool cleaned up
    # every other column comes back from the spool exactly as it went in (types, missing values, categories)
    acted = stage.apply(scored).reset_index(drop=True)
    plain = CapacityQueue(None, tmp_path)
    plain.add(acted)
    pd.testing.assert_frame_equal(next(plain.batches()), acted, check_exact=True)



def test_capacity_queue_keeps_only_the_served_rows_and_defers_as_a_full_sort(tmp_path):
    """The queue keeps at most `capacity` rows per action in memory, yet defers exactly the rows that one sort of
    the whole population defers, ties (many equal priorities) and missing priorities included."""
    rng = np.random.default_rng(7)
    n = 5_000
    action = rng.choice(["call", "mail", "gift", "none"], n)
    priority = rng.integers(0, 40, n).astype(float)  # many ties
    priority[rng.random(n) < 0.05] = np.nan
    frame = pd.DataFrame({"action": pd.array(action, dtype="str"), "priority": priority, "row": np.arange(n)})
    capacity = {"call": 37, "mail": 0, "gift": 10_000}  # mail: nobody served; gift: everyone
    pb = playbook_from_dict({"rules": [
        {"name": a, "when": "value > 0", "strategy": "retention", "action": a, "capacity": c}
        for a, c in capacity.items()] + [{**DEFAULT, "action": "none"}]})
    queue = CapacityQueue(pb, tmp_path)
    lo = 0
    for size in rng.integers(1, 900, 40):
        queue.add(frame.iloc[lo:lo + size])
        lo += size
    queue.add(frame.iloc[lo:])
    assert sum(len(rows) for _, rows in queue._served.values()) <= 37 + (action == "gift").sum()
    codes = {a: i for i, a in enumerate(capacity)}
    expected = defer_over_capacity(np.array([codes.get(a, -1) for a in action]), priority,
                                   {codes[a]: c for a, c in capacity.items()})
    streamed = pd.concat(list(queue.batches()), ignore_index=True)
    assert streamed["row"].tolist() == list(range(n))
    assert streamed["deferred"].tolist() == expected.tolist()
    assert (~streamed["deferred"] & (streamed["action"] == "call")).sum() == 37
    assert streamed.loc[streamed["action"] == "mail", "deferred"].all()
    assert not streamed.loc[streamed["action"].isin(["gift", "none"]), "deferred"].any()


def _fit(cfg, values):
    return ActionStage.from_values(values, cfg.strategy, cfg.churn, cfg.strategy.playbook and Path(cfg.strategy.playbook))


def test_fit_band_cuts_and_save_a_copy_of_the_playbook(repo_root, tmp_path):
    cfg = config_from_dict({
        "data": {"survey": {"path": "s.csv"}, "outcomes": {"path": "o.csv"},
                 "behaviour": [{"name": "b", "path": "b.csv"}]},
        "strategy": {"playbook": str(DEFAULT_PLAYBOOK), "value_bands": [0.5]},
    })
    fitted = _fit(cfg, np.arange(10.0))
    fitted.save(tmp_path)
    assert Segmenter.from_json((tmp_path / "segments.json").read_text()).value_cuts == [4.5]
    assert (tmp_path / "playbook.yaml").read_text() == DEFAULT_PLAYBOOK.read_text()  # the file as written
    stage = ActionStage.load(tmp_path, StrategyConfig())
    assert stage.playbook is not None and stage.playbook.rules[-1].name == "default"  # the bundle's copy
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [{name: x, strategy: retention, action: a, when: 'churn_prob > 1'}]")
    with pytest.raises(ConfigError, match="unconditional default"):
        _fit(cfg.model_copy(update={"strategy": StrategyConfig(playbook=str(broken))}), None)
    typo = tmp_path / "typo.yaml"
    typo.write_text("rules: [{name: x, strategy: retention, action: a, when: 'churn_prb > 0.5'},"
                    " {name: d, strategy: no-action, action: none}]")
    with pytest.raises(ConfigError, match="rule 'x': unknown column 'churn_prb' \\(did you mean 'churn_prob'"):
        _fit(cfg.model_copy(update={"strategy": StrategyConfig(playbook=str(typo))}), None)


def test_value_band_only_when_value_bands_are_configured():
    scored = scored_frame(50)
    with_bands = Segmenter.fit(ChurnConfig(), StrategyConfig(value_bands=[0.5]), scored["value"].to_numpy())
    assert "value_band" in with_bands.assign(scored).columns
    assert "value_band" not in Segmenter.fit(ChurnConfig(), StrategyConfig()).assign(scored).columns


def test_rules_naming_an_absent_models_columns_are_refused_naming_rule_and_column():
    book = playbook_from_dict({"rules": [
        {"name": "risky-detractors", "when": 'segment_class == "detractor" and churn_prob > 0.5',
         "strategy": "retention", "action": "Call"},
        {"name": "by-driver", "when": 'driver_1 == "Billing"', "strategy": "retention", "action": "Mail"},
        {"name": "default", "strategy": "no-action", "action": "None"}]})
    check_stages(book, {})  # every model present: nothing to say
    with pytest.raises(ConfigError) as e:
        check_stages(book, {"churn": "no outcomes table (data.outcomes)"}, source="pb.yaml")
    text = str(e.value)
    assert "rule 'risky-detractors': column 'churn_prob' comes from the churn model" in text
    assert "priority.method 'value_at_risk' needs the churn model" in text and "use method: value" in text
    assert "segment_class" not in text and text.startswith("pb.yaml: 2 problem(s)")
    with pytest.raises(ConfigError) as e:
        check_stages(book, {"nps": "no survey table (data.survey)", "drivers": "no survey table (data.survey)"})
    # driver columns keep their rule: a stage that is off makes them match nobody (with_virtual_columns)
    assert "'segment_class' comes from the NPS model" in str(e.value) and "driver_1" not in str(e.value)


@pytest.mark.parametrize("rows", ["actioned", "work_orders"])
def test_drivers_are_needed_wherever_they_could_change_the_rule_or_are_acted_on(rows):
    """Rows left without drivers take the same rule as with them, and every row the kept rules act on has them."""
    scored = scored_frame(3000, seed=4)
    pb = playbook_from_dict({"rules": [
        {"name": "billing", "when": 'predicted_class == "detractor" and churn_prob >= 0.4 and driver_1 in ["Billing"]',
         "strategy": "retention", "action": "Review the bill"},
        {"name": "risky", "when": 'predicted_class == "detractor" and churn_prob >= 0.4', "strategy": "retention",
         "action": "Call"},
        {"name": "nudge", "when": 'predicted_class == "passive" and not driver_2 == "Price"', "strategy": "activation",
         "action": "Nudge"},
        {**DEFAULT},
    ]})
    needed = rows_needing_drivers(pb, scored.drop(columns=["driver_1", "driver_2"]), ROW_RULES[rows])
    blanked = scored.copy()
    blanked.loc[~needed, ["driver_1", "driver_2"]] = pd.NA
    full_rule = apply_playbook(scored, pb)["rule"].astype("str")
    assert (apply_playbook(blanked, pb)["rule"].astype("str") == full_rule).all()
    kept = {r.name for r in pb.rules if ROW_RULES[rows](r)}
    assert needed[full_rule.isin(kept).to_numpy()].all()
    promoter = (scored["predicted_class"] == "promoter").to_numpy()
    calm = (scored["predicted_class"] == "detractor").to_numpy() & (scored["churn_prob"] < 0.4).to_numpy()
    assert not needed[promoter | calm].any()  # no rule reads drivers for them and none acts on them
    assert needed[(scored["predicted_class"] == "passive").to_numpy()].all()  # `not driver_2 == ...` may decide


def test_capacity_queue_spool_write_error_is_raised_by_the_next_call(tmp_path):
    queue = CapacityQueue(None, tmp_path / "gone")  # the spool folder does not exist: the write fails
    queue.add(pd.DataFrame({"a": [1, 2]}))  # written on a background thread
    with pytest.raises(OSError):
        list(queue.batches())
