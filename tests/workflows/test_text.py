"""The text stage in the flow: features joined per customer (never across customers), respondents' texts scored
cross-fitted, comment reasons, text drivers with business names, train -> score -> report, all offline."""

from __future__ import annotations

import json
import socket

import numpy as np
import pandas as pd
import pytest

from cxpredict.data.customers import load_customers
from cxpredict.data.text import load_texts
from cxpredict.errors import ConfigError
from cxpredict.workflows.default_drivers import text_drivers
from cxpredict.workflows.text import fit_text_stage, negative_shares, previous_text_models, scoring_text_stage


@pytest.fixture
def offline(monkeypatch):
    """Any network connection attempt fails the test: the text pipeline must never download anything."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def fitted(text_demo_config):
    data = load_customers(text_demo_config)
    stage, with_text = fit_text_stage(text_demo_config, data)
    return data, stage, with_text


def test_text_features_join_each_customer_to_their_own_texts(fitted):
    data, stage, with_text = fitted
    names = stage.models.meta["feature_names"]
    assert names and set(names) <= set(with_text.frame.columns)
    assert with_text.frame.index.equals(data.frame.index)  # same customers, same order: a join, not a reshuffle
    # every ticket has a note: the notes per customer in 90 days equal the behaviour aggregation of the same table
    expected = data.frame["tickets_count_90d"]
    assert expected.sum() > 500 and (with_text.frame["tickets_note_texts_90d"] == expected).all()
    no_text = expected.to_numpy() == 0
    assert np.isnan(with_text.frame["tickets_note_dissatisfaction_mean_90d"].to_numpy()[no_text]).all()


def test_respondents_texts_are_scored_by_models_that_never_saw_them(text_demo_config, fitted):
    data, stage, with_text = fitted
    texts = load_texts(text_demo_config)
    notes = next(t for t in texts.events)
    notes = notes.subset(notes.timestamp > np.datetime64(stage.models.meta["as_of"]) - np.timedelta64(90, "D"))
    X = stage.models.topics.vectorize(notes.text, notes.language)
    in_sample = pd.Series(stage.models.dissatisfaction_of(X)).groupby(notes.customer).mean()
    feature = with_text.frame["tickets_note_dissatisfaction_mean_90d"]
    silent = data.score.isna()
    # silent customers' features come from the full model; respondents' from out-of-fold models, so they differ
    both = feature.dropna().index.intersection(in_sample.index)
    resp_ids, silent_ids = both[~silent[both].to_numpy()], both[silent[both].to_numpy()]
    assert len(resp_ids) > 50
    assert (feature[silent_ids] - in_sample[silent_ids]).abs().max() < 1e-9
    assert (feature[resp_ids] - in_sample[resp_ids]).abs().mean() > 0.01


def test_comment_reasons_fill_missing_codes_and_drivers_get_business_names(text_demo_config, fitted):
    data, stage, with_text = fitted
    assert stage.models.reasons is not None and stage.models.reasons.metrics_["valid_micro_f1"] > 0.6
    assert with_text.reasons.notna().sum() >= data.reasons.notna().sum()
    extended = text_drivers(text_demo_config.drivers, stage.models, list(with_text.frame.columns))
    groups = {g.name: g for g in extended.groups}
    assert "Complaints about billing" in groups and groups["Complaints about billing"].theme == "billing"
    assert all(f in stage.models.meta["feature_names"] for f in groups["Complaints about billing"].features)
    # named by what they measure: the complaint count is a complaint, the topic's share is a mention
    assert all("_complaints_billing" in f for f in groups["Complaints about billing"].features)
    mentions = next(g for name, g in groups.items() if name.startswith("Mentions of billing"))
    assert mentions.features and all("_topic_billing_share" in f for f in mentions.features)
    # aspect sentiment: the mentions driver says how often the topic is mentioned negatively
    share = next(t["negative_share"] for t in stage.models.meta["topics"] if t["key"] == "billing")
    assert mentions.name == f"Mentions of billing (negative in {100 * share:.0f}%)"
    assert text_drivers(text_demo_config.drivers.model_copy(update={"groups": []}), stage.models, []).groups == []


def test_topics_of_the_demo_are_named_in_both_languages(fitted):
    _, stage, _ = fitted
    by_key = {}
    for t in stage.models.topics.topics_:
        by_key.setdefault(t["key"], set()).add(t["language"])
    assert {"en", "zh"} <= by_key["billing"] and {"en", "zh"} <= by_key["network"]


def test_a_retrain_keeps_the_topic_names_of_the_bundle_it_replaces(text_demo_config, fitted, tmp_path):
    data, stage, _ = fitted
    assert previous_text_models(text_demo_config, tmp_path / "model") is None  # a first training: fresh names
    stage.models.save(tmp_path / "model" / "text")
    previous = previous_text_models(text_demo_config, tmp_path / "model")
    again, _ = fit_text_stage(text_demo_config, data, previous)
    record = again.models.meta["topic_matching"]
    assert record["previous_bundle"] == str(tmp_path / "model") and record["matches"]
    # the same texts learn the same topics: every unnamed topic is matched (similarity ~1) and keeps its key
    assert record["matched_share"] == 1.0 and min(m["similarity"] for m in record["matches"]) > 0.99
    assert again.models.topics.key_names_ == stage.models.topics.key_names_
    assert again.models.meta["feature_names"] == stage.models.meta["feature_names"]


def test_a_configured_previous_bundle_without_text_is_an_error(text_demo_config, tmp_path):
    cfg = text_demo_config.model_copy(update={"text": text_demo_config.text.model_copy(
        update={"previous_bundle": str(tmp_path / "nowhere")})})
    with pytest.raises(ConfigError, match="text.previous_bundle: .*nowhere holds no text models"):
        previous_text_models(cfg, tmp_path / "model")


def test_scoring_needs_the_text_columns_the_bundle_uses(text_demo_config, fitted):
    _, stage, _ = fitted
    off = text_demo_config.model_copy(update={"text": text_demo_config.text.model_copy(update={"enabled": False})})
    with pytest.raises(ConfigError, match="uses text features of \\['tickets.note'\\]"):
        scoring_text_stage(off, stage.models)


def test_train_score_report_with_text_offline(text_demo_config, tmp_path, offline):
    from cxpredict.analyst.report import write_report
    from cxpredict.io.bundle import load_bundle
    from cxpredict.workflows.score import score
    from cxpredict.workflows.train import train

    result = train(text_demo_config, tmp_path / "model")
    bundle = load_bundle(result.bundle_path)
    assert bundle.get("text") is not None and not list((tmp_path / "model").rglob("*.pkl"))
    first = score(text_demo_config, bundle, tmp_path / "scored.csv")
    scored = pd.read_csv(first.path, encoding="utf-8-sig", low_memory=False)
    assert "comment_reason_1" in scored.columns
    assert scored.loc[scored["comment_reason_1"].notna(), "is_respondent"].all()
    kda = pd.read_csv(tmp_path / "kda_global.csv", encoding="utf-8-sig").set_index("driver")
    text_groups = [d for d in kda.index
                   if d.startswith(("Complaints about", "Mentions of")) or d == "Tone of customer texts"]
    assert "Complaints about billing" in text_groups and kda.loc[text_groups, "mean_abs_attribution"].sum() > 0
    trend = json.loads((tmp_path / "text_topics.json").read_text(encoding="utf-8"))
    assert trend["previous"]["run"] == "training" and "billing" in trend["shares"]
    score(text_demo_config, bundle, tmp_path / "scored.csv")  # a rerun on the same data compares with the same run
    assert json.loads((tmp_path / "text_topics.json").read_text(encoding="utf-8")) == trend
    html = write_report(tmp_path, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "What customers write" in html and "账单" in html and "Not available: text topics" not in html

    # a streamed population table (behaviour columns only) gets the same text features by customer ID
    table = tmp_path / "population.csv"
    load_customers(text_demo_config).frame.reset_index().to_csv(table, index=False)
    streamed_cfg = text_demo_config.model_copy(update={"data": text_demo_config.data.model_copy(
        update={"population": str(table)})})
    streamed = score(streamed_cfg, bundle, tmp_path / "streamed" / "scored.csv")
    again = pd.read_csv(streamed.path, encoding="utf-8-sig", low_memory=False).set_index("customer_id")
    np.testing.assert_allclose(again.loc[scored["customer_id"], "p_detractor"], scored["p_detractor"], atol=1e-9)


def test_texts_without_a_usable_word_are_a_clear_error_not_a_library_traceback(fitted, text_demo_config,
                                                                             monkeypatch):
    """Only stop words: no topic can be learned; say so instead of scikit-learn's '0 feature(s)' traceback."""
    import cxpredict.workflows.text as text_stage
    from cxpredict.errors import InputError

    data, _, _ = fitted
    texts = load_texts(text_demo_config)
    for table in texts.tables:
        table.text = ["the and of it"] * len(table.text)
        table.language = np.full(len(table.text), "en", dtype=object)
    monkeypatch.setattr(text_stage, "load_texts", lambda cfg: texts)
    with pytest.raises(InputError, match=r"text.columns .* none of the \d+ texts holds a word .* their language"):
        fit_text_stage(text_demo_config, data)


def test_negative_shares_weigh_each_respondent_text_by_its_topic():
    keys = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    detractor = np.array([1.0, 0.0, 0.0, np.nan, 1.0])  # the 4th author is silent: not counted
    shares = negative_shares(keys, detractor)
    assert shares == pytest.approx([1 / 1.5, 0.0])
    assert np.isnan(negative_shares(keys[:, :1] * 0, detractor)).all()  # no mention: unknown, not 0%


def test_a_complaint_topic_is_negative_more_often_than_a_praise_topic(fitted):
    """The demo plants billing complaints in detractors' texts and praise in promoters'."""
    _, stage, _ = fitted
    share = {t["key"]: t["negative_share"] for t in stage.models.meta["topics"]}
    praise = [k for k in share if "praise" in k or "helpful" in k]
    assert praise and all(share["billing"] > share[k] for k in praise)


def test_complaints_are_flagged_at_the_level_where_they_are_as_many_as_detractors_texts(fitted):
    data, stage, with_text = fitted
    level = stage.models.meta["complaint_min"]  # text.complaint_min unset: learned from the respondents
    assert 0 < level < 1
    complaints = with_text.frame[[c for c in stage.generated if "_complaints_" in c]].to_numpy()
    respondents = data.score.notna().to_numpy()
    texts = with_text.frame[[c for c in stage.generated if c.endswith("_texts_90d")]].to_numpy()
    # respondents' complaints (cross-fitted scores >= level) are about as many as their texts by detractors
    share = complaints[respondents].sum() / texts[respondents].sum()
    assert complaints.sum() > 0 and 0.02 < share


def test_each_text_is_tokenised_and_vectorised_once_and_every_model_reads_that_matrix(text_demo_config, fitted,
                                                                                        monkeypatch):
    """Issue 20: one batched tokenising (one rjieba call for all Chinese texts) and one TF-IDF fit per language
    and block; topics, dissatisfaction and reasons read that matrix; no second vectorising pass. The features
    are those of the stage fitted without counting (same code, same texts)."""
    import rjieba

    from cxpredict.models import text as text_models
    from cxpredict.models.tfidf import Tfidf

    calls = {"tokens": [], "fit": 0, "cut": 0}
    tokens_of, fit_transform, cut = text_models.tokens_of, Tfidf.fit_transform, rjieba.cut

    def count_tokens(texts, language):
        calls["tokens"].append(language)
        return tokens_of(texts, language)

    def count_fit(self, tokens):
        calls["fit"] += 1
        return fit_transform(self, tokens)

    def count_vectorize(self, texts, languages):
        raise AssertionError("the texts were vectorised a second time")

    def count_cut(text, *args, **kwargs):
        calls["cut"] += 1
        return cut(text, *args, **kwargs)

    monkeypatch.setattr(text_models, "tokens_of", count_tokens)
    monkeypatch.setattr(Tfidf, "fit_transform", count_fit)
    monkeypatch.setattr(text_models.TopicModel, "vectorize", count_vectorize)
    monkeypatch.setattr(rjieba, "cut", count_cut)
    data, stage, with_text = fitted
    again, again_data = fit_text_stage(text_demo_config, load_customers(text_demo_config))
    languages = again.models.topics.languages_
    assert sorted(calls["tokens"]) == sorted(languages) and set(languages) == {"en", "zh"}
    assert calls["fit"] == len(languages) + len(again.models.topics.chars_)  # words per language, Chinese characters
    assert calls["cut"] == 1
    names = stage.models.meta["feature_names"]
    pd.testing.assert_frame_equal(again_data.frame[names], with_text.frame[names])
