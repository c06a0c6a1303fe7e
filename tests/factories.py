"""Small synthetic frames shared by tests of several modules (importable: pytest puts tests/ on the path)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def scored_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A scored file as the earlier stages produce it (NPS, drivers, churn and value columns)."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([1, 1, 1], n)
    classes = np.array(["detractor", "passive", "promoter"])
    respondent = rng.random(n) < 0.2
    observed = np.where(respondent, rng.integers(0, 11, n), np.nan)
    observed_class = np.where(observed <= 6, "detractor", np.where(observed >= 9, "promoter", "passive"))
    churn = rng.beta(1.5, 4, n)
    value = rng.gamma(2.0, 300.0, n)
    drivers = np.array(["Billing", "Network", "Price", None], dtype=object)
    return pd.DataFrame({
        "customer_id": pd.array([f"C{i:05d}" for i in range(n)], dtype="str"),
        "is_respondent": respondent,
        "observed_score": pd.array(pd.Series(observed).round().astype("Int64")),
        "observed_class": pd.array(np.where(respondent, observed_class, None), dtype="str"),
        "predicted_score": p @ np.array([3.0, 7.5, 9.5]),
        "p_detractor": p[:, 0], "p_passive": p[:, 1], "p_promoter": p[:, 2],
        "predicted_class": pd.array(classes[p.argmax(axis=1)], dtype="str"),
        "driver_1": pd.array(drivers[rng.integers(0, 4, n)], dtype="str"),
        "driver_2": pd.array(drivers[rng.integers(0, 4, n)], dtype="str"),
        "churn_prob": churn, "value": value, "value_at_risk": churn * value,
    })


ODD_NAMES = ("Senior Citizen", "Under 30", "Monthly Charge", "Type of Travel", "Größe", "=cost", "a,b", "x:y", "[id]",
             "Monthly_Charge")  # the last one collides with the obvious model-safe spelling of "Monthly Charge"


def odd_name_project(folder, n: int = 1500, seed: int = 0):
    """A flat customer table whose column names have spaces, punctuation, unicode and formula-like text, a survey,
    outcomes, a playbook routing on a driver named with such a column, and its config; returns the config path.

    Answers depend on 'Monthly Charge' (strongly) and 'Senior Citizen', so that driver shows up for detractors."""
    from pathlib import Path

    import yaml

    folder = Path(folder)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"C{i:05d}" for i in range(n)]
    charge = rng.gamma(4.0, 20.0, n)
    senior = rng.random(n) < 0.25
    travel = rng.choice(["Business travel", "Personal Travel"], n)
    customers = pd.DataFrame({
        "customer_id": ids, "Senior Citizen": np.where(senior, "Yes", "No"),
        "Under 30": np.where(rng.random(n) < 0.3, "Yes", "No"), "Monthly Charge": charge.round(2),
        "Type of Travel": travel, "Größe": rng.normal(170, 10, n).round(1), "=cost": rng.normal(0, 1, n),
        "a,b": rng.integers(0, 5, n), "x:y": rng.random(n), "[id]": rng.normal(size=n),
        "Monthly_Charge": rng.normal(size=n),
    })
    latent = 8.5 - 0.045 * (charge - 80) - 1.5 * senior + 0.5 * (travel == "Business travel") + rng.normal(0, 1.2, n)
    score = np.clip(np.round(latent), 0, 10).astype(int)
    answered = rng.random(n) < 0.4
    survey = pd.DataFrame({"customer_id": np.asarray(ids)[answered], "score": score[answered]})
    churn_logit = -2.0 + 0.02 * (charge - 80) + 0.8 * (score < 7)
    churned = (rng.random(n) < 1 / (1 + np.exp(-churn_logit))).astype(int)
    outcomes = pd.DataFrame({"customer_id": ids, "churned": churned})
    customers.to_csv(folder / "data" / "customers.csv", index=False)
    survey.to_csv(folder / "data" / "survey.csv", index=False)
    outcomes.to_csv(folder / "data" / "outcomes.csv", index=False)
    playbook = {"version": 1, "name": "odd-names", "rules": [
        {"name": "charge-callback", "strategy": "retention", "action": "Review the bill",
         "when": [{"column": "segment_class", "op": "==", "value": "detractor"},
                  {"column": "driver_1", "op": "in", "value": ["Monthly Charge", "Senior Citizen"]}]},
        {"name": "default", "strategy": "no-action", "action": "Nothing"}]}
    (folder / "playbook.yaml").write_text(yaml.safe_dump(playbook, sort_keys=False, allow_unicode=True),
                                          encoding="utf-8")
    config = {
        "name": "odd-names", "seed": seed,
        "data": {"dir": "data", "key": "customer_id", "survey": {"path": "survey.csv"},
                 "behaviour": [{"name": "customers", "path": "customers.csv"}],
                 "outcomes": {"path": "outcomes.csv", "label": "churned"}},
        "features": {"exclude": ["[id]"], "categorical": ["Senior Citizen", "Under 30", "Type of Travel"]},
        "nps": {"formulation": "multiclass", "candidates": "configured", "cv_folds": 3,
                "params": {"n_estimators": 40, "n_jobs": 1}},
        "response": {"params": {"n_estimators": 30, "n_jobs": 1}},
        "population": {"segments": ["Type of Travel"]},
        "churn": {"params": {"n_estimators": 40, "n_jobs": 1}, "measure_nps_lift": False,
                  "value": {"column": "Monthly Charge", "months": 12}},
        "drivers": {"subset": "all", "n_jobs": 1, "segments": ["Type of Travel"],
                    "groups": [{"name": "Monthly Charge", "features": ["Monthly Charge", "=cost"]},
                               {"name": "Senior Citizen", "features": ["Senior Citizen", "Under 30"],
                                "actionable": True},
                               {"name": "Größe & co", "features": ["Größe", "a,b", "x:y"], "actionable": False}]},
        "strategy": {"playbook": "playbook.yaml"},
        "tracking": {"enabled": False},
    }
    path = folder / "odd.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
