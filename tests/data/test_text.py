"""Text columns: normalisation, language, tokenisation, bad text counted (not fatal), windowed features per customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxpredict.config import config_from_dict
from cxpredict.data.text import (
    CustomerFeatures,
    TextTable,
    detect_language,
    detect_languages,
    load_texts,
    normalise,
    read_text_column,
    tokenize_en,
    tokenize_zh,
    window_feature_names,
    window_features,
    windows_of,
)
from cxpredict.errors import ConfigError, InputError


def _cfg(folder, columns, **text):
    raw = {"data": {"dir": str(folder), "as_of": "2026-10-31",
                    "survey": {"path": "survey.csv", "answered_at": "answered_at"},
                    "behaviour": [{"name": "customers", "path": "customers.csv"},
                                  {"name": "tickets", "path": "tickets.csv", "kind": "events", "timestamp": "opened_at",
                                   "aggregations": [{"agg": "count"}]}]},
           "text": {"columns": columns, **text}}
    return config_from_dict(raw, base_dir=folder)


def _write(folder, notes: list[bytes], survey: bytes = b"customer_id,score,answered_at,comment\nC1,3,2026-10-01,bad\n"):
    (folder / "customers.csv").write_bytes(b"customer_id,plan\nC1,a\nC2,b\n")
    (folder / "survey.csv").write_bytes(survey)
    body = b"".join(b"C1,2026-10-%02d,%s\n" % (i + 1, n) for i, n in enumerate(notes))
    (folder / "tickets.csv").write_bytes(b"customer_id,opened_at,note\n" + body)


def test_normalise_folds_full_width_controls_and_case():
    assert normalise("  ＢＩＬＬ\u200b  doubled\x07 AGAIN ") == "bill doubled again"
    assert normalise("abcdef", max_chars=3) == "abc"


@pytest.mark.parametrize("text, language", [
    ("the bill doubled again", "en"), ("账单又涨了", "zh"), ("账单又错了 wrong again", "zh"), ("bill 错 wrong again", "en"),
    ("great service 谢谢", "en"), ("", "en"), ("我们的wi-fi路由器坏了", "zh")])
def test_language_by_share_of_cjk_characters(text, language):
    assert detect_language(text) == language


def test_english_tokens_keep_negations_and_drop_stop_words():
    assert tokenize_en("it is not working and the bill is wrong") == ["not", "working", "bill", "wrong"]


def test_chinese_is_segmented_into_words_without_punctuation_or_function_words():
    tokens = tokenize_zh("账单又出错了，客服也不回电话！")
    assert "账单" in tokens and "客服" in tokens and "不" in tokens
    assert not {"，", "！", "了", "又"} & set(tokens)


def test_bad_texts_are_counted_not_fatal(tmp_path):
    _write(tmp_path, [b"fine note", b"caf\xe9 broken bytes", b"   ", b"x" * 500, b""])
    cfg = _cfg(tmp_path, [{"table": "tickets", "column": "note"}], max_chars=100)
    table, warnings = read_text_column(cfg, cfg.text.columns[0])
    assert table.counts["undecodable"] == 1 and table.counts["cut"] == 1 and table.counts["empty"] == 1
    assert table.counts["texts"] == 3 and max(len(t) for t in table.text) == 100
    assert "\ufffd" in table.text[1]
    assert len(warnings) == 3 and any("not valid UTF-8" in w for w in warnings)


def test_a_declared_text_column_of_numbers_is_a_clear_error(tmp_path):
    _write(tmp_path, [b"12.5", b"3", b"7", b"8"])
    cfg = _cfg(tmp_path, [{"table": "tickets", "column": "note"}])
    with pytest.raises(InputError, match="holds numbers .* Point text.columns at the column"):
        load_texts(cfg)


def test_texts_mostly_in_another_language_than_declared_are_a_clear_error(tmp_path):
    """The catalogue's trip: `language: en` over Chinese texts ended in a scikit-learn traceback (0 features)."""
    chinese = ["账单又出错了", "客服也不回电话", "网络晚上断断续续"]
    _write(tmp_path, [t.encode() for t in chinese])
    cfg = _cfg(tmp_path, [{"table": "tickets", "column": "note", "language": "en"}])
    with pytest.raises(InputError, match=r"tickets.csv.*declared language: en, but 3 of its 3 texts read as Chinese"
                                         r".*language to auto"):
        load_texts(cfg)
    _write(tmp_path, [t.encode() for t in [*chinese[:1], "bill doubled", "no signal", "slow support"]])
    table, warnings = read_text_column(cfg, cfg.text.columns[0])  # a few: read as declared, and said
    assert list(table.language) == ["en"] * 4
    assert any("1 texts of" in w and "another language than the declared 'en'" in w for w in warnings)
    auto = _cfg(tmp_path, [{"table": "tickets", "column": "note"}])
    assert list(read_text_column(auto, auto.text.columns[0])[0].language) == ["zh", "en", "en", "en"]


def test_unknown_table_is_a_config_error_that_says_how_to_declare_one(tmp_path):
    _write(tmp_path, [b"note"])
    with pytest.raises(ConfigError, match="did you mean 'tickets'"):
        load_texts(_cfg(tmp_path, [{"table": "tickts", "column": "note"}]))
    with pytest.raises(ConfigError, match="add 'path: <file>'"):
        load_texts(_cfg(tmp_path, [{"table": "reviews", "column": "text"}]))
    with pytest.raises(ConfigError, match="also a table of data.behaviour"):
        load_texts(_cfg(tmp_path, [{"table": "tickets", "column": "note", "path": "tickets.csv"}]))
    with pytest.raises(ValueError, match="give its 'path' too"):
        _cfg(tmp_path, [{"table": "reviews", "column": "text", "timestamp": "at"}])


def test_a_customer_table_column_is_one_undated_text_per_customer(tmp_path):
    _write(tmp_path, [b"note"])
    (tmp_path / "customers.csv").write_bytes(b"customer_id,plan,review\nC1,a,Bill doubled\nC2,b,\nC3,c,great\n")
    cfg = _cfg(tmp_path, [{"table": "customers", "column": "review"}])
    table = load_texts(cfg).tables[0]
    assert table.customer.tolist() == ["C1", "C3"] and table.text == ["bill doubled", "great"]
    assert not table.dated and np.isnat(table.timestamp).all() and table.counts["no_timestamp"] == 0
    from cxpredict.data.customers import load_customers

    assert list(load_customers(cfg).frame.columns) == ["plan", "tickets_count"]  # the text is no category


@pytest.mark.parametrize("timestamp", [None, "at"])
def test_a_text_table_of_its_own_with_or_without_dates(tmp_path, timestamp):
    _write(tmp_path, [b"note"])
    (tmp_path / "reviews.csv").write_bytes(b"id,at,text\nC1,2026-10-01,slow delivery\nC1,,late again\n"
                                           b"C2,2026-09-01,ok\n")
    entry = {"table": "reviews", "column": "text", "path": "reviews.csv", "key": "id",
             **({"timestamp": timestamp} if timestamp else {})}
    table = load_texts(_cfg(tmp_path, [entry])).tables[0]
    assert table.dated == (timestamp is not None)
    # dated: the text without a date is skipped (counted); undated: every text counts
    assert table.customer.tolist() == (["C1", "C2"] if timestamp else ["C1", "C1", "C2"])
    assert table.counts["no_timestamp"] == (1 if timestamp else 0)


def test_survey_comments_are_read_with_the_survey_key(tmp_path):
    _write(tmp_path, [b"note"], b"customer_id,score,answered_at,comment\nC1,3,2026-10-01,bad bill\nC2,9,2026-10-02,\n")
    data = load_texts(_cfg(tmp_path, [{"table": "survey", "column": "comment", "language": "en"}]))
    assert data.survey.customer.tolist() == ["C1"] and data.survey.text == ["bad bill"]
    assert data.survey.counts["missing"] == 1


def test_text_is_off_unless_enabled(tmp_path):
    _write(tmp_path, [b"note"])
    assert load_texts(_cfg(tmp_path, [{"table": "tickets", "column": "note"}], enabled=False)).tables == []


def _table(customers, days_before, as_of="2026-10-31"):
    ts = np.datetime64(as_of) - np.asarray(days_before).astype("timedelta64[D]")
    n = len(customers)
    return TextTable("tickets.note", "tickets", "note", np.asarray(customers, dtype=object),
                     ts.astype("datetime64[ns]"), ["t"] * n, np.array(["en"] * n, dtype=object))


def test_window_features_count_only_the_customers_own_texts_inside_the_window():
    table = _table(["A", "A", "B", "B", "C"], [5, 40, 10, -3, 100])  # B's second text is after as_of
    weights = np.array([[1, 0], [0, 1], [0.5, 0.5], [1, 0], [1, 0]], dtype=float)
    diss = np.array([0.9, 0.2, 0.6, 0.99, 0.8])
    f = window_features(table, weights, ["billing", "network"], diss, [30, 90], pd.Timestamp("2026-10-31"), 0.5)
    assert list(f.columns) == window_feature_names("tickets.note", ["billing", "network"], [30, 90])
    assert f.loc["A", "tickets_note_texts_30d"] == 1 and f.loc["A", "tickets_note_texts_90d"] == 2
    assert f.loc["B", "tickets_note_texts_90d"] == 1  # the future text is ignored
    assert f.loc["B", "tickets_note_dissatisfaction_max_90d"] == pytest.approx(0.6)
    assert f.loc["A", "tickets_note_topic_billing_share_90d"] == pytest.approx(0.5)
    assert f.loc["A", "tickets_note_complaints_billing_90d"] == 1  # 0.9 >= 0.5, dominant topic billing
    assert f.loc["A", "tickets_note_complaints_network_90d"] == 0  # 0.2: not a complaint
    assert f.loc["C", "tickets_note_texts_90d"] == 0 and np.isnan(f.loc["C", "tickets_note_dissatisfaction_mean_90d"])


def test_undated_texts_all_count_without_a_window_suffix():
    table = _table(["A", "A", "B"], [5, 400, 10])
    table.dated, table.timestamp = False, np.full(3, np.datetime64("NaT"), dtype="datetime64[ns]")
    f = window_features(table, np.array([[1, 0], [0, 1], [1, 0]], float), ["billing", "network"],
                        np.array([0.9, 0.2, 0.1]), windows_of(table, [30, 90]), pd.Timestamp("2026-10-31"), 0.5)
    assert list(f.columns) == window_feature_names("tickets.note", ["billing", "network"], [None])
    assert f.loc["A", "tickets_note_texts"] == 2 and f.loc["A", "tickets_note_topic_billing_share"] == 0.5
    assert f.loc["A", "tickets_note_complaints_billing"] == 1 and f.loc["B", "tickets_note_complaints_billing"] == 0
    aligned = CustomerFeatures(f).align(pd.Index(["Z"], name="customer_id"))
    assert aligned.loc["Z", "tickets_note_texts"] == 0
    assert np.isnan(aligned.loc["Z", "tickets_note_dissatisfaction_max"])


def test_customer_features_align_fills_counts_with_zero_and_means_with_missing():
    table = _table(["A"], [5])
    f = window_features(table, np.array([[1.0]]), ["billing"], np.array([0.7]), [90], pd.Timestamp("2026-10-31"), 0.5)
    aligned = CustomerFeatures(f).align(pd.Index(["Z", "A"], name="customer_id"))
    assert aligned.loc["Z", "tickets_note_texts_90d"] == 0 and aligned.loc["A", "tickets_note_texts_90d"] == 1
    assert np.isnan(aligned.loc["Z", "tickets_note_topic_billing_share_90d"])


def test_validate_reports_every_bad_text_column(tmp_path):
    from cxpredict.data.text import validate_texts

    _write(tmp_path, [b"1", b"2", b"3"])
    columns = [{"table": "tickets", "column": "note"}, {"table": "nope", "column": "x"}]
    problems = validate_texts(_cfg(tmp_path, columns))
    assert [type(p).__name__ for p in problems] == ["InputError", "ConfigError"]


def test_languages_of_a_batch_are_those_of_each_text():
    texts = ["", "the bill is wrong", "账单又出错了", "mixed 价格太贵了 price", "iphone 价", "价 abcdefgh", "", "\u4dbf",
             "ａｂｃ", "\uf900 ok", ""]
    assert detect_languages(texts).tolist() == [detect_language(t) for t in texts]
    assert detect_languages(["only english here", ""]).tolist() == ["en", "en"]
    assert detect_languages([]).tolist() == []
