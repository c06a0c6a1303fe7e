"""The report's sections after the summary. Each takes the run's files (runfiles.RunFiles) and the display style
(currency, business labels) and returns HTML; a missing input gives a visible "not available" note, never an error.
Every figure says whom it is about and how it is counted: respondents or population, weighted or unweighted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxpredict.analyst import plots
from cxpredict.analyst.html import (
    esc,
    finite,
    fmt,
    img,
    kv,
    missing,
    note,
    p,
    pct,
    points,
    scope,
    table,
)
from cxpredict.columns import COLUMNS
from cxpredict.io.people import rank_drivers
from cxpredict.io.runfiles import RunFiles
from cxpredict.io.sheets import PeopleStyle


def respondent_mask(run: RunFiles) -> np.ndarray | None:
    if run.scored is None or "is_respondent" not in run.scored.columns:
        return None
    flag = run.scored["is_respondent"]
    if pd.api.types.is_string_dtype(flag):
        flag = flag.str.lower().isin(["true", "1", "yes"])
    return flag.fillna(False).astype(bool).to_numpy()


# --------------------------------------------------------------------------------------------- population NPS
def _estimate(pop: dict, *keys: str) -> tuple[float | None, float | None, float | None]:
    """(estimate, low, high) from the first key present: a number (with `<key>_low/_high` or ipw_low-style
    siblings) or a nested {"estimate", "low", "high"} dict. population.json grows fields; read what exists."""
    for key in keys:
        value = pop.get(key)
        if isinstance(value, dict):
            est = value.get("estimate", value.get("nps"))
            if finite(est):
                return float(est), value.get("low"), value.get("high")
        elif finite(value):
            if key == "estimate":
                return float(value), pop.get("low"), pop.get("high")
            stem = key.removesuffix("_respondent_nps").removesuffix("_nps")
            return float(value), pop.get(f"{stem}_low"), pop.get(f"{stem}_high")
    return None, None, None


ESTIMATES = (  # (label, scope, keys in population.json, newest names first)
    ("Headline estimate", ("population", "model + weighted respondents' answers"), ("headline", "aipw", "estimate")),
    ("Model only", ("population", "answers + predictions for the silent, unweighted"),
     ("model_only", "model_only_nps")),
    ("Weighted respondents (Hajek)", ("respondents weighted to the population",),
     ("hajek", "hajek_nps", "ipw_respondent_nps")),
    ("Respondents as they answered", ("respondents", "unweighted"), ("naive", "naive_respondent_nps")),
)


def population_rows(pop: dict) -> list[tuple[str, str, float | None, float | None, float | None]]:
    rows = []
    for label, where, keys in ESTIMATES:
        est, low, high = _estimate(pop, *keys)
        if est is not None and not any(r[2] == est and r[3] == low for r in rows):
            rows.append((label, " · ".join(where), est, low, high))
    return rows


def section_population(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("Net Promoter Score (promoters minus detractors, in points from -100 to +100) of ALL customers, "
               "not only of those who answered. The headline combines every customer's predicted answer with the "
               "respondents' real answers, weighted so that respondents stand for the customers who look like "
               "them. The interval is the range the true value lies in with the stated confidence, if response "
               "depends only on behaviour we can see.")]
    pop = run.population
    if not pop:
        if run.scored is not None and respondent_mask(run) is not None:
            parts.append(missing("population NPS interval", "population.json from training"))
            return "".join(parts) + kv([(k, points(v)) for k, v in nps_from_scored(run).items()])
        return "".join(parts) + missing("population NPS", "population.json or the scored file")
    level = pop.get("level", pop.get("interval", 0.9))
    pop = {**pop, **(pop.get("estimators") or {})}  # aipw / hajek / model_only / naive, each {estimate, low, high}
    rows = population_rows(pop)
    parts.append(img(plots.nps_estimates([(r[0], r[2], r[3], r[4]) for r in rows]),
                     f"Population NPS: the headline with its {100 * level:.0f}% interval, beside simpler estimates"))
    parts.append(kv([(label, f"{points(est)} ({fmt(low)} to {fmt(high)}) {scope(where)}" if finite(low)
                      else f"{points(est)} {scope(where)}") for label, where, est, low, high in rows]))
    method = pop.get("method_text") or pop.get("headline_method") or pop.get("method")
    if isinstance(method, str):
        parts.append(note(f"Method: {method}"))
    if pop.get("no_signal"):
        parts.append(note("No signal: the NPS model ranked held-out respondents no better than chance, so the "
                          "headline is the weighted respondents' NPS and per-customer classes are guesses "
                          "(class_reliable is false in the scored file)."))
    parts.append(_segments(pop, style))
    parts.append(_sensitivity(pop))
    parts.extend(note(n) for n in pop.get("notes", [])[:2])
    return "".join(parts)


def nps_from_scored(run: RunFiles) -> dict[str, float]:
    """Naive and 'Model only' NPS straight from the scored file (no interval) when population.json is absent:
    the figures of the manifest's nps (respondents_naive, model_only), computed the same way."""
    s, resp = run.scored, respondent_mask(run)
    obs = s["observed_class"].astype("str")
    naive = 100 * ((obs[resp] == "promoter").mean() - (obs[resp] == "detractor").mean()) if resp.any() else np.nan
    contrib = np.where(resp, (obs == "promoter").astype(float) - (obs == "detractor").astype(float),
                       s["p_promoter"].to_numpy(float) - s["p_detractor"].to_numpy(float))
    return {"respondents as they answered (unweighted)": float(naive),
            "Model only (all customers: answers + predictions for the silent, unweighted, no interval)":
                float(100 * contrib.mean())}


def _segments(pop: dict, style: PeopleStyle) -> str:
    seg = pd.DataFrame(pop.get("segments") or [])
    if seg.empty or "estimate" not in seg.columns:
        return missing("segment NPS", "population.segments in the config, population.json")
    seg["label"] = [f"{style.label(c)}: {style.label(v)}" for c, v in zip(seg.get("column", ""), seg.get("level", ""))]
    if "estimators" in seg.columns:  # each segment carries every estimator; the respondents' own NPS is 'naive'
        seg["naive_respondent_nps"] = [e.get("naive", {}).get("estimate") if isinstance(e, dict) else None
                                       for e in seg["estimators"]]
    out = img(plots.segment_nps(seg), "NPS per segment (all customers of the segment) with its interval")
    cols = {"label": "Segment", "n_customers": "Customers", "n_respondents": "Respondents", "estimate": "NPS",
            "low": "Low", "high": "High", "naive_respondent_nps": "Respondents as they answered"}
    shown = seg[[c for c in cols if c in seg.columns]].rename(columns=cols)
    return out + table(shown, {"NPS": points, "Respondents as they answered": points}) + note(
        "NPS, Low and High: population (all customers of the segment), weighted. The last column: respondents "
        "only, unweighted. Segments with few respondents rest mostly on predictions.")


TIPPING_LABELS = {
    "interval_reaches_zero": "Gamma at which the interval reaches zero (1: it already does)",
    "down_5_points": "Gamma that would lower the NPS by 5 points (more hidden detractors among the silent)",
    "up_5_points": "Gamma that would raise the NPS by 5 points (fewer hidden detractors)",
}


def _sensitivity(pop: dict) -> str:
    """The MNAR sensitivity curve over Gamma and its tipping points, when population.json has them."""
    found = next((pop[k] for k in ("sensitivity", "mnar_sensitivity", "mnar") if pop.get(k)), None)
    if not found:
        return ""
    curve = found.get("curve", found.get("points")) if isinstance(found, dict) else found
    parts = [p("What if unhappy customers answer more or less often than their behaviour explains (a bias no "
               "data can show)? Gamma is how much more likely: 1 means no hidden bias. The curve shows the NPS the "
               "data would imply for each Gamma; a tipping point is the Gamma at which a conclusion would flip.")]
    frame = pd.DataFrame(curve) if isinstance(curve, list) else pd.DataFrame()
    if "gamma" in frame.columns:
        parts.append(img(plots.sensitivity(frame), "NPS under hidden response bias (Gamma)"))
        headers = {"gamma": "Gamma (hidden bias)", "estimate": "NPS", "low": "Interval, low", "high": "Interval, high"}
        parts.append(table(frame.rename(columns=headers), {h: points for h in list(headers.values())[1:]}, digits=2,
                           max_rows=12))
    tipping = found.get("tipping_points", found.get("tipping")) if isinstance(found, dict) else None
    if isinstance(tipping, dict):
        span = found.get("tipping_range", ["", ""])
        parts.append(kv([(TIPPING_LABELS.get(str(k), str(k)),
                          esc(fmt(v, 2)) if finite(v) else f"not within Gamma {span[0]} to {span[1]}")
                         for k, v in tipping.items()]))
    elif isinstance(tipping, list) and tipping:
        parts.append(table(pd.DataFrame(tipping), digits=2))
    return f"<h3>Hidden response bias</h3>{''.join(parts)}"


# --------------------------------------------------------------------------------------------- trend
def history_frame(run: RunFiles) -> pd.DataFrame:
    rows = []
    for m in run.history:
        nps = m.get("nps") or {}
        # model_based / class_shares: the names of manifests before expected shares (predictions only)
        value = nps.get("model_only", nps.get("model_based"))
        if finite(value):
            rows.append({"as_of": str(m.get("as_of") or m.get("created_at", ""))[:10], "nps": value,
                         **(nps.get("expected_shares") or nps.get("class_shares") or {}),
                         "respondents_naive": nps.get("respondents_naive"),
                         "created_at": m.get("created_at")})
    return pd.DataFrame(rows)


def section_trend(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("How the scored population moves from run to run (one point per as-of date: the latest run of "
               "that day). NPS here is 'Model only' and the shares are the expected shares: each respondent's "
               "answer and each silent customer's predicted probabilities, unweighted, no interval.")]
    hist = history_frame(run)
    if len(hist) < 2:
        return "".join(parts) + missing("trend across runs", "manifests of earlier runs of this config in "
                                        "history/ beside manifest.json; the trend starts with the next run")
    parts.append(img(plots.trend(hist), "Population NPS (model only) and expected class shares across runs"))
    shown = hist.rename(columns={"as_of": "As of", "nps": "NPS (model-based)", "detractor": "Detractors",
                                 "passive": "Passives", "promoter": "Promoters",
                                 "respondents_naive": "Respondents as they answered"}).drop(columns="created_at")
    return "".join(parts) + table(shown, {"NPS (model-based)": points, "Detractors": pct, "Passives": pct,
                                          "Promoters": pct, "Respondents as they answered": points})


# --------------------------------------------------------------------------------------------- drivers
def driver_ranking(run: RunFiles, style: PeopleStyle) -> pd.DataFrame | None:
    """The one ranking (io.people.rank_drivers) with business labels; None without the key-driver tables."""
    if "kda_global" not in run.tables:
        return None
    ranked = rank_drivers(run.tables)
    ranked["label"] = ranked["driver"].astype(str).map(style.label)
    ranked["points"] = ranked["detractor_points_if_fixed"].astype(float)
    ranked["actionable"] = ranked["actionable"].astype(str).str.lower().isin(["true", "1"])
    return ranked


def section_drivers(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("What pushes customers towards dissatisfaction, ranked ONE way everywhere (this chart, the summary "
               "and kda_global.csv): by how many points the share of detractors among all customers would fall "
               "if the driver's push were removed. This is the model's what-if, not a measured effect of an action;"
               " campaigns with control groups measure that.")]
    ranked = driver_ranking(run, style)
    if ranked is None:
        return "".join(parts) + missing("driver ranking", "kda_global.csv and kda_what_if.csv from scoring")
    parts.append(img(plots.driver_ranking(ranked), "Drivers ranked by the detractor share they explain"))
    what_if = run.tables.get("kda_what_if")
    if what_if is not None and not what_if.empty:
        w = what_if.assign(driver=what_if["driver"].astype(str).map(style.label))
        idle = _pushes_no_one(w)
        w = w[~idle]
        cols = {"driver": "Driver", "actionable": "Actionable", "customers_pushed": "Customers it pushes",
                "detractor_share_now": "Mean P(detractor) now", "detractor_share_if_fixed": "If removed",
                "change_points": "Change (points)"}
        parts.append("<h3>What-if table</h3>" + table(w[[c for c in cols if c in w.columns]].rename(columns=cols), {
            "Mean P(detractor) now": pct, "If removed": pct, "Change (points)": points}) + note(
            "Population (all scored customers), unweighted; model-based what-if: predictions for everyone, "
            "respondents too, so 'now' can differ a little from the expected detractor share."
            + (f" Left out: {int(idle.sum())} driver(s) that push no customer (kda_what_if.csv lists them)."
               if idle.any() else "")))
    heat = _driver_heatmap(run, ranked)
    if heat:
        parts.append(heat)
    return "".join(parts)


def _pushes_no_one(what_if: pd.DataFrame) -> pd.Series:
    """Rows of drivers that push no customer: a table of zeros tells the reader nothing."""
    if "customers_pushed" not in what_if.columns:
        return pd.Series(False, index=what_if.index)
    return pd.to_numeric(what_if["customers_pushed"], errors="coerce").eq(0)


def _driver_heatmap(run: RunFiles, ranked: pd.DataFrame) -> str:
    s = run.scored
    if s is None or "driver_1" not in s.columns or "segment" not in s.columns:
        return ""
    rows = []
    for k in (1, 2, 3):
        if f"driver_{k}" in s.columns and f"driver_{k}_impact" in s.columns:
            rows.append(pd.DataFrame({"driver": s[f"driver_{k}"], "segment": s["segment"],
                                      "impact": pd.to_numeric(s[f"driver_{k}_impact"], errors="coerce").abs()}))
    if not rows:
        return ""
    long = pd.concat(rows).dropna()
    by_seg = long.pivot_table(index="segment", columns="driver", values="impact", aggfunc="sum", fill_value=0.0)
    order = [d for d in ranked["driver"].astype(str) if d in by_seg.columns][: plots.MAX_DRIVERS]
    share = by_seg[order].div(by_seg[order].sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    share.columns = ranked.set_index(ranked["driver"].astype(str)).loc[order, "label"]
    return img(plots.driver_heatmap(share), "Each driver's share of the pushes in a segment (customers' top "
                                            "three drivers; columns in the ranking's order)")


# --------------------------------------------------------------------------------------------- stated reasons
def section_reasons(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("What detractors said in the survey, in their own reason codes, beside the reason the model finds "
               "most likely for silent customers predicted to be detractors (a prediction, not their words).")]
    s = run.scored
    if s is None or "stated_reasons" not in s.columns or s["stated_reasons"].isna().all():
        return "".join(parts) + missing("stated reasons", "data.survey.reasons, scored file column stated_reasons")
    resp = respondent_mask(run)
    said_det = resp & (s["observed_class"].astype("str") == "detractor").to_numpy()
    codes = s.loc[said_det, "stated_reasons"].dropna().astype(str).str.split(";").explode().str.strip()
    said = codes[codes != ""].value_counts() / max(int(said_det.sum()), 1)
    frame = pd.DataFrame({"said": said})
    if "reason_1" in s.columns:
        silent_det = ~resp & (s["predicted_class"].astype("str") == "detractor").to_numpy()
        frame["predicted"] = s.loc[silent_det, "reason_1"].value_counts(normalize=True)
    frame = frame.fillna(0.0).sort_values("said", ascending=False)
    frame.insert(0, "label", [style.label(c) for c in frame.index])
    parts.append(img(plots.reasons(frame), "Stated reasons of detractor respondents, and predicted likely "
                                           "reasons of silent detractors"))
    parts.append(table(frame.rename(columns={"label": "Reason", "said": "Detractor respondents who said it",
                                             "predicted": "Silent detractors: most likely (predicted)"}),
                       {"Detractor respondents who said it": pct, "Silent detractors: most likely (predicted)": pct}))
    parts.append(note(f"{int(said_det.sum()):,} detractor respondents; a respondent may give several reasons."))
    return "".join(parts)


# --------------------------------------------------------------------------------------------- work orders
def queue_frame(run: RunFiles) -> pd.DataFrame:
    queue = (run.manifest or {}).get("work_orders") or {}
    return pd.DataFrame([{"team": t, **v} for t, v in queue.items()],
                        columns=["team", "to_contact", "control", "deferred", "capacity"])


def section_queue(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("The front-line queue of this run: customers each team should contact now (work_orders), earliest "
               "due first, and those deferred because the team's capacity per run is used up by customers with a "
               "higher priority (work_orders_deferred: they keep their action and wait for a later run). "
               "Control-group customers are kept out of the campaign at random to measure it; capacity is settled "
               "before the groups are drawn, so they take part of it (shown apart): a team with deferred "
               "customers has fewer to contact than its capacity by that many.")]
    q = queue_frame(run)
    if q.empty:
        return "".join(parts) + missing("work-order queue", "work_orders in manifest.json (a playbook with "
                                        "work-order rules)")
    parts.append(img(plots.queue(q), "Work orders per team against capacity"))
    orders = run.tables.get("work_orders")
    if orders is not None and not orders.empty and "owner_team" in orders.columns:
        sums = {"first_due": ("due_at", "min"), "value_at_risk": ("value_at_risk", "sum")}
        agg = orders.groupby(orders["owner_team"].astype(str)).agg(  # survey-only runs have no value at risk
            **{k: v for k, v in sums.items() if v[0] in orders.columns})
        q = q.join(agg, on="team")
    if q["control"].isna().all():  # a manifest written before controls were counted
        q = q.drop(columns="control")
    shown = q.rename(columns={"team": "Team", "to_contact": "To contact now", "deferred": "Deferred",
                              "control": "Control group (within capacity)",
                              "capacity": "Capacity per run", "first_due": "First due",
                              "value_at_risk": f"Value at risk{f' ({style.currency})' if style.currency else ''}"})
    parts.append(table(shown, {c: (lambda v: style.money(v)) for c in shown.columns if c.startswith("Value")}))
    if orders is not None and not orders.empty:
        cols = {"customer_id": "Customer", "due_at": "Due by", "owner_team": "Team", "action": "Action",
                "reason": "Why this customer"}
        parts.append("<h3>First work orders</h3>" + table(orders[[c for c in cols if c in orders]].rename(
            columns=cols), max_rows=8))
    return "".join(parts)


# --------------------------------------------------------------------------------------------- segments
def section_segments(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("Customers grouped by class (their own answer, else the prediction) and churn risk, the strategy "
               "the playbook assigns, and the value at risk (churn probability x customer value): where retention "
               "effort pays most. Population, unweighted.")]
    seg = run.segment_summary
    if seg is None or seg.empty:
        return "".join(parts) + missing("segment sizes and value at risk", "segment_summary.csv from scoring")
    parts.append(img(plots.segments(seg, style.currency), "Customers and value at risk per segment, coloured by "
                                                          "strategy"))
    heads = {c: COLUMNS[c].header if c in COLUMNS else c for c in seg.columns}
    money = {heads[c]: style.money for c in seg.columns if c in COLUMNS and COLUMNS[c].kind == "money"}
    shares = {heads[c]: pct for c in seg.columns if c in COLUMNS and COLUMNS[c].kind in ("share", "prob")}
    parts.append(table(seg.rename(columns=heads), {**money, **shares, heads.get("predicted_nps", ""): points}))
    return "".join(parts)


BUILDERS = {  # key: (title, builder), in page order after the summary
    "population": ("Population NPS", section_population),
    "trend": ("Trend across runs", section_trend),
    "drivers": ("What drives dissatisfaction", section_drivers),
    "reasons": ("What customers said", section_reasons),
    "queue": ("Work orders by team", section_queue),
    "segments": ("Segments, strategies and value at risk", section_segments),
}
