"""Customer IDs: trimmed text, matched across tables, and unmatched ones explained.

IDs are compared as text after removing leading and trailing spaces (with a warning per table that counts the
rows): a padded ID is an export artefact (fixed-width columns, spreadsheets), never a different customer, and
refusing it would stop a nightly run over a cosmetic difference while matching it silently would hide it. IDs
that still match nothing are reported with the cause when one is detectable (letter case, leading zeros,
numbers written differently, inner spaces), so "orphans" come with the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pacompute

from cxpredict.data.tables import rows_text
from cxpredict.errors import InputError

KEY = "customer_id"  # the key column's name inside the package, whatever data.key calls it


def clean_ids(ids: pd.Series, path: Path, key: str, what: str, warn, start: int = 0) -> pd.Series:
    """IDs as text without surrounding spaces (a warning counts the rows); an empty ID is an InputError."""
    ids = ids.astype("str")
    stripped = ids.str.strip()
    padded = (stripped != ids).to_numpy(dtype=bool, na_value=False)
    empty = (stripped.isna() | (stripped == "")).to_numpy()
    if empty.any():
        raise InputError(f"{path}: column {key!r} (the customer ID, {what}) is empty at "
                         f"{rows_text(path, start + np.flatnonzero(empty))}. Fill in or remove those rows.")
    if padded.any():
        shown = ", ".join(repr(v) for v in ids[padded].iloc[:3])
        warn(f"{path}: column {key!r} ({what}): leading/trailing spaces removed from {int(padded.sum())} of "
             f"{len(ids)} IDs ({rows_text(path, start + np.flatnonzero(padded))}, e.g. {shown}) so they match the "
             "other tables; trim them in the export to silence this")
    return stripped


def positions(values, index) -> np.ndarray:
    """Position of each ID in `index` (unique), -1 if absent. Through pyarrow: pandas 3 `isin`/`get_indexer` on
    text are 5-10x slower on a million IDs."""
    as_text = [pa.array(pd.Series(v, dtype="str")) for v in (values, index)]
    found = pacompute.index_in(as_text[0], value_set=as_text[1])
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def isin(values, index) -> np.ndarray:
    return positions(values, index) >= 0


def _numeric_form(ids: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(ids, errors="coerce").astype("float64")
    return numbers.map(lambda v: repr(float(v)), na_action="ignore").astype("str").fillna(ids)


ID_CAUSES = (  # (normal form, what differs, the fix): an unmatched ID that matches in normal form has that cause
    (lambda s: s.str.casefold(), "letter case", "write the IDs with the same capitals in every table"),
    (lambda s: s.str.lstrip("0").replace("", "0"), "leading zeros",
     "keep or drop leading zeros in every table alike (read as text, e.g. not through a spreadsheet)"),
    (_numeric_form, "number formatting (e.g. 123 vs 123.0 or 1.23e2)", "export the IDs as whole numbers or text"),
    (lambda s: s.str.replace(r"\s+", "", regex=True), "spaces inside the IDs", "remove the spaces inside the IDs"),
)


def why_unmatched(unmatched, known) -> str:
    """'; why: 290 of them match when letter case is ignored (e.g. 'c01' vs 'C01'): fix ...' or ''."""
    unmatched = pd.Series(np.asarray(unmatched, dtype=object), dtype="str")
    known = pd.Series(np.asarray(known, dtype=object), dtype="str")
    if unmatched.empty or known.empty:
        return ""
    causes = []
    # the numeric form only joins IDs that read as numbers: skip normalising every known ID when none does
    numeric = bool(pd.to_numeric(unmatched, errors="coerce").notna().any())
    for normal, what, fix in ID_CAUSES:
        if normal is _numeric_form and not numeric:
            continue
        lookup = pd.Series(known.to_numpy(), index=normal(known).to_numpy())
        lookup = lookup[~lookup.index.duplicated()]
        forms = normal(unmatched)
        hit = isin(forms, lookup.index)
        if hit.any():
            first = int(np.flatnonzero(hit)[0])
            causes.append(f"{int(hit.sum())} of them match when {what} is ignored (e.g. {unmatched.iloc[first]!r} "
                          f"vs {lookup[forms.iloc[first]]!r}): {fix}")
    return ("; why: " + "; ".join(causes)) if causes else ""
