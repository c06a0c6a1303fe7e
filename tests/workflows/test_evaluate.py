import json

import numpy as np
import pytest

from cxpredict.data.customers import load_customers
from cxpredict.errors import InputError
from cxpredict.workflows.evaluate import evaluate, hide_answers


def test_hide_answers_turns_a_share_of_respondents_silent(demo_config):
    data = load_customers(demo_config)
    masked, hidden = hide_answers(data, 0.3, seed=1)
    n_resp = data.is_respondent.sum()
    assert len(hidden) == round(0.3 * n_resp)
    assert masked.is_respondent.sum() == n_resp - len(hidden)
    assert not masked.is_respondent[hidden].any() and data.is_respondent[hidden].all()
    assert data.score.notna().sum() == n_resp  # the original is untouched


def test_hide_answers_refuses_too_few_respondents(demo_config):
    data = load_customers(demo_config)
    with pytest.raises(InputError, match="hold-out respondents"):
        hide_answers(data, 0.001, seed=0)


def test_evaluate_reports_holdout_metrics_better_than_chance(demo_config, tmp_path):
    report = evaluate(demo_config, tmp_path, holdout=0.3)
    m = report["metrics"]
    assert m["detractor_auc"] > 0.6  # planted drivers are learnable; chance is 0.5
    assert 0 < m["score_mae"] < 4
    saved = json.loads((tmp_path / "evaluation.json").read_text())
    assert saved["n_holdout"] == report["n_holdout"] > 0
    assert np.isfinite(saved["metrics"]["qwk"])
