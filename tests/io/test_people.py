"""The files people read: column dictionary, work orders, segment summary, Excel-safe CSV."""

from __future__ import annotations

import csv

import pandas as pd
import pytest
from factories import scored_frame

from cxpredict.actions.playbook import check_playbook, load_playbook
from cxpredict.actions.segments import Segmenter
from cxpredict.actions.strategy import segment_and_act
from cxpredict.columns import COLUMN_DOCS, columns_markdown
from cxpredict.config import ChurnConfig, DEFAULT_PLAYBOOK, StrategyConfig
from cxpredict.io.people import (
    PeopleOutputs,
    SegmentSummary,
    load_scored,
    segment_summary,
    work_orders,
    write_people_outputs,
)


@pytest.fixture
def acted(repo_root) -> tuple[pd.DataFrame, object]:
    pb = load_playbook(DEFAULT_PLAYBOOK)
    scored = scored_frame(600)
    seg = Segmenter.fit(ChurnConfig(), StrategyConfig(value_bands=[0.5, 0.8]), scored["value"].to_numpy())
    return segment_and_act(scored, seg, pb), pb


def test_work_orders_are_detractor_alerts_sorted_by_priority(acted):
    frame, pb = acted
    orders = work_orders(frame, pb)
    flagged = {r.name for r in pb.rules if r.raises_work_order}
    assert len(orders) == frame["rule"].astype("str").isin(flagged).sum() > 0
    assert set(orders["strategy"].astype("str")) <= {"retention", "win-back"}
    for deferred, block in orders.groupby("deferred"):
        assert block["priority"].is_monotonic_decreasing
    assert not orders["deferred"].iloc[0] and orders["deferred"].is_monotonic_increasing
    first = orders.iloc[0]
    assert first["reason"].startswith(("Predicted", "Answered")) and "churn risk" in first["reason"]
    assert {"customer_id", "action", "sla_hours", "priority", "top_drivers", "reason"} <= set(orders.columns)


def test_segment_summary_adds_up_and_merges_batches(acted):
    frame, _ = acted
    summary = segment_summary(frame)
    assert summary["customers"].sum() == len(frame)
    assert summary["value_at_risk"].sum() == pytest.approx(frame["value_at_risk"].sum(), rel=1e-6)
    row = summary.iloc[0]
    members = frame[(frame["segment"].astype("str") == row["segment"]) & (frame["strategy"].astype("str") == row["strategy"])]
    expected_nps = 100 * (members["p_promoter"].mean() - members["p_detractor"].mean())
    assert row["predicted_nps"] == pytest.approx(expected_nps, abs=0.05)
    batched = SegmentSummary().add(frame.iloc[:250]).add(frame.iloc[250:]).table()
    pd.testing.assert_frame_equal(batched, summary)


def test_written_csv_is_excel_safe_utf8_bom_and_documented(acted, tmp_path):
    frame, pb = acted
    frame = frame.copy()
    frame["driver_1"] = frame["driver_1"].astype("str")
    frame.loc[0, "driver_1"] = '=HYPERLINK("http://x","y")'
    frame.loc[0, "customer_id"] = "@SUM(1+1)"
    paths = write_people_outputs(frame, pb, tmp_path)
    raw = paths["scored"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(paths["scored"].open(encoding="utf-8-sig")))
    assert rows[0]["driver_1"] == '\'=HYPERLINK("http://x","y")'  # inert: a leading apostrophe
    assert rows[0]["customer_id"] == "'@SUM(1+1)"
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values())
    assert float(rows[0]["churn_prob"]) == pytest.approx(frame.loc[0, "churn_prob"], rel=1e-4)  # not escaped
    header = list(rows[0])
    assert header == [c for c in COLUMN_DOCS if c in header]  # documented columns, in documented order
    assert "segment_class" not in header
    for name in ("work_orders", "segment_summary"):
        assert paths[name].read_bytes().startswith(b"\xef\xbb\xbf")
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary files


def test_column_dictionary_covers_contract_columns():
    contract = ["customer_id", "is_respondent", "observed_score", "observed_class", "predicted_score",
                "p_detractor", "p_passive", "p_promoter", "predicted_class", "churn_prob", "value",
                "value_at_risk", "risk_band", "value_band", "segment", "strategy", "action", "channel",
                "owner_team", "sla_hours", "priority", "deferred"]
    assert [c for c in COLUMN_DOCS if c in contract] == contract
    assert all(COLUMN_DOCS[c] for c in contract)
    assert "| `value_at_risk` |" in columns_markdown()


def test_batched_outputs_match_whole_frame_and_scored_file_checks_back(acted, tmp_path):
    frame, pb = acted
    whole = write_people_outputs(frame, pb, tmp_path / "whole")
    people = PeopleOutputs(pb)
    for lo in range(0, len(frame), 150):
        people.add(frame.iloc[lo:lo + 150])
    batched = people.write(tmp_path / "batched")
    for name in ("work_orders", "segment_summary"):
        assert batched[name].read_bytes() == whole[name].read_bytes()
    scored = load_scored(whole["scored"])
    assert check_playbook(pb, scored).counts["customers"].tolist() == \
        check_playbook(pb, frame).counts["customers"].tolist()
