import numpy as np
import pandas as pd
import pytest

from cxpredict.config import FeaturesConfig
from cxpredict.data.features import OTHER, UNKNOWN, FeatureManifest, numeric_bin_counts
from cxpredict.errors import ConfigError, InputError


def frame(n=40):
    idx = pd.Index([f"C{i}" for i in range(n)], name="customer_id")
    plan = pd.Series(["mobile", "bundle"] * (n // 2), index=idx, dtype="str")
    plan.iloc[0] = "kiosk"  # seen once: folded into "other"
    return pd.DataFrame({"tenure": np.arange(n, dtype=float), "plan": plan, "age": np.linspace(20, 80, n)}, index=idx)


def test_fit_learns_names_levels_and_ranges():
    m = FeatureManifest.fit(frame(), FeaturesConfig(exclude=["age"]))
    assert m.names == ["tenure", "plan"]
    assert m.categorical["plan"] == ["bundle", "mobile", OTHER]
    assert m.rare["plan"] == ["kiosk"]
    assert m.numeric["tenure"]["min"] == 0 and m.numeric["tenure"]["max"] == 39


def test_transform_keeps_training_levels_and_counts_unseen():
    m = FeatureManifest.fit(frame(), FeaturesConfig())
    new = frame(6).assign(plan=pd.Series(["mobile", "kiosk", "satellite", None, "bundle", "satellite"],
                                         index=frame(6).index, dtype="str"))
    X, stats = m.transform_with_stats(new)
    assert list(X.columns) == m.names
    assert list(X["plan"].cat.categories) == ["bundle", "mobile", OTHER, UNKNOWN]
    assert X["plan"].tolist()[:3] == ["mobile", OTHER, UNKNOWN]
    assert pd.isna(X["plan"].iloc[3])
    expected = pd.Categorical(["mobile", OTHER, UNKNOWN, None, "bundle", UNKNOWN],  # what pandas builds from text
                              categories=["bundle", "mobile", OTHER, UNKNOWN])
    pd.testing.assert_series_equal(X["plan"], pd.Series(expected, index=X.index, name="plan"))
    assert stats["unseen_categories"] == {"plan": 2}
    assert sum(stats["bin_counts"]["plan"]) == 6


def test_levels_are_the_same_from_text_object_and_categorical_columns():
    m = FeatureManifest.fit(frame(), FeaturesConfig())
    values = ["mobile", "kiosk", "satellite", None, "bundle", "satellite"]
    mapped = []
    for column in (pd.array(values, dtype="str"), pd.array(values, dtype=object),
                   pd.Categorical(values, categories=["satellite", "bundle", "kiosk", "mobile", "unused"])):
        X, stats = m.transform_with_stats(frame(6).assign(plan=pd.Series(column, index=frame(6).index)))
        assert stats["unseen_categories"] == {"plan": 2}
        mapped.append(X["plan"])
    for other in mapped[1:]:
        pd.testing.assert_series_equal(other, mapped[0])


def test_missing_feature_column_is_an_input_error_naming_it():
    m = FeatureManifest.fit(frame(), FeaturesConfig())
    with pytest.raises(InputError, match="'tenure'.*did you mean 'tenur'"):
        m.transform(frame().rename(columns={"tenure": "tenur"}), source="scores.csv")


def test_extra_columns_are_ignored_and_noted():
    m = FeatureManifest.fit(frame(), FeaturesConfig())
    X, stats = m.transform_with_stats(frame().assign(extra=1))
    assert "extra" not in X.columns
    assert stats["extra_columns_ignored"] == ["extra"]


def test_columns_training_dropped_are_not_extra_at_scoring():
    train = frame().assign(same="x")
    m = FeatureManifest.fit(train, FeaturesConfig())
    assert "same" in m.dropped
    assert m.check_columns([*train.columns, "new"]) == ["new"], "training warned about 'same' already"


def test_far_out_of_range_values_are_counted():
    m = FeatureManifest.fit(frame(), FeaturesConfig())
    _, stats = m.transform_with_stats(frame().assign(tenure=np.r_[1000.0, np.zeros(39)]))
    assert stats["out_of_range"] == {"tenure": 1}
    assert not hasattr(m, "last_stats"), "statistics are returned, never left on the shared manifest"


def test_include_of_unknown_column_is_a_config_error():
    with pytest.raises(ConfigError, match="'tenur'.*did you mean 'tenure'"):
        FeatureManifest.fit(frame(), FeaturesConfig(include=["tenur"]))


def test_manifest_roundtrips_through_json_dict():
    import json

    m = FeatureManifest.fit(frame(), FeaturesConfig())
    again = FeatureManifest.from_dict(json.loads(json.dumps(m.to_dict())))
    pd.testing.assert_frame_equal(m.transform(frame()), again.transform(frame()))


def test_empty_and_constant_columns_are_dropped_with_a_warning_naming_them(caplog):
    f = frame().assign(blank=np.nan, same="x", one=3.0, sparse=np.where(np.arange(40) % 2, 1.0, np.nan))
    m = FeatureManifest.fit(f, FeaturesConfig())
    assert "blank" not in m.names and "same" not in m.names and "one" not in m.names
    assert "sparse" in m.names  # one value, but missing elsewhere: missingness still separates customers
    assert m.dropped == {"blank": "empty in every row", "same": "the same value 'x' in every row",
                         "one": "the same value '3.0' in every row"}
    assert "'blank' (empty in every row)" in caplog.text and "features.exclude" in caplog.text
    assert FeatureManifest.from_dict(m.to_dict()).dropped == m.dropped
    m.transform(f.drop(columns=["blank", "same", "one"]))  # scoring data need not carry the dropped columns


def test_only_uninformative_columns_is_a_config_error():
    with pytest.raises(ConfigError, match="every candidate column is empty or constant"):
        FeatureManifest.fit(frame().assign(one=1.0), FeaturesConfig(include=["one"]))


def test_transform_treats_infinite_and_extreme_numbers_as_missing(caplog):
    m = FeatureManifest.fit(frame(), FeaturesConfig())
    new = frame(6)
    new["tenure"] = [1.0, np.inf, -np.inf, 1e300, 2.0, np.nan]
    X, stats = m.transform_with_stats(new, source="the caller's frame")
    assert X["tenure"].isna().tolist() == [False, True, True, True, False, True]
    assert stats["non_finite"] == {"tenure": 3}
    assert "the caller's frame" in caplog.text and "'tenure': 3 row(s)" in caplog.text


def test_fit_ranges_ignore_infinite_values():
    f = frame().assign(tenure=np.r_[np.inf, np.arange(39.0)])
    m = FeatureManifest.fit(f, FeaturesConfig())
    assert m.numeric["tenure"]["max"] == 38 and np.isfinite(m.numeric["tenure"]["edges"]).all()


def test_model_names_are_identifiers_unique_and_the_user_names_where_possible():
    from cxpredict.data.features import model_safe_names

    names = ["tenure", "Monthly Charge", "Monthly_Charge", "Größe", "=cost", "a,b", "x:y", "[id]", "2024 spend",
             "+++"]
    safe = model_safe_names(names)
    assert safe[:2] == ["tenure", "Monthly_Charge_2"] and safe[2] == "Monthly_Charge"
    assert safe[3:] == ["Groe", "cost", "a_b", "x_y", "id", "f_2024_spend", "feature"]
    assert len(set(safe)) == len(safe)


def test_transform_uses_model_names_and_maps_back_to_the_user_names():
    odd = frame().rename(columns={"tenure": "Tenure (months)", "plan": "Plan, current"})
    m = FeatureManifest.fit(odd, FeaturesConfig(exclude=["age"]))
    X, stats = m.transform_with_stats(odd)
    assert list(X.columns) == ["Tenure_months", "Plan_current"] == m.model_names
    assert m.names == ["Tenure (months)", "Plan, current"]
    assert m.user_names(list(X.columns)) == m.names
    assert m.user_names(["Plan_current=mobile", "unknown_thing"]) == ["Plan, current=mobile", "unknown_thing"]
    assert set(stats["bin_counts"]) == set(m.names)  # drift is reported in the user's names
    again = FeatureManifest.from_dict(m.to_dict())
    assert again.model_names == m.model_names


def test_manifests_saved_before_model_names_keep_the_names_they_trained_on():
    m = FeatureManifest.fit(frame(), FeaturesConfig())
    old = {k: v for k, v in m.to_dict().items() if k != "model_names"}
    old["names"] = ["tenure", "plan", "age years"]
    old["numeric"]["age years"] = old["numeric"].pop("age")
    assert FeatureManifest.from_dict(old).model_names == ["tenure", "plan", "age years"]


def test_driver_groups_lose_only_the_features_training_dropped():
    from cxpredict.config import DriversConfig

    frame = pd.DataFrame({"calls": [1.0, 2.0, 3.0], "outages": [0.0, 0.0, 0.0], "age": [np.nan] * 3,
                          "tenure": [5, 5, 5], "price": [9.0, 8.0, 7.0]})
    manifest = FeatureManifest.fit(frame, FeaturesConfig())
    drivers = DriversConfig(groups=[{"name": "Network", "features": ["calls", "outages"]},
                                    {"name": "Tenure & age", "features": ["tenure", "age"]},
                                    {"name": "Price", "features": ["price"]}])
    kept, notes = manifest.kept_driver_groups(drivers)
    assert [(g.name, g.features) for g in kept.groups] == [("Network", ["calls"]), ("Price", ["price"])]
    assert notes[0].startswith("drivers.groups 'Network': kept without 'outages'") and "['calls']" in notes[0]
    assert notes[1].startswith("drivers.groups 'Tenure & age': left out") and len(notes) == 2
    assert manifest.kept_driver_groups(kept) == (kept, [])  # nothing more to drop: unchanged, silent


def test_numeric_bin_counts_are_searchsorted_bins_with_missing_values_last():
    """A value equal to an edge goes up (searchsorted side="right"); NaN has the last bin."""
    rng = np.random.default_rng(0)
    for trial in range(50):
        values = rng.integers(0, 6, 500).astype(float) if trial % 2 else rng.normal(size=500)
        values[rng.random(500) < 0.1] = np.nan
        edges = sorted(set(rng.integers(0, 6, trial % 6).astype(float).tolist()))
        bins = np.searchsorted(np.asarray(edges, dtype=float), values, side="right")
        bins[np.isnan(values)] = len(edges) + 1
        assert numeric_bin_counts(values, edges) == np.bincount(bins, minlength=len(edges) + 2).tolist()
    assert numeric_bin_counts(np.array([np.nan, 1.0, 2.0]), [2.0]) == [1, 1, 1]
