"""Writing the synthetic demo tables to disk (CSV or Parquet), each file complete or absent."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cxpredict.errors import ConfigError
from cxpredict.io.outputs import atomic_path, write_json
from cxpredict.synthetic.customers import SyntheticCX


# --- writing ----------------------------------------
def write_tables(data: SyntheticCX, directory: str | Path, fmt: Literal["csv", "parquet"] = "csv") -> dict[str, Path]:
    """Write each table, truth.<fmt> and truth.json into `directory`; every file appears only when complete.

    CSV is plain UTF-8 without BOM (these are inputs, not Excel outputs), ISO dates, empty cells for missing.
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"table format must be 'csv' or 'parquet', got {fmt!r}")
    directory = Path(directory)
    paths: dict[str, Path] = {}
    for name, frame in {**data.tables, "truth": data.truth.reset_index()}.items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        paths[name] = directory / f"{name}.{fmt}"
        with atomic_path(paths[name]) as tmp:
            if fmt == "csv":  # Arrow's writer: 5-10x faster than pandas for millions of rows
                pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))
            else:
                pq.write_table(table, tmp)
    paths["truth_json"] = write_json(data.summary(), directory / "truth.json")
    return paths
