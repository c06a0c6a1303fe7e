#!/usr/bin/env python
"""What writing the scored file as Parquet costs: pyarrow's defaults (a dictionary tried on every column) against
cxpredict's `dictionary_columns` (dictionaries only on columns that are not floating point nor mostly distinct text
such as the IDs), in one run on the same table, batches and thread.

The table has the scored file's shape: customer IDs, a dozen probability and score columns (nearly all distinct),
categorical segment/action columns, small integers and flags. Each writer writes it in `--batch-rows` batches, as
`cxpredict score` does; CPU seconds are the best of `--repeats` (process time: the same on a busy machine).

    python scripts/bench_parquet_write.py --out experiments/scale/results/bench_parquet_write.json

JSON: `cpu_s` and `size_mb` per writer, `cpu_ratio` (defaults / cxpredict), `same_values` (both files read back
equal to the table).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cxpredict.io.outputs import dictionary_columns, write_json  # noqa: E402


def scored_like(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([1, 1, 1], rows)
    frame = pd.DataFrame({"customer_id": pd.array([f"C{i:09d}" for i in range(rows)], dtype="str"),
                          "p_detractor": p[:, 0], "p_passive": p[:, 1], "p_promoter": p[:, 2],
                          "predicted_score": rng.random(rows) * 10, "churn_prob": rng.random(rows),
                          "value_at_risk": rng.gamma(2, 50, rows), "priority": rng.random(rows)})
    for k in range(11):
        frame[f"p_score_{k}"] = rng.random(rows)
    for name, values in (("segment", ["detractor", "passive", "promoter"]), ("action", ["call", "offer", "none"]),
                         ("channel", ["phone", "email", "none"])):
        frame[name] = pd.Categorical(rng.choice(values, rows))
    frame["predicted_class"] = pd.array(rng.choice(["detractor", "passive", "promoter"], rows), dtype="str")
    frame["observed_score"] = rng.integers(0, 11, rows)
    frame["deferred"] = rng.random(rows) < 0.1
    return pa.Table.from_pandas(frame, preserve_index=False)


def write_cpu(table: pa.Table, path: Path, batch_rows: int, repeats: int, **options) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        with pq.ParquetWriter(path, table.schema, **options) as writer:
            for offset in range(0, table.num_rows, batch_rows):
                writer.write_table(table.slice(offset, batch_rows))
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-parquet-write"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    table = scored_like(args.rows)
    writers = {"pyarrow_defaults": {}, "cxpredict": {"use_dictionary": dictionary_columns(table.schema, table)}}
    result: dict = {"benchmark": "bench_parquet_write", "rows": args.rows, "batch_rows": args.batch_rows,
                    "repeats": args.repeats, "pyarrow": pa.__version__, "cpu_s": {}, "size_mb": {}}
    same = True
    for name, options in writers.items():
        path = args.work / f"{name}.parquet"
        result["cpu_s"][name] = round(write_cpu(table, path, args.batch_rows, args.repeats, **options), 3)
        result["size_mb"][name] = round(path.stat().st_size / 1e6, 1)
        same = same and pq.read_table(path).to_pandas().equals(table.to_pandas())
    result["cpu_ratio"] = round(result["cpu_s"]["pyarrow_defaults"] / result["cpu_s"]["cxpredict"], 2)
    result["same_values"] = same
    write_json(result, args.out)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
