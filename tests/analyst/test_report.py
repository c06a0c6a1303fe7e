"""HTML report: the summary first, every section and image present, no image empty, one driver ranking, labels,
currency and scopes shown, missing pieces shown as 'not available', and a real render in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxpredict.analyst import report
from cxpredict.errors import InputError

IMG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
# population, segment NPS, trend, driver ranking, driver heatmap, reasons, queue, segments, differences, scores,
# class shares, confusion, calibration
EXPECTED_IMAGES = 13


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def _fake_run(root: Path, n: int = 400, seed: int = 0) -> Path:
    """A run folder shaped like train + score output, with every piece the report can use."""
    rng = np.random.default_rng(seed)
    model = root / "model"
    _write_json(model / "bundle.json", {"format_version": 1, "content_hash": "abc"})
    reliability = [{"bin": b, "weight": 10.0, "mean_predicted": (b + 0.5) / 10, "observed_rate": (b + 0.4) / 10}
                   for b in range(10)]
    _write_json(model / "metrics.json", {
        "n_customers": n, "n_respondents": 120,
        "nps_cv": {"log_loss": 0.9, "detractor_auc": 0.8, "qwk": 0.45, "macro_f1": 0.52,
                   "detractor_precision": 0.7, "detractor_recall": 0.6, "passive_precision": 0.4,
                   "passive_recall": 0.35, "promoter_precision": 0.5, "promoter_recall": 0.6,
                   "confusion": [[30, 8, 4], [10, 20, 12], [3, 9, 24]]},
        "churn": {"auc": 0.82, "base_rate": 0.2, "ece": 0.03}})
    _write_json(model / "nps" / "nps.json", {"reliability": {"respondents": reliability,
                                                             "weighted_population": reliability}})
    _write_json(model / "churn" / "churn.json", {"calibration_table": reliability})
    _write_json(model / "response" / "response.json", {"summary": {
        "respondent_vs_silent_auc": 0.91, "effective_sample_size": 80.5,
        "overlap_warning": "Respondents and silent customers are easy to tell apart (AUC 0.91 > 0.85)",
        "top_differences": [{"feature": f"f{i}", "respondent_mean": 1.0, "silent_mean": 0.5, "smd": 0.5 - 0.1 * i,
                             "smd_after_weighting": 0.05} for i in range(4)]}})
    _write_json(root / "survey_plan.json", {  # as `cxpredict survey-plan` writes it (abridged)
        "round": 1, "probe_share": 0.2, "answer_chance_source": "survey_design.first_round_response",
        "plan": {"n_invited": 40, "budget": 40, "invited_by_reason": {"probe": 8, "model": 32, "segment_target": 0},
                 "expected_answers": 8.0, "interval": 0.9, "half_width_now": 4.0, "half_width_after": 3.5,
                 "notes": []},
        "planner": None})
    _write_json(root / "population.json", {
        "estimate": -12.0, "low": -16.0, "high": -8.0, "level": 0.9, "naive_respondent_nps": -3.0,
        "ipw_respondent_nps": -9.0, "ipw_low": -14.0, "ipw_high": -4.0, "notes": ["assumption"],
        "segments": [{"column": "plan", "level": "basic", "n_customers": 200, "n_respondents": 12, "estimate": -20.0,
                      "low": -30.0, "high": -10.0, "naive_respondent_nps": -5.0}]})
    resp = rng.random(n) < 0.3
    classes = np.array(["detractor", "passive", "promoter"])
    observed = rng.integers(0, 11, n).astype(float)
    segments = rng.choice(["detractor/high-risk", "passive/low-risk", "promoter/low-risk"], n)
    drivers = ["Network quality", "Billing", "Support", "Price"]
    scored = pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(n)], "is_respondent": resp,
        "observed_score": np.where(resp, observed, np.nan), "observed_class": np.where(
            resp, classes[np.digitize(observed, [7, 9])], None),
        "predicted_score": rng.normal(6.5, 1.5, n), "p_detractor": rng.uniform(0, 0.6, n),
        "p_passive": 0.2, "p_promoter": rng.uniform(0, 0.4, n), "predicted_class": rng.choice(classes, n),
        "driver_1": rng.choice(drivers, n), "driver_1_impact": rng.uniform(0.05, 0.3, n),
        "driver_2": rng.choice(drivers, n), "driver_2_impact": rng.uniform(0.01, 0.1, n),
        "stated_reasons": np.where(resp, rng.choice(["network", "billing;price", "support"], n), None),
        "reason_1": rng.choice(["network", "billing", "price"], n),
        "segment": segments, "strategy": np.where(segments == "detractor/high-risk", "retention", "upsell"),
        "churn_prob": rng.uniform(0, 1, n), "value_at_risk": rng.uniform(0, 500, n)})
    scored.to_csv(root / "scored.csv", index=False, encoding="utf-8-sig")
    summary = scored.groupby(["segment", "strategy"], as_index=False).agg(
        customers=("customer_id", "size"), value_at_risk=("value_at_risk", "sum"))
    summary.to_csv(root / "segment_summary.csv", index=False, encoding="utf-8-sig")
    pd.DataFrame({"driver": ["Support", "Network quality", "Billing", "Price", "Tenure"],
                  "actionable": [True, True, True, True, False], "mean_abs_attribution": [0.9, 0.7, 0.5, 0.4, 0.3]}
                 ).to_csv(root / "kda_global.csv", index=False, encoding="utf-8-sig")
    pd.DataFrame({"driver": ["All actionable drivers", "Network quality", "Tenure", "Billing", "Support", "Price"],
                  "actionable": [True, True, False, True, True, True], "customers_pushed": [300, 120, 90, 80, 70, 60],
                  "detractor_share_now": 0.33, "detractor_share_if_fixed": [0.12, 0.27, 0.28, 0.29, 0.30, 0.31],
                  "change_points": [-21.0, -6.0, -5.0, -4.0, -3.0, -2.0]}
                 ).to_csv(root / "kda_what_if.csv", index=False, encoding="utf-8-sig")
    orders = pd.DataFrame({"customer_id": ["C0001", "C0002"], "due_at": ["2026-01-02 00:00", "2026-01-03 00:00"],
                           "owner_team": ["billing-care", "retention-desk"], "action": ["Call", "Call"],
                           "reason": ["Answered 2 on the survey (detractor)", "Predicted detractor"],
                           "value_at_risk": [120.0, 80.0]})
    orders.to_csv(root / "work_orders.csv", index=False, encoding="utf-8-sig")
    manifest = {
        "kind": "score", "config_name": "fake", "created_at": "2026-01-01T00:00:00Z", "as_of": "2026-01-01",
        "rows": n, "respondents": int(resp.sum()), "warnings": ["2 survey answers belong to unknown customers"],
        "drift": {"status": "drift", "reasons": ["PSI of tenure 0.4 > 0.25"]},
        "outputs_config": {"currency": "EUR", "labels": {"f0": "Support tickets, 30 days"}},
        "nps": {"model_only": -11.0, "respondents_naive": -3.0, "respondents": int(resp.sum()),
                "expected_shares": {"detractor": 0.4, "passive": 0.3, "promoter": 0.3}},
        "work_orders": {"billing-care": {"to_contact": 1, "deferred": 0, "capacity": 500},
                        "retention-desk": {"to_contact": 1, "deferred": 4, "capacity": 1}},
        "outputs": {"scored": {"path": "/elsewhere/scored.csv"},
                    "segment_summary": {"path": "/elsewhere/segment_summary.csv"},
                    "work_orders": {"path": "/elsewhere/work_orders.csv"}}}
    _write_json(root / "manifest.json", manifest)
    earlier = {**manifest, "created_at": "2025-12-25T00:00:00Z", "as_of": "2025-12-25",
               "nps": {"model_based": -13.5}}  # a manifest from before expected shares
    _write_json(root / "history" / "manifest-20251225T000000Z.json", earlier)
    _write_json(root / "history" / "manifest-20260101T000000Z.json", manifest)
    return root


def _images(text: str) -> list[tuple[str, np.ndarray]]:
    import matplotlib.image as mpimg

    return [(alt, mpimg.imread(io.BytesIO(base64.b64decode(data)), format="png")) for alt, data in IMG.findall(text)]


def test_full_report_leads_with_the_summary_and_has_every_section(tmp_path):
    out = report.write_report(_fake_run(tmp_path / "run"), tmp_path / "report.html")
    text = out.read_text(encoding="utf-8")
    for key, title in report.SECTIONS:
        assert f'<section id="{key}">' in text and title in text
    assert text.index('<section id="summary">') < text.index('<section id="population">')
    images = _images(text)
    assert len(images) == EXPECTED_IMAGES
    for alt, pixels in images:
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100, alt
        assert pixels[..., :3].std() > 0.02, f"image '{alt}' is blank"
    assert "Not available" not in text
    summary = text[text.index('<section id="summary">'):text.index('<section id="population">')]
    assert "-12.0" in summary and "90% interval -16.0 to -8.0" in summary, "population NPS with its interval"
    assert "+2.5 points since the previous run" in summary, "change since the previous run of the config"
    assert "data as of 2026-01-01" in text
    # the one driver ranking: the what-if order (Network quality first), not mean |attribution| (Support first)
    drivers = re.findall(r"<li><b>([^<]+)</b>: detractors would fall by", summary)
    assert drivers == ["Network quality", "Billing", "Support"], "top three ACTIONABLE drivers, what-if order"
    assert "retention-desk" in summary and "PSI of tenure" in summary and "easy to tell apart" in summary
    assert "2 survey answers" not in summary, "data notes stay in the full warnings list"
    assert "Support tickets, 30 days" in text, "labels from the config replace feature names"
    assert "EUR" in text and "%" in summary, "currency and percentages"
    for words in ("respondents · unweighted", "weighted to the population", "Effective sample size",
                  "Deferred", "What-if table", "Stated reasons", "Column dictionary"):
        assert words in text, words
    assert "small segment" in text and "2 survey answers belong" in text
    assert "src=\"http" not in text and "<script" not in text, "self-contained and inert"


def test_missing_pieces_are_reported_not_fatal(tmp_path):
    run = _fake_run(tmp_path / "run")
    for name in ("population.json", "segment_summary.csv", "kda_global.csv"):
        (run / name).unlink()
    (run / "model" / "response" / "response.json").unlink()
    text = report.write_report(run, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "population NPS interval" in text and "segment_summary.csv" in text and "kda_global.csv" in text
    assert "Model only (all customers: answers + predictions" in text, "falls back to the scored file"
    assert "no interval (population.json absent)" in text, "the summary falls back to the manifest's NPS"
    assert all(pixels[..., :3].std() > 0.02 for _, pixels in _images(text))


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with a throw-away profile (skips the test without chromium)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (scripts/setup_system.sh installs it)")
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_report_renders_in_headless_chromium(tmp_path):
    """Open the report as a reader would and check the page is drawn, not blank (skips without chromium)."""
    out = report.write_report(_fake_run(tmp_path / "run"), tmp_path / "report.html")
    png = tmp_path / "report.png"
    _chromium(tmp_path, "--window-size=1280,900", f"--screenshot={png}", out.as_uri())
    assert png.is_file(), "chromium wrote no screenshot"
    import matplotlib.image as mpimg

    pixels = mpimg.imread(png)[..., :3]
    assert pixels.shape[:2] == (900, 1280)
    assert pixels.std() > 0.05, "the page is blank"
    dark = (pixels.mean(axis=2) < 0.3).mean()
    assert 0.005 < dark < 0.5, f"text and figures should cover part of the first screen, not {dark:.1%}"


# The report in a 420 px frame (its own viewport, so the page's media queries apply; headless windows have a
# minimum width): the script lists the summary cards that reach past the frame or must scroll inside.
PHONE_PROBE = """<script>const f=document.getElementById('r');f.addEventListener('load',()=>{
const d=f.contentDocument,w=d.documentElement.clientWidth;const cut=[...d.querySelectorAll('.cards .card')]
.filter(c=>c.getBoundingClientRect().right>w+0.5||c.scrollWidth>c.clientWidth+1).map(c=>c.querySelector('h3')
.textContent);const o=document.createElement('pre');o.id='cards';o.textContent=JSON.stringify({width:w,
cards:d.querySelectorAll('.cards .card').length,cut:cut});document.body.appendChild(o);});</script>"""


def test_summary_cards_fit_a_phone_screen_in_headless_chromium(tmp_path):
    """Under 420 px the summary cards stack and none is cut off or needs scrolling (skips without chromium)."""
    import html as html_lib

    out = report.write_report(_fake_run(tmp_path / "run"), tmp_path / "report.html")
    page = tmp_path / "phone.html"
    page.write_text('<!DOCTYPE html><html><body style="margin:0"><iframe id="r" style="width:420px;height:1500px;'
                    f'border:0" srcdoc="{html_lib.escape(out.read_text(encoding="utf-8"), quote=True)}"></iframe>'
                    f"{PHONE_PROBE}</body></html>", encoding="utf-8")
    done = _chromium(tmp_path, "--window-size=600,1500", "--dump-dom", page.as_uri())
    found = re.search(r'<pre id="cards">([^<]*)</pre>', done.stdout)
    assert found, f"the probe did not run: {done.stderr[-500:]}"
    probe = json.loads(html_lib.unescape(found.group(1)))
    assert probe["width"] <= 420 and probe["cards"] >= 3, probe
    assert probe["cut"] == [], f"summary cards cut off at {probe['width']} px: {probe['cut']}"


def test_text_is_escaped(tmp_path):
    run = _fake_run(tmp_path / "run")
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["warnings"] = ["<script>alert(1)</script>"]
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    text = report.write_report(run, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_what_if_table_leaves_out_drivers_that_push_no_one(tmp_path):
    run = _fake_run(tmp_path / "run")
    what_if = pd.read_csv(run / "kda_what_if.csv", encoding="utf-8-sig")
    what_if.loc[what_if["driver"] == "Price", ["customers_pushed", "change_points"]] = [0, 0.0]
    what_if.to_csv(run / "kda_what_if.csv", index=False, encoding="utf-8-sig")
    text = report.write_report(run, tmp_path / "r.html").read_text(encoding="utf-8")
    table = text[text.index("What-if table"):]
    table = table[:table.index("</table>")]
    assert "Price" not in table and "Network quality" in table
    assert "Left out: 1 driver(s) that push no customer" in text


def test_folder_without_outputs_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no cxpredict outputs"):
        report.write_report(tmp_path, tmp_path / "r.html")
    with pytest.raises(InputError, match="not a folder"):
        report.write_report(tmp_path / "absent", tmp_path / "r.html")


@pytest.mark.slow
def test_report_of_a_real_training_and_scoring_run(demo_config, trained_bundle, tmp_path):
    import shutil

    from cxpredict.cli.app import main
    from cxpredict.io.bundle import load_bundle
    from cxpredict.workflows.score import score

    run = tmp_path / "run"
    shutil.copytree(trained_bundle, run / "model")
    score(demo_config, load_bundle(run / "model"), run / "scored.csv")
    assert main(["report", str(run), "--out", str(tmp_path / "report.html")]) == 0
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert all(f'<section id="{key}">' in text for key, _ in report.SECTIONS)
    images = _images(text)
    assert len(images) >= 9
    assert any(alt.startswith("Confusion matrix") for alt, _ in images), "training stores the out-of-fold matrix"
    assert all(pixels[..., :3].std() > 0.02 for _, pixels in images)
    population = text.split('<section id="population">', 1)[1].split("</section>", 1)[0]
    assert "<th>Respondents as they answered</th>" in population, "the segment table's last column (its note says so)"


def test_report_from_an_mlflow_run_id(tmp_path, monkeypatch):
    """`cxpredict report <run id>` downloads the run's artifacts (bundle/ and scoring/ folders) and reports them."""
    from cxpredict.cli.app import main
    from cxpredict.config import config_from_dict
    from cxpredict.io import run_log, tracking

    run_dir = _fake_run(tmp_path / "run")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    cfg = config_from_dict({"data": {"survey": {"path": "s.csv"}, "behaviour": [{"name": "c", "path": "c.csv"}]}})
    with tracking.start_run(cfg, "demo") as run_id:
        tracking.log_artifacts(run_dir / "model", "bundle")
        run_log.log_files([run_dir / name for name in ("manifest.json", "scored.csv", "segment_summary.csv",
                                                         "population.json", "kda_global.csv", "kda_what_if.csv",
                                                         "work_orders.csv")], "scoring")
        tracking.log_artifacts(run_dir / "history", "scoring/history")
    assert main(["report", run_id, "--out", str(tmp_path / "report.html")]) == 0
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Not available" not in text
    assert len(_images(text)) == EXPECTED_IMAGES
