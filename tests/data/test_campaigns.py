"""The results contract: bad values are InputErrors naming file, column and rows; mismatches are counted."""

from __future__ import annotations

import pandas as pd
import pytest

from cxpredict.config import CampaignResultsTable, ReadOptions, Scale
from cxpredict.data.campaigns import join_results, read_results
from cxpredict.errors import InputError


def _results(**changes) -> pd.DataFrame:
    frame = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4"], "campaign_id": "c1",
                          "group": ["treated", "control", "treated", "control"], "strategy": "retention",
                          "contacted": [1, 0, 0, 0], "churned": [0, 1, 0, 0], "revenue": [0.0, 0.0, 12.5, 0.0]})
    for col, value in changes.items():
        frame[col] = value
    return frame


def _read(tmp_path, frame):
    path = tmp_path / "results.csv"
    frame.to_csv(path, index=False)
    return read_results(path, CampaignResultsTable(), "customer_id", ReadOptions(), Scale())


@pytest.mark.parametrize("change, words", [
    ({"group": ["treated", "placebo", "treated", "control"]}, "'group' is not 'treated' or 'control'"),
    ({"churned": [0, 2, 0, 0]}, "'churned' (churned) is not 0/1"),
    ({"revenue": [0.0, -1.0, 0.0, 0.0]}, "'revenue' is negative"),
    ({"customer_id": ["C1", "C1", "C3", "C4"]}, "repeats a (customer, campaign_id) pair"),
])
def test_bad_values_name_the_column_and_rows(tmp_path, change, words):
    with pytest.raises(InputError) as err:
        _read(tmp_path, _results(**change))
    assert words in str(err.value) and "results.csv" in str(err.value) and "row" in str(err.value)


def test_no_outcome_and_no_arm_are_errors(tmp_path):
    with pytest.raises(InputError, match="no outcome column"):
        _read(tmp_path, _results().drop(columns=["churned", "revenue"]))
    with pytest.raises(InputError, match="which arm"):
        _read(tmp_path, _results().drop(columns=["strategy"]))


def test_mismatches_are_counted_and_the_log_group_wins(tmp_path):
    results, outcomes, contacted = _read(tmp_path, _results(group=["control", "control", "treated", "control"]))
    log = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C9"], "campaign_id": "c1", "rule": "r",
                        "strategy": "retention", "action": "Call", "group": ["treated", "control", "treated",
                                                                             "control"]})
    joined = join_results(log, results.assign(contacted=[0, 0, 0, 0]), outcomes, contacted)
    assert joined.mismatches["group_differs"] == {"count": 1, "examples": ["C1"]}
    assert joined.mismatches["unknown_customer"]["examples"] == ["C4"]
    assert joined.mismatches["no_results"]["examples"] == ["C9"]
    contaminated = join_results(log, results.assign(contacted=[0, 1, 0, 0]), outcomes, contacted)
    assert contaminated.mismatches["control_contacted"]["examples"] == ["C2"]
    assert joined.frame.set_index("customer_id").loc["C1", "treated"]  # as assigned, not as reported


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [2, 0, 3, 1]])
def test_results_in_the_sorted_logs_order_join_as_the_merge_does(tmp_path, monkeypatch, order):
    """Results row for row in a log sorted by customer take a shortcut (no hashing of the IDs): the same frame,
    dtypes and mismatches as the outer merge; an unsorted log goes through the merge."""
    from cxpredict.data import campaigns

    results, outcomes, contacted = _read(tmp_path, _results(group=["control", "control", "treated", "control"]))
    log = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4"], "campaign_id": "c1", "rule": "r",
                        "strategy": pd.Categorical(["retention"] * 4), "action": "Call", "deferred": False,
                        "group": ["treated", "control", "treated", "control"], "value": [1.0, 2.0, 3.0, 4.0]})
    log, results = log.iloc[order].reset_index(drop=True), results.iloc[order].reset_index(drop=True)
    merges = []
    plain_merge = pd.DataFrame.merge
    monkeypatch.setattr(pd.DataFrame, "merge", lambda *a, **k: merges.append(1) or plain_merge(*a, **k))
    quick = join_results(log, results, outcomes, contacted)
    took_shortcut = not merges
    monkeypatch.setattr(campaigns, "increasing", lambda values: False)
    merged = join_results(log, results, outcomes, contacted)
    assert took_shortcut is (order == [0, 1, 2, 3]) and merges
    pd.testing.assert_frame_equal(quick.frame, merged.frame)
    assert quick.mismatches == merged.mismatches == {"group_differs": {"count": 1, "examples": ["C1"]}}
