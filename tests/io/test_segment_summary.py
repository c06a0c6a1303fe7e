"""The segment summary: sums per (segment, strategy) batch by batch, merged across batches, the run's totals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxpredict.io.segment_summary import SegmentSummary, segment_summary


def test_segment_summary_adds_up_merges_batches_and_totals(acted):
    frame, _ = acted
    summary = segment_summary(frame)
    assert summary["customers"].sum() == len(frame)
    assert summary["value_at_risk"].sum() == pytest.approx(frame["value_at_risk"].sum(), rel=1e-6)
    row = summary.iloc[0]
    members = frame[(frame["segment"].astype("str") == row["segment"]) & (frame["strategy"].astype("str") == row["strategy"])]
    expected_nps = 100 * (members["p_promoter"].mean() - members["p_detractor"].mean())
    assert row["predicted_nps"] == pytest.approx(expected_nps, abs=0.05)
    batched = SegmentSummary().add(frame.iloc[:250]).add(frame.iloc[250:])
    pd.testing.assert_frame_equal(batched.table(), summary)
    totals = batched.totals()
    said = frame.loc[frame["is_respondent"], "observed_class"].astype("str")
    answered = frame["observed_class"].astype("str").isin(("detractor", "passive", "promoter")).to_numpy()
    expected = {c: np.where(answered, (frame["observed_class"].astype("str") == c).to_numpy(float),
                            frame[f"p_{c}"].to_numpy(float)).mean() for c in ("promoter", "detractor")}
    assert answered.any() and not answered.all()  # both answers and predictions count
    assert totals["expected_shares"]["detractor"] == pytest.approx(expected["detractor"], abs=1e-4)
    assert totals["model_only"] == pytest.approx(100 * (expected["promoter"] - expected["detractor"]), abs=0.01)
    assert totals["respondents_naive"] == pytest.approx(
        100 * ((said == "promoter").mean() - (said == "detractor").mean()), abs=0.01)
    assert sum(totals["expected_shares"].values()) == pytest.approx(1.0, abs=1e-3)


def test_segment_summary_groups_missing_labels_as_empty_and_sums_only_known_values():
    frame = pd.DataFrame({"segment": pd.Categorical(["a", None, "a", "b"], categories=["b", "a", "unused"]),
                          "strategy": pd.array(["s", "s", "s", None], dtype="str"),
                          "churn_prob": [0.2, np.nan, 0.4, np.nan], "is_respondent": [True, False, False, False]})
    table = SegmentSummary().add(frame).table().set_index(["segment", "strategy"])
    assert table["customers"].to_dict() == {("a", "s"): 2, ("", "s"): 1, ("b", ""): 1}
    assert table.loc[("a", "s"), "mean_churn_prob"] == pytest.approx(0.3)
    assert np.isnan(table.loc[("b", ""), "mean_churn_prob"]), "no known value: no sum, not 0"
    assert table["respondents"].sum() == 1 and "value_at_risk" not in table.columns
