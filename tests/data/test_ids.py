"""Customer IDs: trimmed with a counted warning, and unmatched IDs explained by their detectable cause."""

from pathlib import Path

import pandas as pd
import pytest

from cxpredict.data.ids import clean_ids, why_unmatched
from cxpredict.errors import InputError


def test_surrounding_spaces_are_removed_and_counted():
    notes = []
    ids = clean_ids(pd.Series([" C1", "C2", "C3  ", "C4"], dtype="str"), Path("s.csv"), "customer_id", "survey",
                    notes.append)
    assert ids.tolist() == ["C1", "C2", "C3", "C4"]
    assert len(notes) == 1 and "s.csv" in notes[0] and "from 2 of 4 IDs" in notes[0] and "rows 2, 4" in notes[0]


def test_an_empty_id_is_an_error_naming_the_row():
    with pytest.raises(InputError, match=r"s\.csv: column 'id' .* is empty at row 4 \(file lines"):
        clean_ids(pd.Series(["a", "b", "  "], dtype="str"), Path("s.csv"), "id", "survey", print)


@pytest.mark.parametrize("unmatched, known, cause", [
    (["c01", "c02"], ["C01", "C02", "C03"], "letter case"),
    (["1", "22"], ["001", "022"], "leading zeros"),
    (["123.0", "7.0"], ["123", "7"], "number formatting"),
    (["C 01"], ["C01"], "spaces inside"),
])
def test_orphans_come_with_their_cause(unmatched, known, cause):
    text = why_unmatched(unmatched, pd.Index(known))
    assert cause in text and f"{len(unmatched)} of them" in text and repr(unmatched[0]) in text


def test_no_cause_is_invented():
    assert why_unmatched(["X9"], pd.Index(["C01", "C02"])) == ""

