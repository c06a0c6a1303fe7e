"""The report's survey-design section reads survey_plan.json and says what is missing without it."""

from __future__ import annotations

from cxpredict.analyst.html import esc
from cxpredict.analyst.report import build_html
from cxpredict.analyst.survey import section_survey
from cxpredict.io.bundle import load_bundle
from cxpredict.io.runfiles import find_run_files
from cxpredict.workflows.survey_plan import survey_plan


def test_section_shows_the_plan_the_expected_width_and_the_probe_share(demo_config, trained_bundle, tmp_path):
    survey_plan(demo_config, load_bundle(trained_bundle), tmp_path / "invites.csv", budget=300,
                target_half_width=3.0, seed=1)
    run = find_run_files(tmp_path)
    html = section_survey(run, run.style())
    plan = run.survey_plan["plan"]
    assert f"{plan['invited_by_reason']['probe']:,}" in html and "share 20% of the budget" in html
    assert f"±{plan['half_width_after']:.2f} points" in html
    assert plan["design_text"] and esc(plan["design_text"]) in html  # model-based or uniform, and why
    assert "What a ±3.0 point interval needs" in html and "all customers" in html


def test_section_says_how_to_make_a_plan_when_there_is_none(tmp_path, trained_bundle):
    run = find_run_files(trained_bundle.parent)
    assert "No survey plan in this run yet" in section_survey(run, run.style())
    assert 'id="survey"' in build_html(run)
