"""End to end on synthetic data with planted truth: silent customers' predictions must track their true answers."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from cxpredict.io.bundle import load_bundle
from cxpredict.synthetic.customers import generate
from cxpredict.workflows.score import score


def test_silent_predictions_correlate_with_planted_truth(demo_config, trained_bundle, tmp_path):
    bundle = load_bundle(trained_bundle)
    result = score(demo_config, bundle, tmp_path / "scored.parquet")
    scored = pd.read_parquet(result.path).set_index("customer_id")
    truth = generate(n_customers=5_000, seed=0, response_rate=0.15).truth
    silent = scored.index[~scored["is_respondent"]]
    rho_model = spearmanr(scored.loc[silent, "predicted_score"], truth.loc[silent, "true_score"]).statistic
    # The ceiling is what the noise allows: even the noise-free expected score only reaches this correlation.
    rho_ceiling = spearmanr(truth.loc[silent, "expected_score"], truth.loc[silent, "true_score"]).statistic
    assert rho_model > 0.6 * rho_ceiling, (rho_model, rho_ceiling)
    assert rho_model > 0.35


def test_scored_file_has_one_row_per_customer_and_documented_columns(demo_config, trained_bundle, tmp_path):
    result = score(demo_config, load_bundle(trained_bundle), tmp_path / "scored.csv")
    scored = pd.read_csv(result.path, encoding="utf-8-sig", dtype={"customer_id": "str"})
    assert scored["customer_id"].is_unique
    for col in ["customer_id", "is_respondent", "observed_score", "predicted_score", "p_detractor", "p_passive",
                "p_promoter", "predicted_class"]:
        assert col in scored.columns
    probs = scored[["p_detractor", "p_passive", "p_promoter"]].sum(axis=1)
    np.testing.assert_allclose(probs, 1.0, atol=1.5e-3 + 1e-9)  # three probabilities each rounded to 3 decimals
    assert scored.loc[~scored["is_respondent"], "observed_score"].isna().all()
    assert scored.loc[scored["is_respondent"], "observed_score"].notna().all()
    manifest = result.manifest
    for key in ["seed", "config_hash", "data_fingerprints", "package_versions", "bundle", "rows", "timings"]:
        assert key in manifest
    assert manifest["bundle"]["content_hash"]
    assert manifest["rows"] == len(scored)


# ------------------------------------------------------------------ the NPS stage (fit_nps_stage)
from factories import respond, survey_world  # noqa: E402

from cxpredict.config import config_from_dict  # noqa: E402
from cxpredict.estimation.wording import NOT_CORRECTABLE  # noqa: E402
from cxpredict.metrics import nps_from_scores  # noqa: E402
from cxpredict.workflows.train import fit_nps_stage  # noqa: E402

FAST = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "n_jobs": 1}


def stage_config(**nps):
    return config_from_dict({
        "data": {"survey": {"path": "survey.csv"}, "behaviour": [{"name": "b", "path": "b.csv"}]},
        "seed": 0,
        "nps": {"formulation": "regression", "candidates": "configured", "params": FAST, "cv_folds": 3, **nps},
        "response": {"params": FAST, "cv_folds": 3},
        "population": {"segments": ["region"]},
    })


@pytest.fixture(scope="module")
def biased_stage():
    X, score = survey_world()
    resp = respond(X, 0.2, 0.9, seed=1)
    stage = fit_nps_stage(X, np.where(resp, score, np.nan), stage_config(), segments=X[["region"]])
    return X, score, resp, stage


def test_the_doubly_robust_headline_corrects_a_biased_respondent_nps(biased_stage):
    X, score, resp, stage = biased_stage
    truth = nps_from_scores(score, stage.nps.scale_)
    pop = stage.population
    naive_error = abs(pop.naive - truth)
    assert naive_error > 10  # the draw really is biased
    assert pop.method == "aipw" and not pop.no_signal
    assert abs(pop.hajek - truth) < 0.5 * naive_error
    assert abs(pop.estimate - truth) < 0.3 * naive_error
    assert pop.low < pop.estimate < pop.high
    assert pop.estimators["aipw"]["se"] < pop.estimators["hajek"]["se"]  # the model explains part of the answers


def test_interval_widens_as_respondents_get_fewer():
    X, score = survey_world(seed=2)
    widths = {}
    for rate in (0.04, 0.3):
        resp = respond(X, rate, 0.5, seed=3)
        pop = fit_nps_stage(X, np.where(resp, score, np.nan), stage_config()).population
        widths[rate] = pop.high - pop.low
    assert widths[0.04] > 1.5 * widths[0.3]


def test_population_result_reports_assumption_segments_sensitivity_and_response(biased_stage):
    X, score, resp, stage = biased_stage
    result = stage.population.to_dict()
    assert NOT_CORRECTABLE in result["notes"] and "observed behaviour" in result["assumption"]
    levels = {(s["column"], s["level"]) for s in result["segments"]}
    assert levels == {("region", "north"), ("region", "south")}
    for seg in result["segments"]:
        assert seg["low"] < seg["estimate"] < seg["high"]
        assert seg["n_respondents"] == int(resp[(X["region"] == seg["level"]).to_numpy()].sum())
    assert result["sensitivity"]["tipping_points"]["down_5_points"] > 1
    summary = result["response"]
    assert summary["top_differences"][0]["feature"] == "tickets"
    top = summary["top_differences"][0]
    assert abs(top["smd_after_weighting"]) < abs(top["smd"])  # weighting balances the driver of response
    assert 0.6 < summary["respondent_vs_silent_auc"] < 0.85 and summary["overlap_warning"] is None


def test_no_signal_makes_the_weighted_respondent_nps_the_headline():
    X, score = survey_world(seed=5)
    noise = np.random.default_rng(9).permutation(score)  # answers unrelated to behaviour
    resp = respond(X, 0.2, 0.9, seed=6)
    pop = fit_nps_stage(X, np.where(resp, noise, np.nan), stage_config()).population
    assert pop.no_signal and pop.method == "hajek" and pop.estimate == pop.hajek


# ------------------------------------------------------------------ scoring the training customers once
def test_training_scores_only_the_stages_whose_columns_it_lacks():
    """The NPS stage's fit leaves its predictions of every customer in training.scored: the drift profile's
    scoring pass must not predict them again, and the later stages read them."""
    from cxpredict.stages import Training

    class Predicted:  # the NPS stage, already predicted by its fit
        name = "nps"

        def adds(self):
            return ("p_detractor",)

        def transform(self, batch):
            raise AssertionError("predicted again")

    class Doubling:  # a later stage reading the NPS column
        name = "churn"

        def adds(self):
            return ("churn_prob",)

        def transform(self, batch):
            return pd.DataFrame({"churn_prob": 2 * batch.scored["p_detractor"]}, index=batch.features.index)

    X = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=["a", "b", "c"])
    training = Training(None, X, None, 0, fitted={"nps": Predicted(), "churn": Doubling()},
                        scored=pd.DataFrame({"p_detractor": [0.1, 0.2, 0.3]}, index=X.index))
    scored = training.score_fitted(X)
    assert scored.columns.tolist() == ["p_detractor", "churn_prob"]
    assert scored["churn_prob"].tolist() == [0.2, 0.4, 0.6]
