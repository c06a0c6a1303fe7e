"""xlsx workbooks: numbers stored as numbers with their formats, readable headers, frozen header, filters, the
dictionary sheet, the row limit continued on further sheets, and an atomic file."""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pandas as pd
import pytest

from cxpredict.io.xlsx import XlsxTableWriter, sheet_labels, write_xlsx


def _sheets(path) -> dict[str, str]:
    """Sheet name -> its XML, read straight from the xlsx zip."""
    with zipfile.ZipFile(path) as z:
        book = z.read("xl/workbook.xml").decode()
        names = re.findall(r'<sheet name="([^"]+)" sheetId="(\d+)"', book)
        return {name: z.read(f"xl/worksheets/sheet{i}.xml").decode() for name, i in names} | {
            "_styles": z.read("xl/styles.xml").decode()}


def _cell(xml: str, ref: str) -> str:
    m = re.search(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)', xml)
    assert m, f"cell {ref} absent"
    return m.group(0)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": pd.array(["=1+1", "C2"], dtype="str"),
        "as_of": pd.to_datetime(["2026-10-31", "2026-10-31"]),
        "p_detractor": [0.7091, np.nan], "value": [360.0, 12.5], "sla_hours": pd.array([24, None], dtype="Int64"),
        "deferred": [True, False], "segment": pd.Categorical(["detractor/high-risk", None]),
    })


def test_numbers_dates_and_text_keep_their_types_and_formats(frame, tmp_path):
    path = write_xlsx(frame, tmp_path / "scored.xlsx", sheet="Customers", currency="EUR",
                      header=sheet_labels({"value": "Lifetime value"}))
    sheets = _sheets(path)
    assert list(sheets)[:2] == ["Customers", "Columns"]
    xml = sheets["Customers"]
    assert "Detractor probability" in xml and "Lifetime value" in xml and "Data as of" in xml  # readable headers
    assert re.search(r"<v>0\.7091</v>", _cell(xml, "C2")) and 't="' not in _cell(xml, "C2")  # a number
    assert re.search(r"<v>360</v>", _cell(xml, "D2"))
    assert "<v>1</v>" in _cell(xml, "F2") and "<v>0</v>" in _cell(xml, "F3")  # booleans as 1/0 shown yes/no
    assert "&quot;yes&quot;;&quot;yes&quot;;&quot;no&quot;" in sheets["_styles"]
    assert "<v>46326</v>" in _cell(xml, "B2")  # 2026-10-31 as an Excel date serial
    assert "=1+1" in _cell(xml, "A2") and "<f>" not in _cell(xml, "A2")  # text, never a formula
    assert "C3" not in re.findall(r'<c r="(C3)"', xml) or "<v>" not in _cell(xml, "C3")  # NaN left empty
    styles = sheets["_styles"]
    assert 'formatCode="0.0%"' in styles and "&quot;EUR&quot;" in styles and 'formatCode="yyyy-mm-dd"' in styles
    assert re.search(r'<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>', xml)
    assert '<autoFilter ref="A1:G3"/>' in xml
    assert "Predicted probability that the customer is a detractor" in sheets["Columns"]
    assert not list(tmp_path.glob(".*"))


def test_rows_past_the_sheet_limit_continue_on_numbered_sheets(frame, tmp_path):
    with XlsxTableWriter(tmp_path / "big.xlsx", max_rows=3) as writer:  # header + 2 rows per sheet
        for _ in range(3):
            writer.write(frame)
    assert writer.rows == 6
    sheets = _sheets(tmp_path / "big.xlsx")
    assert [n for n in sheets if n.startswith("Customers")] == ["Customers", "Customers (2)", "Customers (3)"]
    for name in ("Customers", "Customers (2)", "Customers (3)"):
        assert "Customer ID" in sheets[name] and '<autoFilter ref="A1:G3"/>' in sheets[name]
    assert "more than one sheet" in sheets["Columns"]


def test_a_failing_block_leaves_no_file(frame, tmp_path):
    with pytest.raises(RuntimeError):
        with XlsxTableWriter(tmp_path / "x.xlsx") as writer:
            writer.write(frame)
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
