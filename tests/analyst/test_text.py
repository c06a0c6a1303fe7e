"""The report's text section: each topic's negative share is shown, and texts without dates are not given a
made-up window end (the largest timestamp) as their day."""

from __future__ import annotations

import json

import pandas as pd

from cxpredict.analyst.text import section_text, topic_frame
from cxpredict.io.runfiles import RunFiles
from cxpredict.io.sheets import PeopleStyle

META = {"topics": [{"key": "staff", "name": "staff / rude / desk", "theme": None, "share": 0.3,
                    "negative_share": 0.38, "terms": {"en": ["staff", "rude"]}, "examples": ["rude staff"],
                    "share_by_class": {"detractor": 0.5, "passive": 0.2, "promoter": 0.1}},
                   {"key": "view", "name": "view / sea", "theme": None, "share": 0.2, "negative_share": None,
                    "terms": {"en": ["view"]}, "examples": [], "share_by_class": {}}],
        "counts": {"customers.review": {"texts": 10}}, "languages": {"customers.review": {"en": 10}}}


def test_the_topic_table_shows_the_negative_share_of_mentions():
    frame = topic_frame(META).set_index("topic")
    assert frame.loc["staff / rude / desk", "negative (% of mentions)"] == 38.0
    assert pd.isna(frame.loc["view / sea", "negative (% of mentions)"])  # no respondent mentions it: unknown


def test_undated_texts_are_all_texts_not_a_window_up_to_the_largest_timestamp(tmp_path):
    (tmp_path / "model" / "text").mkdir(parents=True)
    (tmp_path / "model" / "text" / "text.json").write_text(json.dumps({"meta": META}), encoding="utf-8")
    never = str(pd.Timestamp.max)
    trend = {"as_of": never, "days": 90, "texts": 2687, "shares": {"staff": 0.3, "view": 0.2},
             "previous": {"as_of": never, "days": 90, "texts": 10, "shares": {"staff": 0.3}, "run": "training"}}
    (tmp_path / "text_topics.json").write_text(json.dumps(trend), encoding="utf-8")
    html = section_text(RunFiles(root=tmp_path, bundle_dir=tmp_path / "model"), PeopleStyle())
    assert "Topic shares of all undated texts (2,687 texts), against the training." in html
    assert "2262" not in html and "negative (% of mentions)" in html


def test_a_run_scored_with_text_but_without_its_bundle_says_the_topics_are_missing(tmp_path):
    """text_topics.json is there, the bundle (where the topics live) is not: not 'this run reads no free text'."""
    (tmp_path / "text_topics.json").write_text(json.dumps({"texts": 10, "shares": {"staff": 0.3}}), encoding="utf-8")
    html = section_text(RunFiles(root=tmp_path), PeopleStyle())
    assert "reads no free text" not in html and "Not available: text topics" in html
    assert "reads no free text" in section_text(RunFiles(root=tmp_path / "empty"), PeopleStyle())
