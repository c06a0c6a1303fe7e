"""Throughput of the text stage of `train` (issue 20 item 3) on synthetic review-length texts.

    python scripts/bench_text_speed.py --texts 20000 --out bench_text_speed.json

One review per customer (~300 characters in English, ~100 in Chinese, as real shop reviews run), 10% of the
customers answered the survey, their score depends on the review's planted topics. The texts mix planted topic
phrases (synthetic/text.py) with words drawn Zipf-like from a large made-up vocabulary, so the vocabulary is
as wide as on real reviews (the planted phrases alone would give a few hundred words and flatter the speed).
The timed part is `fit_text_stage` (reading, topics, cross-fitted dissatisfaction, windowed features), as `train`
runs it; the reviews sit in a dated events table with one count aggregation so that the same script also runs on
releases older than customer-level text columns (for before/after figures in one run: PYTHONPATH=<old tree>).
Per language an untimed stage on WARMUP_TEXTS texts runs first (`warmup_s`: what a process pays once, whatever its
data: numba loading its compiled kernels, rjieba its dictionary); then one timed `fit_text_stage`, wall and CPU
seconds (all threads) and the 1-minute load average (the machine may be shared).
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
import yaml

VOCABULARY = 20_000
WARMUP_TEXTS = 500  # an untimed text stage first: numba's cached kernels, rjieba's dictionary, lazy imports
ZIPF = 1.1
CHARS = {"en": 300, "zh": 100}
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "ee")]


def _words(rng: np.random.Generator, language: str) -> np.ndarray:
    if language == "en":
        parts = rng.integers(0, len(_SYLLABLES), (VOCABULARY, 3))
        lengths = rng.integers(1, 4, VOCABULARY)
        return np.array(["".join(_SYLLABLES[p] for p in row[:k]) for row, k in zip(parts, lengths)], dtype=object)
    chars = rng.integers(0x4E00, 0x4E00 + 3_000, (VOCABULARY, 2))
    return np.array(["".join(map(chr, row)) for row in chars], dtype=object)


def reviews(n: int, language: str, seed: int) -> tuple[list[str], np.ndarray]:
    """n texts of about CHARS[language] characters and a satisfaction score 0-10 driven by their planted topics."""
    from cxpredict.synthetic.text import _phrase

    rng = np.random.default_rng(seed)
    words = _words(rng, language)
    weights = 1.0 / np.arange(1, VOCABULARY + 1) ** ZIPF
    weights /= weights.sum()
    topics = ["billing", "support", "delivery", "price", "network", "praise", "helpful", "other"]
    effect = {"billing": -3, "support": -3, "delivery": -2, "price": -1, "network": -2, "praise": 2,
              "helpful": 2, "other": 0}
    join = " " if language == "en" else ""
    texts, scores = [], np.zeros(n)
    for i in range(n):
        planted = rng.choice(topics, size=int(rng.integers(1, 3)), replace=False)
        parts = [_phrase(rng, str(t), language) for t in planted]
        scores[i] = 8 + sum(effect[str(t)] for t in planted) + rng.normal(0, 1.5)
        length = sum(map(len, parts))
        while length < CHARS[language]:
            chunk = rng.choice(words, size=8, p=weights)
            parts.append(join.join(chunk))
            length += sum(map(len, chunk)) + 8
        order = rng.permutation(len(parts))
        texts.append((", " if language == "en" else "，").join(parts[j] for j in order)[: int(CHARS[language] * 1.1)])
    return texts, np.clip(np.round(scores), 0, 10)


def _project(folder: Path, n: int, language: str, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    texts, score = reviews(n, language, seed)
    ids = np.array([f"C{i:07d}" for i in range(n)])
    pd.DataFrame({"customer_id": ids, "tenure": rng.integers(1, 60, n)}).to_csv(folder / "customers.csv", index=False)
    answered = rng.random(n) < 0.10
    pd.DataFrame({"customer_id": ids[answered], "score": score[answered].astype(int)}).to_csv(
        folder / "survey.csv", index=False)
    pd.DataFrame({"customer_id": ids, "posted_at": "2024-06-01", "review": texts}).to_csv(
        folder / "reviews.csv", index=False)
    config = {"name": "speed", "seed": seed,
              "data": {"dir": str(folder), "survey": {"path": "survey.csv"}, "as_of": "2024-06-30",
                       "behaviour": [{"name": "customers", "path": "customers.csv"},
                                     {"name": "reviews", "path": "reviews.csv", "kind": "events",
                                      "timestamp": "posted_at", "aggregations": [{"agg": "count"}]}]},
              "text": {"columns": [{"table": "reviews", "column": "review", "language": language}]},
              "tracking": {"enabled": False}}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def case(n: int, language: str, seed: int) -> dict:
    import cxpredict
    from cxpredict.config import load_config
    from cxpredict.data.customers import load_customers
    from cxpredict.workflows.text import fit_text_stage

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(_project(Path(tmp), n, language, seed))
        data = load_customers(cfg)
        load = os.getloadavg()[0]
        start, cpu = time.perf_counter(), time.process_time()
        stage, _ = fit_text_stage(cfg, data)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"language": language, "texts": n, "mean_chars": CHARS[language], "seconds": round(seconds, 2),
            "texts_per_s": round(n / seconds),
            "cpu_seconds": round(cpu, 2), "texts_per_cpu_s": round(n / cpu), "load_average_1m": load,
            "features": len(stage.features.columns),
            "cxpredict": str(Path(cxpredict.__file__).parent)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--languages", default="en,zh")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = {}
    for lang in args.languages.split(","):
        warmup = case(WARMUP_TEXTS, lang, args.seed + 1)["seconds"]  # once-per-process costs, untimed
        result[lang] = {**case(args.texts, lang, args.seed), "warmup_s": warmup}
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
