"""Tests for cxpredict.data.config_checks: every column name the config holds is checked, in validate and train
alike, and data.as_of against the data."""

from __future__ import annotations

import pytest

from cxpredict.config import config_from_dict
from cxpredict.data.customers import validate_inputs
from cxpredict.data.config_checks import configured_columns, name_problems, require_names
from cxpredict.errors import ConfigError

CUSTOMERS = "customer_id,plan,monthly_charges,region,tenure\n" + "".join(
    f"c{i},{('basic', 'pro')[i % 2]},{10 + i},{('north', 'south')[i % 3 == 0]},{i % 7}\n" for i in range(60))
SURVEY = "customer_id,score\n" + "".join(f"c{i},{i % 11}\n" for i in range(60))  # enough answers to train


def cfg_with(tmp_path, **sections):
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "survey.csv").write_text(SURVEY)
    raw = {"data": {"survey": {"path": "survey.csv"}, "behaviour": [{"name": "customers", "path": "customers.csv"}]},
           **sections}
    return config_from_dict(raw, base_dir=tmp_path)


MISSPELT = {
    "features": {"exclude": ["monthly_charge"], "include": ["plan", "monthly_charges", "regoin", "tenure"],
                 "categorical": ["plann"]},
    "drivers": {"groups": [{"name": "Price", "features": ["monthly_chargs"]}], "segments": ["plam"]},
    "population": {"segments": ["regions"]},
    "survey_design": {"segment_targets": {"tenur": 3.0}},
    "churn": {"value": {"column": "monthly_charge"}},
}


def test_every_misspelt_name_is_named_with_its_key_and_a_did_you_mean(tmp_path):
    cfg = cfg_with(tmp_path, **MISSPELT)
    assert len(configured_columns(cfg)) == 11
    messages = [str(e) for e in validate_inputs(cfg)]
    expected = [("features.exclude", "monthly_charge", "monthly_charges"), ("features.include", "regoin", "region"),
                ("features.categorical", "plann", "plan"),
                ("drivers.groups[0] ('Price').features", "monthly_chargs", "monthly_charges"),
                ("drivers.segments", "plam", "plan"), ("population.segments", "regions", "region"),
                ("survey_design.segment_targets", "tenur", "tenure"),
                ("churn.value.column", "monthly_charge", "monthly_charges")]
    for key, wrong, right in expected:
        assert any(m.startswith(f"{key}: '{wrong}' is not a column") and f"did you mean '{right}'" in m
                   for m in messages), (key, messages)
    assert len(messages) == len(expected)
    assert "excludes nothing" in next(m for m in messages if m.startswith("features.exclude"))
    defensive = cfg_with(tmp_path, features={"exclude": ["score", "customer_id"]})  # columns of the input files
    assert validate_inputs(defensive) == []


def test_a_misspelt_exclude_stops_train_before_any_model(tmp_path):
    """The old trip: `validate` said ok and `train` trained on the column the user meant to exclude."""
    from cxpredict.workflows.train import train

    cfg = cfg_with(tmp_path, features={"exclude": ["monthly_charge"]})
    with pytest.raises(ConfigError, match=r"features\.exclude: 'monthly_charge'.*did you mean 'monthly_charges'"):
        train(cfg, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_group_features_left_out_by_include_or_exclude_and_text_features(tmp_path):
    cfg = cfg_with(tmp_path, features={"exclude": ["tenure"]},
                   drivers={"groups": [{"name": "Tenure", "features": ["tenure"]},
                                       {"name": "Tone", "features": ["survey_comment_texts_90d"]}]})
    problems = [str(p) for p in name_problems(cfg, ["plan", "tenure"], text_prefixes=["survey_comment_"])]
    assert problems == ["drivers.groups[0] ('Tenure').features: 'tenure' is left out of the model by "
                        "features.exclude; remove it from the group or from that list"]
    with pytest.raises(ConfigError, match="survey_comment_texts_90d"):  # train has the text features as columns
        require_names(cfg, ["plan", "tenure"])
    disabled = cfg_with(tmp_path, drivers={"enabled": False, "groups": [{"name": "X", "features": ["nothing"]}]})
    assert name_problems(disabled, ["plan"]) == []  # a disabled stage's names are not read
    churn_only = config_from_dict({"data": {"behaviour": [{"name": "c", "path": "customers.csv"}],
                                            "outcomes": {"path": "customers.csv", "label": "tenure"}},
                                   "drivers": {"groups": [{"name": "X", "features": ["nothing"]}]},
                                   "population": {"segments": ["nowhere"]}}, base_dir=tmp_path)
    assert name_problems(churn_only, ["plan"]) == []  # no survey: no drivers, no population NPS to segment


def test_an_as_of_long_after_the_last_event_is_an_error_unless_forced(tmp_path):
    """The old trip: `score --as-of 2099-01-01` on data ending in 2024 exited 0 with every window empty."""
    from cxpredict.data.customers import load_customers

    (tmp_path / "tickets.csv").write_text("customer_id,opened_at\n" + "".join(
        f"c{i},2024-06-{i % 30 + 1:02d}\n" for i in range(60)))
    tickets = {"name": "tickets", "path": "tickets.csv", "kind": "events", "timestamp": "opened_at",
               "aggregations": [{"agg": "count", "window_days": 30}, {"agg": "count", "name": "tickets_ever"}]}

    def cfg(as_of, **data):
        built = cfg_with(tmp_path)
        raw = built.model_dump(mode="json")
        raw["data"].update(behaviour=[*raw["data"]["behaviour"], tickets], as_of=as_of, **data)
        return config_from_dict(raw, base_dir=tmp_path)

    for late in ("2099-01-01", "2024-07-30"):  # 30 days after the last event: the 30-day window is empty for all
        with pytest.raises(ConfigError, match=rf"data\.as_of \(or --as-of\) {late} is \d+ days after the last "
                                              r"event of the data \(2024-06-30, events table 'tickets'\).*force_as_of"):
            load_customers(cfg(late))
    assert load_customers(cfg("2024-07-29")).frame["tickets_count_30d"].sum() == 2  # within the window: fine
    forced = load_customers(cfg("2099-01-01", force_as_of=True))
    assert forced.frame["tickets_count_30d"].sum() == 0 and forced.frame["tickets_ever"].sum() == 60


def test_a_misspelt_actionable_entry_is_named_with_a_did_you_mean(tmp_path):
    cfg = cfg_with(tmp_path, drivers={"actionable": ["tenur", "plan"]})
    messages = [str(e) for e in validate_inputs(cfg)]
    assert any("drivers.actionable: 'tenur' matches no driver group or feature" in m and "'tenure'" in m
               for m in messages), messages
    assert not any("'plan'" in m for m in messages)  # a column is a driver of its own name


def test_actionable_may_name_a_configured_group_but_not_an_unknown_one(tmp_path):
    groups = [{"name": "Price", "features": ["monthly_charges"]}]
    cfg = cfg_with(tmp_path, drivers={"groups": groups, "actionable": ["Price", "Prices!"]})
    messages = [str(e) for e in name_problems(cfg, ["plan", "monthly_charges", "region", "tenure"])]
    assert len(messages) == 1 and "'Prices!'" in messages[0] and "did you mean 'Price'" in messages[0]
