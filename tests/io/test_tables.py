import pandas as pd
import pyarrow.parquet as pq
import pytest

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
    with pq.ParquetWriter(tmp_path / "seq.parquet", tables[0].schema) as seq:
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
