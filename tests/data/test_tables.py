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
