"""The report's section on free text: what customers write about, who writes it, and what is rising.

It reads two files the runs already write: the bundle's text/text.json (topics with their top terms per
language, example texts, topic shares by the author's NPS class, text counts, the comment-reason model's
quality) and a scoring run's text_topics.json (topic shares of the latest window next to the previous run's, or
the training texts' when there is no earlier run). Either may be missing; the section then says which file
would provide the missing part, like every other section of the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from cxpredict.analyst.html import fmt, kv, missing, note, p, table
from cxpredict.config import CLASSES
from cxpredict.io.runfiles import RunFiles
from cxpredict.io.sheets import PeopleStyle

TOPICS_FILE = "text_topics.json"  # written by workflows/text.py at scoring
MAX_EXAMPLES = 2
MAX_TERMS = 6


def _read(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def text_files(run: RunFiles) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the bundle's text meta, the scoring run's topic trend), each None when absent."""
    bundle = _read(run.bundle_dir / "text" / "text.json") if run.bundle_dir else None
    trends = sorted(run.root.rglob(TOPICS_FILE), key=lambda p: len(p.parts))
    return (bundle or {}).get("meta"), _read(trends[0]) if trends else None


def topic_frame(meta: dict[str, Any], style: PeopleStyle | None = None) -> pd.DataFrame:
    label = style.label if style is not None else str
    rows = []
    for t in meta.get("topics", []):
        terms = "; ".join(f"{lang}: {', '.join(words[:MAX_TERMS])}" for lang, words in t.get("terms", {}).items())
        rows.append({"topic": t["name"], "reason theme": label(t["theme"]) if t.get("theme") else "–",
                     "share of texts (%)": 100 * t["share"],
                     "negative (% of mentions)": None if t.get("negative_share") is None else 100 * t["negative_share"],
                     "top terms": terms, "examples": " | ".join(t.get("examples", [])[:MAX_EXAMPLES])})
    return pd.DataFrame(rows).sort_values("share of texts (%)", ascending=False) if rows else pd.DataFrame()


def class_frame(meta: dict[str, Any]) -> pd.DataFrame:
    """Topic share (%) among texts of respondents in each NPS class; 'detractor / promoter' > 1: a complaint."""
    rows = []
    for t in meta.get("topics", []):
        by = t.get("share_by_class", {})
        row = {"topic": t["name"], **{c: None if by.get(c) is None else 100 * by[c] for c in CLASSES}}
        d, p = by.get(CLASSES[0]), by.get(CLASSES[2])
        row["detractor / promoter"] = d / p if d is not None and p else None
        rows.append(row)
    return pd.DataFrame(rows).sort_values("detractor / promoter", ascending=False, na_position="last") \
        if rows else pd.DataFrame()


def trend_frame(meta: dict[str, Any] | None, trend: dict[str, Any]) -> pd.DataFrame:
    """Topic shares now and in the previous run (percentage points), most risen first."""
    names = {t["key"]: t["name"] for t in (meta or {}).get("topics", [])}
    now, before = trend.get("shares", {}), (trend.get("previous") or {}).get("shares", {})
    rows = [{"topic": names.get(k, k), "share now (%)": 100 * v,
             "share before (%)": None if k not in before else 100 * before[k],
             "change (points)": None if k not in before else 100 * (v - before[k])} for k, v in now.items()]
    return pd.DataFrame(rows).sort_values("change (points)", ascending=False, na_position="last") \
        if rows else pd.DataFrame()


def _undated(stamp: str | None) -> bool:
    """The window end of texts without any date (one review per customer) is the largest timestamp: no day."""
    return bool(stamp) and stamp.startswith(str(pd.Timestamp.max)[:10])


def _day(stamp: str | None) -> str:
    """'2026-10-31 23:59:59.999999' (the inclusive end of a date-only as_of) -> '2026-10-31'."""
    return "?" if not stamp else stamp[:10] if stamp.endswith("23:59:59.999999") else stamp


def section_text(run: RunFiles, style: PeopleStyle) -> str:
    parts = [p("What customers write in survey comments, reviews and ticket notes (English and Chinese), grouped "
               "into topics learned from the texts themselves. Topic names come from the config (text.topics); "
               "unnamed topics show their top words. 'negative (% of mentions)': of a topic's mentions by "
               "respondents, the share written by a detractor (each text weighed by the topic's part in it). "
               "'detractor / promoter' above 1 means the topic is written more by detractors: a complaint theme. "
               "Text topics of customer and event tables also feed the NPS and churn models and appear among the "
               "drivers as 'Mentions of ... (negative in N%)' (the topic's share) and 'Complaints about ...' (its "
               "texts that read as a detractor's).")]
    meta, trend = text_files(run)
    if not meta:  # not configured is not missing: the project reads no free text
        if run.bundle_dir is not None and (run.bundle_dir / "text").is_dir():
            return "".join(parts) + missing("text topics", "text/text.json in the model bundle is unreadable")
        if trend is not None:  # scored with text, but the model bundle is not here: the topics live in it
            return "".join(parts) + missing("text topics", "the model bundle this run was scored with is not "
                                            "on this machine: give report a folder holding both")
        return "".join(parts) + note("This run reads no free text: declare text columns (a review or note column "
                                     "of a customer table, the survey's comment, notes of event tables) in "
                                     "text.columns to see topics here.")
    counts = meta.get("counts", {})
    languages = meta.get("languages", {})
    parts.append(table(pd.DataFrame([
        {"column": source, "texts": c.get("texts"), "English": languages.get(source, {}).get("en", 0),
         "Chinese": languages.get(source, {}).get("zh", 0), "empty": c.get("empty"),
         "undecodable": c.get("undecodable"), "cut (too long)": c.get("cut")} for source, c in counts.items()]),
        digits=0))
    topics = topic_frame(meta, style)
    parts.append(table(topics) if not topics.empty else missing("topics", "text/text.json"))
    by_class = class_frame(meta)
    if not by_class.empty:
        parts.append(p("Topic share among the texts of respondents, by their own answer (%)."))
        parts.append(table(by_class))
    if trend and trend.get("shares"):
        previous = trend.get("previous") or {}
        span = "all undated texts" if _undated(trend.get("as_of")) else \
            f"the texts of the {trend.get('days')} days up to {_day(trend.get('as_of'))}"
        before = "" if _undated(previous.get("as_of")) else f" (up to {_day(previous.get('as_of'))})"
        parts.append(p(f"Topic shares of {span} ({fmt(trend.get('texts'), 0)} texts), against the "
                       f"{previous.get('run', 'previous run')}{before}. Rising topics first."))
        parts.append(table(trend_frame(meta, trend)))
    else:
        parts.append(missing("topics rising since the last run", f"{TOPICS_FILE} of a scoring run"))
    reasons = meta.get("reasons") or {}
    if reasons.get("valid_micro_f1") is not None:
        parts.append(kv([("comment-reason model: micro-F1 on a validation split", fmt(reasons["valid_micro_f1"], 3)),
                         ("comments with codes it learned from", fmt(reasons.get("n_comments"), 0))]))
    return "".join(parts)
