"""Benchmark of issue 16 (free text): topic recovery, lift from ticket text, reasons from comments, throughput.

    python scripts/bench_text.py --out bench_text.json            # full size (~20 min on 2 cores)
    python scripts/bench_text.py --out bench_text.json --quick    # reduced sizes (~8 min)

Every case runs the product's own code (the packaged demo config with `text.enabled=true`, data/text.py, models/text.py,
workflows/text.py) on synthetic data whose texts have a planted truth (synthetic/text.py).
(a) topic_purity, per language (data generated in that language alone): the topic model is fitted on all texts
    (comments and ticket notes) with the demo's n_topics and names; each ticket note goes to its strongest
    learned topic; purity = share of notes whose topic's majority planted topic is their own. Also the inverse
    purity (share of notes in the learned topic that holds most of their planted topic: low when a planted topic
    is split) and the same two after naming (`key_`: topics with one business name merged).
(b) auc_lift_from_text: detractor AUC on the silent customers (against their true class) of the NPS stage
    (response weights, NPS model) trained with ticket-text features minus the same stage without them, on the
    same data, seed and threads. `signal` case: a hidden driver (rude or misleading staff) lowers satisfaction and
    shows only in ticket notes; `control` case: the same texts, the hidden driver has no effect.
(c) reason_micro_f1_from_comments: respondents with a comment and stated codes (codes planted through their
    comments), 75% fit the comment-reason model, micro-F1 on the other 25%, next to the best constant label set.
(d) texts_per_s: vectorising and scoring (TF-IDF, topic mix, dissatisfaction) of fresh ticket notes by a fitted
    model, per language, single process; the machine's load average is recorded beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _config(data_dir: Path, seed: int, extra: list[str] | None = None):
    from cxpredict.config import DEMO_CONFIG, load_config

    return load_config(DEMO_CONFIG, [f"data.dir={data_dir}", f"seed={seed}", "text.enabled=true",
                                     "nps.params.n_jobs=2", "response.params.n_jobs=2", *(extra or [])])


def _texts(table):
    return table.text, table.language


def _purity(assigned: np.ndarray, planted: np.ndarray) -> tuple[float, float]:
    table = pd.crosstab(assigned, planted)
    return float(table.max(axis=1).sum() / len(assigned)), float(table.max(axis=0).sum() / len(assigned))


def topic_case(language: str, n_customers: int, seed: int) -> dict:
    from cxpredict.data.text import load_texts
    from cxpredict.models.text import TopicModel
    from cxpredict.synthetic.customers import generate
    from cxpredict.synthetic.tables import write_tables

    data = generate(n_customers, seed=seed, response_rate=0.15, text=language)
    with tempfile.TemporaryDirectory() as tmp:
        write_tables(data, Path(tmp))
        cfg = _config(Path(tmp), seed)
        texts = load_texts(cfg)
    notes = next(t for t in texts.tables if t.source == "tickets.note")
    all_texts = [t for table in texts.tables for t in table.text]
    all_langs = np.concatenate([t.language for t in texts.tables])
    start = time.perf_counter()
    model = TopicModel(cfg.text.n_topics, cfg.text.topics, cfg.text.min_df, max_features=cfg.text.max_features,
                       seed=seed).fit(all_texts, all_langs)
    fit_s = time.perf_counter() - start
    W = model.transform(*_texts(notes))
    planted = data.text_truth["note_topic"]  # notes are read in file order = generation order
    mine = notes.language == language
    purity, inverse = _purity(W.argmax(axis=1)[mine], planted[mine])
    key_purity, key_inverse = _purity(model.key_weights(W).argmax(axis=1)[mine], planted[mine])
    return {"language": language, "notes": int(mine.sum()), "texts_fitted": len(all_texts),
            "topics": len([t for t in model.topics_ if t["language"] == language]),
            "planted_topics": int(len(np.unique(planted[mine]))), "topic_purity": purity, "inverse_purity": inverse,
            "key_purity": key_purity, "key_inverse_purity": key_inverse, "fit_s": round(fit_s, 2),
            "named": {t["name"]: t["top_terms"][:6] for t in model.topics_ if t["language"] == language}}


def _silent_auc(cfg, data, truth: pd.DataFrame, with_text: bool) -> dict:
    from sklearn.metrics import roc_auc_score

    from cxpredict.data.features import FeatureManifest
    from cxpredict.workflows.text import fit_text_stage
    from cxpredict.workflows.train import fit_nps_stage

    if with_text:
        _, data = fit_text_stage(cfg, data)
    X = FeatureManifest.fit(data.frame, cfg.features).transform(data.frame)
    stage = fit_nps_stage(X, data.score.to_numpy(dtype=float), cfg)
    silent = ~data.is_respondent
    true_detractor = (truth["true_class"].reindex(data.frame.index) == "detractor").to_numpy()[silent]
    p = stage.predictions["p_detractor"].to_numpy()[silent]
    return {"auc": float(roc_auc_score(true_detractor, p)), "features": X.shape[1]}


def lift_case(text_signal: float, n_customers: int, seed: int) -> dict:
    from cxpredict.data.customers import load_customers
    from cxpredict.synthetic.customers import generate
    from cxpredict.synthetic.tables import write_tables

    data = generate(n_customers, seed=seed, response_rate=0.10, text="mixed", text_signal=text_signal)
    with tempfile.TemporaryDirectory() as tmp:
        write_tables(data, Path(tmp))
        cfg = _config(Path(tmp), seed)
        customers = load_customers(cfg)
        without = _silent_auc(cfg, customers, data.truth, with_text=False)
        with_text = _silent_auc(cfg, customers, data.truth, with_text=True)
    return {"text_signal": text_signal, "customers": n_customers, "auc_without_text": without["auc"],
            "auc_with_text": with_text["auc"], "auc_lift_from_text": with_text["auc"] - without["auc"],
            "features_without": without["features"], "features_with": with_text["features"],
            "rude_staff_share": float((data.truth["text_issue"] < 0).mean()),
            "helpful_staff_share": float((data.truth["text_issue"] > 0).mean())}


def reasons_case(n_customers: int, seed: int) -> dict:
    from cxpredict.data.customers import load_customers
    from cxpredict.data.text import load_texts
    from cxpredict.models.reasons import constant_baseline, micro_f1, reason_matrix
    from cxpredict.models.text import CommentReasons, TopicModel
    from cxpredict.synthetic.customers import generate
    from cxpredict.synthetic.tables import write_tables

    data = generate(n_customers, seed=seed, response_rate=0.15, text="mixed")
    with tempfile.TemporaryDirectory() as tmp:
        write_tables(data, Path(tmp))
        cfg = _config(Path(tmp), seed)
        texts = load_texts(cfg)
        stated = load_customers(cfg).reasons
    comments = texts.survey
    topics = TopicModel(cfg.text.n_topics, cfg.text.topics, cfg.text.min_df, max_features=cfg.text.max_features,
                        seed=seed).fit([t for tb in texts.tables for t in tb.text],
                                       np.concatenate([t.language for t in texts.tables]))
    codes = stated.reindex(pd.Index(comments.customer, dtype="str"))
    have = codes.notna().to_numpy()
    X, codes = topics.vectorize(*_texts(comments))[have], codes[have]
    test = np.random.default_rng(seed).random(len(codes)) < 0.25
    model = CommentReasons(cfg.text.reason_min_count, seed=seed).fit(X[~test], codes[~test])
    truth = reason_matrix(codes, model.codes_).to_numpy()
    predicted = model.predict_sets(X[test]).to_numpy()
    base, _ = constant_baseline(truth[~test], truth[test])
    return {"respondents_with_comment_and_codes": int(have.sum()), "held_out": int(test.sum()),
            "codes": model.codes_, "threshold": model.threshold_,
            "reason_micro_f1_from_comments": micro_f1(truth[test], predicted), "reason_base_micro_f1": base}


def speed_case(language: str, n_texts: int, seed: int) -> dict:
    from cxpredict.data.text import detect_language, normalise
    from cxpredict.models.text import TextModels, TopicModel, fit_dissatisfaction
    from cxpredict.synthetic.customers import generate
    from cxpredict.synthetic.text import customer_languages, ticket_notes

    data = generate(20_000, seed=seed, response_rate=0.15, text=language)
    train = [normalise(t) for t in data.tables["tickets"]["note"]]
    langs = np.array([detect_language(t) for t in train], dtype=object)
    topics = TopicModel(12, seed=seed).fit(train, langs)
    X = topics.vectorize(train, langs)
    y = np.random.default_rng(seed).random(len(train)) < 0.3
    models = TextModels(topics, fit_dissatisfaction(X, y), None, {})
    rng = np.random.default_rng(seed + 1)  # fresh notes, not the training ones
    owner = rng.integers(0, 5_000, n_texts)
    fresh, _ = ticket_notes(rng, owner, np.ones(n_texts, bool), rng.choice(["billing", "network", "delivery", "other"],
                            n_texts), np.zeros(5_000, bool), rng.random(5_000) < 0.1,
                            customer_languages(rng, 5_000, language), mixed=False)
    start = time.perf_counter()
    texts = [normalise(t) for t in fresh]
    langs = np.array([detect_language(t) for t in texts], dtype=object)
    X = models.topics.vectorize(texts, langs)
    W = models.topics.topic_weights(X, langs)
    diss = models.dissatisfaction_of(X)
    seconds = time.perf_counter() - start
    assert len(W) == len(diss) == n_texts
    return {"language": language, "texts": n_texts, "seconds": round(seconds, 3),
            "texts_per_s": round(n_texts / seconds, 1), "mean_chars": float(np.mean([len(t) for t in texts]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the JSON here (also printed)")
    parser.add_argument("--quick", action="store_true", help="reduced sizes for a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sizes = ({"topic_customers": 10_000, "lift_customers": 30_000, "reason_customers": 20_000, "speed_texts": 20_000}
             if args.quick else
             {"topic_customers": 40_000, "lift_customers": 60_000, "reason_customers": 60_000, "speed_texts": 100_000})
    result: dict = {"quick": args.quick, "seed": args.seed, "sizes": sizes, "load_average_at_start": os.getloadavg()}
    start = time.perf_counter()
    result["topics"] = {lang: topic_case(lang, sizes["topic_customers"], args.seed) for lang in ("en", "zh")}
    result["lift"] = {name: lift_case(signal, sizes["lift_customers"], args.seed)
                      for name, signal in (("signal", 1.0), ("control", 0.0))}
    result["reasons"] = reasons_case(sizes["reason_customers"], args.seed)
    result["speed"] = {lang: speed_case(lang, sizes["speed_texts"], args.seed) for lang in ("en", "zh")}
    result["load_average_at_end"] = os.getloadavg()
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["headline"] = {
        "topic_purity_en": result["topics"]["en"]["topic_purity"],
        "topic_purity_zh": result["topics"]["zh"]["topic_purity"],
        "auc_lift_from_text_signal": result["lift"]["signal"]["auc_lift_from_text"],
        "auc_lift_from_text_control": result["lift"]["control"]["auc_lift_from_text"],
        "reason_micro_f1_from_comments": result["reasons"]["reason_micro_f1_from_comments"],
        "reason_base_micro_f1": result["reasons"]["reason_base_micro_f1"],
        "texts_per_s_en": result["speed"]["en"]["texts_per_s"], "texts_per_s_zh": result["speed"]["zh"]["texts_per_s"],
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
