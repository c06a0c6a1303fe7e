"""Text as small integer codes and back, through Arrow: IDs looked up among IDs, and segments, rules, actions and
NPS classes (a few names repeated over millions of rows) built from the names, never as a Python string per row.
Why: pandas' own lookups on Arrow-backed text (`Index.get_indexer`, `isin`) turn every row into a Python object
first, several times slower on a million rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pacompute


def positions(values, index) -> np.ndarray:
    """Position of each ID in `index` (unique), -1 if absent. Through pyarrow: pandas 3 `isin`/`get_indexer` on
    text are 5-10x slower on a million IDs. A categorical of text is looked up through its few categories."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype) \
            and pd.api.types.is_string_dtype(values.cat.categories):
        return np.append(positions(values.cat.categories, index), -1)[values.cat.codes.to_numpy()]
    # pd.array, not pd.Series: pyarrow's probe of a Series for __arrow_array__ goes through Series.__getattr__,
    # which builds the hash table of the Series' index (100 ms per million text IDs) for nothing
    as_text = [pa.array(pd.array(v, dtype="str")) for v in (values, index)]
    found = pacompute.index_in(as_text[0], value_set=as_text[1])
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def increasing(values) -> bool:
    """True when the text values rise strictly row after row (Arrow's byte order), so are unique and in sorted
    order: one comparison per row where a uniqueness check hashes every ID (exports sorted by ID are usual).
    False says nothing: the values may still be unique."""
    text = pa.array(pd.array(values, dtype="str"))
    if text.null_count:
        return False
    return len(text) < 2 or bool(pacompute.all(pacompute.greater(text[1:], text[:-1])).as_py())


def same_text(a, b) -> bool:
    """The two columns hold the same text row for row (no missing values): e.g. the ID columns of two tables
    exported in one order, whose join is then the identity."""
    a, b = (pa.array(pd.array(v, dtype="str")) for v in (a, b))
    if len(a) != len(b) or a.null_count or b.null_count:
        return False
    return len(a) == 0 or bool(pacompute.all(pacompute.equal(a, b)).as_py())


def label_codes(values: pd.Series, names: Sequence[str]) -> np.ndarray:
    """Each value's position in `names` (-1: none of them, or missing). A categorical is looked up through its few
    categories, then one array lookup per row: no text is built per row (segments, actions, rules are categorical)."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # a few categories: a dict, not Arrow's per-call setup
        first = {}
        for i, name in enumerate(names):
            first.setdefault(str(name), i)
        by_category = np.array([first.get(str(c), -1) for c in values.cat.categories] + [-1])  # last slot: missing
        return by_category[values.cat.codes.to_numpy()]
    return positions(values, names)


def code_labels(codes: np.ndarray, names: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    """The inverse of `label_codes`: `names[code]` per row as text (missing where the code is -1), built by Arrow
    from the few names rather than as a Python string per row."""
    codes = np.asarray(codes)
    labels = pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32(), mask=codes < 0),
                                            pa.array(list(names), type=pa.large_string()))
    return pd.array(labels.cast(pa.large_string()), dtype="str")


def as_categorical(values: pd.Series) -> pd.Series:
    """Text as a categorical through one Arrow dictionary encoding (one hash pass), so that several lookups of the
    same column (`label_codes`, the playbook's conditions) each cost its few categories, not a pass over the rows."""
    encoded = pa.array(pd.array(values, dtype="str")).dictionary_encode()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    categories = pd.Index(pd.array(encoded.dictionary, dtype="str"))
    return pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories)), index=values.index,
                     name=values.name)


def as_text(values: pd.Series) -> pd.Series:
    """`values.astype("str")`, a categorical of text through its few categories (`code_labels`): pandas makes a
    Python string per row (an assignment log's rule, strategy, action and segment columns, millions of rows)."""
    if not (isinstance(values.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(values.cat.categories)):
        return values.astype("str")  # categories of numbers: pandas' own text ('1.0' beside a missing value)
    return pd.Series(code_labels(values.cat.codes.to_numpy(), values.cat.categories.astype("str")),
                     index=values.index, name=values.name)
