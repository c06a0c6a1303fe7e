"""cxpredict/codes.py: text as integer codes and back, through Arrow."""

import numpy as np
import pandas as pd
import pytest

from cxpredict.codes import as_categorical, as_text, code_labels, increasing, label_codes, positions, same_text


def test_positions_find_ids_whatever_their_container_and_index():
    known = pd.Index(["c1", "c2", "c3"], dtype="str")
    index = pd.Index(["a", "b", "c", "d"], dtype="str")
    values = pd.Series(pd.array(["c3", None, "x", "c1"], dtype="str"), index=index)
    for container in (values, values.to_numpy(), values.tolist(), pd.Index(values)):
        assert positions(container, known).tolist() == [2, -1, -1, 0]
    assert positions([], known).tolist() == []


def test_label_codes_are_positions_in_names_for_text_and_categoricals():
    names = ["call", "offer"]
    text = pd.Series(pd.array(["offer", None, "mail", "call"], dtype="str"))
    categorical = text.astype(pd.CategoricalDtype(["mail", "offer", "unused", "call"]))
    chunked = pd.concat([text.iloc[:2], text.iloc[2:]], ignore_index=True)  # Arrow text in two chunks
    for values in (text, categorical, text.astype(object), chunked):
        assert label_codes(values, names).tolist() == [1, -1, -1, 0]
    assert label_codes(categorical.iloc[:0], names).tolist() == []
    assert label_codes(text.iloc[:0], names).tolist() == []


def test_code_labels_invert_label_codes_with_missing_where_no_name():
    labels = code_labels(np.array([1, -1, 0, 1]), ["control", "treated"])
    assert labels.dtype == pd.array(["x"], dtype="str").dtype
    assert pd.Series(labels).equals(pd.Series(pd.array(["treated", None, "control", "treated"], dtype="str")))
    assert label_codes(pd.Series(labels), ["control", "treated"]).tolist() == [1, -1, 0, 1]
    assert len(code_labels(np.zeros(0, dtype=int), ["a"])) == 0


def test_as_categorical_keeps_values_missing_and_index():
    values = pd.Series(pd.array(["b", None, "a", "b"], dtype="str"), index=pd.Index(["w", "x", "y", "z"]), name="v")
    encoded = as_categorical(values)
    assert isinstance(encoded.dtype, pd.CategoricalDtype)
    assert encoded.index.equals(values.index) and encoded.name == "v"
    assert encoded.astype("str").equals(values)
    assert label_codes(encoded, ["a", "b"]).tolist() == label_codes(values, ["a", "b"]).tolist() == [1, -1, 0, 1]


def test_positions_of_a_categorical_are_those_of_its_text():
    values = pd.Series(pd.Categorical(["a", "b", None, "c", "a"], categories=["c", "b", "a", "z"]))
    index = ["c", "a", "q"]
    np.testing.assert_array_equal(positions(values, index), positions(values.astype(object), index))
    np.testing.assert_array_equal(positions(values, index), [1, -1, -1, 0, 1])


@pytest.mark.parametrize("values", [["a", "b", None, "a"], ["x"], ["a", "é中", None], [1, 2, None], [1.5, None]])
def test_as_text_is_astype_str(values):
    """The log's categorical columns as text through their categories: the same values, missing kept missing."""
    s = pd.Series(pd.Categorical(values), name="rule", index=[7 + i for i in range(len(values))])
    pd.testing.assert_series_equal(as_text(s), s.astype("str"))
    pd.testing.assert_series_equal(as_text(s.astype("str")), s.astype("str"))


@pytest.mark.parametrize("values, rising", [
    (["C1", "C2", "C3"], True), (["C1", "C3", "C2"], False), (["C1", "C1", "C2"], False),  # a repeat is no rise
    (["C9", "C10"], False),  # text order, not number order
    (["C1", None, "C3"], False), ([], True), (["C1"], True)])
def test_increasing_is_a_strict_rise_in_text_order(values, rising):
    assert increasing(pd.Series(values, dtype="str")) is rising
    if rising:
        assert pd.Index(pd.Series(values, dtype="str")).is_unique


def test_same_text_compares_row_for_row():
    a = pd.Series(["C1", "C2", "C3"], dtype="str")
    assert same_text(a, pd.Series(["C1", "C2", "C3"], dtype="str", index=[5, 6, 7]))  # the index plays no part
    assert not same_text(a, pd.Series(["C1", "C3", "C2"], dtype="str"))
    assert not same_text(a, a.iloc[:2])
    assert not same_text(pd.Series(["C1", None], dtype="str"), pd.Series(["C1", None], dtype="str"))
