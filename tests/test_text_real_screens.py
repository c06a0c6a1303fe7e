"""scripts/text_real_screens.py: the 'before' project is the one-review-per-customer project rewritten as the code
before issue 22 needed it (a dated events table, a count aggregation, data.as_of, no quoted line breaks), and it
still validates as a config."""

from __future__ import annotations

import pandas as pd


def test_the_events_layout_moves_the_reviews_to_a_dated_events_table(script_module, tmp_path):
    screens = script_module("text_real_screens")
    bench = script_module("bench_text_real")
    frame = pd.DataFrame({"review": ["good coffee", "slow\nservice,\r\n cold tea", "nice staff", "loud music"],
                          "rating": [5, 1, 4, 2], "business_stars": [4.0, 3.5, 4.0, 3.0]})
    config, _ = bench.write_project(tmp_path, frame, "en", seed=0)
    screens.events_layout(tmp_path, config)

    reviews = pd.read_csv(tmp_path / "reviews.csv")
    assert list(reviews.columns) == ["customer_id", "reviewed_at", "review"]
    assert (reviews["reviewed_at"] == screens.EVENT_DAY).all()
    assert reviews["review"].tolist()[1] == "slow service, cold tea"  # one line: the old reader rejected breaks
    assert len((tmp_path / "reviews.csv").read_text(encoding="utf-8").splitlines()) == len(frame) + 1
    assert "review" not in pd.read_csv(tmp_path / "customers.csv").columns

    from cxpredict.config import load_config

    cfg = load_config(config)
    assert str(cfg.data.as_of) == screens.AS_OF
    events = [t for t in cfg.data.behaviour if t.name == "reviews"][0]
    assert events.kind == "events" and events.timestamp == "reviewed_at" and events.aggregations
    assert [(c.table, c.column) for c in cfg.text.columns] == [("reviews", "review")]
