"""The report's survey-design section: the next round's plan (survey_plan.json from `cxpredict survey-plan`), the
interval it should bring, the probe share, the planner's answer for a target, and how today's estimate combines
the usual survey with earlier invitation rounds (the population estimate's channels)."""

from __future__ import annotations

import pandas as pd

from cxpredict.analyst.html import esc, fmt, kv, note, p, pct, points, scope, table
from cxpredict.io.runfiles import RunFiles
from cxpredict.io.sheets import PeopleStyle

CHANNEL_NAMES = {0: "usual survey"}


def _channels(run: RunFiles) -> str:
    channels = (run.population or {}).get("channels") or []
    if not channels:
        return ""
    frame = pd.DataFrame(channels)
    frame["channel"] = [CHANNEL_NAMES.get(c, f"invitation round {c}") for c in frame["channel"]]
    shown = frame[["channel", "n_respondents", "estimate", "se", "weight"]].rename(columns={
        "channel": "Answers from", "n_respondents": "Answers", "estimate": "NPS", "se": "Standard error",
        "weight": "Weight in the headline"})
    return table(shown, {"NPS": points, "Weight in the headline": pct}) + note(
        "Each channel estimates the NPS of all customers on its own (invitation rounds with their known inclusion "
        "probabilities); the headline weights them by how precise each is expected to be.")


def _planner(planner: dict) -> str:
    o = planner["overall"]
    rows = [{"Scope": "all customers", "Invitations": o["invitations"], "Answers": o["answers"],
             "Reachable in one round": o["reachable"]}]
    rows += [{"Scope": f"{s['column']}: {s['level']}", "Invitations": s["invitations"], "Answers": s["answers"],
              "Reachable in one round": s["reachable"]} for s in planner.get("segments", [])]
    return (f"<h3>What a ±{esc(fmt(o['target_half_width']))} point interval needs</h3>"
            + table(pd.DataFrame(rows), {"Answers": lambda v: fmt(v, 0)})
            + note("Invitations at the expected answer chance of the invited, with today's model and design; "
                   "segments each on their own. Not reachable: even inviting every silent customer falls short."))


def section_survey(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("Whom to survey next. Part of the invitations (the probe) goes to silent customers drawn completely "
               "at random: an audit set that never depends on the model. The rest goes where an answer teaches the "
               "most: customers the model is unsure about and customers who rarely answer, when that is expected to "
               "narrow the interval enough; otherwise it is drawn at random too. Every invitation has a known "
               "probability, so the answers are weighted back and the interval stays valid.")]
    record = run.survey_plan
    if not record:
        return "".join(parts) + _channels(run) + note(  # an optional step, not a missing piece of train/score
            "No survey plan in this run yet: `cxpredict survey-plan CONFIG --model BUNDLE --budget N --out "
            "RUN/invites.csv` writes one (survey_plan.json beside the invitation log).")
    plan = record.get("plan")
    if plan:
        by = plan["invited_by_reason"]
        level = f"{100 * plan.get('interval', 0.9):.0f}%"
        parts.append(kv([
            ("Round", esc(record["round"])),
            ("Invitations drawn", f"{esc(fmt(plan['n_invited']))} (budget {esc(fmt(plan['budget'], 0))}) "
                                  f"{scope('Poisson draw', 'silent customers')}"),
            ("Design", esc(plan.get("design_text", ""))),
            ("Probe (uniform)", f"{esc(fmt(by['probe']))} · share {esc(pct(record['probe_share']))} of the budget"),
            ("Model-based", esc(fmt(by["model"]))), ("For segment targets", esc(fmt(by["segment_target"]))),
            ("Answers expected", f"{esc(fmt(plan['expected_answers'], 0))} · answer chance from "
                                 f"{esc(record['answer_chance_source'])}"),
            (f"Population NPS {level} interval now", f"±{esc(fmt(plan['half_width_now'], 2))} points"),
            ("Expected after this round", f"±{esc(fmt(plan['half_width_after'], 2))} points"),
        ]))
        parts.extend(note(n) for n in plan.get("notes", []))
    if record.get("planner"):
        parts.append(_planner(record["planner"]))
    parts.append(_channels(run))
    return "".join(parts)


BUILDERS = {"survey": ("Whom to survey next", section_survey)}
