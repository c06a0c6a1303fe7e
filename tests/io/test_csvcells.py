"""The fast CSV writer writes exactly the bytes pandas' own float formatting wrote before (the reference below)."""

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxpredict.io.csvcells import csv_rows, float_text, with_float_text
from cxpredict.io.outputs import CSV_ENCODING, FORMULA_PREFIXES, CsvDialect, write_csv
from cxpredict.io.tables import TableWriter

DIALECTS = [CsvDialect(), CsvDialect(sep=";", decimal=","), CsvDialect(sep=";", decimal=",", float_format=None),
            CsvDialect(float_format=None), CsvDialect(sep="\t", decimal=",", float_format="%.3f"),
            CsvDialect(float_format="%.0f"), CsvDialect(sep=",", decimal=",", float_format="%.2f"),
            CsvDialect(sep=";", decimal=",", float_format="%.3e")]  # the last one is left to pandas
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 0.125, 0.0000005, 0.0000015, 1.0000005,
           -0.0000005, 1e300, -1e300, 5e-324, 1e-7, 1e16, 9.999e15, 123456.7890125, 0.1, 0.2 + 0.1, 1e-4]
FLOATS = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True),
                   st.integers(-10**9, 10**9).map(lambda k: k / 2**21),  # exact binary ties at several digits
                   st.integers(-10**7, 10**7).map(lambda k: k / 10**6 + 5e-7))
TEXT = st.one_of(st.none(), st.text(alphabet='ab=+-@;,."\'\n\r\t é中', max_size=8))


def old_excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """outputs.excel_safe as it was before the fast writer."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_string_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            text = s.astype("str")
            risky = text.str.startswith(FORMULA_PREFIXES, na=False)
            if risky.any():
                out[col] = text.where(~risky, "'" + text)
    return out


def reference_bytes(frame: pd.DataFrame, dialect: CsvDialect, index: bool = False) -> bytes:
    """The writer before it formatted floats itself: pandas' to_csv, one Python call per float."""
    buffer = io.StringIO()
    old_excel_safe(frame).to_csv(buffer, index=index, lineterminator="\n", **dialect.options())
    return buffer.getvalue().encode(CSV_ENCODING)


def finite_clip(x: np.ndarray, bound: float) -> np.ndarray:
    """Values beyond float32's range would overflow with a warning: clip those, keep inf and NaN."""
    return np.where(np.isfinite(x), np.clip(x, -bound, bound), x)


@st.composite
def frames(draw):
    n = draw(st.integers(0, 12))
    floats = st.lists(FLOATS, min_size=n, max_size=n)
    cols = {
        "p": np.array(draw(floats), dtype=float),
        "q": np.array(draw(floats), dtype=float),
        "f32": finite_clip(np.array(draw(floats), dtype=float), 3e38).astype(np.float32),
        "i": np.array(draw(st.lists(st.integers(-2**62, 2**62), min_size=n, max_size=n)), dtype=np.int64),
        "b": draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        "s": pd.array(draw(st.lists(TEXT, min_size=n, max_size=n)), dtype="str"),
        "o": pd.Series(draw(st.lists(TEXT, min_size=n, max_size=n)), dtype=object),
        "c": pd.Categorical(draw(st.lists(st.sampled_from(["-1.5", "x", "=A1", None]), min_size=n, max_size=n))),
        "d": pd.to_datetime(draw(st.lists(st.dates(), min_size=n, max_size=n))),
        "nf": pd.array(draw(floats), dtype="Float64"),  # nullable floats: still pandas' own path
        "ni": pd.array(draw(st.lists(st.one_of(st.none(), st.integers(-2**62, 2**62)), min_size=n, max_size=n)),
                       dtype="Int64"),
    }
    names = draw(st.lists(st.sampled_from(list(cols)), unique=True, max_size=len(cols)))  # any subset, any order
    return pd.DataFrame({name: cols[name] for name in names})  # without 'd' and 'nf' Arrow joins the rows


@settings(max_examples=300, deadline=None)
@given(frame=frames(), dialect=st.sampled_from(DIALECTS), index=st.booleans())
def test_write_csv_bytes_equal_the_old_writer(tmp_path_factory, frame, dialect, index):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    write_csv(frame, path, index=index, dialect=dialect)
    assert path.read_bytes() == reference_bytes(frame, dialect, index)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(FLOATS, max_size=40), dialect=st.sampled_from(DIALECTS), single=st.booleans())
def test_float_cells_equal_pandas(tmp_path_factory, values, dialect, single):
    """Float columns alone, also a single-column frame (where the csv module quotes an empty row)."""
    values = np.array(values, dtype=float)
    frame = pd.DataFrame({"x": values} if single else {"x": values, "y": -values})
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    write_csv(frame, path, dialect=dialect)
    assert path.read_bytes() == reference_bytes(frame, dialect)


@pytest.mark.parametrize("dialect", DIALECTS[:3])
def test_table_writer_batches_equal_the_old_writer(tmp_path, dialect):
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(3000)], "p": rng.random(3000),
                          "v": rng.normal(0, 1e6, 3000).round(2), "n": rng.integers(0, 9, 3000)})
    frame.loc[::7, "p"] = np.nan
    with TableWriter(tmp_path / "b.csv", dialect=dialect) as writer:
        writer.write(frame.iloc[:1000])
        writer.write(frame.iloc[1000:])
    assert (tmp_path / "b.csv").read_bytes() == reference_bytes(frame, dialect)


def float_cells(values, float_format, decimal):
    """float_text's cells as a list of str (it returns an object array or Arrow text), None where left to pandas."""
    cells = float_text(values, float_format, decimal)
    return None if cells is None else cells.to_pylist() if isinstance(cells, pa.Array) else cells.tolist()


def test_only_plain_fixed_formats_and_commas_are_taken_over():
    values = np.array([1.25, np.nan])
    assert float_cells(values, None, ".") == ["1.25", ""]
    assert float_cells(values, "%.3e", ",") is None
    assert float_cells(values, "%.2f%%", ".") is None
    assert float_cells(values, "%.1f", ",") == ["1,2", ""]


def test_float64_repr_equals_numpy_str_on_random_bit_patterns():
    """pandas writes numpy's str of a float64 where there is no format; the fast path writes Python's repr."""
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2**64, 200_000, dtype=np.uint64).view(np.float64)
    spread = 10 ** rng.uniform(-6, 17, 100_000) * rng.choice([-1, 1], 100_000)  # across the layout thresholds
    values = np.concatenate([values, rng.random(100_000), rng.random(100_000).round(3), spread,
                             spread.round(2), np.round(spread), [1e-4, -1e-4, 1e15, -1e15, 0.0, -0.0, 5e-5]])
    expected = values.astype(str).astype(object)
    expected[np.isnan(values)] = ""
    assert float_cells(values, None, ".") == expected.tolist()


def test_rows_are_joined_by_arrow_for_text_numbers_and_flags_only():
    frame = pd.DataFrame({"id": pd.array(["a", None], dtype="str"), "p": [0.5, np.nan], "n": [1, 2],
                          "b": [True, False], "c": pd.Categorical(["x", None]), "o": ["u", 'v"w'],
                          "ni": pd.array([3, None], dtype="Int64")})
    assert csv_rows(with_float_text(frame, "%.6f", "."), ",") is not None
    for other in (pd.to_datetime(["2026-01-01", None]), pd.array([1.5, None], dtype="Float64"),
                  pd.Series([1, "a"], dtype=object), pd.Series([b"x", "a"], dtype=object)):
        assert csv_rows(frame.assign(other=other), ",") is None  # left to pandas
    assert csv_rows(frame[["id"]], ",") is None  # one column: the csv module quotes an empty row


def test_text_of_several_arrow_pieces_is_written_like_pandas(tmp_path):
    """Concatenated frames keep their str columns as several Arrow chunks (spooled work orders)."""
    part = pd.DataFrame({"id": pd.array(["a,b", None, '=1"'], dtype="str"), "n": pd.array([1, None, 3], dtype="Int64"),
                         "p": [0.25, np.nan, -0.0]})
    frame = pd.concat([part, part.iloc[::-1]], ignore_index=True)
    assert isinstance(pa.array(frame["id"]), pa.ChunkedArray)  # else this test tests nothing
    for dialect in DIALECTS[:3]:
        write_csv(frame, tmp_path / "t.csv", dialect=dialect)
        assert (tmp_path / "t.csv").read_bytes() == reference_bytes(frame, dialect)


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d.float_format and "f" in d.float_format])
def test_repeated_values_are_formatted_once_with_the_same_bytes(tmp_path, dialect):
    """Fixed formats write each distinct value once (rounded columns repeat few values): -0.0 and 0.0 keep their
    own text, NaNs of any bit pattern are empty cells."""
    rng = np.random.default_rng(3)
    payload_nan = np.array([0x7FF8000000000001], dtype=np.int64).view(np.float64)[0]
    values = np.concatenate([rng.normal(0, 0.01, 20_000).round(5), [0.0, -0.0, np.nan, payload_nan, np.inf,
                                                                     -np.inf, 5e-7, -5e-7, 1.5e-6]])
    values = rng.permutation(np.tile(values, 3))
    frame = pd.DataFrame({"u": values, "id": np.arange(len(values)), "f32": values.astype(np.float32)})
    write_csv(frame, tmp_path / "t.csv", dialect=dialect)
    assert (tmp_path / "t.csv").read_bytes() == reference_bytes(frame, dialect)
