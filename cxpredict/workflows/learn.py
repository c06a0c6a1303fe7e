"""Campaign learning: results + assignment log -> effects, uplift models, verdicts, a reviewed playbook, a new bundle.

The order of `learn` is the order of the argument: (1) validate and join the results (bad values exit 2 before
anything is written); (2) treated-minus-control effects per strategy, rule and strategy x segment, on every
outcome, with intervals and the minimum detectable effect; (3) one DR-learner per strategy on the primary
outcome, cross-fitted, with Qini curves and AUUC; (4) targeting compared at the playbook's capacities (by uplift,
by churn risk, by value at risk), each judged on the same doubly-robust pseudo-outcomes; (5) a multi-action
policy under capacity; (6) verdicts and the reviewed playbook with its diff; (7) the bundle extended with the
uplift models, so `score` ranks by expected uplift x value - cost. Every file appears together (StagedOutputs)
with learn.json last; the extended bundle is swapped in atomically just before.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxpredict import threads
from cxpredict.actions.playbook import Playbook, validate_columns
from cxpredict.actions.policy import greedy_policy, top_k
from cxpredict.actions.review import playbook_diff, playbook_yaml, reviewed_playbook
from cxpredict.actions.strategy import configured_playbook
from cxpredict.codes import as_text, code_labels, label_codes, positions
from cxpredict.columns import COLUMN_DOCS
from cxpredict.config import Config
from cxpredict.data.campaigns import CampaignData, load_campaign, mismatch_warnings
from cxpredict.data.customers import CustomerData, load_customers
from cxpredict.errors import ConfigError, InputError, did_you_mean
from cxpredict.estimation.effects import (
    BENEFIT_SIGN,
    RETIRE,
    auuc,
    effect_table,
    targeted_benefit,
    uplift_curve,
    verdicts,
)
from cxpredict.io.bundle import Bundle, extend_bundle
from cxpredict.io.outputs import StagedOutputs, write_json, write_table, write_text
from cxpredict.models.uplift import DRLearner, UpliftModels, fit_learners, uplift_features
from cxpredict.provenance import Timer, process_seconds, run_manifest, sha256_file

log = logging.getLogger(__name__)

REVIEWED_PLAYBOOK = "playbook.reviewed.yaml"
VALUE_KEPT = "value_kept"  # derived outcome: (1 - churned) x value, whose effect x treated = value saved


@dataclass
class LearnResult:
    out_dir: Path
    manifest: dict[str, Any]
    paths: dict[str, Path]
    bundle_path: Path | None
    verdicts: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- pieces
def _segment_column(cfg: Config, camp: CampaignData) -> str:
    """The strategy x segment column: one the assignment log recorded, so the reviewed playbook can use it."""
    col = cfg.campaign.segment_by
    if col not in camp.frame.columns:
        raise ConfigError(f"campaign.segment_by '{col}' is not a column of the assignment log"
                          f"{did_you_mean(col, camp.frame.columns)}; use one `score` records, e.g. segment or "
                          "risk_band (a playbook rule must be able to name it)")
    camp.frame[col] = as_text(camp.frame[col]).fillna("unknown")
    return col


def _rule_costs(playbook: Playbook, rules: pd.Series) -> np.ndarray:
    cost = {r.name: r.cost for r in playbook.rules}
    return rules.map(cost).fillna(0.0).to_numpy(dtype=float)


def _propensity(frame: pd.DataFrame) -> np.ndarray:
    """The design's treated share of each customer's rule (known from the assignment, not estimated)."""
    return frame.groupby("rule", observed=True)["treated"].transform("mean").to_numpy(dtype=float)


def fit_uplift(cfg: Config, frame: pd.DataFrame, features: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """One DR-learner per strategy with enough customers in both groups; out-of-fold uplift and pseudo-outcomes
    for every customer it was fitted on (columns uplift_oof, pseudo). The learners share one pool of
    single-threaded boosters (fit_learners: while the workers boost one strategy, this thread bins the next or
    predicts between steps, so no core waits), each strategy's rows taken only when its learner starts."""
    outcome, sign = cfg.campaign.outcome, BENEFIT_SIGN[cfg.campaign.outcome]
    oof = pd.DataFrame(index=frame.index, data={"uplift_oof": np.nan, "pseudo": np.nan})
    e = _propensity(frame)
    codes, names = pd.factorize(frame["strategy"], sort=True)  # groupby's order: sorted, missing left out
    usable = frame[outcome].notna().to_numpy() & (e > 0) & (e < 1)
    treated, y = frame["treated"].to_numpy(), sign * frame[outcome].to_numpy(dtype=float)
    fitted: dict[str, np.ndarray] = {}
    for j, strategy in enumerate(names):
        rows = np.flatnonzero((codes == j) & usable)
        t = treated[rows]
        if len(rows) < cfg.campaign.min_cell or t.sum() < 20 or (~t).sum() < 20:
            log.warning("learn: strategy '%s' has too few customers for an uplift model (%d)", strategy, len(rows))
            continue
        fitted[strategy] = rows
    tasks = ((DRLearner.from_config(cfg.campaign, cfg.seed), (features.iloc[rows], y[rows], treated[rows], e[rows]))
             for rows in fitted.values())
    models = dict(zip(fitted, fit_learners(tasks)))
    for strategy, rows in fitted.items():
        oof.iloc[rows, 0], oof.iloc[rows, 1] = models[strategy].oof_uplift_, models[strategy].pseudo_outcome_
    return models, oof


def compare_targeting(frame: pd.DataFrame, playbook: Playbook, level: float) -> pd.DataFrame:
    """At each capacity-limited action: benefit, value saved and cost of its `capacity` customers chosen by
    uplift, by churn risk and by value at risk (all among the action's tested customers, same pseudo-outcomes)."""
    rows, capacities = [], playbook.capacities()
    action = label_codes(frame["action"], list(capacities))  # one lookup, not a text column per action
    known = frame["pseudo"].notna().to_numpy()
    churn, value = frame["churn_prob"].to_numpy(dtype=float), frame["value"].to_numpy(dtype=float)
    rankers = {"uplift": frame["uplift_oof"].to_numpy(dtype=float), "churn_risk": churn, "value_at_risk": churn * value}
    pseudo, cost = frame["pseudo"].to_numpy(), frame["cost"].to_numpy()
    for j, (name, capacity) in enumerate(capacities.items()):
        pool = (action == j) & known
        if not pool.any():
            continue
        for ranker, score in rankers.items():
            chosen = top_k(score, capacity, pool)
            rows.append({"action": name, "capacity": capacity, "pool": int(pool.sum()), "ranked_by": ranker,
                         **targeted_benefit(chosen, pseudo, value, cost, level)})
    return pd.DataFrame(rows)


def multi_action_policy(frame: pd.DataFrame, features: pd.DataFrame, models: dict[str, Any], playbook: Playbook,
                        segment: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Best action per customer by expected uplift x value - cost under the strategies' capacities; a strategy
    is a candidate only in the segments it was tested on."""
    strategies = sorted(models)
    value = frame["value"].to_numpy(dtype=float)
    current = label_codes(frame["strategy"], strategies)  # -1: a strategy without a model
    oof = frame["uplift_oof"].to_numpy(dtype=float)
    workers, _ = threads.split(len(strategies))  # the strategies' predictions side by side (compiled, no GIL)
    predicted = threads.map_split(lambda s: models[s].predict(features), strategies, workers)
    uplift = np.column_stack([np.where(current == j, oof, p) for j, p in enumerate(predicted)])
    cost = np.array([np.mean([r.cost for r in playbook.rules if r.strategy == s] or [0.0]) for s in strategies])
    seg, segments = pd.factorize(frame[segment], use_na_sentinel=False)
    eligible = np.zeros((len(frame), len(strategies)), dtype=bool)
    for j in range(len(strategies)):  # the segments each strategy was tested on
        tested = np.zeros(len(segments), dtype=bool)
        tested[seg[current == j]] = True
        eligible[:, j] = tested[seg]
    caps = []
    for s in strategies:
        rule_caps = [r.capacity for r in playbook.rules if r.strategy == s]
        caps.append(None if any(c is None for c in rule_caps) else int(sum(rule_caps)))
    net = uplift * value[:, None] - cost[None, :]
    choice = greedy_policy(net, caps, eligible)
    names = [*strategies, "no-action"]
    picked = np.where(choice >= 0, choice, len(strategies))
    # a customer's own strategy keeps its text; one without a model (or missing) differs from any pick
    own = label_codes(frame["strategy"], names)
    current_net = np.where(current >= 0, net[np.arange(len(net)), np.maximum(current, 0)], 0.0)
    policy_net = np.where(choice >= 0, net[np.arange(len(net)), np.maximum(choice, 0)], 0.0)
    picked_text = code_labels(picked, names)
    table = pd.DataFrame({"customer_id": frame["customer_id"], "current_strategy": frame["strategy"].astype("str"),
                          "policy_strategy": picked_text, "expected_net_value": policy_net.round(4),
                          **{f"uplift_{s}": uplift[:, j].round(5) for j, s in enumerate(strategies)}})
    summary = {"expected_net_value_policy": float(policy_net.sum()),
               "expected_net_value_current": float(current_net.sum()),
               "changed_customers": int(((picked != own) | (own < 0)).sum()),
               "customers_per_strategy": pd.Series(picked_text).value_counts().to_dict()}
    return table, summary


def campaign_return(frame: pd.DataFrame, by_strategy: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: value saved (effect on value kept x treated), extra revenue, budget spent, return."""
    rows = []
    codes, names = pd.factorize(frame["strategy"], sort=True)  # groupby's order: sorted, missing left out
    treated_all, cost = frame["treated"].to_numpy(dtype=bool), frame["cost"].to_numpy(dtype=float)
    for j, strategy in enumerate(names):
        treated = treated_all & (codes == j)
        eff = by_strategy[(by_strategy["strategy"] == strategy)].set_index("outcome")
        n1 = int(treated.sum())
        saved = eff.loc[VALUE_KEPT, "effect"] * n1 if VALUE_KEPT in eff.index else np.nan
        saved_low = eff.loc[VALUE_KEPT, "low"] * n1 if VALUE_KEPT in eff.index else np.nan
        saved_high = eff.loc[VALUE_KEPT, "high"] * n1 if VALUE_KEPT in eff.index else np.nan
        revenue = eff.loc["revenue", "effect"] * n1 if "revenue" in eff.index else 0.0
        budget = float(cost[treated].sum())
        gain = (0.0 if np.isnan(saved) else saved) + (0.0 if np.isnan(revenue) else revenue)
        rows.append({"strategy": strategy, "treated": n1, "value_saved": saved, "value_saved_low": saved_low,
                     "value_saved_high": saved_high, "extra_revenue": revenue, "budget": budget,
                     "return_on_budget": (gain - budget) / budget if budget > 0 else np.nan})
    return pd.DataFrame(rows)


def survey_next(cfg: Config, camp: CampaignData, mode: str) -> pd.DataFrame | None:
    """The survey table plus answers collected during the campaign (the latest answer per customer wins).
    'control' adds only control customers' answers (untreated satisfaction), 'all' also treated ones."""
    if mode == "none" or "new_score" not in camp.outcomes:
        return None
    from cxpredict.data.tables import read_table

    sv = cfg.data.survey
    key = sv.key or cfg.data.key
    old = read_table(cfg.data_path(sv.path), cfg.data.read, column_types={key: "string"})
    new = camp.frame[camp.frame["new_score"].notna()]
    if mode == "control":
        new = new[~new["treated"]]
    rows = pd.DataFrame({key: new["customer_id"].astype("str"), sv.score: new["new_score"].round().astype("Int64")})
    if sv.answered_at:
        rows[sv.answered_at] = new["assigned_at"].astype("str") if "assigned_at" in new else pd.NA
    kept = old[~old[key].astype("str").isin(set(rows[key]))]
    return pd.concat([kept, rows], ignore_index=True)


# --------------------------------------------------------------------------------------------- the workflow
def learn(cfg: Config, bundle: Bundle, results: str | Path, assignments: str | Path | None, out: str | Path,
          feed_answers: str | None = None, data: CustomerData | None = None) -> LearnResult:
    """Learn from one campaign's results into `out` (see the module docstring for the steps and files)."""
    threads.use(cfg.n_jobs)
    out, started, timer = Path(out), time.perf_counter(), Timer(log, "learn")
    if (before := process_seconds()) is not None:  # interpreter start, imports, config and bundle reading
        timer.seconds["startup"] = before
    assignments = assignments or (cfg.resolve(cfg.campaign.assignments) if cfg.campaign.assignments else None)
    if assignments is None:
        raise ConfigError("learn needs the assignment log `score` wrote (assignments.csv beside the scored "
                          "file): pass --assignments FILE or set campaign.assignments")
    playbook = configured_playbook(cfg.resolved_strategy(), cfg.absent_stages(), bundle.path)
    if playbook is None:
        raise ConfigError("learn needs the playbook the campaign ran (strategy.playbook or the bundle's copy)")
    c = cfg.campaign
    with threads.workers(1) as side:
        # the customers' behaviour (most of the reading) loads on a second core while this thread reads the
        # results and computes the effects, which do not need it; waited for in `features`
        behaviour = side.submit(load_customers, _behaviour_only(cfg)) if data is None and threads.count() > 1 \
            else None
        with timer("load"):
            camp = load_campaign(cfg, results, assignments)
            if data is None and behaviour is None:
                data = load_customers(_behaviour_only(cfg))
            frame = camp.frame
            segment = _segment_column(cfg, camp)
            frame["cost"] = _rule_costs(playbook, frame["rule"])
            outcomes = list(camp.outcomes)
            if "churned" in outcomes and "value" in frame.columns:
                frame[VALUE_KEPT] = (1 - frame["churned"]) * pd.to_numeric(frame["value"], errors="coerce")
                outcomes.append(VALUE_KEPT)
        with timer("effects"):
            args = dict(level=c.interval, power=c.power, contacted=camp.has_contacted)
            by_strategy = effect_table(frame, outcomes, ["strategy"], **args)
            by_rule = effect_table(frame, outcomes, ["strategy", "rule"], **args)
            by_segment = effect_table(frame, outcomes, ["strategy", segment], **args)
            primary = lambda t: t[t["outcome"] == c.outcome].reset_index(drop=True)  # noqa: E731
            strategy_v = verdicts(primary(by_strategy), c.min_effect, c.min_cell, c.interval, c.power)
            segment_v = verdicts(primary(by_segment), c.min_effect, c.min_cell, c.interval, c.power)
        with timer("features"):
            data = behaviour.result() if behaviour is not None else data
            frame, features = _with_features(camp, frame, data, bundle, assignments)
    with timer("uplift"):
        models, oof = fit_uplift(cfg, frame, features)
        frame[oof.columns] = oof.to_numpy()
        qini, areas = _qini(frame, models, c.interval)
    with timer("targeting"):
        targeting = compare_targeting(frame, playbook, c.interval)
        policy, policy_summary = multi_action_policy(frame, features, models, playbook, segment) if models \
            else (pd.DataFrame(), {})
        returns = campaign_return(frame, by_strategy)
    with timer("review"):
        reviewed = reviewed_playbook(playbook, strategy_v, segment_v, segment)
        validate_columns(reviewed, [*COLUMN_DOCS, "segment_class", segment, *playbook.columns_used()],
                         source="reviewed playbook")
        answers = survey_next(cfg, camp, feed_answers or c.feed_answers)
        all_verdicts = pd.concat([strategy_v.assign(level="strategy"), segment_v.assign(level="segment")],
                                 ignore_index=True)
        effects = pd.concat([by_strategy.assign(level="strategy"), by_rule.assign(level="rule"),
                             by_segment.assign(level="segment")], ignore_index=True)
        summary = {"customers": len(camp.frame), "with_features": len(frame), "outcomes": outcomes,
                   "primary_outcome": c.outcome, "contacted_given": camp.has_contacted, "mismatches": camp.mismatches,
                   "verdicts": {r.strategy: r.verdict for r in strategy_v.itertuples()},
                   "retired_segments": [f"{r.strategy}|{getattr(r, segment)}" for r in segment_v.itertuples()
                                        if r.verdict == RETIRE],
                   "auuc": areas.to_dict(orient="records"), "policy": policy_summary,
                   "targeting": targeting.to_dict(orient="records"), "return": returns.to_dict(orient="records")}
        tables = {"effects": effects, "verdicts": all_verdicts, "qini": qini, "auuc": areas, "targeting": targeting,
                  "policy": policy, "campaign_return": returns}
        if answers is not None:
            tables["survey_next"] = answers
    paths, manifest, bundle_path = _write(cfg, bundle, out, tables, playbook, reviewed, summary, results,
                                          assignments, camp, models, features, timer, started)
    return LearnResult(out_dir=out, manifest=manifest, paths=paths, bundle_path=bundle_path, verdicts=all_verdicts,
                       summary=summary)


def _behaviour_only(cfg: Config) -> Config:
    """The config without its survey and outcomes tables: learn needs the customers' behaviour as of the scoring
    date (the bundle's inputs), never their labels, whose reading and matching was a good part of its load."""
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={"survey": None, "outcomes": None})})


def _with_features(camp: Any, frame: pd.DataFrame, data: CustomerData, bundle: Bundle, assignments: str | Path
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The assigned customers found in the customer data (the others counted as mismatches) and their uplift
    features: the bundle's model matrix plus the scores recorded at assignment time."""
    position = positions(frame["customer_id"], data.frame.index)  # Arrow's hash join: pandas' is 3x slower
    known = position >= 0
    if not known.all():
        camp.mismatches["no_features"] = {"count": int((~known).sum()),
                                          "examples": frame.loc[~known, "customer_id"].head(5).tolist()}
    if not known.any():
        raise InputError(f"no customer of the assignment log {assignments} is in the config's customer data "
                         f"(e.g. {frame['customer_id'].head(3).tolist()}): learn reads their features "
                         "from data.* as of the scoring date; point the config at the data that was scored")
    for warning in mismatch_warnings(camp):  # learn.json counts them too; a scheduler's log must show them
        log.warning("learn: %s", warning)
    if not known.all():
        frame, position = frame[known].reset_index(drop=True), position[known]
    inputs = [c for c in data.frame.columns if c in set(bundle.manifest.names)]  # no copy of unused columns
    X = bundle.manifest.transform(data.frame[inputs].iloc[position], source="customer data")
    return frame, uplift_features(X, frame).reset_index(drop=True)


def _qini(frame: pd.DataFrame, models: dict[str, Any], level: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Qini curve and the area under it (AUUC) of each strategy's out-of-fold uplift."""
    qini, areas = [], []
    codes = label_codes(frame["strategy"], list(models))
    known = frame["pseudo"].notna().to_numpy()
    uplift, pseudo = frame["uplift_oof"].to_numpy(), frame["pseudo"].to_numpy()
    for j, strategy in enumerate(models):
        rows = (codes == j) & known
        curve = uplift_curve(uplift[rows], pseudo[rows], level=level)
        qini.append(curve.assign(strategy=strategy))
        areas.append({"strategy": strategy, "customers": int(rows.sum()), **auuc(uplift[rows], pseudo[rows], level)})
    return (pd.concat(qini, ignore_index=True) if qini else pd.DataFrame()), pd.DataFrame(areas)


def _write(cfg: Config, bundle: Bundle, out: Path, tables: dict[str, pd.DataFrame], playbook: Any, reviewed: Any,
           summary: dict[str, Any], results: str | Path, assignments: str | Path, camp: Any, models: dict[str, Any],
           features: pd.DataFrame, timer: Timer, started: float
           ) -> tuple[dict[str, Path], dict[str, Any], Path | None]:
    """Every file of `learn`, published together: the tables, the reviewed playbook and its diff, the bundle
    extended with the uplift models, learn.json last. Returns (paths, the manifest, the new bundle or None)."""
    c = cfg.campaign
    paths: dict[str, Path] = {}
    manifest_path, bundle_path = out / "learn.json", None
    with StagedOutputs() as staged:
        with timer("write"):  # every file but learn.json, which records this time
            for name, table in tables.items():
                paths[name] = out / f"{name}.csv"
                write_table(table, staged.path(paths[name]))
            paths["reviewed_playbook"] = out / REVIEWED_PLAYBOOK
            header = (f"Reviewed by `cxpredict learn` from {Path(results).name} ({len(camp.frame)} assigned "
                      f"customers).\nCheck it with: cxpredict playbook check {REVIEWED_PLAYBOOK} "
                      "--scored <scored file>")
            write_text(playbook_yaml(reviewed, header), staged.path(paths["reviewed_playbook"]))
            paths["playbook_diff"] = out / "playbook.diff"
            write_text(playbook_diff(playbook, reviewed, "playbook.yaml", REVIEWED_PLAYBOOK) or "(no change)\n",
                       staged.path(paths["playbook_diff"]))
            if models:
                components = {"uplift": UpliftModels(models, c.outcome, BENEFIT_SIGN[c.outcome],
                                                     list(features.columns))}
                learned_from = {"results": str(results), "assignments": str(assignments)}
                bundle_path = extend_bundle(bundle, out / "model", components, {"learned_from": learned_from})
            fingerprints = {"results": sha256_file(results)[:16], "assignments": sha256_file(assignments)[:16]}
            outputs = {k: {"path": str(p), "sha256": sha256_file(staged.path(p))} for k, p in paths.items()}
        process = process_seconds()
        manifest = run_manifest("learn", cfg, fingerprints, status="ok", summary=summary,
                                bundle={"source": str(bundle.path), "source_content_hash": bundle.content_hash,
                                        "extended": str(bundle_path) if bundle_path else None},
                                outputs=outputs,
                                timings={**timer.seconds, "total": round(time.perf_counter() - started, 3),
                                         **({"process": process} if process is not None else {})})
        write_json(manifest, staged.path(manifest_path))
        staged.commit(last=(manifest_path,))
    paths["manifest"] = manifest_path
    return paths, manifest, bundle_path
