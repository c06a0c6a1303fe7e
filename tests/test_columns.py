"""The column dictionary: one source, numeric column order, readable labels, and the README kept equal to it."""

from __future__ import annotations

import re

from cxpredict.columns import (
    COLUMNS,
    columns_markdown,
    describe,
    prettify,
    scored_column_order,
)


def test_numbered_columns_sort_numerically_after_their_group():
    cols = ["p_score_10", "p_score_2", "driver_4", "customer_id", "driver_3_impact", "p_score_1", "extra",
            "p_score_9", "reason_3", "reason_2_prob", "driver_4_impact"]
    order = scored_column_order(cols)
    assert order == ["customer_id", "driver_3_impact", "driver_4", "driver_4_impact", "reason_2_prob", "reason_3",
                     "p_score_1", "p_score_2", "p_score_9", "p_score_10", "extra"]


def test_every_entry_has_a_header_kind_and_meaning_and_patterns_resolve():
    assert all(c.header and c.meaning and c.files for c in COLUMNS.values())
    assert describe("p_score_7").kind == "prob" and describe("p_score_7").header == "Probability of score 7"
    assert describe("driver_5_impact").kind == "prob" and describe("unknown_col").header == "Unknown col"
    assert prettify("tickets_count_30d") == "Tickets count 30d" and prettify("channel=web") == "Channel: web"


def test_readme_holds_the_generated_column_dictionary(repo_root):
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- columns:start -->\n(.*?)<!-- columns:end -->", text, re.S)
    assert block, "README.md lacks the <!-- columns:start --> ... <!-- columns:end --> block"
    assert block.group(1) == columns_markdown(), (
        "README's column dictionary is stale: replace the block with the output of `python -m cxpredict.columns`")
    assert "see the column dictionary in the README" in (repo_root / "configs" / "playbook.yaml").read_text()
