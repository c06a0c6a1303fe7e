"""The benchmark suite of issue 10: does cxpredict beat a default LightGBM and the respondent NPS on data it was
not tuned on? Cases are (data, response mechanism, response rate, scale) combinations, each over several seeds.

    python scripts/bench_suite.py --out suite.json [--quick] [--cases NAME ...] [--seeds N] [--replicates R]

Every case hides the silent customers' answers from the product and the baseline alike, and judges on them:
- detractor AUC of cxpredict and of the PLAIN BASELINE (a default `LGBMClassifier()` on the same respondents'
  classes, unweighted, argmax, fitted in the same run with the same thread count; `benchkit.fit_plain`);
- ECE of P(detractor): 10 equal-width bins on [0, 1], weighted by bin size, silent customers, unweighted;
- population NPS absolute error (all customers, against the true NPS) of the headline, model-only, Hajek,
  naive respondent NPS (computed here from the respondents' answers) and plain imputation (answers + the
  baseline's P(promoter) - P(detractor) for the silent); the headline's interval width and whether it covers;
- train and score wall seconds of the product (`benchkit.fit_product`, the one adapter to the product's API).
Cases (see CASES): telco at 3/15/30% under two behaviour-only mechanisms (configs/telco.yaml: its NPS section
is the product's defaults, nothing in it was chosen on telco answers); telco as one flat table with its
original column names through `cxpredict train/score/report` (defaults, as a new user would configure it);
synthetic strong/weak/no signal, NPS/CSAT/binary scales, 200k customers at 3%; an answer-dependent case kept
apart in `mnar`. The two `repeated` synthetic cases (2,000 customers, 15% respond) run one replicate per seed
to measure the 90% interval's coverage: ~5 s a replicate on 2 idle cores (about 10 on a shared machine), so
300 replicates of both cost about an hour of the full run; `--quick` runs 10 and says so. Timing: `cxpredict
train` of 10k customers / 1k respondents and of 130k / 6.5k, and `cxpredict score` of 1,000 customers, each
in a fresh process.
Runs sequentially (2 cores); one progress line per case and seed on stderr. A long run can be split: run parts
with `--cases`, then `--merge PART.json ... --out suite.json` recomputes the summary and targets over all cases.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from bench_suite_cli import run_flat_telco, timing
from benchkit import (
    fit_plain,
    fit_product,
    judge,
    summarise,
    synthetic_config,
    telco_respondents,
)

from cxpredict.config import DEMO_CONFIG, load_config
from cxpredict.data.customers import load_customers
from cxpredict.data.features import FeatureManifest
from cxpredict.data.tables import read_table
from cxpredict.estimation.segments import segment_frame
from cxpredict.metrics import score_to_class
from cxpredict.synthetic.customers import generate
from cxpredict.synthetic.tables import write_tables

ROOT = Path(__file__).resolve().parents[1]
MNAR_DEPENDENCE = -0.5  # log-odds per 2.5 answer points: unhappy customers answer more (as bench_synthetic.py)


@dataclass(frozen=True)
class Case:
    name: str
    data: str  # "telco", "telco_flat" or "synthetic"
    description: str
    rate: float  # expected share of respondents
    mechanism: str  # telco: a benchkit.TELCO_MECHANISMS name; synthetic: the generator's
    scale: str | None = None  # synthetic: a cxpredict.synthetic.customers.SCALES name
    signal: float | None = None  # synthetic: generate(signal=...)
    n_customers: int | None = None  # synthetic
    answer_dependence: float = 0.0  # synthetic: generate(answer_dependent_response=...)
    repeated: bool = False  # coverage case: --replicates seeds instead of --seeds
    group: str = "mar"  # "mnar" cases are reported apart and left out of every mean


def synthetic(name: str, description: str, rate: float, n_customers: int = 10_000, scale: str = "nps",
              signal: float = 1.0, answer_dependence: float = 0.0, **kw) -> Case:
    mechanism = "behaviour (the generator's: contacts, orders, tenure, age, channel)" + (
        ", and the answer itself" if answer_dependence else "")
    return Case(name, "synthetic", description, rate, mechanism, scale, signal, n_customers, answer_dependence, **kw)


CASES = [
    *[Case(f"telco_{m}_{round(r * 100)}", "telco", f"IBM telco, {round(r * 100)}% respond, MAR on {what}", r, m)
      for m, what in (("contract_age", "contract and age (telco-mnar15 weights)"),
                      ("payment_tenure", "payment method and tenure")) for r in (0.03, 0.15, 0.30)],
    Case("telco_flat_15", "telco_flat", "IBM telco as ONE flat CSV with its original column names, every "
         "non-label column a feature, drivers on, product defaults, via the CLI; telco-mnar15 draw, seed 0 only",
         0.15, "contract_age"),
    synthetic("syn_strong", "synthetic NPS 0-10, strong signal, 10k customers, 10% respond", 0.10),
    synthetic("syn_weak", "synthetic NPS 0-10, weak signal (0.3), 10k customers, 10% respond", 0.10, signal=0.3),
    synthetic("syn_csat", "synthetic CSAT 1-5, strong signal, 10k customers, 10% respond", 0.10, scale="csat"),
    synthetic("syn_binary", "synthetic binary (satisfied / not), 10k customers, 10% respond", 0.10, scale="binary"),
    synthetic("syn_200k_3pct", "synthetic NPS 0-10, 200k customers, 3% respond", 0.03, n_customers=200_000),
    synthetic("syn_small_repeated", "synthetic NPS 0-10, 2k customers, 15% respond (coverage)", 0.15,
              n_customers=2_000, repeated=True),
    synthetic("syn_negative_control", "NEGATIVE CONTROL: answers independent of behaviour, response still "
              "behaviour-driven; 2k customers, 15% respond (coverage)", 0.15, n_customers=2_000, signal=0.0,
              repeated=True),
    synthetic("syn_mnar", "answer-dependent response (unhappy customers answer more), 10k customers, 10% respond",
              0.10, answer_dependence=MNAR_DEPENDENCE, group="mnar"),
]
TARGETS = {  # issue 10, "Targets": summary key -> (the target as written, whether a value meets it)
    "auc_vs_plain_min": (">= -0.005", lambda v, s: v >= -0.005),
    "auc_vs_plain_mean": (">= 0.02", lambda v, s: v >= 0.02),
    "telco_mnar15_detractor_auc": (">= 0.71", lambda v, s: v >= 0.71),
    "nps_err_headline_mean": ("<= nps_err_hajek_mean and <= nps_err_naive_mean",
                              lambda v, s: v <= s["nps_err_hajek_mean"] and v <= s["nps_err_naive_mean"]),
    "worst_excess_over_naive_in_halfwidths": ("<= 1", lambda v, s: v <= 1),
    "coverage_min": (">= 0.86", lambda v, s: v >= 0.86), "coverage_max": ("<= 0.94", lambda v, s: v <= 0.94),
    "negative_control_gap_to_hajek": ("<= 0.5", lambda v, s: v <= 0.5),
    "train_s_10k": ("<= 60", lambda v, s: v <= 60), "train_s_130k": ("<= 300", lambda v, s: v <= 300),
    "score_s_1k": ("<= 5", lambda v, s: v <= 5), "flat_telco_ok": ("true", lambda v, s: v is True),
    # issue 23: the quality training reports is the quality the silent customers get
    "reported_minus_silent_auc_mean": ("within +-0.015", lambda v, s: abs(v) <= 0.015),
    "reported_minus_silent_auc_max": ("<= 0.03", lambda v, s: v <= 0.03),
}

DEFINITIONS = {
    "auc": "detractor-vs-rest ROC AUC of P(detractor) on the silent customers; auc_plain: the baseline's",
    "baseline": "default lightgbm.LGBMClassifier() (random_state=seed, n_jobs as the product, verbose=-1) on "
                "the respondents' classes, unweighted, argmax; the same features, run and threads",
    "ece": "10 equal-width bins of P(detractor) on [0, 1], weighted by bin size, silent customers",
    "err_*": "absolute error in NPS points of an estimate of the NPS of ALL customers against the truth",
    "nps_headline / model_only / hajek": "the product's PopulationNps estimate / model_only / hajek (falling "
                                         "back on estimate / estimate / ipw_respondent_nps: benchkit)",
    "nps_naive": "respondents' NPS, computed here", "nps_plain_imputation": "answers + baseline "
                 "P(promoter) - P(detractor) of the silent",
    "coverage": "share of runs whose headline interval contains the true NPS",
    "reported_minus_silent_auc": "the detractor AUC training reports (cv_metrics_: respondents held out from every "
                                 "choice, weighted to the population) minus the auc on the silent customers; "
                                 "summary: mean and max over MAR cases of the per-case means; "
                                 "selected_oof_minus_silent_auc: the same for the kept candidate's out-of-fold AUC "
                                 "that training reported before issue 23 (seen by the choice)",
    "excess_over_naive_in_halfwidths": "(mean headline error - mean naive error) / mean interval half-width",
    "means": "summary means are over MAR cases of the per-case means; mnar cases are never included",
}


def log(text: str, started: float) -> None:
    print(f"[suite {time.perf_counter() - started:6.0f}s] {text}", file=sys.stderr, flush=True)


def run_product_and_plain(X, true_score, respondents, cfg, segments, seed: int) -> dict[str, Any]:
    product = fit_product(X, np.where(respondents, true_score, np.nan), cfg.model_copy(update={"seed": seed}),
                          segments)
    plain, plain_s = fit_plain(X, score_to_class(true_score, cfg.scale), respondents, seed, cfg.nps.params.n_jobs)
    return judge(true_score, respondents, cfg.scale, product, plain, plain_s)


# --------------------------------------------------------------------------------------------- data per case
@functools.cache
def telco_data(config: Path) -> Telco:
    """Loaded at the first telco case, kept for the others."""
    return Telco(config)


class Telco:
    """configs/telco.yaml's five joined tables and the features of every customer."""

    def __init__(self, config: Path):
        self.cfg = load_config(config)
        data = load_customers(self.cfg)
        self.frame = data.frame
        self.X = FeatureManifest.fit(data.frame, self.cfg.features).transform(data.frame, source="telco")
        status = read_table(self.cfg.data_path(self.cfg.data.survey.path), self.cfg.data.read,
                            columns=[self.cfg.data.key])
        self.order_ids = status[self.cfg.data.key].astype("str").to_numpy()
        self.true_score = data.score.to_numpy(dtype=float)  # everyone answered in the source data
        self.segments = segment_frame(data.frame, self.cfg.population.segments)

    def run(self, case: Case, seed: int) -> dict[str, Any]:
        resp = telco_respondents(self.order_ids, self.frame, seed, case.rate, case.mechanism)
        return run_product_and_plain(self.X, self.true_score, resp, self.cfg, self.segments, seed)


def run_synthetic(case: Case, seed: int, base: Path) -> dict[str, Any]:
    syn = generate(n_customers=case.n_customers, seed=seed, response_rate=case.rate,
                   answer_dependent_response=case.answer_dependence, signal=case.signal, scale=case.scale)
    with tempfile.TemporaryDirectory(prefix="cxsuite-") as tmp:
        write_tables(syn, tmp, "parquet")
        cfg = synthetic_config(base, Path(tmp), [], scale=syn.scale.model_dump())
        data = load_customers(cfg)
    X = FeatureManifest.fit(data.frame, cfg.features).transform(data.frame, source="synthetic")
    true_score = syn.truth.loc[X.index, "true_score"].to_numpy(dtype=float)
    return run_product_and_plain(X, true_score, data.is_respondent, cfg, segment_frame(
        data.frame, cfg.population.segments), seed)


# --------------------------------------------------------------------------------------------- summary
def case_summary(case: Case, rows: list[dict], errors: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in asdict(case).items() if k != "name"}
    out |= {"runs": len(rows), "errors": errors}
    if rows:
        out |= summarise(rows)
        covers = [r["covers"] for r in rows if r["covers"] is not None]
        out["coverage"] = float(np.mean(covers)) if covers else None
        boot = [r["covers_bootstrap"] for r in rows if r.get("covers_bootstrap") is not None]
        out["coverage_bootstrap"] = float(np.mean(boot)) if boot else None
        m = out["mean"]
        half = m.get("half_width")
        out["excess_over_naive_in_halfwidths"] = (m["err_headline"] - m["err_naive"]) / half if half else None
        out["per_seed"] = rows
    return out


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else None


def summary(cases: dict[str, dict], timing_out: dict, flat_ok: bool | None) -> dict[str, Any]:
    mar = {n: c for n, c in cases.items() if c["group"] == "mar" and c.get("mean")}
    means = {n: c["mean"] for n, c in mar.items()}
    gaps = {n: m["auc_vs_plain"] for n, m in means.items() if not math.isnan(m["auc_vs_plain"])}
    repeated = [c["coverage"] for c in mar.values() if c["repeated"] and c["coverage"] is not None]
    excess = [c["excess_over_naive_in_halfwidths"] for c in mar.values()
              if c["excess_over_naive_in_halfwidths"] is not None]

    optimism = {n: m["reported_minus_silent_auc"] for n, m in means.items()
                if m.get("reported_minus_silent_auc") is not None and not math.isnan(m["reported_minus_silent_auc"])}

    def case_mean(name: str, key: str):
        return means.get(name, {}).get(key)

    def seconds(step: str):
        s = timing_out.get(step, {})
        return s.get("seconds") if s.get("exit_code") == 0 else None

    return {
        "auc_vs_plain_min": min(gaps.values()) if gaps else None,
        "auc_vs_plain_min_case": min(gaps, key=gaps.get) if gaps else None,
        "auc_vs_plain_mean": _mean(gaps.values()),
        "telco_mnar15_detractor_auc": case_mean("telco_contract_age_15", "auc"),
        "telco_mnar15_plain_auc": case_mean("telco_contract_age_15", "auc_plain"),
        **{f"nps_err_{k}_mean": _mean(m[f"err_{k}"] for m in means.values())
           for k in ("headline", "model_only", "hajek", "naive", "plain_imputation")},
        "worst_excess_over_naive_in_halfwidths": max(excess) if excess else None,
        "coverage_min": min(repeated) if repeated else None, "coverage_max": max(repeated) if repeated else None,
        "coverage_bootstrap": {name: c.get("coverage_bootstrap") for name, c in mar.items() if c["repeated"]},
        "negative_control_gap_to_hajek": case_mean("syn_negative_control", "gap_to_hajek"),
        "train_s_10k": seconds("train_10k"), "train_s_130k": seconds("train_130k"), "score_s_1k": seconds("score_1k"),
        "flat_telco_ok": flat_ok,
        "reported_minus_silent_auc_mean": _mean(optimism.values()),
        "reported_minus_silent_auc_max": max(optimism.values()) if optimism else None,
        "reported_minus_silent_auc": optimism,
        "selected_oof_minus_silent_auc_mean": _mean(m.get("selected_oof_minus_silent_auc") for m in means.values()),
        "cases_where_plain_ranks_better": sorted(n for n, g in gaps.items() if g < -0.005),
        "cases_where_headline_is_further_than_naive": sorted(
            n for n, m in means.items() if m["err_headline"] > m["err_naive"]),
        "mar_cases": sorted(mar),
    }


def verdicts(s: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target of the issue beside the figure it judges; met is None when a figure it needs is missing."""
    out = {}
    for key, (text, meets) in TARGETS.items():
        needed = [s[key]] + ([s["nps_err_hajek_mean"], s["nps_err_naive_mean"]]
                             if key == "nps_err_headline_mean" else [])
        out[key] = {"value": s[key], "target": text,
                    "met": None if None in needed else bool(meets(s[key], s))}
    return out


def provenance(telco_config: Path) -> dict[str, Any]:
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    packages = ("cxpredict", "lightgbm", "scikit-learn", "numpy", "pandas", "scipy", "pyarrow", "pydantic")
    cfg = load_config(telco_config)
    telco_files = sorted(cfg.resolve(cfg.data.dir).glob("*.csv"))
    return {
        "git": {"commit": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
                "dirty": bool(git("status", "--porcelain"))},
        "versions": {"python": platform.python_version(), **{p: metadata.version(p) for p in packages}},
        "data": {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in telco_files},
    }


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "platform": platform.platform()}


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: timings are comparable only when these are well below the cores."""
    return [round(x, 2) for x in os.getloadavg()]


def _json_safe(value):
    """NaN and infinities become null: strict JSON that every reader accepts."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def run_seeds(case: Case, seeds: list[int], args, started: float):
    """Rows of the seeds that ran and the errors of those that crashed (a crash is a result, not an abort)."""
    rows, errors = [], []
    for seed in seeds:
        try:
            if case.data == "telco":
                row = telco_data(args.telco_config).run(case, seed)
            else:
                row = run_synthetic(case, seed, args.synthetic_config)
        except Exception as e:  # recorded in the case's errors and in failed_cases
            errors.append(f"seed {seed}: {type(e).__name__}: {e}\n{traceback.format_exc(limit=-4)}")
            log(f"{case.name} seed {seed}: FAILED {type(e).__name__}: {e}", started)
            continue
        rows.append({"seed": seed, **row})
        log(f"{case.name} seed {seed}: auc {row['auc']:.3f} plain {row['auc_plain']:.3f} | NPS error headline "
            f"{row['err_headline']:.2f} hajek {row['err_hajek']:.2f} naive {row['err_naive']:.2f} plain "
            f"{row['err_plain_imputation']:.2f} | covers {row['covers']} | reported auc minus silent "
            f"{row['reported_minus_silent_auc']:+.3f} | train {row['train_s']:.1f}s", started)
        gc.collect()
    return rows, errors


# --------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="the JSON to write")
    ap.add_argument("--quick", action="store_true", help="1 seed per case, 10 coverage replicates, "
                    "no 130k training: a check of the code, not a verdict")
    ap.add_argument("--cases", nargs="+", choices=[c.name for c in CASES], metavar="NAME",
                    help=f"run only these cases: {', '.join(c.name for c in CASES)}")
    ap.add_argument("--seeds", type=int, help="seeds per case (default 5; --quick 1)")
    ap.add_argument("--replicates", type=int, help="replicates of the repeated cases (default 300; --quick 10)")
    ap.add_argument("--no-timing", action="store_true", help="skip the fresh-process train/score timing")
    ap.add_argument("--timing-only", action="store_true", help="run no case, only the timing (a part for --merge)")
    ap.add_argument("--telco-config", type=Path, default=ROOT / "configs" / "telco.yaml")
    ap.add_argument("--synthetic-config", type=Path, default=DEMO_CONFIG)
    ap.add_argument("--merge", type=Path, nargs="+", metavar="PART",
                    help="combine the JSON of runs over disjoint --cases into one summary (runs nothing)")
    args = ap.parse_args(argv)
    if args.merge:
        return merge_parts(args.merge, args.out)
    started, wall_start = time.perf_counter(), time.time()
    n_seeds = args.seeds or (1 if args.quick else 5)
    replicates = args.replicates or (10 if args.quick else 300)
    selected = [] if args.timing_only else [c for c in CASES if not args.cases or c.name in args.cases]
    load_start = load_average()

    results, flat = {}, None
    for case in selected:
        if case.data == "telco_flat":
            seeds = [0]
            flat = run_flat_telco(case.rate, case.mechanism, args.telco_config, lambda text: log(text, started))
            rows = [{"seed": 0, **flat.pop("row")}] if "row" in flat else []
            errors = [] if flat["ok"] else ["a cxpredict command failed: see flat_telco.steps"]
        else:
            seeds = list(range(replicates if case.repeated else n_seeds))
            rows, errors = run_seeds(case, seeds, args, started)
        results[case.name] = case_summary(case, rows, errors) | {"seeds": seeds}
        gc.collect()

    timing_out = {} if args.no_timing else timing(args.quick, args.synthetic_config, lambda text: log(text, started))
    cases = {n: c for n, c in results.items() if c["group"] == "mar"}
    figures = summary(cases, timing_out, None if flat is None else flat["ok"])
    result = {
        "suite": "cxpredict benchmark suite (issue 10)",
        "size": "quick" if args.quick else "full",
        "quick_note": (f"--quick: {n_seeds} seed(s) per case, {replicates} coverage replicates (a coverage of 0.9 "
                       f"is then measured +/- {1.645 * (0.09 / replicates) ** 0.5:.2f}), no 130k training: a check "
                       "of the code, not a verdict") if args.quick else None,
        "seeds_per_case": n_seeds, "coverage_replicates": replicates,
        "summary": figures, "targets": verdicts(figures),
        "failed_cases": sorted(n for n, c in results.items() if c["errors"] or not c["runs"]),
        "cases": cases,
        "mnar": {n: c for n, c in results.items() if c["group"] == "mnar"},
        "flat_telco": flat, "timing": timing_out,
        "definitions": DEFINITIONS,
        "configs": {**{name: {"path": os.path.relpath(path, ROOT), "fingerprint": load_config(path).fingerprint()}
                       for name, path in (("telco", args.telco_config), ("synthetic", args.synthetic_config))},
                    "telco_note": "configs/telco.yaml's NPS section is the product's defaults (no setting chosen "
                                  "on telco answers); telco_flat_15 configures only the table, as a new user would"},
        "machine": {**machine(), "load_average_start": load_start, "load_average_end": load_average()},
        **provenance(args.telco_config),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(wall_start)),
        "wall_seconds": time.perf_counter() - started,
    }
    return publish(result, args.out, started)


def publish(result: dict, out: Path, started: float) -> dict:
    """Write the suite's JSON atomically and print its summary."""
    text = json.dumps(_json_safe(result), indent=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(out)
    log(f"wrote {out}", started)
    print(json.dumps(_json_safe({"summary": result["summary"], "failed_cases": result["failed_cases"]}), indent=2))
    return result


def merge_parts(paths: list[Path], out: Path) -> dict:
    """One suite result from parts run over disjoint cases (e.g. the repeated cases in their own processes)."""
    parts = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    clash = [n for i, a in enumerate(parts) for b in parts[i + 1:] for n in set(a["cases"]) & set(b["cases"])]
    if clash:
        raise SystemExit(f"--merge: cases {sorted(set(clash))} appear in more than one part")
    cases = {n: c for p in parts for n, c in p["cases"].items()}
    flat = next((p["flat_telco"] for p in parts if p.get("flat_telco")), None)
    timing_out = next((p["timing"] for p in parts if p.get("timing")), {})
    figures = summary(cases, timing_out, None if flat is None else flat["ok"])
    first = parts[0]
    return publish({
        **first, "size": "+".join(sorted({p["size"] for p in parts})),
        "seeds_per_case": sorted({p["seeds_per_case"] for p in parts}),
        "coverage_replicates": sorted({p["coverage_replicates"] for p in parts}),
        "summary": figures, "targets": verdicts(figures),
        "failed_cases": sorted({n for p in parts for n in p["failed_cases"]}),
        "cases": cases, "mnar": {n: c for p in parts for n, c in p["mnar"].items()},
        "flat_telco": flat, "timing": timing_out,
        "parts": [{"path": str(path), "started_at": p["started_at"], "wall_seconds": p["wall_seconds"],
                   "machine": p["machine"], "cases": sorted(p["cases"]) + sorted(p["mnar"])}
                  for path, p in zip(paths, parts)],
        "wall_seconds": sum(p["wall_seconds"] for p in parts),
    }, out, time.perf_counter())


if __name__ == "__main__":
    main()
