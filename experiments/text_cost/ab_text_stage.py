"""A/B of the text stage of `train` (fit_text_stage, default config: text.method embeddings) on real reviews, two
code trees run alternately in fresh processes on the same machine state.

    python experiments/text_cost/ab_text_stage.py --data /tmp/text_real_data --before TREE --after TREE \
        --reps 3 --out experiments/text_cost/results/ab_text_stage.json

English: the TripAdvisor and Yelp reviews of scripts/bench_text_real.py cut at spaces into pieces of about 300
characters (twice, the second time from character 150 on: 16,881 texts); Chinese: ChnSentiCorp and waimai_10k
(19,752 texts, 66 characters on average). A random 10% answered (the benchmark's project, seed 0). Each run: an
untimed stage on 300 texts (once-per-process costs), then one timed stage: wall and CPU seconds (all threads) and
the load average. `--threads 1` also runs each with CXPREDICT_THREADS=1 (what a busy machine leaves).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def pieces(text: str, size: int = 300, shift: int = 0) -> list[str]:
    out, text = [], text[shift:]
    while len(text) >= size // 2:
        cut = text.rfind(" ", 0, size)
        cut = size if cut < size // 2 else cut
        out.append(text[:cut])
        text = text[cut + 1:]
    return out


def corpus(data: Path, language: str) -> pd.DataFrame:
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_text_real import read_dataset

    if language == "zh":
        frames = [read_dataset(data, n)[0] for n in ("chnsenticorp_hotels_zh", "waimai_10k_zh")]
        return pd.concat(frames, ignore_index=True)[["review", "rating"]]
    f = pd.concat([read_dataset(data, n)[0][["review", "rating"]] for n in ("tripadvisor_hotels_en", "yelp_en")],
                  ignore_index=True)
    rows = [(p, r) for shift in (0, 150) for t, r in zip(f["review"], f["rating"]) for p in pieces(t, shift=shift)]
    return pd.DataFrame(rows, columns=["review", "rating"])


def one_run(data: Path, language: str) -> dict:
    """In this process (PYTHONPATH decides the tree): warm-up, then one timed fit_text_stage."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_text_real import write_project

    from cxpredict.config import load_config
    from cxpredict.data.customers import load_customers
    from cxpredict.workflows.text import fit_text_stage

    frame = corpus(data, language)
    with tempfile.TemporaryDirectory() as tmp:
        warm = Path(tmp) / "warm"
        warm.mkdir()
        cfg = load_config(write_project(warm, frame.head(300), language, 0, method="embeddings")[0])
        fit_text_stage(cfg, load_customers(cfg))
        cfg = load_config(write_project(Path(tmp), frame, language, 0, method="embeddings")[0])
        data_ = load_customers(cfg)
        load, start, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
        fit_text_stage(cfg, data_)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"texts": len(frame), "mean_chars": float(frame["review"].str.len().mean()), "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "texts_per_s": round(len(frame) / wall, 1),
            "texts_per_cpu_s": round(len(frame) / cpu, 1), "load_average_1m": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--before", type=Path)
    parser.add_argument("--after", type=Path)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="*", default=[0], help="0: the default budget")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", choices=["en", "zh"], help=argparse.SUPPRESS)  # a child run
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.data, args.one)))
        return
    runs = []
    for rep in range(args.reps):
        for language in ("en", "zh"):
            for n in args.threads:
                for tree, path in (("before", args.before), ("after", args.after)):
                    env = {**os.environ, "PYTHONPATH": str(path), "OMP_WAIT_POLICY": "PASSIVE"}
                    env.pop("CXPREDICT_THREADS", None)
                    if n:
                        env["CXPREDICT_THREADS"] = str(n)
                    out = subprocess.run([sys.executable, __file__, "--data", str(args.data), "--one", language],
                                         env=env, capture_output=True, text=True, check=True)
                    run = {"tree": tree, "language": language, "threads": n or "default", "rep": rep,
                           **json.loads(out.stdout.strip().splitlines()[-1])}
                    print(json.dumps(run), flush=True)
                    runs.append(run)
    frame = pd.DataFrame(runs)
    summary = {}
    for (language, n, tree), g in frame.groupby(["language", "threads", "tree"]):
        summary[f"{language}_threads_{n}_{tree}"] = {
            "texts": int(g["texts"].iloc[0]), "mean_chars": round(float(g["mean_chars"].iloc[0]), 1),
            "median_texts_per_s": float(np.median(g["texts_per_s"])),
            "median_texts_per_cpu_s": float(np.median(g["texts_per_cpu_s"])),
            "median_cpu_s": float(np.median(g["cpu_s"])), "median_wall_s": float(np.median(g["wall_s"])),
            "load_average_1m": [float(g["load_average_1m"].min()), float(g["load_average_1m"].max())]}
    result = {"before": str(args.before), "after": str(args.after), "reps": args.reps, "summary": summary,
              "runs": runs}
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.out)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
