import pandas as pd
import pyarrow.parquet as pq
import pytest

from cxpredict.outputs import TableWriter, atomic_path, write_csv, write_json, write_table


def test_csv_has_bom_and_neutralises_formulas(tmp_path):
    df = pd.DataFrame({"name": ['=HYPERLINK("http://x","y")', "+1", "-cmd", "@SUM(A1)", "ok"], "n": [-1, 2, 3, 4, 5]})
    path = write_csv(df, tmp_path / "s.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert back["name"].tolist() == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-cmd", "'@SUM(A1)", "ok"]
    assert back["n"].tolist() == [-1, 2, 3, 4, 5]  # numbers untouched


def test_failed_write_leaves_previous_file_and_no_temp(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


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


def test_write_table_rejects_unknown_extension(tmp_path):
    from cxpredict.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\.xlsx"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "x.xlsx")


def test_write_json_turns_nan_into_null(tmp_path):
    import json

    path = write_json({"x": float("nan"), "y": [1.5]}, tmp_path / "m.json")
    assert json.loads(path.read_text()) == {"x": None, "y": [1.5]}
