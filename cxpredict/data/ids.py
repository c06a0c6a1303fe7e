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
    text are 5-10x slower on a million IDs. A categorical of text is looked up through its few categories."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype) \
            and pd.api.types.is_string_dtype(values.cat.categories):
        return np.append(positions(values.cat.categories, index), -1)[values.cat.codes.to_numpy()]
    as_text = [pa.array(pd.Series(v, dtype="str")) for v in (values, index)]
    found = pacompute.index_in(as_text[0], value_set=as_text[1])
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def isin(values, index) -> np.ndarray:
    return positions(values, index) >= 0


def _text(values) -> pa.Array:
    return pa.array(pd.Series(np.asarray(values, dtype=object), dtype="str"))


def _numeric_form(ids: pa.Array) -> pa.Array:
    text = pd.Series(ids.to_pandas(), dtype="str")
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    return pa.array(numbers.map(lambda v: repr(float(v)), na_action="ignore").astype("str").fillna(text))


def _without_leading_zeros(ids: pa.Array) -> pa.Array:
    trimmed = pacompute.utf8_ltrim(ids, characters="0")
    return pacompute.if_else(pacompute.equal(trimmed, ""), "0", trimmed)


# (normal form, what differs, the fix): an unmatched ID that matches in normal form has that cause. The forms are
# Arrow string kernels over the whole column: pandas' str methods loop in Python (seconds on 500,000 known IDs).
ID_CAUSES = (
    (pacompute.utf8_lower, "letter case", "write the IDs with the same capitals in every table"),
    (_without_leading_zeros, "leading zeros",
     "keep or drop leading zeros in every table alike (read as text, e.g. not through a spreadsheet)"),
    (_numeric_form, "number formatting (e.g. 123 vs 123.0 or 1.23e2)", "export the IDs as whole numbers or text"),
    (lambda ids: pacompute.replace_substring_regex(ids, pattern=r"\s+", replacement=""), "spaces inside the IDs",
     "remove the spaces inside the IDs"),
)


def why_unmatched(unmatched, known) -> str:
    """'; why: 290 of them match when letter case is ignored (e.g. 'c01' vs 'C01'): fix ...' or ''."""
    unmatched, known = _text(unmatched), _text(known)
    if len(unmatched) == 0 or len(known) == 0:
        return ""
    causes = []
    # the numeric form only joins IDs that read as numbers: skip normalising every known ID when none does
    numeric = bool(pd.to_numeric(pd.Series(unmatched.to_pandas(), dtype="str"), errors="coerce").notna().any())
    for normal, what, fix in ID_CAUSES:
        if normal is _numeric_form and not numeric:
            continue
        # position of each unmatched ID's normal form among the known IDs' (the first known ID that has it)
        found = pacompute.index_in(normal(unmatched), value_set=normal(known)).fill_null(-1).to_numpy(
            zero_copy_only=False)
        hit = found >= 0
        if hit.any():
            first = int(np.flatnonzero(hit)[0])
            causes.append(f"{int(hit.sum())} of them match when {what} is ignored (e.g. "
                          f"{unmatched[first].as_py()!r} vs {known[int(found[first])].as_py()!r}): {fix}")
    return ("; why: " + "; ".join(causes)) if causes else ""
