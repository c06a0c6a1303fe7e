"""Issue 15's benchmark: does inviting with cxpredict's plan beat inviting at random, at equal budget?

    python scripts/bench_survey_design.py --out FILE.json [--quick] [--replicates R] [--seeds S]
        [--cases NAME ...] [--no-timing]
    python scripts/bench_survey_design.py --merge PART.json ... --out FILE.json

Simulated rounds. A population (synthetic `generate`, or IBM telco with the survey score hidden) starts with the
answers of its usual survey (MAR: the generator's own mechanism; telco: the telco-mnar15 contract/age draw at
3%). Each of ROUNDS rounds: train cxpredict's NPS stage on the answers so far (with the invitation log so far),
invite a budget of silent customers either uniformly at random (every eligible customer with probability
budget / eligible) or with `plan_round` (the same function `cxpredict survey-plan` calls), reveal the answers of
the invited who respond under a MAR invitation mechanism `q(x)` fixed here before any run (synthetic: web and
older, long-tenure customers answer e-mail invitations more, 20-25% on average; telco: the suite's
payment/tenure weights, 25% on average), and retrain. Both arms share the population and the usual survey's
answers (paired), the same random numbers per customer and round for the invitation and the answer (common
random numbers: where both arms invite uniformly they invite the same customers), and the same estimator
(estimation/estimators.py, SURVEY DESIGN).
survey_design.first_round_response is set to the mean of the true q (a user's known typical invitation rate).
The active arm runs the product's defaults, including survey_design.min_design_gain: a round whose model-based
plan promises less than that narrowing is a uniform draw (counted in `model_based_rounds`).

Cases: synthetic_10k and telco are the issue's (the headline width ratio and AUC difference are their means);
synthetic_clear_10k (the generator with signal 3: behaviour settles most customers' class, so Var(d | x)
differs between customers and a design has something to gain) is reported beside them, never in the headline.

Figures: population NPS error, interval width and coverage after each round; detractor AUC of each arm's final
model on the customers silent in both arms; the planner's planned half-width against the realised one after the
round (the active arm); `oracle_width_ratio` (synthetic: the width ratio the variance-optimal design would give
with the TRUE Var(d | x) and q, one round, same probe share: the ceiling of any design on these data).
Summary keys: width_ratio_vs_uniform (mean active width / mean uniform width after the last round, main cases),
coverage_active (the cheap replicates: 2,000 synthetic customers, the NPS model with `candidates: configured`,
60 trees, 3 folds; the generator's default signal and a 5% usual survey, where most rounds are uniform draws) and
coverage_active_clear (signal 5 and a 10% usual survey, where most rounds are model-based); both studies run the
uniform arm beside (paired), so their width ratios measure a gain of a few percent; auc_active_minus_uniform,
planner_width_error (mean over rounds and cases of |planned - realised| / realised), plan_s_1m (plan_round +
required_budget on 1M customers' arrays, plus scoring 1M rows with the NPS and invited-response models: data
loading excluded, it is the scoring path's). Timings on a shared
machine are indicative only; the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bench_suite import Telco as SuiteTelco
from benchkit import TELCO_MECHANISMS, summarise, synthetic_config, telco_respondents
from scipy.special import expit

from cxpredict.config import DEMO_CONFIG, Config, load_config
from cxpredict.data.customers import load_customers
from cxpredict.data.features import FeatureManifest
from cxpredict.data.invitations import Invitations
from cxpredict.estimation.design import (
    MIN_RESPONSE,
    answer_variance,
    combined_half_width,
    design_variance,
    next_round_variance,
    plan_round,
    required_budget,
    z_value,
)
from cxpredict.metrics import detractor_auc, score_to_class
from cxpredict.synthetic.customers import generate
from cxpredict.synthetic.planted import NOISE_SCALE
from cxpredict.synthetic.tables import write_tables
from cxpredict.workflows.survey_plan import PROBA_COLUMNS, answer_chance
from cxpredict.workflows.train import fit_nps_stage

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 3
TARGETS = {"width_ratio_vs_uniform": ("<= 0.8", lambda v: v <= 0.8),
           "coverage_active": ("within [0.86, 0.94]", lambda v: 0.86 <= v <= 0.94),
           "coverage_active_clear": ("within [0.86, 0.94]", lambda v: 0.86 <= v <= 0.94),
           "auc_active_minus_uniform": (">= 0", lambda v: v >= 0),
           "planner_width_error": ("<= 0.15", lambda v: v <= 0.15), "plan_s_1m": ("<= 60", lambda v: v <= 60)}
MODEL_OVERRIDES = ["nps.candidates=configured", "nps.formulation=multiclass", "nps.params.n_jobs=2",
                   "response.params.n_jobs=2", "drivers.enabled=false", "churn.enabled=false"]
CHEAP = ["nps.params.n_estimators=60", "nps.cv_folds=3", "response.params.n_estimators=50", "response.cv_folds=3",
         "nps.params.n_jobs=1", "response.params.n_jobs=1"]


# --------------------------------------------------------------------------------------------- populations
class Population:
    """Features, true scores, the usual survey's respondents and the invitation answer chance q of a population."""

    def __init__(self, cfg: Config, X: pd.DataFrame, true_score: np.ndarray, organic: np.ndarray, q: np.ndarray,
                 true_proba: np.ndarray | None = None):
        self.cfg, self.X, self.true_score, self.organic, self.q, self.true_proba = cfg, X, true_score, organic, q, \
            true_proba
        self.classes = score_to_class(true_score, cfg.scale)
        self.truth = float(100 * ((self.classes == 2).mean() - (self.classes == 0).mean()))


def synthetic_population(n: int, seed: int, rate: float, overrides: list[str], signal: float = 1.0) -> Population:
    syn = generate(n_customers=n, seed=seed, response_rate=rate, signal=signal)
    with tempfile.TemporaryDirectory(prefix="cxsurvey-") as tmp:
        write_tables(syn, tmp, "parquet")
        cfg = synthetic_config(DEMO_CONFIG, Path(tmp), MODEL_OVERRIDES + overrides)
        data = load_customers(cfg)
    X = FeatureManifest.fit(data.frame, cfg.features).transform(data.frame, source="synthetic")
    t = syn.truth.loc[X.index]
    f = data.frame
    age = f["age"].astype("float64").fillna(46).to_numpy()
    eta = (-1.55 + 0.7 * (f["channel"].astype("str") == "web").to_numpy() - 0.5 * (f["channel"].astype("str") ==
           "partner").to_numpy() + 0.03 * (age - 46) + 0.3 * np.log1p(f["tenure_months"].to_numpy(float) / 12))
    latent = t["latent"].to_numpy()
    p_det, p_pro = expit((6.5 - latent) / NOISE_SCALE), expit((latent - 8.5) / NOISE_SCALE)
    cfg = cfg.model_copy(update={"seed": seed})
    return Population(cfg, X, t["true_score"].to_numpy(float), data.is_respondent, expit(eta),
                      np.column_stack([p_det, 1 - p_det - p_pro, p_pro]))


class Telco(SuiteTelco):
    """The suite's telco tables and features, this benchmark's model settings, and the invitation answer chance:
    the suite's payment/tenure weights scaled to a 25% mean."""

    def __init__(self, overrides: list[str]):
        super().__init__(ROOT / "configs" / "telco.yaml")
        self.cfg = load_config(ROOT / "configs" / "telco.yaml", MODEL_OVERRIDES + overrides)
        w = TELCO_MECHANISMS["payment_tenure"](self.frame)
        self.q = np.minimum(1.0, 0.25 * w / w.mean())

    def population(self, seed: int) -> Population:
        organic = telco_respondents(self.order_ids, self.frame, seed, 0.03, "contract_age")
        return Population(self.cfg.model_copy(update={"seed": seed}), self.X, self.true_score, organic, self.q)


# --------------------------------------------------------------------------------------------- rounds
def run_arm(pop: Population, budget: int, active: bool, seed: int, rounds: int = ROUNDS) -> dict[str, Any]:
    """Rounds of inviting (actively or uniformly), answering and retraining; the figures after each round."""
    n = len(pop.X)
    cfg = pop.cfg.model_copy(update={"survey_design": pop.cfg.survey_design.model_copy(
        update={"first_round_response": round(float(pop.q.mean()), 2)})})
    # common random numbers: per customer and round, one number decides the invitation (invited if below pi) and
    # one the answer (if below q), the same in both arms; where both arms invite uniformly they invite the same
    # customers, so the comparison measures the design, not two unrelated draws
    invite_u, answer_u = np.random.default_rng([seed, 99]).random((2, rounds, n))
    observed = np.where(pop.organic, pop.true_score, np.nan)
    last_round, probability, counts = np.full(n, -1), np.zeros(n), {}
    rows = []
    stage = fit_nps_stage(pop.X, observed, cfg)
    for t in range(1, rounds + 1):
        eligible = np.flatnonzero(np.isnan(observed))
        proba = stage.predictions[PROBA_COLUMNS].to_numpy()[eligible]
        planned = planned_uniform = None
        design = {"design": "uniform (arm)", "design_gain": None}
        if active:
            q_hat, _ = answer_chance(cfg, stage.invited_response, stage.design,
                                     pop.X.iloc[eligible])
            plan = plan_round(proba, q_hat, n, budget, probe_share=cfg.survey_design.probe_share,
                              level=cfg.population.interval, var_now=stage.population.se ** 2, seed=seed,
                              round_number=t, min_design_gain=cfg.survey_design.min_design_gain,
                              residual_variance=stage.population.residual_variance)
            pi, planned = plan.probability, plan.half_width_after  # drawn below (Bernoulli(pi) like plan.invited)
            design = {"design": plan.summary()["design"], "design_gain": plan.design_gain,
                      "answer_chance_slope": stage.design.get("answer_chance_slope")}
            # what the same planner expects of a uniform round: active < uniform here but not in the realised
            # widths means the model's inputs (Var(d | x), the answer chance) misled the design
            uniform = np.full(len(eligible), min(1.0, budget / len(eligible)))
            planned_uniform = combined_half_width(stage.population.se ** 2, next_round_variance(
                uniform, np.clip(q_hat, MIN_RESPONSE, 1), design_variance(proba, stage.population.residual_variance),
                n), z_value(cfg.population.interval))
        else:
            pi = np.full(len(eligible), min(1.0, budget / len(eligible)))
        invited = invite_u[t - 1, eligible] < pi
        answered = invited & (answer_u[t - 1, eligible] < pop.q[eligible])
        last_round[eligible[invited]], probability[eligible[invited]] = t, pi[invited]
        counts[t] = int(invited.sum())
        observed[eligible[answered]] = pop.true_score[eligible[answered]]
        stage = fit_nps_stage(pop.X, observed, cfg, invitations=Invitations(last_round, probability, dict(counts)))
        p = stage.population
        half = (p.high - p.low) / 2
        rows.append({"round": t, "invited": int(invited.sum()), "answered": int(answered.sum()),
                     "estimate": p.estimate, "error": abs(p.estimate - pop.truth), "width": 2 * half,
                     "covers": bool(p.low <= pop.truth <= p.high), "planned_half_width": planned,
                     "planned_half_width_if_uniform": planned_uniform, **design,
                     "realised_half_width": half,
                     "planner_error": None if planned is None else abs(planned - half) / half})
    return {"rounds": rows, "silent": np.isnan(observed), "p_detractor": stage.predictions["p_detractor"].to_numpy()}


def oracle_width_ratio(pop: Population, budget: int, probe_share: float) -> float | None:
    """One round from the usual survey: width with the variance-optimal pi from the TRUE Var(d|x) and q, over
    the width with uniform pi (HT variance, module doc of estimation/design.py)."""
    if pop.true_proba is None:
        return None
    eligible = ~pop.organic
    tau2, q = answer_variance(pop.true_proba[eligible]), pop.q[eligible]
    plan = plan_round(pop.true_proba[eligible], q, len(pop.X), budget, probe_share=probe_share, min_design_gain=0.0)
    uniform = np.full(len(q), budget / len(q))
    return float(np.sqrt(np.sum((1 / (plan.probability * q) - 1) * tau2) / np.sum((1 / (uniform * q) - 1) * tau2)))


def paired_case(name: str, make, seeds: list[int], budget: int, started: float) -> dict[str, Any]:
    runs = []
    for seed in seeds:
        pop = make(seed)
        arms = {arm: run_arm(pop, budget, arm == "active", seed) for arm in ("uniform", "active")}
        both_silent = arms["active"]["silent"] & arms["uniform"]["silent"]
        is_det = pop.classes[both_silent] == 0
        auc = {arm: detractor_auc(is_det, a["p_detractor"][both_silent]) for arm, a in arms.items()}
        last = {arm: a["rounds"][-1] for arm, a in arms.items()}
        planner = [r["planner_error"] for r in arms["active"]["rounds"]]
        runs.append({"seed": seed, "truth": pop.truth, **{f"{k}_{arm}": last[arm][k] for arm in arms
                                                          for k in ("error", "width", "covers")},
                     **{f"auc_{arm}": auc[arm] for arm in arms}, "auc_active_minus_uniform": auc["active"] -
                     auc["uniform"], "planner_error_mean": float(np.mean(planner)),
                     "oracle_width_ratio": oracle_width_ratio(pop, budget, pop.cfg.survey_design.probe_share),
                     "rounds": {arm: a["rounds"] for arm, a in arms.items()}})
        print(f"[survey {time.perf_counter() - started:6.0f}s] {name} seed {seed}: width active "
              f"{last['active']['width']:.2f} uniform {last['uniform']['width']:.2f} | auc {auc['active']:.3f} vs "
              f"{auc['uniform']:.3f} | planner error {np.mean(planner):.3f}", file=sys.stderr, flush=True)
    means = summarise([{k: v for k, v in r.items() if k != "rounds" and v is not None} for r in runs])["mean"]
    model_based = [r["design"] == "model-based" for run in runs for r in run["rounds"]["active"]]
    return {"budget": budget, "seeds": seeds, "mean": means, "model_based_rounds": f"{sum(model_based)} of "
            f"{len(model_based)}", "width_ratio": means["width_active"] / means["width_uniform"], "runs": runs}


# world -> (the generator's signal, the usual survey's rate); clear: the design is model-based in most rounds
COVERAGE_WORLDS = {"typical": (1.0, 0.05), "clear": (5.0, 0.10)}


def coverage_case(replicates: int, started: float, signal: float = 1.0, rate: float = 0.05) -> dict[str, Any]:
    """Both arms on `replicates` small worlds (paired, common random numbers): coverage, and a width ratio
    precise enough to see a design gain of a few percent."""
    runs: dict[str, list] = {"active": [], "uniform": []}
    failures, model_based = [], []
    for seed in range(replicates):
        try:
            pop = synthetic_population(2_000, 10_000 + seed, rate, CHEAP, signal=signal)
            arms = {arm: run_arm(pop, 200, arm == "active", seed)["rounds"] for arm in runs}
        except Exception as e:  # a crash is a result: counted and named, never hidden
            failures.append(f"replicate {seed}: {type(e).__name__}: {e}")
            continue
        for arm, rounds in arms.items():
            runs[arm].append((rounds[-1]["covers"], rounds[-1]["width"], rounds[-1]["estimate"] - pop.truth))
        model_based += [r["design"] == "model-based" for r in arms["active"]]
        if seed % 20 == 0:
            print(f"[survey {time.perf_counter() - started:6.0f}s] coverage (signal {signal:g}) replicate {seed}: "
                  f"running coverage {np.mean([c for c, _, _ in runs['active']]):.3f}", file=sys.stderr, flush=True)

    def figures(rows: list) -> dict[str, float]:
        covers, widths, errors = (np.array(x, dtype=float) for x in zip(*rows))
        return {"coverage": float(covers.mean()),
                "coverage_binomial_sd": float(np.sqrt(covers.mean() * (1 - covers.mean()) / len(covers))),
                "mean_width": float(widths.mean()), "mean_error": float(errors.mean()),
                "se_of_mean_error": float(errors.std(ddof=1) / np.sqrt(len(errors))),
                "rmse": float(np.sqrt(np.mean(errors ** 2)))}

    active, uniform = figures(runs["active"]), figures(runs["uniform"])
    ratios = np.array([a[1] / u[1] for a, u in zip(runs["active"], runs["uniform"])])
    return {"replicates": len(runs["active"]), **active, "uniform": uniform,
            "width_ratio": active["mean_width"] / uniform["mean_width"],
            "width_ratio_paired_se": float(ratios.std(ddof=1) / np.sqrt(len(ratios))),
            "rmse_ratio": active["rmse"] / uniform["rmse"],
            "model_based_rounds": f"{sum(model_based)} of {len(model_based)}", "failures": failures,
            "setting": f"2,000 synthetic customers (signal {signal:g}), {rate:.0%} usual survey, 3 rounds of 200 "
                       "invitations, both arms paired; NPS model candidates: configured, 60 trees, 3 folds; response "
                       "model 50 trees, 3 folds"}


def plan_timing(n: int = 1_000_000) -> dict[str, Any]:
    """plan_round + required_budget on n customers, and scoring n rows with the NPS and invited-response models."""
    pop = synthetic_population(5_000, 0, 0.10, CHEAP)
    cfg = pop.cfg
    observed = np.where(pop.organic, pop.true_score, np.nan)
    invited = np.flatnonzero(~pop.organic)[:2_000]
    last_round = np.full(len(pop.X), -1)
    last_round[invited] = 1
    rng = np.random.default_rng(0)
    answered = invited[rng.random(len(invited)) < pop.q[invited]]
    observed[answered] = pop.true_score[answered]
    stage = fit_nps_stage(pop.X, observed, cfg.model_copy(update={"survey_design": cfg.survey_design.model_copy(
        update={"min_invited_for_model": 20})}), invitations=Invitations(last_round, np.where(last_round > 0, 0.5, 0),
                                                                         {1: len(invited)}))
    X = pop.X.iloc[rng.integers(0, len(pop.X), n)].reset_index(drop=True)
    start = time.perf_counter()
    proba = stage.nps.predict_frame(X)[PROBA_COLUMNS].to_numpy()
    q, _ = answer_chance(cfg, stage.invited_response, stage.design, X)
    score_s = time.perf_counter() - start
    start = time.perf_counter()
    plan = plan_round(proba, q, n, 20_000, var_now=1.0, seed=0)
    need = required_budget(proba, q, n, 1.0, var_now=4.0)
    design_s = time.perf_counter() - start
    return {"n": n, "score_s": score_s, "design_s": design_s, "total_s": score_s + design_s,
            "invited": int(plan.invited.sum()), "planner_invitations_for_1pt": need["invitations"],
            "invited_response_model": stage.invited_response is not None}


MAIN_CASES = ("synthetic_10k", "telco")  # the cases: the headline width ratio is their mean
CASES = {  # name -> (population for a seed, budget per round); CLEAR: a model sure of many customers' class
    "synthetic_10k": (lambda s: synthetic_population(10_000, s, 0.03, []), 500),
    "telco": (None, 400),
    "synthetic_clear_10k": (lambda s: synthetic_population(10_000, s, 0.03, [], signal=3.0), 500),
}


def summarise_parts(cases: dict[str, Any], coverage: dict[str, Any], timing: dict[str, Any] | None) -> dict:
    """The summary keys of the issue (module doc) over whatever parts were run; None where a part is missing."""
    main = [k for k in MAIN_CASES if k in cases]
    planner = [cases[k]["mean"]["planner_error_mean"] for k in main]
    oracle = {k: float(np.mean([r["oracle_width_ratio"] for r in c["runs"]])) for k, c in cases.items()
              if all(r["oracle_width_ratio"] is not None for r in c["runs"])}
    return {
        "width_ratio_vs_uniform": float(np.mean([cases[k]["width_ratio"] for k in main])) if main else None,
        "width_ratio_cases": main,
        "width_ratio_by_case": {k: c["width_ratio"] for k, c in cases.items()},
        "model_based_rounds_by_case": {k: c["model_based_rounds"] for k, c in cases.items()},
        "oracle_width_ratio_by_case": oracle,
        "coverage_active": coverage["typical"]["coverage"] if "typical" in coverage else None,
        "coverage_replicates": coverage["typical"]["replicates"] if "typical" in coverage else 0,
        "coverage_active_clear": coverage["clear"]["coverage"] if "clear" in coverage else None,
        "coverage_uniform_by_world": {w: c["uniform"]["coverage"] for w, c in coverage.items()},
        "width_ratio_by_world": {w: c["width_ratio"] for w, c in coverage.items()},
        "width_ratio_paired_se_by_world": {w: c["width_ratio_paired_se"] for w, c in coverage.items()},
        "rmse_ratio_by_world": {w: c["rmse_ratio"] for w, c in coverage.items()},
        "coverage_clear_replicates": coverage["clear"]["replicates"] if "clear" in coverage else 0,
        "coverage_paired_cases": {k: {arm: c["mean"][f"covers_{arm}"] for arm in ("active", "uniform")}
                                  for k, c in cases.items()},
        "auc_active_minus_uniform": float(np.mean([cases[k]["mean"]["auc_active_minus_uniform"] for k in main]))
        if main else None,
        "auc_active_minus_uniform_by_case": {k: c["mean"]["auc_active_minus_uniform"] for k, c in cases.items()},
        "planner_width_error": float(np.mean(planner)) if planner else None,
        "plan_s_1m": None if not timing else timing["total_s"] * (1_000_000 / timing["n"]),
        "plan_s_1m_measured_at": None if not timing else timing["n"],
    }


def write_result(out: Path, result: dict) -> dict:
    summary = summarise_parts(result["cases"], result["coverage"], result.get("timing"))
    verdicts = {k: {"value": summary[k], "target": text, "met": None if summary[k] is None else bool(ok(summary[k]))}
                for k, (text, ok) in TARGETS.items()}
    result = {"summary": summary, "verdicts": verdicts, **result}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=lambda o: None if o is None else float(o)) + "\n")
    tmp.replace(out)
    print(json.dumps({"summary": summary, "verdicts": verdicts}, indent=2))
    return result


def merge_parts(paths: list[Path], out: Path) -> dict:
    """One result from parts run side by side (--cases / --replicates 0 / --no-timing): cases are united."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    cases: dict[str, Any] = {}
    coverage: dict[str, Any] = {}
    for part in parts:
        for have, new, what in ((cases, part["cases"], "cases"), (coverage, part["coverage"], "coverage worlds")):
            clash = set(have) & set(new)
            if clash:
                raise SystemExit(f"--merge: {what} {sorted(clash)} appear in more than one part")
            have.update(new)
    pick = lambda key: next((part[key] for part in parts if part.get(key)), None)  # noqa: E731
    return write_result(out, {"quick": any(part["quick"] for part in parts), "cases": cases,
                              "coverage": coverage, "timing": pick("timing"),
                              "parts": [{"path": str(p), "seconds": part["seconds"],
                                         "load_average": part["load_average"]} for p, part in zip(paths, parts)],
                              "cores": os.cpu_count(), "z90": z_value(0.9),
                              "seconds": sum(part["seconds"] for part in parts)})


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="1 seed per case, 20 coverage replicates, 200k timing")
    ap.add_argument("--seeds", type=int, help="seeds of the paired cases (default 3; --quick 1)")
    ap.add_argument("--cases", nargs="*", choices=list(CASES), help="paired cases to run (default all; none: "
                                                                       "no case, a part for --merge)")
    ap.add_argument("--replicates", type=int, help="coverage replicates (default 300; --quick 20; 0: none)")
    ap.add_argument("--coverage-worlds", nargs="*", choices=list(COVERAGE_WORLDS),
                    help="coverage studies to run (default all)")
    ap.add_argument("--no-timing", action="store_true", help="skip plan_s_1m (a part for --merge)")
    ap.add_argument("--merge", type=Path, nargs="+", metavar="PART", help="merge part results into --out")
    args = ap.parse_args(argv)
    if args.merge:
        return merge_parts(args.merge, args.out)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    seeds = list(range(args.seeds or (1 if args.quick else 3)))
    replicates = args.replicates if args.replicates is not None else (20 if args.quick else 300)
    started = time.perf_counter()
    names = list(CASES) if args.cases is None else args.cases
    telco = Telco([]) if "telco" in names else None
    cases = {name: paired_case(name, CASES[name][0] or telco.population, seeds, CASES[name][1], started)
             for name in names}
    worlds = list(COVERAGE_WORLDS) if args.coverage_worlds is None else args.coverage_worlds
    coverage = {w: coverage_case(replicates, started, *COVERAGE_WORLDS[w]) for w in worlds} if replicates else {}
    timing = None if args.no_timing else plan_timing(200_000 if args.quick else 1_000_000)
    return write_result(args.out, {"quick": args.quick, "cases": cases, "coverage": coverage, "timing": timing,
                                   "load_average": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count(),
                                   "z90": z_value(0.9), "seconds": time.perf_counter() - started})


if __name__ == "__main__":
    main()
