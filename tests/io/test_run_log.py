"""What commands log to MLflow: settings echoed in results are params, measurements metrics, drift as metrics."""

from __future__ import annotations

from cxpredict.io.run_log import drift_metrics, split_results
from cxpredict.io.tracking import numeric_metrics


def test_settings_in_results_are_params_and_measurements_metrics():
    metrics, params = split_results({"churn": {"auc": 0.8, "horizon_days": 90, "n": 100},
                                     "nps_formulation": "ordinal",
                                     "population_nps": {"level": 0.9, "estimate": -4.8, "bootstrap": 100},
                                     "confusion": [[1, 2]]})
    assert metrics == {"churn.auc": 0.8, "churn.n": 100.0, "population_nps.estimate": -4.8}
    assert params == {"churn.horizon_days": 90, "nps_formulation": "ordinal", "population_nps.level": 0.9,
                      "population_nps.bootstrap": 100}
    drift = numeric_metrics(drift_metrics({"status": "drift", "psi_features": {"age": 0.3},
                                           "psi_outputs": {"p_detractor": 0.01}, "unseen_categories": {"plan": 0.07},
                                           "respondent_mix": {"max_gap": 0.02}}))
    assert drift == {"drift.status": 1.0, "drift.psi_features.age": 0.3, "drift.psi_outputs.p_detractor": 0.01,
                     "drift.unseen_categories.plan": 0.07, "drift.respondent_mix.max_gap": 0.02}
