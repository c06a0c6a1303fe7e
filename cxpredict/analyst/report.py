"""One self-contained HTML report of a run, for people who will not open a JSON file (a CX director, a CRM team).

Why this shape:
- It reads only the files `train` and `score` already write (bundle metrics, nps/churn/response JSON, population
  estimate, scoring manifest, scored file, segment summary, driver tables), so a report can be made later, on
  another machine, from a folder or an MLflow run's artifacts, without re-running a model.
- Every section says in plain words what it shows. A missing piece never fails the report: its section shows a
  visible "not available" note naming the file that would provide it.
- Images are PNGs drawn with matplotlib's Agg backend and embedded as base64, so the file can be mailed.
- Inputs are read by `runfiles.py`, plots drawn by `plots.py`; this module assembles the page.
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxpredict.analyst import plots
from cxpredict.analyst.text import section_text
from cxpredict.config import CLASSES
from cxpredict.errors import InputError
from cxpredict.io.outputs import write_text
from cxpredict.io.runfiles import RunFiles, find_run_files

log = logging.getLogger(__name__)

SECTIONS = (
    ("data", "Who answered the survey"),
    ("population", "Population NPS"),
    ("scores", "Predicted scores: silent customers vs respondents"),
    ("quality", "How good are the predictions?"),
    ("drivers", "What drives dissatisfaction"),
    ("text", "What customers write"),
    ("segments", "Segments, strategies and value at risk"),
    ("warnings", "Warnings"),
)
SMALL_SAMPLE = 200  # fewer respondents than this: every figure is noisy
SMALL_SEGMENT = 30  # fewer respondents in a segment than this: its NPS is unreliable


# --------------------------------------------------------------------------------------------- html pieces
def _esc(value: Any) -> str:
    return html.escape(str(value))


def _missing(what: str, source: str) -> str:
    return f'<p class="missing">Not available: {_esc(what)} ({_esc(source)}).</p>'


def _img(png: str, alt: str) -> str:
    return f'<figure><img alt="{_esc(alt)}" src="data:image/png;base64,{png}"><figcaption>{_esc(alt)}</figcaption></figure>'


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):,.{digits}f}"
    return str(value)


def _table(frame: pd.DataFrame, digits: int = 3, max_rows: int = 30) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_esc(_fmt(v, digits))}</td>" for v in row) + "</tr>"
        for row in frame.head(max_rows).itertuples(index=False)
    )
    more = f'<p class="note">{len(frame) - max_rows} more rows not shown.</p>' if len(frame) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{more}"


def _kv(pairs: list[tuple[str, Any]], digits: int = 1) -> str:
    """Two-column label/value table; values formatted one by one so counts stay integers."""
    return _table(pd.DataFrame([(k, _fmt(v, digits)) for k, v in pairs], columns=["", "value"]), digits)


def _p(text: str) -> str:
    return f'<p class="explain">{_esc(text)}</p>'


# --------------------------------------------------------------------------------------------- sections
def _respondent_mask(run: RunFiles) -> np.ndarray | None:
    if run.scored is None or "is_respondent" not in run.scored.columns:
        return None
    flag = run.scored["is_respondent"]
    if pd.api.types.is_string_dtype(flag):
        flag = flag.str.lower().isin(["true", "1", "yes"])
    return flag.fillna(False).astype(bool).to_numpy()


def section_data(run: RunFiles) -> str:
    parts = [_p("How many customers the data holds, how many answered the survey, and how respondents differ "
                "from the silent customers. Large differences mean the raw survey NPS is biased; the model "
                "corrects for differences it can see in the behaviour data.")]
    counts = _counts(run)
    parts.append(_kv(list(counts.items()), 1) if counts else _missing("customer counts", "metrics.json / manifest.json"))
    diffs = (run.response or {}).get("top_differences")
    if diffs:
        frame = pd.DataFrame(diffs)
        parts.append(_img(plots.standardized_differences(frame),
                          "Respondents vs silent customers: standardised difference of the most different "
                          "features, before and after weighting (closer to 0 = more alike)"))
        parts.append(_table(frame.rename(columns={"smd": "difference (SMD)",
                                                  "smd_after_weighting": "after weighting"}), 2))
    else:
        parts.append(_missing("respondent-vs-silent comparison", "response/response.json in the model bundle"))
    return "".join(parts)


def _counts(run: RunFiles) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = run.metrics or {}
    n = m.get("n_customers") or (run.manifest or {}).get("rows")
    r = m.get("n_respondents") or (run.manifest or {}).get("respondents")
    mask = _respondent_mask(run)
    if n is None and mask is not None:
        n, r = len(mask), int(mask.sum())
    if n:
        out["customers"] = int(n)
    if r is not None and n:
        out["survey respondents"] = int(r)
        out["silent customers"] = int(n) - int(r)
        out["response rate (%)"] = 100.0 * int(r) / int(n)
    if run.response:
        auc = run.response.get("respondent_vs_silent_auc")
        out["respondent-vs-silent AUC (0.5 = alike)"] = None if auc is None else f"{auc:.2f}"
        out["effective sample size after weighting"] = run.response.get("effective_sample_size")
    return out


def section_population(run: RunFiles) -> str:
    parts = [_p("Net Promoter Score of ALL customers (promoters minus detractors, in points from -100 to +100). "
                "'Naive' uses only the people who answered; 'weighted' re-weights them to look like everyone; "
                "the model estimate adds the predicted answers of the silent customers, with its uncertainty "
                "interval.")]
    pop = run.population
    if pop:
        parts.append(_img(plots.population_nps(pop), "Population NPS: model estimate with interval, next to the "
                                                     "naive and weighted respondent NPS"))
        level = pop.get("level", 0.9)
        parts.append(_kv([
            ("model estimate (all customers)", pop.get("estimate")),
            (f"{100 * level:.0f}% interval", f"{_fmt(pop.get('low'), 1)} to {_fmt(pop.get('high'), 1)}"),
            ("naive respondent NPS", pop.get("naive_respondent_nps")),
            ("weighted respondent NPS", pop.get("ipw_respondent_nps")),
        ]))
        if pop.get("segments"):
            seg = pd.DataFrame(pop["segments"])
            keep = [c for c in ("column", "level", "n_customers", "n_respondents", "estimate", "low", "high",
                                "naive_respondent_nps") if c in seg.columns]
            parts.append(_table(seg[keep], 1))
        parts.extend(f'<p class="note">{_esc(n)}</p>' for n in pop.get("notes", [])[:2])
    elif run.scored is not None and _respondent_mask(run) is not None:
        parts.append(_missing("population NPS interval", "population.json from training"))
        parts.append(_kv(list(_nps_from_scored(run).items())))
    else:
        parts.append(_missing("population NPS", "population.json or the scored file"))
    return "".join(parts)


def _nps_from_scored(run: RunFiles) -> dict[str, float]:
    """Naive and model-based NPS straight from the scored file (no interval) when population.json is absent."""
    s, resp = run.scored, _respondent_mask(run)
    obs = s["observed_class"].astype("str")
    naive = 100 * ((obs[resp] == "promoter").mean() - (obs[resp] == "detractor").mean()) if resp.any() else np.nan
    contrib = np.where(resp, (obs == "promoter").astype(float) - (obs == "detractor").astype(float),
                       s["p_promoter"].to_numpy(float) - s["p_detractor"].to_numpy(float))
    return {"naive respondent NPS": float(naive), "model estimate (all customers, no interval)":
            float(100 * contrib.mean())}


def section_scores(run: RunFiles) -> str:
    parts = [_p("The distribution of predicted scores. If silent customers sit lower than respondents, the "
                "people who did not answer are, by the model, less satisfied than those who did.")]
    resp = _respondent_mask(run)
    if run.scored is None or resp is None or "predicted_score" not in run.scored.columns:
        return "".join(parts) + _missing("predicted score distribution", "the scored file of `cxpredict score`")
    s = run.scored
    parts.append(_img(plots.score_distribution(s["predicted_score"].to_numpy(float), resp,
                                               s["observed_score"].to_numpy(float) if "observed_score" in s else None),
                      "Predicted score: silent customers vs respondents (and respondents' own answers)"))
    shares = pd.crosstab(np.where(resp, "respondents", "silent"), s["predicted_class"].astype("str"),
                         normalize="index").reindex(columns=list(CLASSES), fill_value=0.0) * 100
    parts.append(_img(plots.class_shares(shares), "Predicted class shares (%)"))
    return "".join(parts)


def section_quality(run: RunFiles) -> str:
    parts = [_p("Cross-validated quality on respondents: each answer is predicted by a model that never saw it. "
                "The confusion matrix shows how often each true class is predicted as each class; calibration "
                "shows whether a predicted 30% chance really happens about 30% of the time.")]
    cv = (run.metrics or {}).get("nps_cv") or (run.nps_meta or {}).get("cv_metrics") or {}
    confusion = (run.metrics or {}).get("nps_cv_confusion") or cv.get("confusion") \
        or ((run.evaluation or {}).get("metrics") or {}).get("confusion")
    if confusion is not None:
        parts.append(_img(plots.confusion_matrix(np.asarray(confusion, dtype=float), CLASSES),
                          "Confusion matrix (rows: true class, columns: predicted class)"))
    else:
        parts.append(_missing("confusion matrix", "nps_cv_confusion in the bundle's metrics.json"))
    if cv:
        per_class = pd.DataFrame([{"class": c, "precision": cv.get(f"{c}_precision"), "recall": cv.get(f"{c}_recall")}
                                  for c in CLASSES])
        per_class["F1"] = 2 * per_class.precision * per_class.recall / (per_class.precision + per_class.recall)
        parts.append(_table(per_class, 3))
        labels = {"log_loss": "log loss (lower is better)", "detractor_auc": "detractor AUC (0.5 = chance)",
                  "qwk": "quadratic weighted kappa", "macro_f1": "macro F1", "score_mae": "score MAE (points)",
                  "ece_detractor": "calibration error of P(detractor)"}
        parts.append(_kv([(label, cv.get(k)) for k, label in labels.items() if k in cv], 3))
    else:
        parts.append(_missing("per-class metrics", "nps_cv in metrics.json"))
    curves = _calibration_curves(run)
    parts.append(_img(plots.calibration(curves), "Calibration: predicted probability vs observed rate")
                 if curves else _missing("calibration curves", "nps/nps.json or churn/churn.json in the bundle"))
    churn = (run.metrics or {}).get("churn")
    if churn:
        parts.append(_kv([("churn AUC (hold-out)", churn.get("auc")), ("churn base rate", churn.get("base_rate")),
                          ("churn calibration error", churn.get("ece"))], 3))
    return "".join(parts)


def _calibration_curves(run: RunFiles) -> dict[str, pd.DataFrame]:
    curves = {}
    reliability = (run.nps_meta or {}).get("reliability") or {}
    for name, label in (("respondents", "P(detractor), respondents"),
                        ("weighted_population", "P(detractor), weighted to the population")):
        if reliability.get(name):
            curves[label] = pd.DataFrame(reliability[name])
    if (run.churn_meta or {}).get("calibration_table"):
        curves["P(churn), hold-out"] = pd.DataFrame(run.churn_meta["calibration_table"])
    return curves


def section_drivers(run: RunFiles) -> str:
    parts = [_p("The behaviours that push each customer towards dissatisfaction, added up over customers. "
                "'Impact' is the change in the probability of being a detractor that the driver explains.")]
    long = _driver_rows(run.scored)
    if long is None or long.empty:
        return "".join(parts) + _missing("driver importance", "driver_1..3 columns of the scored file")
    overall = long.groupby("driver").agg(customers=("impact", "size"), total_impact=("impact", "sum"))
    overall = overall.sort_values("total_impact", ascending=False)
    parts.append(_img(plots.driver_importance(overall), "Driver importance over all customers"))
    if "segment" in long.columns and long["segment"].notna().any():
        by_seg = long.pivot_table(index="segment", columns="driver", values="impact", aggfunc="sum", fill_value=0.0)
        by_seg = by_seg[overall.index[: plots.MAX_DRIVERS].intersection(by_seg.columns)]
        share = by_seg.div(by_seg.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
        parts.append(_img(plots.driver_heatmap(share), "Driver share of total impact by segment"))
    else:
        parts.append(_missing("drivers by segment", "segment column of the scored file"))
    parts.append(_table(overall.reset_index(), 2, 15))
    return "".join(parts)


def _driver_rows(scored: pd.DataFrame | None) -> pd.DataFrame | None:
    if scored is None or "driver_1" not in scored.columns:
        return None
    rows = []
    for k in (1, 2, 3):
        if f"driver_{k}" not in scored.columns:
            continue
        part = pd.DataFrame({"driver": scored[f"driver_{k}"],
                             "impact": scored.get(f"driver_{k}_impact", pd.Series(1.0, index=scored.index))})
        if "segment" in scored.columns:
            part["segment"] = scored["segment"]
        rows.append(part.dropna(subset=["driver"]))
    frame = pd.concat(rows, ignore_index=True)
    frame["impact"] = pd.to_numeric(frame["impact"], errors="coerce").fillna(0.0).abs()
    return frame[frame["driver"].astype("str").str.len() > 0]


def section_segments(run: RunFiles) -> str:
    parts = [_p("Customers grouped by predicted class and churn risk, the strategy the playbook assigns, and "
                "the value at risk (churn probability x customer value): where retention effort pays most.")]
    seg = run.segment_summary
    if seg is None or seg.empty:
        return "".join(parts) + _missing("segment sizes and value at risk", "segment_summary.csv from scoring")
    parts.append(_img(plots.segments(seg), "Customers and value at risk per segment, coloured by strategy"))
    if "strategy" in seg.columns:
        totals = seg.groupby("strategy", dropna=False).agg(customers=("customers", "sum"),
                                                           value_at_risk=("value_at_risk", "sum"))
        parts.append(_table(totals.sort_values("value_at_risk", ascending=False).reset_index(), 0))
    parts.append(_table(seg, 2))
    return "".join(parts)


def collect_warnings(run: RunFiles) -> list[str]:
    warnings: list[str] = []
    if run.manifest:
        warnings += [str(w) for w in run.manifest.get("warnings", [])]
        drift = run.manifest.get("drift") or {}
        if drift.get("status") == "drift":
            warnings += [f"drift: {r}" for r in drift.get("reasons", [])]
    if run.response and run.response.get("overlap_warning"):
        warnings.append(run.response["overlap_warning"])
    n_resp = (run.metrics or {}).get("n_respondents")
    if n_resp is not None and n_resp < SMALL_SAMPLE:
        warnings.append(f"small sample: only {n_resp} respondents trained the NPS model; every figure is noisy")
    for seg in (run.population or {}).get("segments", []):
        if seg.get("n_respondents", SMALL_SEGMENT) < SMALL_SEGMENT:
            warnings.append(f"small segment: {seg.get('column')} = {seg.get('level')} has only "
                            f"{seg.get('n_respondents')} respondents; its NPS rests mostly on predictions")
    return list(dict.fromkeys(warnings))


def section_warnings(run: RunFiles) -> str:
    warnings = collect_warnings(run)
    intro = _p("Things to keep in mind before acting on these numbers: low overlap between respondents and "
               "silent customers, drift between training and scoring data, and small samples.")
    if not warnings:
        return intro + '<p class="ok">No warnings were raised for this run.</p>'
    return intro + "<ul class='warnings'>" + "".join(f"<li>{_esc(w)}</li>" for w in warnings) + "</ul>"


BUILDERS = {"data": section_data, "population": section_population, "scores": section_scores,
            "quality": section_quality, "drivers": section_drivers, "text": section_text,
            "segments": section_segments, "warnings": section_warnings}

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;color:#222;
line-height:1.45;padding:0 1em}h1{margin-bottom:.2em}h2{border-bottom:2px solid #2b6cb0;padding-bottom:.2em;
margin-top:2em}.meta{color:#555}.explain{background:#f4f7fb;border-left:4px solid #2b6cb0;padding:.5em .8em}
.missing{background:#fff4e5;border-left:4px solid #dd6b20;padding:.5em .8em;font-style:italic}
.note{color:#555;font-size:.9em}.ok{color:#2f855a}ul.warnings li{color:#9c4221;margin:.3em 0}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}th,td{border:1px solid #ccd;padding:.25em .6em;
text-align:right}th{background:#edf2f7}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}img{max-width:100%;border:1px solid #e2e8f0}figcaption{color:#555;font-size:.9em}
nav a{margin-right:1em}
"""


def build_html(run: RunFiles, title: str | None = None) -> str:
    cfg_name = (run.manifest or {}).get("config_name") or run.root.name
    title = title or f"cxpredict report: {cfg_name}"
    meta = [f"made {time.strftime('%Y-%m-%d %H:%M')}", f"from {run.root}"]
    if run.manifest:
        meta.append(f"scored {run.manifest.get('created_at', '')}")
    nav = "".join(f'<a href="#{key}">{_esc(name)}</a>' for key, name in SECTIONS)
    body = []
    for key, name in SECTIONS:
        try:
            content = BUILDERS[key](run)
        except (KeyError, ValueError, TypeError) as e:  # malformed input file: say so, keep the rest of the report
            log.warning("report section '%s' failed: %s", key, e)
            content = _missing(name, f"could not read its inputs: {e}")
        body.append(f'<section id="{key}"><h2>{_esc(name)}</h2>{content}</section>')
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{_esc(title)}</h1><p class='meta'>{_esc(' · '.join(meta))}</p>"
            f"<nav>{nav}</nav>{''.join(body)}</body></html>")


def write_report(run_dir: str | Path, out: str | Path, title: str | None = None) -> Path:
    """Build the report for the run in `run_dir` and write it atomically to `out`."""
    run = find_run_files(run_dir)
    if not any([run.bundle_dir, run.manifest, run.population]):
        raise InputError(f"report: {run_dir} holds no cxpredict outputs (no bundle.json, scoring manifest.json or "
                         "population.json); pass the --out folder of `cxpredict demo`, `train` or `score`")
    return write_text(build_html(run, title), out)
