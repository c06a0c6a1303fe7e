"""Time `cxpredict learn` per stage, wall and process CPU seconds, in a fresh process of the tree on PYTHONPATH.

Usage: python experiments/scale/learn_stages_ab.py CONFIG BUNDLE RESULTS ASSIGNMENTS OUT [KEY=VALUE ...]
(KEY=VALUE: config overrides, as --set)
Run it with PYTHONPATH at the old tree and at the new one, back to back (on a shared machine only the CPU seconds
compare). Prints one JSON object: per-stage wall and CPU (time.process_time around each Timer stage, so a stage's
worker threads count), the manifest's timings, the process's user+sys CPU, peak RSS and the sha256 of every
output table (identical outputs have identical hashes)."""
import json, os, resource, sys, time
from contextlib import contextmanager
from pathlib import Path

T0, C0 = time.perf_counter(), time.process_time()
from cxpredict import provenance  # noqa: E402

cpu: dict = {}
_call = provenance.Timer.__call__


@contextmanager
def _timed(self, name):
    c = time.process_time()
    with _call(self, name):
        yield
    cpu[name] = round(cpu.get(name, 0.0) + time.process_time() - c, 3)


provenance.Timer.__call__ = _timed
from cxpredict.config import load_config  # noqa: E402
from cxpredict.io.bundle import load_bundle  # noqa: E402
from cxpredict.workflows.learn import learn  # noqa: E402

config, bundle, results, assignments, out = sys.argv[1:6]
cfg = load_config(Path(config), overrides=sys.argv[6:])
b = load_bundle(bundle)
cpu["startup"] = round(time.process_time() - C0, 3)
result = learn(cfg, b, results, assignments, out)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"tree": os.environ.get("PYTHONPATH"), "cpu": cpu, "wall": result.manifest["timings"],
                  "process_wall": round(time.perf_counter() - T0, 2),
                  "process_cpu": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024),
                  "load_average": [round(x, 2) for x in os.getloadavg()],
                  "outputs": {k: v["sha256"][:16] for k, v in result.manifest["outputs"].items()}}, indent=1))
