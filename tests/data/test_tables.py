"""Tests for cxpredict.tables: reading CSV / Parquet / Parquet folders whole or in batches, and fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cxpredict.config import ReadOptions
from cxpredict.data.tables import (
    fingerprint_file,
    iter_table_batches,
    read_table,
    rows_text,
    table_columns,
)
from cxpredict.errors import InputError
from cxpredict.provenance import fingerprint_path


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_key_column_stays_text_with_leading_zeros(tmp_path):
    write(tmp_path, "ids.csv", "id,x\n007,1\n010,2\n")
    frame = read_table(tmp_path / "ids.csv", ReadOptions(), column_types={"id": "string"})
    assert frame["id"].tolist() == ["007", "010"] and pd.api.types.is_string_dtype(frame["id"])


def test_fingerprint_changes_with_content_and_not_with_write_order(tmp_path):
    a = write(tmp_path, "a.csv", "x\n1\n")
    before = fingerprint_file(a)
    write(tmp_path, "a.csv", "x\n2\n")
    assert fingerprint_file(a) != before and len(before) == 16
    for order, folder in ((("p1", "p2"), "one"), (("p2", "p1"), "two")):
        (tmp_path / folder).mkdir()
        for name in order:
            pq.write_table(pa.table({"v": [name]}), tmp_path / folder / f"{name}.parquet")
    assert fingerprint_file(tmp_path / "one") == fingerprint_file(tmp_path / "two")


@pytest.mark.parametrize("fmt", ["csv", "parquet", "folder"])
def test_iter_table_batches_exact_sizes_and_same_rows(tmp_path, fmt):
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(25)], "v": np.arange(25.0), "cat": ["None", "a"] * 12 + ["b"]})
    if fmt == "csv":
        path = tmp_path / "t.csv"
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        path = tmp_path / "t.parquet"
        frame.to_parquet(path)
    else:
        path = tmp_path / "parts"
        path.mkdir()
        for i, start in enumerate(range(0, 25, 7)):
            frame.iloc[start:start + 7].to_parquet(path / f"part-{i}.parquet")
    batches = list(iter_table_batches(path, ReadOptions(), batch_size=10, columns=["id", "cat"]))
    assert [len(b) for b in batches] == [10, 10, 5]
    joined = pd.concat(batches, ignore_index=True)
    assert list(joined.columns) == ["id", "cat"] and joined["id"].tolist() == frame["id"].tolist()
    assert joined["cat"].tolist() == frame["cat"].tolist()


def test_iter_table_batches_fails_before_the_first_batch(tmp_path):
    write(tmp_path, "t.csv", "id,v\n1,2\n")
    with pytest.raises(InputError, match=r"t\.csv.*\['w'\]"):
        iter_table_batches(tmp_path / "t.csv", ReadOptions(), batch_size=5, columns=["id", "w"])
    with pytest.raises(InputError, match="nope.csv"):
        iter_table_batches(tmp_path / "nope.csv", ReadOptions(), batch_size=5)


def test_iter_table_batches_wraps_a_late_type_change(tmp_path):
    rows = "".join(f"c{i},{i}\n" for i in range(120_000))  # > 1 MB: the bad value lies beyond the first block
    write(tmp_path, "big.csv", "id,v\n" + rows + "cx,oops\n")
    with pytest.raises(InputError, match=r"big\.csv.*'oops'.*column_types"):
        for _ in iter_table_batches(tmp_path / "big.csv", ReadOptions(), batch_size=50_000):
            pass
    pinned = iter_table_batches(tmp_path / "big.csv", ReadOptions(), batch_size=50_000, column_types={"v": "string"})
    assert sum(len(b) for b in pinned) == 120_001




def test_fingerprint_is_provenance_fingerprint_and_ignores_markers(tmp_path):
    a = write(tmp_path, "a.csv", "x\n1\n")
    assert fingerprint_file(a) == fingerprint_path(a)
    (tmp_path / "parts").mkdir()
    pq.write_table(pa.table({"v": [1]}), tmp_path / "parts" / "part-0.parquet")
    before = fingerprint_file(tmp_path / "parts")
    write(tmp_path / "parts", "_SUCCESS", "")
    write(tmp_path / "parts", ".part-0.parquet.crc", "x")
    assert fingerprint_file(tmp_path / "parts") == before  # Spark's markers are not data
    assert fingerprint_path(tmp_path / "parts") != before  # a plain folder fingerprint counts every file


def test_table_columns_reads_only_the_header(tmp_path):
    write(tmp_path, "t.csv", "id,v,w\n1,2,3\n")
    assert table_columns(tmp_path / "t.csv", ReadOptions()) == ["id", "v", "w"]
    pq.write_table(pa.table({"b": [1], "a": ["x"]}), tmp_path / "t.parquet")
    assert table_columns(str(tmp_path / "t.parquet"), ReadOptions()) == ["b", "a"]


def test_read_table_names_what_asked_for_missing_columns(tmp_path):
    write(tmp_path, "t.csv", "id,v\n1,2\n")
    with pytest.raises(InputError, match=r"t\.csv.*\['w'\] \(population table\)"):
        read_table(tmp_path / "t.csv", ReadOptions(), columns=["id", "w"], what="population table")


# --------------------------------------------------------------------------------------------- encodings
@pytest.mark.parametrize("codec, mark", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                         ("utf-32-le", b"\xff\xfe\x00\x00"), ("utf-32-be", b"\x00\x00\xfe\xff"),
                                         ("utf-8", b"\xef\xbb\xbf")])
def test_byte_order_mark_decides_the_encoding_and_is_named(tmp_path, codec, mark):
    write(tmp_path, "t.csv", mark + "id,städte\n1,Zürich\n".encode(codec))
    notes = []
    frame = read_table(tmp_path / "t.csv", ReadOptions(encoding="latin-1"), warn=notes.append)
    assert list(frame.columns) == ["id", "städte"] and frame["städte"].tolist() == ["Zürich"]
    assert len(notes) == 1 and "byte-order mark" in notes[0] and "latin-1" in notes[0]
    batches = list(iter_table_batches(tmp_path / "t.csv", ReadOptions(), batch_size=10))
    assert batches[0]["städte"].tolist() == ["Zürich"]


def test_utf16_without_a_mark_is_diagnosed_as_such(tmp_path):
    write(tmp_path, "t.csv", "id,v\n1,2\n3,4\n".encode("utf-16-le"))
    with pytest.raises(InputError, match=r"t\.csv.*UTF-16 or UTF-32.*data\.read\.encoding"):
        read_table(tmp_path / "t.csv", ReadOptions())


# --------------------------------------------------------------------------------------------- long fields
def test_a_field_longer_than_a_block_is_read_whole_and_streamed(tmp_path):
    rows = "".join(f"c{i},short\n" for i in range(60_000))
    write(tmp_path, "t.csv", "id,text\n" + rows + "cx," + "a" * (3 << 20) + "\ncy,end\n")
    frame = read_table(tmp_path / "t.csv", ReadOptions())
    assert len(frame) == 60_002 and len(frame["text"].iloc[-2]) == 3 << 20
    streamed = list(iter_table_batches(tmp_path / "t.csv", ReadOptions(), batch_size=25_000))
    assert sum(len(b) for b in streamed) == 60_002  # the restart skipped the rows already delivered
    assert pd.concat(streamed)["id"].tolist() == frame["id"].tolist()
    assert table_columns(tmp_path / "t.csv", ReadOptions()) == ["id", "text"]


# --------------------------------------------------------------------------------------------- quoted line breaks
@pytest.fixture(scope="module")
def fuzz_csv(script_module):
    return script_module("fuzz_csv")


def test_quoted_line_breaks_survive_block_boundaries(tmp_path, fuzz_csv):
    """Quoted LF, CRLF and CR at every offset around a 16-byte block boundary (a quoted CRLF cut between its CR
    and LF lost the LF inside pyarrow), whole and streamed, with the rows after them on their own file lines."""
    for k in range(12):
        path = write(tmp_path, "t.csv", f'id,note\n1,"{"x" * k}\r\n\ny, ""z""\r"\r\n2,end\n3,\n')
        with fuzz_csv.block_size(16):
            frame = read_table(path, ReadOptions(), column_types={"id": "string"})
            streamed = pd.concat(iter_table_batches(path, ReadOptions(), batch_size=1, column_types={"id": "string"}))
        assert frame["note"].tolist()[:2] == ["x" * k + '\r\n\ny, "z"\r', "end"] and frame["note"].isna().tolist()[2]
        assert streamed["note"].tolist()[:2] == frame["note"].tolist()[:2] and streamed["id"].tolist() == ["1", "2", "3"]
    assert rows_text(path, [1, 2]) == "rows 5, 6 (file lines, header = line 1)"  # row 1 starts on line 5


@pytest.mark.parametrize("seed", [0, 1])
def test_csv_reader_reads_what_pythons_csv_module_reads(tmp_path, fuzz_csv, seed):
    """Generated files with quoted line breaks, doubled quotes and delimiters at and around every block boundary
    (small blocks: ~100 boundaries per file), in UTF-8, UTF-16 and cp1252, whole and streamed: no difference."""
    result = fuzz_csv.run(40, seed, tmp_path)
    assert result["differences"] == 0, result["examples"]
    assert result["boundaries_with_quote_or_line_break_within_2_bytes"] > 0.95  # the generator does its job


def _lines_by_loop(content: bytes, rows: int) -> list[int]:
    """The start line of each data row, counted the plain way: line by line, quote parity, blank lines skipped."""
    starts, inside = [], False
    for number, line in enumerate(content.split(b"\n"), start=1):
        if not inside and line.strip(b"\r"):
            starts.append(number)
        inside ^= line.count(b'"') % 2 == 1
    return starts[1:rows + 1]


def test_record_lines_match_a_line_by_line_count_across_chunks(tmp_path, fuzz_csv, monkeypatch):
    """The vectorised line count (csv_bytes.record_lines) against the plain loop, with 80-byte chunks so that
    quotes, CRLFs and blank lines straddle them."""
    import random

    from cxpredict.data import csv_bytes

    monkeypatch.setattr(csv_bytes, "READ_SIZE", 5)
    rng = random.Random(7)
    for i in range(30):
        content, _, encoding = fuzz_csv.tricky_csv(rng, rng.choice([48, 97]))
        if encoding == "utf-16":
            continue
        content = content.replace(b"\n", b"\n\n", 3)  # blank lines too (between or inside records)
        path = write(tmp_path, f"f{i}.csv", content)
        expected = _lines_by_loop(content, 10_000)
        found = csv_bytes.record_lines(path, list(range(len(expected))), '"')
        assert [found[p] for p in range(len(expected))] == expected, i


@pytest.mark.slow
def test_csv_reader_fuzz_target_500_files(tmp_path, fuzz_csv):
    """The issue's target: 0 differences from Python's csv module over 500 generated files (~1 min)."""
    result = fuzz_csv.run(500, 0, tmp_path)
    assert result["files"] == 500 and result["differences"] == 0, result["examples"]


def test_quoting_can_be_turned_off(tmp_path):
    write(tmp_path, "t.csv", 'id,height\n1,5"11\n2,6"\n')
    frame = read_table(tmp_path / "t.csv", ReadOptions(quote_char=""))
    assert frame["height"].tolist() == ['5"11', '6"']


# --------------------------------------------------------------------------------------------- extreme numbers
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_infinite_and_too_large_numbers_are_missing_with_one_warning(tmp_path, fmt):
    values = [1.0, float("inf"), -float("inf"), 1e308, -2e15, 5.0, float("nan")]
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(7)], "x": values, "n": [1, 2, 3, 4, 5, 6, 7]})
    path = tmp_path / f"t.{fmt}"
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
    notes = []
    read = read_table(path, ReadOptions(), warn=notes.append)
    assert read["x"].isna().tolist() == [False, True, True, True, True, False, True]
    assert read["x"].iloc[[0, 5]].tolist() == [1.0, 5.0] and read["n"].tolist() == list(range(1, 8))
    assert len(notes) == 1 and "t." + fmt in notes[0] and "'x': 4 row(s)" in notes[0]
    notes.clear()
    streamed = pd.concat(iter_table_batches(path, ReadOptions(), batch_size=3, warn=notes.append))
    assert streamed["x"].isna().sum() == 5 and len(notes) == 1 and "'x': 4 row(s)" in notes[0]  # one, at the end


def test_extreme_mask_is_the_one_threshold():
    from cxpredict.data.numbers import MAX_ABS, extreme_mask

    values = np.array([np.nan, np.inf, -np.inf, MAX_ABS, -MAX_ABS * 1.01, 0.0, 1e308])
    assert extreme_mask(values).tolist() == [False, True, True, False, True, False, True]  # NaN: already missing


# --------------------------------------------------------------------------------------------- fuzzing
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
CSV_BYTES = st.one_of(
    st.binary(max_size=400),
    st.lists(st.lists(st.sampled_from(["id", "1", "x", "", '"', '""', "inf", "-1e400", "nan", "é", "\ufeff", ";",
                                       "\t", "\x00", "007", " a ", "\r"]), max_size=5),
             max_size=8).map(lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8")),
)
READ_OPTIONS = st.builds(ReadOptions, encoding=st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252"]),
                         delimiter=st.sampled_from([",", ";", "\t", "|"]), quote_char=st.sampled_from(['"', "'", ""]))


@FUZZ
@given(content=CSV_BYTES, read=READ_OPTIONS, columns=st.sampled_from([None, ["id"], ["id", "x"]]),
       suffix=st.sampled_from([".csv", ".parquet"]))
def test_fuzz_read_table_raises_only_input_errors(tmp_path, content, read, columns, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(content)
    try:
        frame = read_table(path, read, columns=columns, column_types={"id": "string"} if columns else None)
    except InputError:
        return
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0


@FUZZ
@given(content=CSV_BYTES, read=READ_OPTIONS, batch=st.integers(1, 4))
def test_fuzz_iter_table_batches_raises_only_input_errors(tmp_path, content, read, batch):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    try:
        rows = sum(len(b) for b in iter_table_batches(path, read, batch_size=batch))
    except InputError:
        return
    assert rows > 0


def test_a_streamed_value_of_the_wrong_type_names_its_column(tmp_path):
    """pyarrow says "In CSV column #2"; the user needs the name (a wrong dtype at scoring, issue 23)."""
    path = tmp_path / "population.csv"
    path.write_text("customer_id,plan,age\nc1,a,55\nc2,b,28 years\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"population.csv: column 'age': In CSV column #2: .*'28 years'"):
        list(iter_table_batches(path, ReadOptions(), 10, column_types={"customer_id": "string", "age": "float64"}))
