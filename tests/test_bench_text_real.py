"""scripts/bench_text_real.py on tiny generated reviews (the real datasets are never needed here): every target key
is written, the with-text AUC and the reference see a planted signal, and topic names map to aspects by their words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

GOOD_EN = ["great location and friendly staff", "clean room comfortable bed", "lovely breakfast helpful desk",
           "quiet room great view", "excellent value friendly service"]
BAD_EN = ["dirty room rude staff", "noisy room broken shower", "cold breakfast rude desk", "dirty carpet smelly room",
          "overpriced parking broken lift"]
GOOD_ZH = ["送餐很快味道很好", "好吃分量足", "服务热情很满意", "味道不错下次再来", "包装很好很干净"]
BAD_ZH = ["送餐太慢饭都凉了", "难吃分量少", "态度很差等了两个小时", "味道很咸不新鲜", "送错了还不退款"]


@pytest.fixture(scope="module")
def bench(script_module):
    return script_module("bench_text_real")


def _reviews(rng, n, good, bad):
    """Reviews of two phrases: a 5-star review only good ones, a 1-2 star review at least one bad one."""
    rating = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.15, 0.1, 0.1, 0.25, 0.4])
    texts = [" , ".join(rng.choice(bad if r <= 3 else good, size=2)) for r in rating]
    return texts, rating


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text_real")
    rng = np.random.default_rng(0)
    texts, rating = _reviews(rng, 800, GOOD_EN, BAD_EN)
    pd.DataFrame({"Review": texts, "Rating": rating}).to_csv(folder / "tripadvisor_hotel_reviews.csv", index=False)
    texts, rating = _reviews(rng, 800, GOOD_ZH, BAD_ZH)
    pd.DataFrame({"label": (rating > 3).astype(int), "review": texts}).to_csv(folder / "waimai_10k.csv", index=False)
    return folder


@pytest.mark.slow
def test_every_target_key_is_written_and_the_planted_signal_is_found(bench, data_dir):
    cases = {name: bench.dataset_case(data_dir, name, seed=0, max_rows=None)
             for name in ("tripadvisor_hotels_en", "waimai_10k_zh")}
    for case in cases.values():
        assert case["respondents"] == 80 and case["customers"] == 800
        # the words decide the class: both the product and the reference rank detractors almost perfectly
        assert case["auc_reference_tfidf"] > 0.9 and case["auc_cxpredict_text"] > 0.9
        assert case["auc_cxpredict_no_text"] == 0.5 and case["auc_reference_lightgbm"] == 0.5  # no structured column
        assert 0 <= case["topic_stability"]["share"] <= 1 and case["texts_per_s"] > 0
    head = bench.headline(cases, {"agreement": 0.7})
    assert head["auc_vs_tfidf_reference_min"] == min(c["auc_vs_tfidf_reference"] for c in cases.values())
    assert head["auc_vs_tfidf_reference_zh_min"] == cases["waimai_10k_zh"]["auc_vs_tfidf_reference"]
    assert head["topic_name_agreement"] == 0.7 and head["text_per_s_real"] > 0
    assert ("embedding_auc_gain" in cases["tripadvisor_hotels_en"]) == bench.embeddings_available()
    assert all(c["default_method"] == bench.default_text_method() and c["texts_per_s_default"] > 0
               for c in cases.values())  # Chinese too: its stage timed under the default method
    assert head["text_per_s_real_en"] > 0 and head["text_per_s_real_zh"] > 0


def test_the_without_text_gap_counts_only_where_the_reference_reads_the_text(bench):
    case = {"language": "en", "auc_vs_tfidf_reference": 0.0, "customers": 10, "text_stage_s": 1.0,
            "text_stage_s_default": 2.5, "text_stage_cpu_s_default": 2.0,
            "topic_stability": {"share": 1.0}}
    cases = {"weak": {**case, "auc_reference_tfidf": 0.7, "auc_with_text_minus_without": 0.01,
                      "auc_cxpredict_text": 0.7},
             "strong": {**case, "auc_reference_tfidf": 0.9, "auc_with_text_minus_without": 0.2,
                        "auc_cxpredict_text": 0.9}}
    head = bench.headline(cases, None)
    assert head["auc_with_text_minus_without_min"] == 0.2 and head["topic_name_agreement"] is None
    assert head["auc_vs_tfidf_reference_default_method_min"] == 0.0  # no embeddings run: the tfidf figure
    cases["strong"]["auc_cxpredict_embeddings"] = 0.88  # English: the default method's own AUC counts
    assert bench.headline(cases, None)["auc_vs_tfidf_reference_default_method_min"] == pytest.approx(-0.02)
    assert head["embedding_auc_gain_mean"] is None and head["auc_vs_tfidf_reference_zh_min"] is None
    # the headline speed is the default method's (2.5 s a stage), the tfidf runs' beside it (1 s)
    assert head["text_per_s_real"] == head["text_per_s_real_en"] == 4.0 and head["text_per_s_real_tfidf"] == 10.0
    assert head["text_per_cpu_s_real"] == 5.0 and "text_per_s_real_zh" not in head
    assert head["text_per_s_real_300_chars"] is None  # no lengths: no conversion
    for c, chars in zip(cases.values(), (600, 150)):
        c.update({"mean_chars": chars, "load_average_1m": chars / 100})
    head = bench.headline(cases, None)  # 10 texts of 600 + 10 of 150 characters in 5 s (2 s under tfidf)
    assert head["text_per_s_real_300_chars"] == 5.0 and head["text_per_s_real_300_chars_tfidf"] == 12.5
    assert head["text_load_average_1m_max"] == 6.0


def test_topic_names_map_to_the_aspect_their_words_name(bench):
    assert bench.aspect_of("staff / service / friendly") == "service"
    assert bench.aspect_of("food / delicious / place") == "food"
    assert bench.aspect_of("prices / food / cheap") == "price"  # two price words beat one food word
    assert bench.aspect_of("place / great / love") == bench.OTHER_ASPECT


def test_semeval_sentences_keep_every_category(bench, tmp_path):
    path = tmp_path / "r.xml"
    path.write_text('<sentences><sentence id="1"><text>Great food, rude staff.</text><aspectCategories>'
                    '<aspectCategory category="food" polarity="positive"/><aspectCategory category="service" '
                    'polarity="negative"/></aspectCategories></sentence></sentences>', encoding="utf-8")
    frame = bench.semeval_sentences(path)
    assert frame["text"].tolist() == ["Great food, rude staff."] and frame["categories"][0] == {"food", "service"}
