"""Readable by default: with one review per customer in the customer table and no driver groups configured,
train -> score -> report shows only names the user wrote or plain phrases, never generated feature names, and
demographic or tenure drivers are not actionable."""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pandas as pd
import pytest

from cxpredict.config import config_from_dict
from cxpredict.synthetic.text import _phrase
from cxpredict.workflows.default_drivers import demographic, resolve_drivers

# generated names: window suffixes, topic keys, text feature stems
INTERNAL = re.compile(r"_\d+d\b|topic_(en|zh)_topic|(en|zh)_topic_\d|_dissatisfaction_(mean|max)|_share\b|"
                      r"_complaints_|review_texts|tickets_count")


def _project(folder, n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.array([f"C{i:05d}" for i in range(n)])
    age = rng.integers(18, 80, n)
    charge = rng.gamma(4.0, 20.0, n).round(2)
    topic = rng.choice(["billing", "support", "praise", "delivery"], n, p=[0.3, 0.2, 0.35, 0.15])
    effect = {"billing": -4.0, "support": -3.0, "praise": 1.5, "delivery": -1.0}
    latent = 8 + np.vectorize(effect.get)(topic) - 0.02 * (charge - 80) - 0.02 * (age - 45) + rng.normal(0, 1, n)
    reviews = [_phrase(rng, t, "en") + ", " + _phrase(rng, t, "en") for t in topic]
    pd.DataFrame({"customer_id": ids, "Age": age, "tenure": rng.integers(1, 72, n), "monthly_charge": charge,
                  "plan": rng.choice(["basic", "plus"], n), "review": reviews}).to_csv(folder / "customers.csv",
                                                                                      index=False)
    answered = rng.random(n) < 0.25
    pd.DataFrame({"customer_id": ids[answered], "score": np.clip(np.round(latent), 0, 10).astype(int)[answered]}
                 ).to_csv(folder / "survey.csv", index=False)
    tickets = rng.integers(0, n, 2 * n)
    pd.DataFrame({"customer_id": ids[tickets], "opened_at": pd.Timestamp("2026-10-01") -
                  pd.to_timedelta(rng.integers(0, 200, 2 * n), unit="D")}).to_csv(folder / "tickets.csv", index=False)
    return config_from_dict({
        "name": "readable", "seed": seed,
        "data": {"dir": str(folder), "survey": {"path": "survey.csv"},
                 "behaviour": [{"name": "customers", "path": "customers.csv"},
                               {"name": "tickets", "path": "tickets.csv", "kind": "events", "timestamp": "opened_at",
                                "aggregations": [{"agg": "count", "window_days": 90}]}]},
        "text": {"columns": [{"table": "customers", "column": "review", "language": "en"}], "n_topics": 4,
                 "cv_folds": 3},
        "nps": {"formulation": "multiclass", "candidates": "configured", "cv_folds": 3,
                "params": {"n_estimators": 60, "num_leaves": 15, "n_jobs": 1}},
        "response": {"params": {"n_estimators": 40, "n_jobs": 1}},
        "drivers": {"subset": "all", "n_jobs": 1},
        "tracking": {"enabled": False}}, base_dir=folder)


@pytest.mark.parametrize("name,expected", [("Age", True), ("customer_age", True), ("Senior Citizen", True),
                                           ("tenure_months", True), ("AgeBand", True), ("usage", False),
                                           ("storage", False), ("monthly_charge", False)])
def test_demographic_names_are_whole_words(name, expected):
    assert demographic(name) is expected


def test_people_facing_outputs_name_no_generated_feature(tmp_path, caplog):
    from cxpredict.analyst.report import write_report
    from cxpredict.io.bundle import load_bundle
    from cxpredict.workflows.score import score
    from cxpredict.workflows.train import train

    cfg = _project(tmp_path)
    with caplog.at_level("INFO"):
        bundle = load_bundle(train(cfg, tmp_path / "model").bundle_path)
        csv = score(cfg, bundle, tmp_path / "out" / "scored.csv").path
        xlsx = score(cfg, bundle, tmp_path / "xl" / "scored.xlsx").path
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert not [w for w in warnings if "extra column" in w or "features.exclude" in w and INTERNAL.search(w)]
    assert not [w for w in warnings if INTERNAL.search(w)], warnings

    scored = pd.read_csv(csv, encoding="utf-8-sig", low_memory=False)
    assert not [c for c in scored.columns if INTERNAL.search(c)]
    drivers = pd.unique(scored.filter(regex=r"^driver_\d+$").stack().dropna())
    assert len(drivers) and not [d for d in drivers if INTERNAL.search(str(d))]
    assert any(str(d).startswith(("Complaints about", "Mentions of")) for d in drivers)  # the topics are drivers

    kda = pd.read_csv(tmp_path / "out" / "kda_global.csv", encoding="utf-8-sig")
    assert not [d for d in kda["driver"] if INTERNAL.search(str(d))]
    assert {"Age", "tenure", "monthly_charge", "tickets"} <= set(kda["driver"])  # names the user wrote
    actionable = kda.set_index("driver")["actionable"].astype(bool) if "actionable" in kda else None
    if actionable is not None:
        assert not actionable["Age"] and not actionable["tenure"] and actionable["monthly_charge"]

    with zipfile.ZipFile(xlsx) as z:  # every string of the workbook: shared strings, inline ones, sheet names
        text = " ".join(re.sub(r"<[^>]+>", " ", z.read(n).decode("utf-8")) for n in z.namelist() if n.endswith(".xml"))
    assert "monthly_charge" in text and not INTERNAL.search(text), INTERNAL.search(text)
    orders = [p for p in (tmp_path / "out").rglob("work_orders*") if p.suffix == ".csv"]
    for path in orders:
        text = path.read_text(encoding="utf-8-sig")
        assert not INTERNAL.search(text), path
    html = write_report(tmp_path / "out", tmp_path / "report.html").read_text(encoding="utf-8")
    assert not INTERNAL.search(re.sub(r"<[^>]+>", " ", html)), INTERNAL.search(re.sub(r"<[^>]+>", " ", html))


def test_configured_actionable_overrides_the_default(tmp_path):
    from cxpredict.data.features import FeatureManifest

    cfg = _project(tmp_path, n=10)
    manifest = FeatureManifest(names=["Age", "tenure", "monthly_charge"], categorical={}, numeric={}, rare={},
                               dropped={}, origin={"Age": "customers", "tenure": "customers",
                                                   "monthly_charge": "customers"})
    groups = {g.name: g.actionable for g in resolve_drivers(cfg, None, manifest).groups}
    assert groups == {"Age": False, "tenure": False, "monthly_charge": True}
    cfg = cfg.model_copy(update={"drivers": cfg.drivers.model_copy(update={"actionable": ["tenure"]})})
    assert {g.name: g.actionable for g in resolve_drivers(cfg, None, manifest).groups}["tenure"]
