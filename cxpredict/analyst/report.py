"""One self-contained HTML report of a run, for people who will not open a JSON file (a CX director, a CRM team).

Why this shape:
- It leads with the answer: a one-screen summary (population NPS with its interval and the change since the
  previous run of the same config, the top three actionable drivers, work orders per team against capacity, the
  warnings that matter), then the sections that explain it (sections.py), then the model's diagnostics, the
  column dictionary and a glossary (appendix.py).
- It reads only files `train` and `score` already write (bundle metrics, population estimate, scoring manifest
  and the manifests of earlier runs, scored file, work orders, segment summary, key-driver tables), so a report
  can be made later, on another machine, from a folder or an MLflow run's artifacts, without re-running a model.
  A missing piece never fails the report: its section shows a visible "not available" note naming the file.
- Business labels (`outputs.labels`, else prettified names) and the currency come from the run's config.
- Images are PNGs drawn with matplotlib's Agg backend and embedded as base64, so the file can be mailed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from cxpredict.analyst import appendix, sections, survey
from cxpredict.analyst.campaign import section_campaign
from cxpredict.analyst.html import esc, finite, fmt, missing, not_trained, pct, points
from cxpredict.analyst.text import section_text
from cxpredict.errors import InputError
from cxpredict.io.outputs import write_text
from cxpredict.io.runfiles import RunFiles, find_run_files
from cxpredict.io.sheets import PeopleStyle

log = logging.getLogger(__name__)

BUILDERS = {
    "summary": ("Summary", None),
    **sections.BUILDERS,
    **survey.BUILDERS,
    "text": ("What customers write", section_text),
    "campaign": ("Campaign results: what worked, what to retire", section_campaign),
    **appendix.BUILDERS,
}
SECTIONS = tuple((key, title) for key, (title, _) in BUILDERS.items())
# the stage (Config.absent_stages) a section is about: without it the section says why it is empty
SECTION_STAGES = {"population": "population", "trend": "nps", "drivers": "drivers", "reasons": "reasons",
                  "survey": "nps", "text": "text", "data": "response", "scores": "nps"}
TOP_WARNINGS = 4


# --------------------------------------------------------------------------------------------- summary
def _headline(run: RunFiles) -> str:
    if "population" in run.skipped:
        return '<div class="card"><h3>Population NPS</h3>' + not_trained(
            "the population NPS", "population", run.skipped["population"]) + "</div>"
    # training's estimate (population.json / the bundle's metrics), else the copy score puts in manifest.json
    pop = run.population or ((run.manifest or {}).get("nps") or {}).get("headline") or {}
    rows = sections.population_rows(pop) if pop else []
    level = pop.get("level", pop.get("interval", 0.9))
    if rows:
        label, where, est, low, high = rows[0]
        interval = (f"{100 * level:.0f}% interval {fmt(low)} to {fmt(high)}" if finite(low) and finite(high)
                    else "no interval")
        n = pop.get("n_customers")
        who = f"all {fmt(int(n))} customers" if finite(n) else "all customers"
        big = f'<div class="big">{esc(points(est))}</div><div>{esc(interval)}</div>' \
              f'<div class="scope">{esc(who)} · {esc(where)}</div>'
    else:
        nps = (run.manifest or {}).get("nps") or {}
        if not finite(nps.get("model_only")):
            return '<div class="card"><h3>Population NPS</h3>' + missing(
                "population NPS", "population.json or the scoring manifest") + "</div>"
        big = f'<div class="big">{esc(points(nps["model_only"]))}</div><div>no interval (population.json ' \
              'absent)</div><div class="scope">all customers · model only: answers + predictions, unweighted</div>'
    return f'<div class="card headline"><h3>Population NPS</h3>{big}{_change(run)}</div>'


def _change(run: RunFiles) -> str:
    hist = sections.history_frame(run)
    if len(hist) < 2:
        return '<div class="note">First scored run of this config: the change shows from the next run on.</div>'
    now, before = hist.iloc[-1], hist.iloc[-2]
    delta = now["nps"] - before["nps"]
    arrow = "up" if delta > 0.05 else "down" if delta < -0.05 else "flat"
    return (f'<div class="change {arrow}">{esc(points(delta))} points since the previous run '
            f'({esc(before["as_of"])} → {esc(now["as_of"])}; scored NPS, model-based, all customers)</div>')


def _drivers_card(run: RunFiles, style: PeopleStyle) -> str:
    if "drivers" in run.skipped:
        return '<div class="card"><h3>Top actionable drivers</h3>' + not_trained(
            "the driver ranking", "drivers", run.skipped["drivers"]) + "</div>"
    ranked = sections.driver_ranking(run, style)
    if ranked is None:
        return '<div class="card"><h3>Top actionable drivers</h3>' + missing(
            "driver ranking", "kda_global.csv, kda_what_if.csv") + "</div>"
    top = ranked[ranked["actionable"]].head(3)
    items = "".join(f"<li><b>{esc(r.label)}</b>: detractors would fall by {esc(fmt(-r.points))} points if it were "
                    "fixed</li>" for r in top.itertuples() if finite(r.points))
    return (f'<div class="card"><h3>Top actionable drivers</h3><ol>{items}</ol><div class="scope">population · '
            "model-based what-if, not a measured effect</div></div>")


def _queue_card(run: RunFiles, style: PeopleStyle) -> str:
    q = sections.queue_frame(run)
    if q.empty:
        return '<div class="card"><h3>Work orders this run</h3>' + missing("work orders", "manifest.json") + "</div>"
    rows = "".join(
        f"<tr><td>{esc(r.team)}</td><td>{fmt(int(r.to_contact))}</td>"
        f"<td>{fmt(int(r.control)) if finite(r.control) else '–'}</td><td>"
        f"{'no limit' if r.capacity is None or not finite(r.capacity) else fmt(int(r.capacity))}</td>"
        f"<td>{fmt(int(r.deferred))}</td></tr>" for r in q.itertuples())
    return ('<div class="card"><h3>Work orders this run</h3><table><thead><tr><th>Team</th><th>Contact now</th>'
            f"<th>Control</th><th>Capacity</th><th>Deferred</th></tr></thead><tbody>{rows}</tbody></table>"
            '<div class="scope">control = kept out at random to measure the campaign, within capacity (they take '
            "part of it); deferred = over capacity, waiting for a later run</div></div>")


def _warnings_card(run: RunFiles) -> str:
    warnings = appendix.collect_warnings(run, data_notes=False)
    if (run.population or {}).get("assumption"):
        warnings.append("The NPS assumes that who answers depends only on behaviour we can see (unhappy customers "
                        "answering more than their behaviour predicts would bias it); see 'Population NPS'.")
    notes = len((run.manifest or {}).get("warnings", []))
    more = len(warnings) - TOP_WARNINGS if len(warnings) > TOP_WARNINGS else 0
    tail = " · ".join(t for t in (f"{more} more" if more else "", f"{notes} data note(s)" if notes else "") if t)
    more = f'<a href="#warnings">{esc(tail)}</a>' if tail else ""
    if not warnings:
        return f'<div class="card"><h3>Warnings that matter</h3><p class="ok">None for this run.</p>{more}</div>'
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings[:TOP_WARNINGS])
    return f'<div class="card"><h3>Warnings that matter</h3><ul class="warnings">{items}</ul>{more}</div>'


def section_summary(run: RunFiles, style: PeopleStyle) -> str:
    nps = (run.manifest or {}).get("nps") or {}
    shares = nps.get("expected_shares") or {}
    said = (f"Respondents as they answered: {points(nps.get('respondents_naive'))} "
            f"({fmt(nps.get('respondents'))} respondents, unweighted). " if finite(nps.get("respondents_naive"))
            else "")
    mix = (f"Expected shares of all customers (answers of respondents, predictions for the silent): "
           f"{pct(shares.get('detractor'))} detractors, {pct(shares.get('passive'))} passives, "
           f"{pct(shares.get('promoter'))} promoters."
           if shares else "")
    return (f'<div class="cards">{_headline(run)}{_drivers_card(run, style)}{_queue_card(run, style)}'
            f'{_warnings_card(run)}</div><p class="note">{esc(said + mix)}</p>')


# --------------------------------------------------------------------------------------------- page
VIEWPORT = "<meta name='viewport' content='width=device-width, initial-scale=1'>"  # phones: no 980 px zoom-out
CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;margin:1.2em auto;color:#222;
line-height:1.4;padding:0 1em}h1{margin:.1em 0}h2{border-bottom:2px solid #2b6cb0;padding-bottom:.2em;
margin-top:1.8em}.meta{color:#555;margin:.2em 0 .6em}.explain{background:#f4f7fb;border-left:4px solid #2b6cb0;
padding:.5em .8em}.missing{background:#fff4e5;border-left:4px solid #dd6b20;padding:.5em .8em;font-style:italic}
.note{color:#555;font-size:.9em}.ok{color:#2f855a}ul.warnings li{color:#9c4221;margin:.2em 0}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccd;padding:.2em .5em;
text-align:right;vertical-align:top}th{background:#edf2f7}td:first-child,th:first-child,td.t{text-align:left}
figure{margin:1em 0}img{max-width:100%;border:1px solid #e2e8f0}figcaption{color:#555;font-size:.9em}
nav{font-size:.9em}nav a{margin-right:.9em}.scope{display:inline-block;color:#4a5568;font-size:.8em;
background:#edf2f7;border-radius:3px;padding:0 .35em;margin-top:.2em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,30em),1fr));gap:.8em}
.card{border:1px solid #cbd5e0;border-radius:6px;padding:.5em .9em;background:#fff;min-width:0;overflow-x:auto;
overflow-wrap:anywhere}.card table{overflow-wrap:normal}
@media (max-width:480px){body{padding:0 .5em}.card{padding:.4em .5em}.card table{font-size:.8em}.card th,.card td
{padding:.15em .25em}}.card h3{margin:.1em 0 .3em;font-size:1em;color:#2b6cb0}.card ol,.card ul
{margin:.2em 0;padding-left:1.3em}.card table{margin:.2em 0}.big{font-size:2.6em;font-weight:700;line-height:1.1}
.change{margin-top:.3em;font-weight:600}.change.up{color:#2f855a}.change.down{color:#c53030}
.headline{background:#f7fafc}dt{font-weight:700;margin-top:.5em}dd{margin-left:1.2em}
table.kv td:first-child{max-width:28em}
"""


def build_html(run: RunFiles, title: str | None = None) -> str:
    style = run.style()
    cfg_name = (run.manifest or {}).get("config_name") or ((run.trained_config or {}).get("name")) or run.root.name
    title = title or f"Customer experience report: {cfg_name}"
    man = run.manifest or {}
    meta = [f"data as of {man.get('as_of') or (style.as_of.isoformat() if style.as_of else 'not set')}"]
    if man.get("created_at"):
        meta.append(f"scored {man['created_at'][:16].replace('T', ' ')} UTC")
    if man.get("drift"):
        meta.append(f"drift check: {man['drift'].get('status', 'unknown')}")
    meta += [f"report made {time.strftime('%Y-%m-%d %H:%M')}", f"from {run.root}"]
    nav = "".join(f'<a href="#{key}">{esc(name)}</a>' for key, name in SECTIONS)
    body = []
    skipped = run.skipped
    for key, (name, builder) in BUILDERS.items():
        stage = SECTION_STAGES.get(key)
        if stage in skipped:
            body.append(f'<section id="{key}"><h2>{esc(name)}</h2>{not_trained("this section", stage, skipped[stage])}'
                        "</section>")
            continue
        try:
            content = (builder or section_summary)(run, style)
        except (KeyError, ValueError, TypeError, AttributeError) as e:  # a malformed input file: say so, go on
            log.warning("report section '%s' failed: %s", key, e)
            content = missing(name, f"could not read its inputs: {e}")
        body.append(f'<section id="{key}"><h2>{esc(name)}</h2>{content}</section>')
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>{VIEWPORT}<title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1><p class='meta'>{esc(' · '.join(meta))}</p>"
            f"<nav>{nav}</nav>{''.join(body)}</body></html>")


def write_report(run_dir: str | Path, out: str | Path, title: str | None = None) -> Path:
    """Build the report for the run in `run_dir` and write it atomically to `out`."""
    run = find_run_files(run_dir)
    if not any([run.bundle_dir, run.manifest, run.population]):
        raise InputError(f"report: {run_dir} holds no cxpredict outputs (no bundle.json, scoring manifest.json or "
                         "population.json); pass the --out folder of `cxpredict demo`, `train` or `score`")
    return write_text(build_html(run, title), out)
