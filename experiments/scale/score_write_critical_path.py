"""Main-thread CPU (time.thread_time: the scoring loop's critical path) of writing scored batches, sequential vs the
background writers of this session; total process CPU alongside. Robust to a loaded machine, unlike wall time."""
import json, sys, tempfile, time
from pathlib import Path
import pandas as pd, pyarrow as pa, pyarrow.parquet as pq
from cxpredict.io.tables import TableWriter
from cxpredict.actions.strategy import CapacityQueue
scored = pd.read_parquet(sys.argv[1])
batches = [scored.iloc[lo:lo + 100_000].reset_index(drop=True) for lo in range(0, len(scored), 100_000)]
def measure(fn):
    t, c, w = time.thread_time(), time.process_time(), time.perf_counter()
    fn()
    return {"main_thread_cpu": time.thread_time() - t, "process_cpu": time.process_time() - c, "wall": time.perf_counter() - w}
def parquet_sequential(d):
    tables = None
    with pq.ParquetWriter(d / "a.parquet", pa.Table.from_pandas(batches[0], preserve_index=False).schema) as w:
        for b in batches:
            w.write_table(pa.Table.from_pandas(b, preserve_index=False))
def parquet_background(d):
    with TableWriter(d / "b.parquet") as w:
        for b in batches:
            w.write(b)
def spool_sequential(d):
    for i, b in enumerate(batches):
        b.reset_index(drop=True).to_feather(d / f"s{i}.arrow", compression="lz4")
def spool_background(d):
    q = CapacityQueue(None, d)
    for b in batches:
        q.add(b)
    q._spool.shutdown(wait=True); q._spooled()
res = {k: [] for k in ("parquet_sequential", "parquet_background", "spool_sequential", "spool_background")}
for rep in range(3):
    for name, fn in (("parquet_sequential", parquet_sequential), ("parquet_background", parquet_background),
                     ("spool_sequential", spool_sequential), ("spool_background", spool_background)):
        with tempfile.TemporaryDirectory() as d:
            res[name].append(measure(lambda: fn(Path(d))))
summary = {k: {m: round(min(r[m] for r in v), 3) for m in ("main_thread_cpu", "process_cpu", "wall")} for k, v in res.items()}
summary["rows"] = len(scored); summary["columns"] = scored.shape[1]
print(json.dumps(summary, indent=1))
json.dump(summary, open("/tmp/score-helper/critical.json", "w"), indent=1)
