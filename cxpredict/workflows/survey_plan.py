"""`cxpredict survey-plan`: whom to invite next, from a trained bundle and the config's data.

Reads the customers, scores them with the bundle, and asks estimation/design.py for the next round's inclusion
probabilities (every customer without an answer is eligible; a customer invited before who stayed silent may be
invited again), a seeded Poisson draw and, with a target half-width, the budget it needs. Writes the invitation
log (`--out`, CSV or Parquet: one row per invited customer with the round, the reason, the inclusion probability
and the expected answer chance) and survey_plan.json beside it, together and complete or not at all. The log is
what `data.invitations` reads back at the next training.

The answer chance of an invited customer comes from the bundle's invited-response model (trained from earlier
logs; shrunk by its calibration slope, estimation/design.py), else the answer rate of earlier invitations, else
survey_design.first_round_response. Today's variance comes from the bundle's population estimate (metrics.json),
overall and per segment.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxpredict import threads
from cxpredict.config import Config, check_number
from cxpredict.data.customers import load_customers
from cxpredict.data.invitations import EXPECTED, PROBABILITY, REASON, ROUND, load_invitations
from cxpredict.errors import ConfigError
from cxpredict.estimation.design import SurveyPlan, plan_round, required_budget, shrink_answer_chance
from cxpredict.estimation.segments import segment_labels
from cxpredict.io.bundle import Bundle
from cxpredict.io.outputs import StagedOutputs, write_json, write_table
from cxpredict.provenance import run_manifest
from cxpredict.workflows.score import check_compatible

log = logging.getLogger(__name__)

PLAN_NAME = "survey_plan.json"
PROBA_COLUMNS = ["p_detractor", "p_passive", "p_promoter"]


@dataclass
class PlanResult:
    invites_path: Path | None  # None when nobody is to be invited
    plan_path: Path
    plan: dict[str, Any]
    invites: pd.DataFrame


def answer_chance(cfg: Config, model: Any, design: dict[str, Any], X: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Each customer's chance of answering an invitation, and where it comes from (the module doc's order).

    design: the bundle's survey_design metrics (answer_rate, answer_chance_slope; {} before any invitation)."""
    rate = design.get("answer_rate")
    if model is not None:
        slope = float(design.get("answer_chance_slope", 1.0))
        return (shrink_answer_chance(model.predict_proba(X)[:, 1], rate, slope),
                f"the bundle's invited-response model, shrunk toward the answer rate {rate:.0%} of earlier "
                f"invitations by its calibration slope {slope:.2f}")
    if rate:
        return np.full(len(X), float(rate)), "the answer rate of earlier invitations"
    rate = cfg.survey_design.first_round_response
    return np.full(len(X), rate), f"survey_design.first_round_response ({rate:.0%}, no invitation log yet)"


def _variances_now(bundle: Bundle) -> tuple[float | None, dict[tuple[str, str], float], float]:
    """Today's variance (points^2) overall and per (column, level), and the interval level, from metrics.json."""
    pop = bundle.metrics.get("population_nps") or {}
    se = pop.get("se")
    per_segment = {(r["column"], r["level"]): r["se"] ** 2 for r in pop.get("segments", []) if r.get("se")}
    return (None if se is None else se ** 2), per_segment, float(pop.get("level", bundle.config.population.interval))


def survey_plan(cfg: Config, bundle: Bundle, out: str | Path, budget: float | None = None,
                target_half_width: float | None = None, seed: int | None = None) -> PlanResult:
    """Plan and draw the next round into `out` (+ survey_plan.json beside it); see the module doc."""
    threads.use(cfg.n_jobs)
    out = Path(out)
    budget, target_half_width = _checked_request(cfg, bundle, out, budget, target_half_width)
    seed = cfg.seed if seed is None else seed
    data = load_customers(cfg)
    invitations = load_invitations(cfg, data.frame.index)  # a bad earlier log: exit 2 before anything is written
    for warning in [*data.report.warnings, *invitations.warnings]:
        log.warning(warning)
    round_number = invitations.next_round
    X = bundle.manifest.transform(data.frame, source="survey-plan data")
    proba = bundle.nps.predict_frame(X)[PROBA_COLUMNS].to_numpy()
    eligible = ~data.is_respondent
    q_all, q_source = answer_chance(cfg, bundle.get("invited_response"), bundle.metrics.get("survey_design") or {},
                                    X)
    var_now, seg_var_now, level = _variances_now(bundle)

    columns, labels, sizes = _segments(cfg, data.frame)
    n = len(X)
    probe, min_gain = cfg.survey_design.probe_share, cfg.survey_design.min_design_gain
    residual = (bundle.metrics.get("population_nps") or {}).get("residual_variance")
    planner = None
    if target_half_width is not None:
        needed = functools.partial(required_budget, proba[eligible], q_all[eligible], probe_share=probe, level=level,
                                   min_design_gain=min_gain, residual_variance=residual)
        planner = {"overall": needed(n, target_half_width, var_now=var_now),
                   "segments": [{**needed(sizes[(c, str(v))], target_half_width,
                                          var_now=seg_var_now.get((c, str(v))), members=labels[c][eligible] == v),
                                 "column": c, "level": str(v)} for c in columns for v in np.unique(labels[c])]}
        if budget is None:
            budget = planner["overall"]["invitations"]
    if budget > eligible.sum():  # documented: a warning, and the plan invites everyone who can still answer
        log.warning("survey-plan --budget %g is more than the %d customers who have not answered yet: every one of "
                    "them is invited (about %d invitations, not %g)", budget, eligible.sum(), eligible.sum(), budget)
    plan: SurveyPlan | None = None
    if budget and budget > 0:
        plan = plan_round(proba[eligible], q_all[eligible], n, budget, probe_share=probe, level=level,
                          var_now=var_now, segments={c: labels[c][eligible] for c in columns},
                          segment_targets=cfg.survey_design.segment_targets, segment_var_now=seg_var_now,
                          segment_sizes=sizes, seed=seed, round_number=round_number, min_design_gain=min_gain,
                          residual_variance=residual)
    ids = data.frame.index[eligible]
    chosen = plan.invited if plan is not None else np.zeros(int(eligible.sum()), dtype=bool)
    invites = pd.DataFrame({
        cfg.data.key: pd.array(ids[chosen].astype("str"), dtype="str"),
        ROUND: np.full(int(chosen.sum()), round_number, dtype=np.int64),
        REASON: pd.array(plan.reason[chosen] if plan is not None else [], dtype="str"),
        PROBABILITY: plan.probability[chosen] if plan is not None else np.zeros(0),
        EXPECTED: q_all[eligible][chosen],
        "answer_sd": np.sqrt(plan.answer_variance[chosen]) if plan is not None else np.zeros(0),
    })
    summary = {
        "round": round_number, "seed": seed, "draw": "Poisson (independent Bernoulli(inclusion_probability))",
        "probe_share": probe, "answer_chance_source": q_source, "n_customers": n,
        "n_respondents": int((~eligible).sum()), "earlier_rounds": invitations.rounds,
        "segment_targets": cfg.survey_design.segment_targets,
        "plan": plan.summary() if plan is not None else None,
        "planner": planner,
    }
    record = run_manifest("survey_plan", cfg, {n: t["fingerprint"] for n, t in data.report.tables.items()},
                          bundle={"path": str(bundle.path), "content_hash": bundle.content_hash},
                          outputs={"invitations": str(out)}, **summary)
    plan_path = out.with_name(PLAN_NAME)
    with StagedOutputs() as staged:
        if len(invites):  # nobody to invite (the target is met already): no log, survey_plan.json says why
            write_table(invites, staged.path(out))
        write_json(record, staged.path(plan_path))
        staged.commit(last=(plan_path,))
    log.info("survey plan round %d: %d invitations (expected %s answers) into %s", round_number, len(invites),
             "-" if plan is None else f"{plan.expected_answers:.0f}", out)
    return PlanResult(invites_path=out if len(invites) else None, plan_path=plan_path, plan=record, invites=invites)


def _checked_request(cfg: Config, bundle: Bundle, out: Path, budget: float | None,
                     target_half_width: float | None) -> tuple[float | None, float | None]:
    """The request checked before any work: the log's format, a budget or a target (finite, positive), a bundle
    with an NPS model on the config's scale. Returns (budget, target_half_width)."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ConfigError(f"survey-plan --out {out}: use a .csv or .parquet file for the invitation log")
    if budget is None and target_half_width is None:
        raise ConfigError("survey-plan: give --budget N (invitations to send) or --target-halfwidth H (points), "
                          "or both")
    budget = check_number("--budget", budget, "500", gt=0)
    target_half_width = check_number("--target-halfwidth", target_half_width, "3", gt=0)
    check_compatible(cfg, bundle)
    if bundle.nps is None:
        raise ConfigError(f"survey-plan: the bundle {bundle.path} has no NPS model ({bundle.skipped.get('nps')}), and "
                          "the plan invites where the NPS model is least sure; a first survey round is a random "
                          "sample of the customers. Train with data.survey to plan the next rounds.")
    return budget, target_half_width


def _segments(cfg: Config, frame: pd.DataFrame
              ) -> tuple[list[str], dict[str, np.ndarray], dict[tuple[str, str], int]]:
    """The segment columns of the plan (population.segments and survey_design.segment_targets), each customer's
    label per column, and the customers per (column, label)."""
    columns = list(dict.fromkeys([*cfg.population.segments, *cfg.survey_design.segment_targets]))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"survey_design.segment_targets / population.segments name columns not in the behaviour "
                          f"data: {missing}; available columns include {list(frame.columns)[:10]}")
    labels = {c: segment_labels(frame[c]) for c in columns}
    sizes = {(c, str(v)): int(n) for c in columns for v, n in zip(*np.unique(labels[c], return_counts=True))}
    return columns, labels, sizes


def plan_lines(record: dict) -> list[str]:
    """What survey-plan prints: the round, the draw by reason, the expected interval, the planner's answer."""
    lines = []
    plan, planner = record.get("plan"), record.get("planner")
    level = f"{100 * ((plan or {}).get('interval') or 0.9):.0f}%"
    if plan:
        by = plan["invited_by_reason"]
        now = plan["half_width_now"]
        lines.append(f"round {record['round']}: {plan['n_invited']} invitations (budget {plan['budget']:.0f}: "
                     f"{by['probe']} probe, {by['model']} model-based, {by['segment_target']} for segment targets), "
                     f"about {plan['expected_answers']:.0f} answers expected")
        lines.append(f"design: {plan['design_text']}")
        lines.append(f"population NPS {level} interval: +-{now:.2f} points now, +-{plan['half_width_after']:.2f} "
                     "expected after this round" if now is not None else
                     f"population NPS {level} interval: +-{plan['half_width_after']:.2f} expected after this round")
        lines += [f"note: {n}" for n in plan["notes"]]
    if planner:
        o = planner["overall"]
        reach = "" if o["reachable"] else " (not reachable in one round: these are the figures of inviting everyone)"
        if o["invitations"] == 0:
            reach = f" (met already: +-{o['half_width_now']:.2f} now; no invitation log written)"
        lines.append(f"for +-{o['target_half_width']:g} points: {o['invitations']} invitations, about "
                     f"{o['answers']:.0f} answers{reach}")
        for s in planner["segments"]:
            flag = "" if s["reachable"] else " (not reachable in one round)"
            lines.append(f"  {s['column']}={s['level']}: {s['invitations']} invitations, about {s['answers']:.0f} "
                         f"answers{flag}")
    return lines
