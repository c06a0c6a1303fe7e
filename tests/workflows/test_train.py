"""End to end on synthetic data with planted truth: silent customers' predictions must track their true answers."""

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from cxpredict.data.synthetic import generate
from cxpredict.io.bundle import load_bundle
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
