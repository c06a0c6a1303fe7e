import pandas as pd
import pyarrow.parquet as pq
import pytest

from cxpredict.io.outputs import dictionary_columns
from cxpredict.io.tables import TableWriter


def test_table_writer_appends_batches_atomically(tmp_path):
    for ext in ("csv", "parquet"):
        path = tmp_path / f"scored.{ext}"
        with TableWriter(path) as w:
            w.write(pd.DataFrame({"a": [1, 2], "b": pd.array(["x", None], dtype="str")}))
            assert not path.exists()
            w.write(pd.DataFrame({"a": [3], "b": pd.array(["=y"], dtype="str")}))
        back = pd.read_csv(path, encoding="utf-8-sig") if ext == "csv" else pq.read_table(path).to_pandas()
        assert back["a"].tolist() == [1, 2, 3]
        assert w.rows == 3


def test_parquet_batches_written_in_background_give_the_sequential_bytes(tmp_path):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    batches = [pd.DataFrame({"a": rng.normal(size=n), "b": pd.array(rng.choice(["x", "y", None], n), dtype="str")})
               for n in (5000, 1, 3000)]
    with TableWriter(tmp_path / "bg.parquet") as w:
        for batch in batches:
            w.write(batch)
    tables = [pa.Table.from_pandas(b, preserve_index=False) for b in batches]
    with pq.ParquetWriter(tmp_path / "seq.parquet", tables[0].schema,
                          use_dictionary=dictionary_columns(tables[0].schema, tables[0])) as seq:
        for table in tables:
            seq.write_table(table.cast(tables[0].schema))
    assert (tmp_path / "bg.parquet").read_bytes() == (tmp_path / "seq.parquet").read_bytes()


def test_a_failed_background_parquet_write_is_an_output_error_and_leaves_no_file(tmp_path, monkeypatch):
    from cxpredict.errors import OutputError

    def full_disk(self, table, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    with pytest.raises(OutputError, match="scored.parquet"):
        with TableWriter(tmp_path / "scored.parquet") as w:
            w.write(pd.DataFrame({"a": [1, 2]}))  # the error shows at the next call or at the end
    assert list(tmp_path.iterdir()) == []


def test_parquet_dictionaries_only_where_values_repeat(tmp_path):
    """Floating columns and mostly distinct text (IDs) are written plain (a dictionary of distinct values is built
    only to be dropped); repeating text, categories and integers keep theirs (Parquet bit-packs flags, never with a
    dictionary). The values read back are the same either way."""
    import numpy as np

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"p": rng.random(2000), "score": rng.integers(0, 11, 2000),
                          "segment": pd.Categorical(rng.choice(["a", "b"], 2000)),
                          "id": pd.array([f"C{i}" for i in range(2000)], dtype="str"), "flag": rng.random(2000) < 0.5,
                          "label": pd.array(rng.choice(["x", "y", None], 2000), dtype="str")})
    with TableWriter(tmp_path / "s.parquet") as w:
        w.write(frame)
    chunk = pq.ParquetFile(tmp_path / "s.parquet").metadata.row_group(0)
    dictionary = {chunk.column(i).path_in_schema: chunk.column(i).has_dictionary_page for i in range(chunk.num_columns)}
    assert dictionary == {"p": False, "score": True, "segment": True, "id": False, "flag": False, "label": True}
    pd.testing.assert_frame_equal(pq.read_table(tmp_path / "s.parquet").to_pandas(), frame)


def test_a_last_batch_that_does_not_fit_the_schema_raises_and_leaves_no_file(tmp_path):
    """Batches are converted on the writer's thread, so the last one's error shows when the writer closes: it is
    raised there, and the temporary file is removed as for any failed write."""
    import pyarrow as pa

    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)):
        with TableWriter(tmp_path / "scored.parquet") as w:
            w.write(pd.DataFrame({"a": [1, 2], "b": [None, None]}))  # b: Arrow's null type
            w.write(pd.DataFrame({"a": [3], "b": ["text"]}))  # cannot be cast to null
    assert list(tmp_path.iterdir()) == []
