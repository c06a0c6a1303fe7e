"""Drift checks: PSI, the training profile, and the monitor that counts batch by batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxpredict.config import DriftConfig, FeaturesConfig, Scale
from cxpredict.data.features import FeatureManifest
from cxpredict.workflows.drift import DriftMonitor, profile_training, psi


@pytest.fixture()
def training():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(50, 10, 4000), "c": pd.array(rng.choice(["a", "b", "c"], 4000), dtype="str")})
    manifest = FeatureManifest.fit(frame, FeaturesConfig())
    return manifest, frame


def predictions(frame: pd.DataFrame, respondents: int = 0, observed: str = "passive") -> pd.DataFrame:
    """A stand-in for score_frame's output: outputs driven by x, the first `respondents` rows answered."""
    p_det = 1 / (1 + np.exp((frame["x"].to_numpy() - 50) / 10))
    answered = np.arange(len(frame)) < respondents
    return pd.DataFrame({
        "is_respondent": answered,
        "observed_class": pd.array(np.where(answered, observed, None), dtype="str"),
        "predicted_score": 10 - 6 * p_det,
        "p_detractor": p_det, "p_passive": (1 - p_det) / 2, "p_promoter": (1 - p_det) / 2,
        "predicted_class": pd.array(np.where(p_det > 0.5, "detractor", "passive"), dtype="str"),
    })


def monitor_over(manifest, profile, frame, cfg=None, **scored_kw) -> DriftMonitor:
    monitor = DriftMonitor(profile, cfg or DriftConfig())
    scored = predictions(frame, **scored_kw)
    for rows in np.array_split(np.arange(len(frame)), 4):  # batch by batch, as scoring does
        _, stats = manifest.transform_with_stats(frame.iloc[rows])
        monitor.add(stats, scored.iloc[rows])
    return monitor


def test_psi_zero_for_equal_shares_large_for_a_shift_finite_for_empty_bins():
    assert psi([25, 25, 50], [0.25, 0.25, 0.5]) == 0.0
    assert psi([0, 0, 100], [0.4, 0.4, 0.2]) > 1.0
    assert np.isfinite(psi([0, 100], [0.0, 1.0]))
    assert psi([0, 0], [0.5, 0.5]) is None


def test_profile_holds_shares_for_every_feature_and_output(training):
    manifest, frame = training
    X = manifest.transform(frame)
    profile = profile_training(manifest, X, predictions(frame), np.r_[np.full(100, 9.0), np.full(3900, np.nan)],
                               Scale())
    assert set(profile["features"]) == {"x", "c"} and set(profile["outputs"]) == {"predicted_score", "p_detractor"}
    assert len(profile["features"]["x"]["shares"]) == len(manifest.numeric["x"]["edges"]) + 2
    assert len(profile["features"]["c"]["shares"]) == len(manifest.categorical["c"]) + 2  # + unknown, missing
    for part in (*profile["features"].values(), *profile["outputs"].values()):
        assert sum(part["shares"]) == pytest.approx(1.0, abs=1e-5)
    assert profile["respondent_class_shares"] == {"detractor": 0.0, "passive": 0.0, "promoter": 1.0}


def test_training_data_scored_again_is_stable(training):
    manifest, frame = training
    profile = profile_training(manifest, manifest.transform(frame), predictions(frame))
    report = monitor_over(manifest, profile, frame).report()
    assert report["status"] == "ok" and report["reasons"] == [] and report["rows"] == len(frame)
    assert max(report["psi_features"].values()) < 0.01 and max(report["psi_outputs"].values()) < 0.01


def test_shift_far_values_and_unseen_categories_are_drift_reasons(training):
    manifest, frame = training
    profile = profile_training(manifest, manifest.transform(frame), predictions(frame))
    shifted = frame.assign(x=frame["x"] + np.where(np.arange(len(frame)) < 400, 1000, 15),
                           c=frame["c"].where(np.arange(len(frame)) >= 300, "z"))
    report = monitor_over(manifest, profile, shifted).report()
    assert report["status"] == "drift"
    assert report["psi_features"]["x"] > 0.25 and report["psi_outputs"]["p_detractor"] > 0.25
    assert report["out_of_range"]["x"] == {"rows": 400, "share": 0.1}
    assert report["unseen_categories"]["c"]["rows"] == 300
    text = " ".join(report["reasons"])
    assert "feature 'x'" in text and "'p_detractor'" in text and "outside the training range" in text
    assert "unseen" in text


def test_respondent_mix_judged_only_out_of_sample_and_with_enough_answers(training):
    manifest, frame = training
    profile = profile_training(manifest, manifest.transform(frame), predictions(frame))
    monitor = monitor_over(manifest, profile, frame, respondents=500, observed="promoter")
    mix = monitor.report()["respondent_mix"]
    assert mix["judged"] and mix["respondents"] == 500 and mix["observed_shares"]["promoter"] == 1.0
    assert mix["max_gap"] > 0.4 and monitor.report()["status"] == "drift"
    in_sample = monitor.report(in_sample_survey=True)
    assert not in_sample["respondent_mix"]["judged"] and in_sample["status"] == "ok"
    few = monitor_over(manifest, profile, frame, DriftConfig(min_respondents=1000), respondents=500,
                       observed="promoter").report()
    assert not few["respondent_mix"]["judged"] and "min_respondents" in few["respondent_mix"]["note"]


def test_without_a_profile_only_counts_are_reported(training):
    manifest, frame = training
    report = monitor_over(manifest, None, frame.assign(c="z")).report()
    assert report["psi_features"] == {} and "no training profile" in report["notes"][0]
    assert report["unseen_categories"]["c"]["rows"] == len(frame) and report["status"] == "drift"
