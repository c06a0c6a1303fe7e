#!/bin/bash
# usage: ab.sh LABEL SRC POP [extra --set args...]; one timed `cxpredict score`, a line of JSON to runs.jsonl
label=$1; src=$2; pop=$3; shift 3
out=/tmp/score-helper/out-$label
rm -rf $out
export PYTHONPATH=$src PATH=/work/main/.venv/bin:$PATH OMP_WAIT_POLICY=PASSIVE
load=$(cut -d' ' -f1 /proc/loadavg)
/usr/bin/time -f "%e %U %S %M" -o /tmp/score-helper/time-$label python /work/main/.venv/bin/cxpredict score /tmp/bench-scale/config-500k_25k/bench.yaml --model /tmp/bench-scale/bundle-500k_25k --out $out/scored.parquet --no-tracking --set data.population=$pop "$@" > /tmp/score-helper/log-$label 2>&1
python - "$label" "$load" "$out" "$*" <<'PY'
import json, sys
label, load, out, extra = sys.argv[1:]
wall, user, sys_, rss = open(f"/tmp/score-helper/time-{label}").read().split()[-4:]
m = json.load(open(f"{out}/manifest.json"))
row = {"label": label, "load_before": float(load), "wall_s": float(wall), "cpu_s": round(float(user) + float(sys_), 2),
       "peak_rss_mb": round(int(rss) / 1024), "rows": m["rows"], "timings": m["timings"], "extra": extra}
print(json.dumps(row))
open("/tmp/score-helper/runs.jsonl", "a").write(json.dumps(row) + "\n")
PY
