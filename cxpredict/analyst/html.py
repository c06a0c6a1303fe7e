"""Small HTML pieces of the report: escaping, number formats people read (percentages, signed points, money with
the currency), tables, label/value lists, figures, scope badges ("weighted · population") and missing notes."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd


def esc(value: Any) -> str:
    return html.escape(str(value))


def finite(value: Any) -> bool:
    try:
        return value is not None and not isinstance(value, (str, bool)) and bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def fmt(value: Any, digits: int = 1) -> str:
    """Counts with thousands separators, other numbers with `digits` decimals, missing as a dash."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):,.{digits}f}"
    return str(value)


def pct(value: Any, digits: int = 0) -> str:
    """A share or probability (0..1) as a percentage."""
    return f"{100 * float(value):.{digits}f}%" if finite(value) else "–"


def points(value: Any, digits: int = 1) -> str:
    """NPS points with their sign."""
    return f"{float(value):+.{digits}f}" if finite(value) else "–"


def scope(*words: str) -> str:
    """Who a figure is about and how it is counted, e.g. scope('weighted', 'population')."""
    return f'<span class="scope">{esc(" · ".join(w for w in words if w))}</span>'


def missing(what: str, source: str) -> str:
    return f'<p class="missing">Not available: {esc(what)} ({esc(source)}).</p>'


STAGE_WORDS = {"nps": "NPS model", "population": "population NPS estimate", "response": "response model",
               "drivers": "drivers stage", "reasons": "stated-reason model", "text": "text stage",
               "churn": "churn model"}


def not_trained(what: str, stage: str, why: str) -> str:
    """The note for a section whose model this run does not have (a churn-only or survey-only config)."""
    return (f'<p class="missing">Not in this run: {esc(what)} needs the {esc(STAGE_WORDS.get(stage, stage))}, '
            f'which was not trained: {esc(why)}.</p>')


def img(png: str, alt: str) -> str:
    return (f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{png}"><figcaption>{esc(alt)}'
            "</figcaption></figure>")


def p(text: str) -> str:
    return f'<p class="explain">{esc(text)}</p>'


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


Formatter = Callable[[Any], str]


def table(frame: pd.DataFrame, formats: dict[str, Formatter] | None = None, max_rows: int = 30,
          digits: int = 1) -> str:
    """An HTML table; `formats` maps a column to its formatter (pct, points, money ...), others use `fmt`."""
    formats = formats or {}
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)

    def cell(column: str, value: Any) -> str:
        text = esc(formats.get(column, lambda v: fmt(v, digits))(value))
        return f"<td>{text}</td>" if finite(value) else f'<td class="t">{text}</td>'  # text reads left-aligned

    body = "".join("<tr>" + "".join(cell(c, v) for c, v in zip(frame.columns, row)) + "</tr>"
                   for row in frame.head(max_rows).itertuples(index=False))
    more = note(f"{len(frame) - max_rows:,} more rows not shown.") if len(frame) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def kv(pairs: Sequence[tuple[str, str]]) -> str:
    """Label / value rows; values already formatted (they may hold a scope badge)."""
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'
