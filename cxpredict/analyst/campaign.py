"""The report's campaign section: what the last campaign did, measured against its control groups.

Reads only what `learn` wrote (learn.json, effects, verdicts, qini, auuc, targeting, campaign_return), so it
can be rebuilt anywhere from a folder or an MLflow run. Four parts, each with a plain-words explanation:
effects per strategy with intervals (a forest plot), the keep / retire / keep-testing table with its evidence,
Qini curves (how much better than random the uplift ranking is), and value saved against cost with the return
on the campaign budget, next to the comparison of targeting by uplift, churn risk and value at risk.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cxpredict.analyst.html import finite, fmt, img, missing, note, p, table
from cxpredict.analyst.plots import ACCENT, RESPONDENT, SILENT, _png
from cxpredict.io.runfiles import RunFiles
from cxpredict.io.sheets import PeopleStyle

VERDICT_COLOURS = {"keep": "#2f855a", "retire": "#c53030", "keep testing": "#d69e2e"}


def effects_plot(effects: pd.DataFrame, outcome: str) -> str:
    """Benefit per strategy with its interval; colour = verdict; the dashed line is zero."""
    e = effects.iloc[::-1]
    y = np.arange(len(e))
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(e) + 1.5))
    colours = [VERDICT_COLOURS.get(v, SILENT) for v in e.get("verdict", ["?"] * len(e))]
    ax.errorbar(e["benefit"], y, xerr=[e["benefit"] - e["benefit_low"], e["benefit_high"] - e["benefit"]],
                fmt="none", ecolor="#999", capsize=4)
    ax.scatter(e["benefit"], y, c=colours, zorder=3, s=50)
    ax.axvline(0, color="#555", linestyle="--", linewidth=1)
    ax.set_yticks(y, e["strategy"].astype(str))
    ax.set_xlabel(f"benefit on {outcome} per treated customer (treated vs control; right = better)")
    return _png(fig)


def qini_plot(qini: pd.DataFrame) -> str:
    """Uplift curves per strategy: cumulative benefit when treating the top share ranked by predicted uplift."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colours = [RESPONDENT, ACCENT, "#2f855a", "#c53030", "#d69e2e", SILENT]
    for i, (strategy, part) in enumerate(qini.groupby("strategy")):
        c = colours[i % len(colours)]
        ax.plot(part["share"], part["gain"], color=c, label=str(strategy))
        ax.fill_between(part["share"], part["low"], part["high"], color=c, alpha=0.12)
        ax.plot(part["share"], part["random"], color=c, linestyle=":", linewidth=1)
    ax.set_xlabel("share of the strategy's customers treated, highest predicted uplift first")
    ax.set_ylabel("benefit per customer (dotted: random order)")
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def value_plot(returns: pd.DataFrame) -> str:
    """Value saved (with interval) and budget per strategy."""
    x = np.arange(len(returns))
    fig, ax = plt.subplots(figsize=(8, 4))
    saved = returns["value_saved"].fillna(0) + returns["extra_revenue"].fillna(0)
    ax.bar(x - 0.2, saved, width=0.4, color=RESPONDENT, label="value saved + extra revenue")
    ax.errorbar(x - 0.2, returns["value_saved"].fillna(0) + returns["extra_revenue"].fillna(0),
                yerr=[returns["value_saved"] - returns["value_saved_low"],
                      returns["value_saved_high"] - returns["value_saved"]], fmt="none", ecolor="#333", capsize=4)
    ax.bar(x + 0.2, returns["budget"], width=0.4, color=SILENT, label="budget spent")
    ax.axhline(0, color="#555", linewidth=1)
    ax.set_xticks(x, returns["strategy"].astype(str))
    ax.legend()
    return _png(fig)


CAMPAIGN_HEADERS = {  # the campaign files' columns as a reader names them
    "strategy": "Strategy", "segment": "Segment", "verdict": "Verdict", "benefit": "Benefit",
    "benefit_low": "Benefit, low", "benefit_high": "Benefit, high", "n_treated": "Treated", "n_control": "Control",
    "mde": "Smallest detectable effect", "more_customers_needed": "More customers needed", "evidence": "Evidence",
    "action": "Action", "capacity": "Capacity", "ranked_by": "Ranked by", "customers": "Customers",
    "value_saved": "Value saved", "value_saved_low": "Value saved, low", "value_saved_high": "Value saved, high",
    "value_low": "Value saved, low", "value_high": "Value saved, high", "cost": "Cost", "net_value": "Net value",
    "extra_revenue": "Extra revenue", "budget": "Budget", "return_on_budget": "Return on budget",
    "treated": "Treated", "pool": "Customers tested",
    # auuc.csv: areas under the uplift curve, in benefit per customer
    "auuc": "Area under the uplift curve", "random": "Area in random order", "excess": "Excess over random",
    "low": "Excess, low", "high": "Excess, high", "se": "Standard error", "auuc_excess": "Excess over random",
}
COUNTS = ("n_treated", "n_control", "more_customers_needed", "capacity", "customers", "treated", "pool")
MONEY = ("value_saved", "value_saved_low", "value_saved_high", "value_low", "value_high", "cost", "net_value",
         "extra_revenue", "budget")
BENEFIT = ("benefit", "benefit_low", "benefit_high", "mde")
# the primary outcome's unit: (per treated customer, summed over chosen customers); rates are shares (0..1)
OUTCOME_UNITS = {"churned": ("churn rate, percentage points", "churners prevented"),
                 "converted": ("conversion rate, percentage points", "extra conversions"),
                 "revenue": ("revenue per treated customer", "extra revenue"),
                 "new_score": ("survey score points", "survey score points gained")}
RATES = ("churned", "converted")


def return_text(value: Any) -> str:
    """A return on budget (0.5 = +50%) as a signed percentage, whole percent beyond +-1000%."""
    if not finite(value):
        return "–"
    return f"{100 * float(value):+,.0f}%" if abs(float(value)) >= 10 else f"{100 * float(value):+.1f}%"


def benefit_formats(outcome: str, style: PeopleStyle, total: bool) -> tuple[str, Any]:
    """(header suffix, formatter) of a benefit in the primary outcome's unit, per customer or `total`led."""
    per_customer, summed = OUTCOME_UNITS.get(outcome, ("outcome units", "outcome units"))
    if outcome == "revenue":
        return (summed if total else per_customer), lambda v: style.money(float(v), 0 if total else 2) \
            if finite(v) else "–"
    if outcome in RATES and not total:
        return per_customer, lambda v: f"{100 * float(v):+.1f} pts" if finite(v) else "–"
    return (summed if total else per_customer), lambda v: f"{float(v):+,.{1 if total else 2}f}" if finite(v) else "–"


def campaign_table(frame: pd.DataFrame, style: PeopleStyle, digits: int, max_rows: int = 30,
                   outcome: str | None = None, total: bool = False) -> str:
    """A campaign file as a table people read: named headers, whole counts, money in the run's currency, returns
    as percentages, and benefits in the primary `outcome`'s unit (per treated customer, or `total` over the
    chosen customers), named in the header."""
    headers = dict(CAMPAIGN_HEADERS)
    formats = {c: (lambda v: fmt(v, 0)) for c in COUNTS}
    formats |= {c: (lambda v: style.money(float(v)) if finite(v) else fmt(v)) for c in MONEY}
    formats["return_on_budget"] = return_text
    formats["ranked_by"] = lambda v: str(v).replace("_", " ")  # churn_risk -> churn risk
    if outcome is not None:
        unit, benefit = benefit_formats(outcome, style, total)
        formats |= {c: benefit for c in BENEFIT}
        formats["mde"] = lambda v: benefit(v).removeprefix("+")  # a size, not a direction
        headers["benefit"] = f"Benefit ({unit})"
    shown = frame.rename(columns=lambda c: headers.get(c, style.label(c)))
    return table(shown, {headers.get(c, style.label(c)): f for c, f in formats.items()}, max_rows, digits)


def section_campaign(run: RunFiles, style: PeopleStyle | None = None) -> str:
    style = style or PeopleStyle()
    paragraph = p
    intro = paragraph("What the last campaign did, measured against customers kept out of it at random (control "
                      "groups): the difference between treated and control customers is the effect of the "
                      "action, and nothing else. 'retire' means even the optimistic end of the interval is below "
                      "the smallest effect worth the action; 'keep testing' means the sample cannot tell yet.")
    camp: dict[str, Any] | None = run.campaign
    if not camp:  # not a missing file: most runs come before any campaign has been measured
        return intro + note("No campaign has been measured yet: `score` draws control groups (strategy.holdout); "
                            "when the results are in, `cxpredict learn` writes learn.json and this section.")
    summary = camp["manifest"].get("summary", {})
    outcome = summary.get("primary_outcome", "churned")
    parts = [intro]
    verdicts = camp.get("verdicts")
    if verdicts is not None and not verdicts.empty:
        strategy = verdicts[verdicts["level"] == "strategy"]
        parts.append(img(effects_plot(strategy, outcome), f"Benefit per strategy ({style.label(outcome)}) with its "
                                                           "interval (green keep, red retire, amber keep testing)"))
        cols = ["strategy", "segment", "verdict", "benefit", "benefit_low", "benefit_high", "n_treated", "n_control",
                "mde", "more_customers_needed", "evidence"]
        parts.append(campaign_table(verdicts[[c for c in cols if c in verdicts.columns]], style, 4, max_rows=60,
                                    outcome=outcome))
    mismatches = summary.get("mismatches") or {}
    if mismatches:
        parts.append(paragraph("Result rows that did not match the assignment log (left out; the log's group "
                               "wins): " + "; ".join(f"{k}: {v['count']} (e.g. {', '.join(v['examples'][:3])})"
                                                     for k, v in mismatches.items())))
    qini, areas = camp.get("qini"), camp.get("auuc")
    if qini is not None and not qini.empty:
        parts.append(paragraph("Qini curves: treating customers in the order of their predicted uplift. A curve "
                               "above its dotted random line means the model finds the customers the action "
                               "changes; the area between them (AUUC excess) is given with its interval."))
        parts.append(img(qini_plot(qini), "Uplift (Qini) curves per strategy, out-of-fold predictions"))
        if areas is not None:
            parts.append(campaign_table(areas, style, 5))
    targeting = camp.get("targeting")
    if targeting is not None and not targeting.empty:
        parts.append(paragraph("At each action's capacity: the same number of customers chosen by predicted uplift, "
                               "by churn risk or by value at risk, and what each choice would have achieved."))
        parts.append(campaign_table(targeting[["action", "capacity", "ranked_by", "customers", "benefit",
                                               "benefit_low", "benefit_high", "value_saved", "cost", "net_value"]],
                                    style, 2, outcome=outcome, total=True))
    returns = camp.get("campaign_return")
    if returns is not None and not returns.empty:
        parts.append(paragraph("Value saved (effect on retained value x treated customers) and extra revenue "
                               "against the budget spent; return = (saved + revenue - budget) / budget."))
        parts.append(img(value_plot(returns), "Value saved against budget per strategy"))
        total_budget = float(returns["budget"].sum())
        gain = float(returns["value_saved"].fillna(0).sum() + returns["extra_revenue"].fillna(0).sum())
        parts.append(campaign_table(returns, style, 2))
        if total_budget > 0:
            whole = return_text((gain - total_budget) / total_budget)
            parts.append(paragraph(f"Return on the whole campaign budget: {whole} ({style.money(gain)} saved or "
                                   f"earned for {style.money(total_budget)} spent)."))
    return "".join(parts) or missing("campaign results", "learn.json")
