"""The synthetic generator: determinism, messy edges, and the planted truth later issues are measured against."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cxpredict.config import DEMO_CONFIG, Scale, load_config
from cxpredict.errors import ConfigError
from cxpredict.metrics import nps_from_scores
from cxpredict.synthetic.customers import AS_OF, SCALES, TABLES, SyntheticCX, generate
from cxpredict.synthetic.planted import DRIVER_GROUPS, slug
from cxpredict.synthetic.tables import write_tables
from cxpredict.synthetic.text import REASON_CODES, REASON_THEMES

N = 20_000
PER_CUSTOMER = ("customers", "usage", "billing", "outcomes")
EVENT_AGGREGATES = ("tickets_count_90d", "tickets_count_30d", "tickets_mean_resolution_hours_90d",
                    "orders_late_sum_90d", "orders_count_90d")


@pytest.fixture(scope="module")
def data() -> SyntheticCX:
    return generate(n_customers=N, seed=0)


def _nps(scores, weights=None) -> float:
    return nps_from_scores(np.asarray(scores), Scale(), sample_weight=weights)


def test_same_seed_gives_identical_data_and_another_seed_does_not():
    a, b, c = generate(2_000, seed=7), generate(2_000, seed=7), generate(2_000, seed=8)
    for name in TABLES:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    pd.testing.assert_frame_equal(a.truth, b.truth)
    assert a.true_population_nps == b.true_population_nps
    assert not a.truth["true_score"].equals(c.truth["true_score"])
    assert a.as_of == c.as_of == AS_OF  # fixed for every seed, so configs can name it


def test_response_share_matches_the_requested_rate(data):
    assert data.truth["p_respond"].mean() == pytest.approx(0.10, abs=1e-6)
    assert data.truth["responded"].mean() == pytest.approx(0.10, abs=0.01)
    other = generate(5_000, seed=1, response_rate=0.3, answer_dependent_response=0.5)
    assert other.truth["p_respond"].mean() == pytest.approx(0.3, abs=1e-6)


def test_respondents_are_biased_but_missing_at_random(data):
    t = data.truth
    score, p, resp = t["true_score"].to_numpy(), t["p_respond"].to_numpy(), t["responded"].to_numpy()
    assert data.true_population_nps == pytest.approx(_nps(score))
    # the respondents' expected NPS (no sampling noise) and the observed one sit well below the truth ...
    assert _nps(score, weights=p) < data.true_population_nps - 5
    assert _nps(score[resp]) < data.true_population_nps - 3
    # ... and inverse-propensity weighting with the behaviour-only propensity removes most of the gap
    weighted = _nps(score[resp], weights=1 / p[resp])
    assert abs(weighted - data.true_population_nps) < abs(_nps(score[resp]) - data.true_population_nps) / 2


def test_answer_dependent_response_changes_who_answers_not_what_they_think():
    mar = generate(N, seed=0)
    mnar = generate(N, seed=0, answer_dependent_response=1.0)
    np.testing.assert_array_equal(mar.truth["true_score"], mnar.truth["true_score"])
    mean_mar = mar.truth.loc[mar.truth["responded"], "true_score"].mean()
    mean_mnar = mnar.truth.loc[mnar.truth["responded"], "true_score"].mean()
    assert mean_mnar > mean_mar + 0.5  # unhappy customers answer less
    assert mnar.truth["responded"].mean() == pytest.approx(0.10, abs=0.01)


def _independence_z(d: SyntheticCX) -> pd.Series:
    """sqrt(n) * Spearman(true score, column) for every numeric behaviour column (tables and event aggregates):
    about N(0, 1) per column when the answers are independent of behaviour (n: customers with a value)."""
    t = d.truth
    frames = [d.tables[n].set_index("customer_id").select_dtypes("number") for n in ("customers", "usage", "billing")]
    features = pd.concat([*frames, t[list(EVENT_AGGREGATES)]], axis=1).reindex(t.index)
    return features.corrwith(t["true_score"], method="spearman") * np.sqrt(features.notna().sum())


def test_negative_control_answers_are_independent_of_behaviour_but_response_is_not(data):
    control = generate(N, seed=0, signal=0.0)
    t = control.truth
    np.testing.assert_allclose(t["latent"], t["latent"].iloc[0])  # nothing in behaviour moves satisfaction
    contrib = t[[f"contrib_{slug(g['name'])}" for g in DRIVER_GROUPS]].to_numpy()
    assert np.abs(contrib).max() == 0.0
    # 16 columns at |z| < 4: a false alarm has probability ~1e-3; the default generator fails it by far
    assert _independence_z(control).abs().max() < 4
    assert _independence_z(data).abs().max() > 20
    # who answers is unchanged (it reads behaviour only), so respondents are still a biased sample of behaviour
    np.testing.assert_array_equal(t["p_respond"], data.truth["p_respond"])
    np.testing.assert_array_equal(t["responded"], data.truth["responded"])
    mix = t["true_class"].value_counts(normalize=True)
    assert mix.min() > 0.15  # the average level is kept: three real classes, not one


def test_signal_factor_scales_the_behavioural_part_of_satisfaction(data):
    weak = generate(N, seed=0, signal=0.3)
    strong_dev = data.truth["latent"] - data.truth["latent"].mean()
    np.testing.assert_allclose(weak.truth["latent"] - weak.truth["latent"].mean(), 0.3 * strong_dev, atol=1e-9)
    assert weak.truth["latent"].mean() == pytest.approx(data.truth["latent"].mean())
    names = [f"contrib_{slug(g['name'])}" for g in DRIVER_GROUPS]
    np.testing.assert_allclose(weak.truth[names], 0.3 * data.truth[names], atol=1e-12)
    assert weak.summary()["spearman_expected_vs_true"] < data.summary()["spearman_expected_vs_true"] - 0.2


def test_binary_scale_has_two_classes_satisfied_when_the_answer_is_7_or_more(data):
    binary = generate(N, seed=0, scale="binary")
    t, nps_answer = binary.truth, data.truth["true_score"]
    assert set(binary.tables["survey"]["score"]) == {0, 1}
    assert set(t["true_class"]) == {"detractor", "promoter"}  # no passives on a two-point scale
    np.testing.assert_array_equal(t["true_score"], (nps_answer >= 7).astype(int))
    np.testing.assert_array_equal(t["true_class"] == "detractor", data.truth["true_class"] == "detractor")
    assert binary.true_population_nps == pytest.approx(100 * (2 * t["true_score"].mean() - 1))
    assert binary.scale == SCALES["binary"][0] and binary.summary()["scale"] == "binary"
    assert t["expected_score"].between(0, 1).all()  # P(satisfied) under the planted ordered logit
    assert t["expected_score"].mean() == pytest.approx(t["true_score"].mean(), abs=0.02)


def test_csat_scale_keeps_the_nps_classes_on_five_points(data):
    csat = generate(N, seed=0, scale="csat")
    assert csat.tables["survey"]["score"].between(1, 5).all() and set(csat.truth["true_score"]) == {1, 2, 3, 4, 5}
    np.testing.assert_array_equal(csat.truth["true_class"], data.truth["true_class"])
    assert csat.true_population_nps == pytest.approx(data.true_population_nps)
    assert csat.truth["expected_score"].mean() == pytest.approx(csat.truth["true_score"].mean(), abs=0.05)


def test_top_driver_is_the_most_negative_centred_contribution(data):
    t = data.truth
    names = [g["name"] for g in DRIVER_GROUPS]
    contrib = t[[f"contrib_{slug(n)}" for n in names]].to_numpy()
    np.testing.assert_allclose(contrib.mean(axis=0), 0.0, atol=1e-9)
    assert (np.array(names)[contrib.argmin(axis=1)] == t["true_top_driver"].to_numpy()).all()
    actionable = {g["name"]: g["actionable"] for g in DRIVER_GROUPS}
    assert (t["true_top_driver"].map(actionable) == t["true_top_driver_actionable"]).all()
    ordered = np.sort(contrib, axis=1)
    np.testing.assert_allclose(t["true_top_driver_margin"], ordered[:, 1] - ordered[:, 0])
    # sparse problems: most detractors have one dominant problem (top < -1 point, runner-up under half of it)
    det = (t["true_class"] == "detractor").to_numpy()
    dominant = (ordered[:, 0] < -1) & (ordered[:, 1] > 0.5 * ordered[:, 0])
    assert dominant[det].mean() > 0.5
    # the latent is additive: base + centred contributions differ from latent by one constant
    offset = t["latent"].to_numpy() - contrib.sum(axis=1)
    np.testing.assert_allclose(offset, offset[0])


def test_segments_weigh_drivers_differently(data):
    t = data.truth
    network = t.groupby("plan")["contrib_network_quality"].min()
    assert network["mobile"] < 1.5 * network["broadband"]  # 2x weight: much deeper worst case on mobile
    delivery = t.groupby("plan")["contrib_delivery"].min()
    assert delivery["broadband"] < 2 * delivery["mobile"]


def test_driver_groups_equal_demo_config(data, repo_root):
    cfg = load_config(DEMO_CONFIG)
    assert [g.model_dump() for g in cfg.drivers.groups] == data.driver_groups == DRIVER_GROUPS
    assert cfg.drivers.reason_themes == REASON_THEMES
    assert cfg.data.as_of == AS_OF and cfg.seed == 0 and cfg.data.key == "customer_id"
    produced = {a.name for t in cfg.data.behaviour for a in t.aggregations}
    assert set(EVENT_AGGREGATES) <= produced
    columns = produced | {c for name in ("customers", "usage", "billing") for c in data.tables[name].columns}
    for group in cfg.drivers.groups:
        assert set(group.features) <= columns, group.name
        assert f"contrib_{slug(group.name)}" in data.truth.columns
    for segment in {*cfg.population.segments, *cfg.drivers.segments}:
        assert segment in data.tables["customers"].columns
    assert cfg.churn.value.column in data.tables["customers"].columns


def test_one_row_per_customer_in_customer_tables(data):
    ids = set(data.truth.index)
    assert data.truth.index.is_unique and len(ids) == N
    for name in PER_CUSTOMER:
        key = data.tables[name]["customer_id"]
        assert key.is_unique and set(key) == ids, name
    assert not data.tables["usage"]["customer_id"].equals(data.tables["customers"]["customer_id"])  # own order


def test_orphan_respondents_are_present_and_the_rest_match_the_truth(data):
    survey = data.tables["survey"]
    known = survey["customer_id"].isin(data.truth.index)
    n_resp = int(data.truth["responded"].sum())
    assert (~known).sum() == max(1, round(0.005 * n_resp))
    assert set(survey.loc[known, "customer_id"]) == set(data.truth.index[data.truth["responded"]])
    answered = survey[known].set_index("customer_id")["score"]
    assert (answered == data.truth.loc[answered.index, "true_score"]).all()
    assert data.summary()["orphan_respondents"] == (~known).sum()


def test_class_mix_and_score_range_are_realistic(data):
    mix = data.truth["true_class"].value_counts(normalize=True)
    assert 0.28 <= mix["detractor"] <= 0.40
    assert 0.25 <= mix["passive"] <= 0.42
    assert 0.25 <= mix["promoter"] <= 0.40
    score = data.tables["survey"]["score"]
    assert pd.api.types.is_integer_dtype(score) and score.between(0, 10).all()


def test_documented_noise_level(data):
    """The module docstring quotes Spearman(expected_score, true_score) = 0.73; a test threshold builds on it."""
    rho = data.truth["expected_score"].corr(data.truth["true_score"], method="spearman")
    assert rho == pytest.approx(0.73, abs=0.02)


def test_event_aggregates_in_truth_equal_aggregates_of_the_event_tables(data):
    as_of = pd.Timestamp(AS_OF)

    def per_customer(events, column, window, agg):
        stamp = pd.to_datetime(events[column])
        days = (as_of - stamp).dt.days
        assert not days.isin([0, 30, 90]).any() and (days > 0).all()  # nothing on a window boundary or after as_of
        recent = events[days < window]
        return recent.groupby("customer_id").agg(**agg).reindex(data.truth.index)

    tickets = per_customer(data.tables["tickets"], "opened_at", 90,
                           {"n": ("opened_at", "size"), "hours": ("resolution_hours", "mean")})
    tickets30 = per_customer(data.tables["tickets"], "opened_at", 30, {"n": ("opened_at", "size")})
    orders = per_customer(data.tables["orders"], "ordered_at", 90, {"n": ("late", "size"), "late": ("late", "sum")})
    t = data.truth
    np.testing.assert_array_equal(t["tickets_count_90d"], tickets["n"].fillna(0))
    np.testing.assert_array_equal(t["tickets_count_30d"], tickets30["n"].fillna(0))
    np.testing.assert_allclose(t["tickets_mean_resolution_hours_90d"], tickets["hours"], rtol=1e-12)
    np.testing.assert_array_equal(t["orders_count_90d"], orders["n"].fillna(0))
    np.testing.assert_array_equal(t["orders_late_sum_90d"], orders["late"].fillna(0))
    # older events exist as noise, and some customers have no events at all
    assert (pd.to_datetime(data.tables["tickets"]["opened_at"]) < as_of - pd.Timedelta(days=180)).any()
    assert (t["tickets_count_90d"] == 0).mean() > 0.5 and (t["orders_count_90d"] == 0).mean() > 0.3


def test_messy_edges(data):
    customers = data.tables["customers"]
    assert 0.02 < customers["age"].isna().mean() < 0.04
    assert 0.005 < customers["monthly_charges"].isna().mean() < 0.015
    assert 0 < (customers["channel"] == "kiosk").mean() < 0.01
    assert data.tables["tickets"]["resolution_hours"].isna().any()


def test_stated_reasons_follow_the_top_driver(data):
    survey = data.tables["survey"].set_index("customer_id")
    survey = survey[survey.index.isin(data.truth.index)].join(data.truth[["true_class", "true_top_driver"]])
    codes = survey["reasons"].dropna().str.split(";").explode()
    assert set(codes) <= set(REASON_CODES)
    has_reason = survey["reasons"].notna().groupby(survey["true_class"]).mean()
    assert has_reason["detractor"] > 0.8 and has_reason["promoter"] < 0.2
    theme = {g["name"]: g["theme"] for g in DRIVER_GROUPS}
    det = survey[(survey["true_class"] == "detractor") & survey["reasons"].notna()]
    det = det[det["true_top_driver"].map(theme).notna()]
    first = det["reasons"].str.split(";").str[0].map(REASON_THEMES)
    assert (first == det["true_top_driver"].map(theme)).mean() > 0.8


def test_churn_follows_dissatisfaction_and_targeting_beats_random(data):
    t = data.truth
    rate = t["churned"].mean()
    assert 0.15 <= rate <= 0.25
    by_class = t.groupby("true_class")["churned"].mean()
    assert by_class["detractor"] > 3 * by_class["promoter"]
    top = t["churn_prob"].nlargest(int(0.05 * len(t))).index
    assert t.loc[top, "churned"].mean() > 3 * rate  # retention targeting at 5% capacity
    outcomes = data.tables["outcomes"].set_index("customer_id")
    assert (outcomes["churned_at"].notna() == outcomes["churned"].astype(bool)).all()
    after = (pd.to_datetime(outcomes["churned_at"]) - pd.Timestamp(AS_OF)).dt.days.dropna()
    assert after.between(1, 90).all()


def test_longer_horizon_means_more_churn():
    assert generate(5_000, seed=0, churn_horizon_days=180).truth["churned"].mean() > 0.3


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_tables_round_trip(tmp_path, fmt):
    small = generate(500, seed=3)
    paths = write_tables(small, tmp_path, fmt=fmt)
    assert set(paths) == {*TABLES, "truth", "truth_json"}
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # atomic: no temporary files left
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    for name in TABLES:
        back = read(paths[name])
        assert list(back.columns) == list(small.tables[name].columns)
        assert len(back) == len(small.tables[name])
    customers = read(paths["customers"]).set_index("customer_id")
    assert customers["age"].isna().sum() == small.tables["customers"]["age"].isna().sum()
    truth = read(paths["truth"]).set_index("customer_id")
    np.testing.assert_allclose(truth["expected_score"], small.truth["expected_score"])
    summary = json.loads(paths["truth_json"].read_text(encoding="utf-8"))
    assert summary["seed"] == 3 and summary["n_customers"] == 500
    assert summary["true_population_nps"] == pytest.approx(small.true_population_nps)
    if fmt == "csv":
        raw = paths["survey"].read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")  # plain UTF-8, no BOM
        raw.decode("utf-8")
        assert pd.read_csv(paths["outcomes"])["churned_at"].dropna().str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


@pytest.mark.parametrize("kwargs", [{"n_customers": 5}, {"response_rate": 0.0}, {"response_rate": 1.5},
                                    {"churn_horizon_days": 0}, {"answer_dependent_response": float("nan")},
                                    {"signal": -0.5}, {"signal": float("inf")}, {"scale": "likert"}])
def test_bad_arguments_are_config_errors(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        generate(**kwargs)


def test_unknown_format_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="csv"):
        write_tables(generate(100), tmp_path, fmt="xlsx")
