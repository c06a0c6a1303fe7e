"""Playbook schema, the safe condition language, static checks and rule matching."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cxpredict.config import DEFAULT_PLAYBOOK
from cxpredict.actions.playbook import (
    Bool,
    Cond,
    check_playbook,
    first_match,
    load_playbook,
    parse_when,
    playbook_from_dict,
    rule_masks,
    unreachable_rules,
    validate_columns,
)
from cxpredict.errors import ConfigError

DEFAULT = {"name": "default", "strategy": "no-action", "action": "No action"}


def book(*rules: dict, **extra) -> object:
    return playbook_from_dict({"rules": [*rules, DEFAULT], **extra})


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "segment_class": pd.Categorical(["detractor", "detractor", "passive", "promoter", None],
                                        categories=["detractor", "passive", "promoter"]),
        "driver_1": pd.array(["Billing", "Network", "Billing", None, "Price"], dtype="str"),
        "churn_prob": [0.6, 0.1, 0.7, 0.3, np.nan],
        "is_respondent": [True, False, False, True, False],
    })


# ------------------------------------------------------------------ the condition language
def test_parse_builds_a_tree_with_flipped_and_chained_comparisons():
    node = parse_when('segment_class == "detractor" and (driver_1 in ["Billing", "Price"] or 0.5 < churn_prob)')
    assert node == Bool("and", (Cond("segment_class", "==", "detractor"),
                                Bool("or", (Cond("driver_1", "in", ("Billing", "Price")),
                                            Cond("churn_prob", ">", 0.5)))))
    assert parse_when("0.2 <= churn_prob < 0.5") == Bool("and", (Cond("churn_prob", ">=", 0.2),
                                                                  Cond("churn_prob", "<", 0.5)))
    assert parse_when("driver_1 not in ['A']") == Cond("driver_1", "not_in", ("A",))
    assert parse_when("not is_respondent") == Bool("not", (Cond("is_respondent", "==", True),))
    assert parse_when("driver_1 == null") == Cond("driver_1", "==", None)
    assert parse_when("true") is None


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo hacked')",  # calls are not part of the language
    "driver_1 == driver_2",  # column vs column
    "churn_prob + 1 > 2",  # arithmetic
    "driver_1.upper() == 'X'",  # attribute access
    "churn_prob is None",  # `is` is not an allowed operator
    "lambda: 1",
])
def test_parse_rejects_anything_but_comparisons(text):
    with pytest.raises(ValueError):
        parse_when(text)


def test_masks_follow_documented_missing_value_semantics(frame):
    pb = book(
        {"name": "eq", "when": 'driver_1 == "Billing"', "strategy": "retention", "action": "a"},
        {"name": "ne", "when": 'driver_1 != "Billing"', "strategy": "retention", "action": "b"},
        {"name": "gt", "when": "churn_prob > 0.5", "strategy": "retention", "action": "c"},
        {"name": "isnull", "when": "driver_1 == null", "strategy": "retention", "action": "d"},
        {"name": "cat_in", "when": 'segment_class in ["passive", "promoter"]', "strategy": "upsell", "action": "e"},
        {"name": "bool", "when": "is_respondent", "strategy": "upsell", "action": "f"},
        {"name": "list", "when": [{"column": "churn_prob", "op": "<=", "value": 0.3},
                                  {"column": "segment_class", "op": "!=", "value": "promoter"}],
         "strategy": "upsell", "action": "g"},
    )
    masks = dict(zip([r.name for r in pb.rules], rule_masks(pb, frame)))
    assert masks["eq"].tolist() == [True, False, True, False, False]
    assert masks["ne"].tolist() == [False, True, False, True, True]  # missing satisfies !=
    assert masks["gt"].tolist() == [True, False, True, False, False]  # NaN never satisfies >
    assert masks["isnull"].tolist() == [False, False, False, True, False]
    assert masks["cat_in"].tolist() == [False, False, True, True, False]
    assert masks["bool"].tolist() == [True, False, False, True, False]
    assert masks["list"].tolist() == [False, True, False, False, False]  # row 4: churn NaN


def test_first_matching_rule_wins(frame):
    pb = book(
        {"name": "billing-detractor", "when": 'segment_class == "detractor" and driver_1 == "Billing"',
         "strategy": "retention", "action": "call"},
        {"name": "any-detractor", "when": 'segment_class == "detractor"', "strategy": "retention", "action": "mail"},
        {"name": "risky", "when": "churn_prob >= 0.5", "strategy": "retention", "action": "offer"},
    )
    idx = first_match(rule_masks(pb, frame))
    assert [pb.rules[i].name for i in idx] == ["billing-detractor", "any-detractor", "risky", "default", "default"]


def test_type_mismatch_names_rule_and_column(frame):
    pb = book({"name": "oops", "when": 'churn_prob == "high"', "strategy": "retention", "action": "a"})
    with pytest.raises(ConfigError, match=r"rule 'oops'.*churn_prob.*numeric"):
        rule_masks(pb, frame)
    pb = book({"name": "order", "when": 'driver_1 > "B"', "strategy": "retention", "action": "a"})
    with pytest.raises(ConfigError, match="orders text"):
        rule_masks(pb, frame)


# ------------------------------------------------------------------ schema and static checks
def test_final_default_rule_is_required():
    with pytest.raises(ConfigError, match="must be an unconditional default"):
        playbook_from_dict({"rules": [{"name": "x", "when": "churn_prob > 0.5", "strategy": "retention",
                                       "action": "call"}]})


def test_schema_rejects_unknown_keys_bad_strategy_and_duplicate_names():
    with pytest.raises(ConfigError, match=r"unknown key \(did you mean 'capacity'\?\)"):
        book({"name": "x", "when": "churn_prob > 0.5", "strategy": "retention", "action": "a", "capcity": 3})
    with pytest.raises(ConfigError, match="strategy"):
        book({"name": "x", "strategy": "bribe", "action": "a", "when": "churn_prob > 0.5"})
    with pytest.raises(ConfigError, match="unique"):
        playbook_from_dict({"rules": [{**DEFAULT}, {**DEFAULT}]})
    with pytest.raises(ConfigError, match="different capacities"):
        book({"name": "a", "when": "churn_prob > 0.5", "strategy": "retention", "action": "call", "capacity": 5},
             {"name": "b", "when": "churn_prob > 0.2", "strategy": "retention", "action": "call", "capacity": 9})


def test_unknown_column_error_names_rule_column_and_close_match(frame):
    pb = book({"name": "billing", "when": 'driver1 == "Billing"', "strategy": "retention", "action": "call"})
    with pytest.raises(ConfigError) as err:
        validate_columns(pb, frame.columns)
    assert "rule 'billing'" in str(err.value) and "'driver1'" in str(err.value)
    assert "did you mean 'driver_1'" in str(err.value)


def test_misspelt_class_value_is_an_error(frame):
    pb = book({"name": "d", "when": 'segment_class == "detracter"', "strategy": "retention", "action": "call"})
    with pytest.raises(ConfigError, match="did you mean 'detractor'"):
        validate_columns(pb, frame.columns)


def test_unreachable_rules_are_warned():
    pb = playbook_from_dict({"rules": [
        {"name": "a", "when": 'segment_class == "detractor"', "strategy": "retention", "action": "x"},
        {"name": "same", "when": [{"column": "segment_class", "value": "detractor"}], "strategy": "upsell",
         "action": "y"},
        {"name": "narrower", "when": 'segment_class == "detractor" and churn_prob > 0.5', "strategy": "upsell",
         "action": "y"},
        {"name": "fine", "when": 'segment_class == "passive"', "strategy": "upsell", "action": "y"},
        {"name": "catch-all", "strategy": "no-action", "action": "none"},
        {**DEFAULT},
    ]})
    warnings = unreachable_rules(pb)
    assert any("'same'" in w and "same condition" in w for w in warnings)
    assert any("'narrower'" in w and "subset" in w for w in warnings)
    assert any("'default'" in w and "'catch-all' has no condition" in w for w in warnings)
    assert not any("'fine'" in w for w in warnings)


def test_check_counts_rules_and_reports_partial_overlaps(frame):
    pb = book(
        {"name": "billing", "when": 'driver_1 == "Billing"', "strategy": "retention", "action": "a"},
        {"name": "risky", "when": "churn_prob > 0.65", "strategy": "retention", "action": "b"},
        {"name": "billing-detractor", "when": 'driver_1 == "Billing" and segment_class == "detractor"',
         "strategy": "retention", "action": "c"},
        {"name": "ghost", "when": "churn_prob > 5", "strategy": "retention", "action": "d"},
    )
    check = check_playbook(pb, frame)
    counts = dict(zip(check.counts["rule"], check.counts["customers"]))
    assert counts == {"billing": 2, "risky": 0, "billing-detractor": 0, "ghost": 0, "default": 3}
    assert counts == {r: int(n) for r, n in counts.items()} and sum(counts.values()) == len(frame)
    assert any("'billing' and 'risky' overlap on 1 customers" in w for w in check.warnings)
    kinds = {(o.earlier, o.later): o.kind for o in check.overlaps.itertuples()}
    assert kinds[("billing", "risky")] == "partial"
    assert kinds[("billing", "billing-detractor")] == "partial"
    assert any("'ghost' matches no customer" in w for w in check.warnings)
    assert any("'risky' matches 1 customers" in w and "earlier rules take all" in w for w in check.warnings)
    assert any("'billing-detractor' is unreachable" in w for w in check.warnings)


def test_special_case_before_general_rule_is_a_refinement_not_a_warning(frame):
    pb = book(
        {"name": "billing-detractor", "when": 'driver_1 == "Billing" and segment_class == "detractor"',
         "strategy": "retention", "action": "c"},
        {"name": "billing", "when": 'driver_1 == "Billing"', "strategy": "retention", "action": "a"},
    )
    check = check_playbook(pb, frame)
    assert check.overlaps.to_dict(orient="records") == [
        {"earlier": "billing-detractor", "later": "billing", "customers": 1, "kind": "refinement"}]
    assert check.warnings == []


def test_check_derives_segment_class_from_a_scored_file_segment():
    scored = pd.DataFrame({"segment": pd.array(["detractor/high-risk", "promoter/low-risk"], dtype="str")})
    pb = book({"name": "d", "when": 'segment_class == "detractor"', "strategy": "retention", "action": "a"})
    assert check_playbook(pb, scored).counts["customers"].tolist() == [1, 1]


def test_shipped_playbook_is_valid(repo_root):
    from cxpredict.columns import COLUMN_DOCS

    pb = load_playbook(DEFAULT_PLAYBOOK)
    validate_columns(pb, [*COLUMN_DOCS, "segment_class"])
    assert unreachable_rules(pb) == []
    assert pb.rules[-1].unconditional and pb.capacities()


def test_driver_columns_of_a_disabled_stage_match_nobody(frame, caplog):
    pb = book({"name": "billing", "when": 'driver_2 == "Billing"', "strategy": "retention", "action": "a"})
    masks = rule_masks(pb, frame)  # frame has driver_1 only
    assert not masks[0].any()
    rule_masks(pb, frame)
    assert sum("driver_2" in r.message for r in caplog.records) == 1  # warned once, not per batch
    assert any("driver_2" in w and "lacks" in w for w in check_playbook(pb, frame).warnings)


# ------------------------------------------------------------------ CLI: cxpredict playbook check
@pytest.fixture
def scored_csv(tmp_path):
    from cxpredict.io.people import write_people_outputs

    scored = pd.DataFrame({
        "customer_id": pd.array(["A1", "A2", "A3"], dtype="str"),
        "segment": pd.array(["detractor/high-risk", "passive/low-risk", "promoter/low-risk"], dtype="str"),
        "churn_prob": [0.7, 0.1, 0.05], "driver_1": pd.array(["Billing", None, "Price"], dtype="str"),
    })
    return write_people_outputs(scored, None, tmp_path)["scored"]


def test_cli_check_prints_counts_per_rule(tmp_path, scored_csv, capsys):
    from cxpredict.cli.app import main

    path = tmp_path / "pb.yaml"
    path.write_text(
        "rules:\n"
        "  - {name: call, when: 'segment_class == \"detractor\" and driver_1 == \"Billing\"', strategy: retention,"
        " action: Call}\n"
        "  - {name: default, strategy: no-action, action: None}\n", encoding="utf-8")
    assert main(["playbook", "check", str(path), "--scored", str(scored_csv), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(r["rule"], r["customers"]) for r in report["rules"]] == [("call", 1), ("default", 2)]


def test_cli_check_unknown_column_exits_2_naming_it(tmp_path, scored_csv, caplog):
    from cxpredict.cli.app import main

    path = tmp_path / "pb.yaml"
    path.write_text(
        "rules:\n"
        "  - {name: risky, when: 'churn_probability > 0.5', strategy: retention, action: Call}\n"
        "  - {name: default, strategy: no-action, action: None}\n", encoding="utf-8")
    assert main(["playbook", "check", str(path), "--scored", str(scored_csv)]) == 2
    assert "rule 'risky': unknown column 'churn_probability' (did you mean 'churn_prob'?)" in caplog.text
    no_default = tmp_path / "nodefault.yaml"
    no_default.write_text("rules:\n  - {name: risky, when: 'churn_prob > 0.5', strategy: retention, action: C}\n")
    assert main(["playbook", "check", str(no_default), "--scored", str(scored_csv)]) == 2


# --------------------------------------------------------------------------------------------- fuzzing
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

WHEN = st.one_of(st.text(max_size=40), st.lists(st.sampled_from(
    ["segment_class", "==", "!=", "in", "not", "and", "or", "(", ")", "[", "]", '"detractor"', "0.3", "-", "null",
     "churn_prob", ">=", "__import__('os')", "lambda", "1e400", ",", "'", "driver_1"]), max_size=12).map(" ".join))
RULE = st.fixed_dictionaries({"name": st.text(max_size=10), "strategy": st.sampled_from(["retention", "upsell", "x"]),
                              "action": st.text(max_size=10)},
                             optional={"when": st.one_of(WHEN, st.lists(st.dictionaries(
                                 st.sampled_from(["column", "op", "value"]),
                                 st.one_of(st.text(max_size=8), st.integers(), st.none(), st.lists(st.integers())),
                                 max_size=3), max_size=2)),
                                 "capacity": st.one_of(st.integers(-5, 5), st.text(max_size=3)),
                                 "sla_hours": st.one_of(st.floats(), st.none())})


@settings(max_examples=200, deadline=2000)
@given(rules=st.lists(RULE, max_size=4), name=st.one_of(st.text(max_size=12), st.integers()))
def test_fuzz_playbook_loader_raises_only_config_errors(rules, name):
    from cxpredict.errors import ConfigError

    try:
        playbook_from_dict({"name": name, "rules": rules})
    except ConfigError:
        pass


def test_label_codes_are_positions_in_names_for_text_and_categoricals():
    from cxpredict.actions.playbook import label_codes

    names = ["call", "offer"]
    text = pd.Series(pd.array(["offer", None, "mail", "call"], dtype="str"))
    categorical = text.astype(pd.CategoricalDtype(["mail", "offer", "unused", "call"]))
    chunked = pd.concat([text.iloc[:2], text.iloc[2:]], ignore_index=True)  # Arrow text in two chunks
    for values in (text, categorical, text.astype(object), chunked):
        assert label_codes(values, names).tolist() == [1, -1, -1, 0]
    assert label_codes(categorical.iloc[:0], names).tolist() == []
    assert label_codes(text.iloc[:0], names).tolist() == []


def test_code_labels_invert_label_codes_with_missing_where_no_name():
    from cxpredict.actions.playbook import code_labels, label_codes

    labels = code_labels(np.array([1, -1, 0, 1]), ["control", "treated"])
    assert labels.dtype == pd.array(["x"], dtype="str").dtype
    assert pd.Series(labels).equals(pd.Series(pd.array(["treated", None, "control", "treated"], dtype="str")))
    assert label_codes(pd.Series(labels), ["control", "treated"]).tolist() == [1, -1, 0, 1]
    assert len(code_labels(np.zeros(0, dtype=int), ["a"])) == 0
