"""The report's back half: who answered, predicted scores, model quality, every warning, the column dictionary
and a glossary in plain words. Same contract as sections.py: HTML from the run's files, "not available" notes
for missing inputs; every metric says whether it counts respondents or the population, weighted or not."""

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
    not_trained,
    note,
    p,
    pct,
    scope,
    table,
)
from cxpredict.analyst.sections import respondent_mask
from cxpredict.columns import COLUMNS
from cxpredict.config import CLASSES
from cxpredict.io.runfiles import RunFiles
from cxpredict.io.sheets import PeopleStyle

SMALL_SAMPLE = 200  # fewer respondents than this: every figure is noisy
SMALL_SEGMENT = 30  # fewer respondents in a segment than this: its NPS is unreliable


# --------------------------------------------------------------------------------------------- respondents
def section_data(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("How many customers answered the survey and how they differ from the silent ones. Large "
               "differences make the raw survey NPS biased; weighting corrects for the differences visible in "
               "the behaviour data.")]
    counts = counts_pairs(run)
    parts.append(kv(counts) if counts else missing("customer counts", "metrics.json / manifest.json"))
    diffs = (run.response or {}).get("top_differences")
    if diffs:
        frame = pd.DataFrame(diffs)
        frame["feature"] = frame["feature"].astype(str).map(style.label)
        parts.append(img(plots.standardized_differences(frame), "Respondents vs silent customers: standardised "
                         "difference of the most different features, before and after weighting (0 = alike)"))
        parts.append(table(frame.rename(columns={"feature": "Feature", "respondent_mean": "Respondents (mean)",
                                                 "silent_mean": "Silent (mean)", "smd": "Difference (SMD)",
                                                 "smd_after_weighting": "After weighting"}), digits=2))
    else:
        parts.append(missing("respondent-vs-silent comparison", "response/response.json in the model bundle"))
    return "".join(parts)


def counts_pairs(run: RunFiles) -> list[tuple[str, str]]:
    m, man = run.metrics or {}, run.manifest or {}
    n = m.get("n_customers") or man.get("rows")
    r = m.get("n_respondents") or man.get("respondents")
    mask = respondent_mask(run)
    if n is None and mask is not None:
        n, r = len(mask), int(mask.sum())
    out = []
    if n:
        out.append(("Customers", fmt(int(n))))
    if r is not None and n:
        out += [("Survey respondents", fmt(int(r))), ("Silent customers", fmt(int(n) - int(r))),
                ("Response rate", pct(int(r) / int(n), 1))]
    if run.response:
        auc = run.response.get("respondent_vs_silent_auc")
        ess = run.response.get("effective_sample_size")
        if finite(auc):
            out.append(("How easy respondents are to tell apart (AUC; 0.5 = alike, 1 = fully)", fmt(auc, 2)))
        if finite(ess):
            out.append(("Effective sample size after weighting", f"{fmt(ess, 0)}: after weighting, the answers "
                        f"carry as much information as {fmt(ess, 0)} answers from a random sample would"))
    return out


def section_scores(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("Predicted scores of silent customers and of respondents. If silent customers sit lower, the people "
               "who did not answer are, by the model, less satisfied than those who did.")]
    resp = respondent_mask(run)
    if run.scored is None or resp is None or "predicted_score" not in run.scored.columns:
        return "".join(parts) + missing("predicted score distribution", "the scored file of `cxpredict score`")
    s = run.scored
    parts.append(img(plots.score_distribution(s["predicted_score"].to_numpy(float), resp,
                                              s["observed_score"].to_numpy(float) if "observed_score" in s else None),
                     "Predicted score: silent customers vs respondents (and respondents' own answers)"))
    shares = pd.crosstab(np.where(resp, "respondents", "silent"), s["predicted_class"].astype("str"),
                         normalize="index").reindex(columns=list(CLASSES), fill_value=0.0) * 100
    parts.append(img(plots.class_shares(shares), "Predicted class counts (%): each customer's assigned class "
                     "(tuned thresholds), unweighted; not the expected shares"))
    if run.sources.get("scored") == "sample":
        parts.append(note("From the sample of the scored file logged to MLflow (its first rows), not every customer."))
    return "".join(parts)


def section_quality(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("Cross-validated quality on respondents: each answer is predicted by a model that never saw it, "
               "chosen, calibrated and given its class thresholds without it too, so the figures are not "
               "flattered by picking the luckiest model. 'Respondents' figures count every answer once; "
               "'weighted' figures weight respondents to look like all customers, which is what matters for "
               "predicting the silent ones.")]
    cv = (run.metrics or {}).get("nps_cv") or (run.nps_meta or {}).get("cv_metrics") or {}
    intervals = (run.metrics or {}).get("nps_cv_interval") or (run.nps_meta or {}).get("cv_intervals") or {}
    confusion = (run.metrics or {}).get("nps_cv_confusion") or cv.get("confusion") \
        or ((run.evaluation or {}).get("metrics") or {}).get("confusion")
    if "nps" in run.skipped:  # churn-only: the churn model's hold-out quality below is all there is
        parts = [not_trained("the NPS model's quality", "nps", run.skipped["nps"])]
    elif confusion is not None:
        parts.append(img(plots.confusion_matrix(np.asarray(confusion, dtype=float), CLASSES),
                         "Confusion matrix, respondents, unweighted counts (rows: true class, columns: predicted)"))
    else:
        parts.append(missing("confusion matrix", "nps_cv_confusion in the bundle's metrics.json"))
    if cv:
        rows = [{"Class": c, "Recall (respondents, unweighted)": cv.get(f"respondents_{c}_recall"),
                 "Recall (weighted to the population)": cv.get(f"{c}_recall"),
                 "Precision (respondents, unweighted)": cv.get(f"respondents_{c}_precision"),
                 "Precision (weighted to the population)": cv.get(f"{c}_precision")} for c in CLASSES]
        frame = pd.DataFrame(rows).dropna(axis=1, how="all")
        parts.append(table(frame, {c: (lambda v: pct(v, 1)) for c in frame.columns if c != "Class"}))
        labels = {"detractor_auc": "Detractor AUC (0.5 = chance, 1 = perfect)", "macro_f1": "Macro F1",
                  "qwk": "Agreement with the answers (quadratic weighted kappa)", "score_mae": "Score error (points)",
                  "log_loss": "Log loss (lower is better)", "ece_detractor": "Calibration error of P(detractor)"}
        parts.append(kv([(label, f"{fmt(cv.get(f'respondents_{k}'), 3)} {scope('respondents', 'unweighted')} · "
                          f"{fmt(cv.get(k), 3)}{_interval(intervals.get(k))} {scope('weighted')}")
                         for k, label in labels.items() if k in cv]))
    elif "nps" not in run.skipped:
        parts.append(missing("per-class metrics", "nps_cv in metrics.json"))
    curves = calibration_curves(run)
    parts.append(img(plots.calibration(curves), "Calibration: predicted probability vs observed rate")
                 if curves else missing("calibration curves", "nps/nps.json or churn/churn.json in the bundle"))
    churn = (run.metrics or {}).get("churn")
    if churn:
        parts.append(kv([("Churn AUC (hold-out customers)", fmt(churn.get("auc"), 3)),
                         ("Churn rate", pct(churn.get("base_rate"), 1)),
                         ("Churn calibration error", fmt(churn.get("ece"), 3))]))
    return "".join(parts)


def _interval(found: dict | None) -> str:
    """' (90% interval a to b)' of a metric's interval from metrics.json, or nothing."""
    if not found or found.get("low") is None:
        return ""
    return f" ({found['level']:.0%} interval {fmt(found['low'], 3)} to {fmt(found['high'], 3)})"


def calibration_curves(run: RunFiles) -> dict[str, pd.DataFrame]:
    curves = {}
    reliability = (run.nps_meta or {}).get("reliability") or {}
    for name, label in (("respondents", "P(detractor), respondents, unweighted"),
                        ("weighted_population", "P(detractor), weighted to the population")):
        if reliability.get(name):
            curves[label] = pd.DataFrame(reliability[name])
    if (run.churn_meta or {}).get("calibration_table"):
        curves["P(churn), hold-out"] = pd.DataFrame(run.churn_meta["calibration_table"])
    return curves


def collect_warnings(run: RunFiles, data_notes: bool = True) -> list[str]:
    """Warnings that change what the numbers mean first (drift, overlap, small samples), then the data notes
    of the scoring run (orphan answers, ignored columns) unless `data_notes` is False."""
    warnings: list[str] = []
    if run.manifest:
        drift = run.manifest.get("drift") or {}
        if drift.get("status") == "drift":
            warnings += [f"drift: {r}" for r in drift.get("reasons", [])]
    if run.response and run.response.get("overlap_warning"):
        warnings.append(run.response["overlap_warning"])
    n_resp = (run.metrics or {}).get("n_respondents")
    if n_resp is not None and n_resp < SMALL_SAMPLE and "nps" not in run.skipped:
        warnings.append(f"small sample: only {n_resp} respondents trained the NPS model; every figure is noisy")
    for seg in (run.population or {}).get("segments", []):
        if seg.get("n_respondents", SMALL_SEGMENT) < SMALL_SEGMENT:
            warnings.append(f"small segment: {seg.get('column')} = {seg.get('level')} has only "
                            f"{seg.get('n_respondents')} respondents; its NPS rests mostly on predictions")
    if run.manifest and data_notes:
        warnings += [str(w) for w in run.manifest.get("warnings", [])]
    return list(dict.fromkeys(warnings))


def section_warnings(run: RunFiles, style: PeopleStyle) -> str:
    warnings = collect_warnings(run)
    intro = p("Everything to keep in mind before acting on these numbers: drift between training and scoring data, "
              "low overlap between respondents and silent customers, small samples, and data notes.")
    if not warnings:
        return intro + '<p class="ok">No warnings were raised for this run.</p>'
    return intro + "<ul class='warnings'>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>"


def section_columns(run: RunFiles, style: PeopleStyle) -> str:
    """The column dictionary of the files (columns.csv beside the scored file)."""
    rows = [{"Column": c.name, "Header in xlsx": style.labels.get(c.name, c.header), "In": ", ".join(c.files),
             "Meaning": c.meaning} for c in COLUMNS.values()]
    return (p("What each column of the scored file, the work orders and the segment summary means (also in "
              "columns.csv beside the scored file and in the xlsx 'Columns' sheet).")
            + f"<details><summary>Show the {len(rows)} columns</summary>{table(pd.DataFrame(rows), max_rows=200)}"
              "</details>")


GLOSSARY: dict[str, str] = {
    "NPS": "Net Promoter Score: % promoters (score 9-10) minus % detractors (0-6), from -100 to +100.",
    "Respondents / population": "Respondents are the customers who answered the survey; the population is every "
                                "customer, answered or not.",
    "Weighted / unweighted": "Unweighted counts every respondent once. Weighted counts respondents who resemble many "
                             "silent customers more, so they stand for the whole population.",
    "Interval": "The range the true value lies in with the stated confidence (e.g. 90%), if the assumptions hold.",
    "Effective sample size": "After weighting, a few respondents count a lot; the effective sample size is how many "
                             "answers of a random sample the weighted answers are worth.",
    "Model-based": "Computed from the model's predicted probabilities for every customer, not from answers.",
    "Expected shares (detractor share)": "THE detractor (passive, promoter) share of this report, the summary and "
        "manifest.json (nps.expected_shares): over all customers, unweighted, each respondent's own answer and "
        "each silent customer's predicted probability of the class. It uses every answer we have and, unlike "
        "counting the most likely class, adds up to the expected number of detractors.",
    "Model only": "The NPS of the expected shares (promoters minus detractors), no weighting and no interval "
                  "(manifest.json nps.model_only). The headline adds weighting and an interval.",
    "Predicted class count": "How many customers are assigned each class (predicted_class in the scored file, "
                             "tuned thresholds; manifest counts.predicted_class): a count for routing work, not an "
                             "estimate of the share.",
    "What-if": "How a figure would change if a driver's push were removed from the model's prediction: a model "
               "explanation, not the measured effect of an action.",
    "Value at risk": "Churn probability x customer value: the value expected to be lost if nobody acts.",
    "Deferred": "The customer has an action, but its capacity for this run is used up by customers with a higher "
                "priority; they wait in work_orders_deferred for a later run. Nobody is dropped.",
    "Drift / PSI": "Whether today's data looks like the training data; PSI (population stability index) above "
                   "0.25 means a feature or prediction has shifted noticeably.",
    "As of": "The day the behaviour data describes; due dates count from the end of that day.",
}


def section_glossary(run: RunFiles, style: PeopleStyle) -> str:
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in GLOSSARY.items()) + "</dl>"


BUILDERS = {  # key: (title, builder), in page order after sections.BUILDERS
    "data": ("Who answered the survey", section_data),
    "scores": ("Predicted scores: silent customers vs respondents", section_scores),
    "quality": ("How good are the predictions?", section_quality),
    "warnings": ("Warnings", section_warnings),
    "columns": ("Column dictionary", section_columns),
    "glossary": ("Words used in this report", section_glossary),
}
