"""Frames added batch by batch and read back in an order only all of them decide (work orders: sorted over the
whole run), without holding them: each frame waits on disk as an uncompressed Arrow IPC file (or in memory when no
folder is given) and only a few key columns per row stay in memory, with where each row is.

Uncompressed and memory-mapped, because a gather touches every file (the keys are sorted over the whole run): a
file read is then only the rows taken from it, not the whole file decompressed and converted to pandas once per
gather, which made writing the work orders grow with rows x batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather


class SortedSpool:
    """`add` frames (a default RangeIndex each); `keys()` gives every row's key columns plus `part` and `row`;
    sort or filter those, then `gather(keys)` reads the rows they point at, in that order."""

    def __init__(self, key_columns: list[str], directory: str | Path | None = None, prefix: str = "part",
                 columns: list[str] | None = None):
        self.key_columns, self.prefix, self.columns = list(key_columns), prefix, list(columns or [])
        self.directory = Path(directory) if directory is not None else None
        self._frames: list[pa.Table | Path] = []
        self._keys: list[pd.DataFrame] = []

    def add(self, frame: pd.DataFrame, **extra: pd.Series) -> None:
        """Spool `frame`; `extra`: more key columns (aligned with its rows) kept in memory under those names."""
        part = len(self._frames)
        keys = frame[[c for c in self.key_columns if c in frame.columns]].copy()
        for name, values in extra.items():
            keys[name] = values
        keys["part"], keys["row"] = np.int32(part), np.arange(len(frame), dtype=np.int32)
        self._keys.append(keys)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.directory is None:
            self._frames.append(table)
        else:
            path = self.directory / f"{self.prefix}-{part:06d}.arrow"
            feather.write_feather(table, path, compression="uncompressed")
            self._frames.append(path)

    def __len__(self) -> int:
        return len(self._frames)

    def keys(self) -> pd.DataFrame | None:
        """Every row's keys in the order added; None before the first frame."""
        return pd.concat(self._keys, ignore_index=True) if self._keys else None

    def _table(self, part: int) -> pa.Table:
        frame = self._frames[part]
        return feather.read_table(frame, memory_map=True) if isinstance(frame, Path) else frame

    def gather(self, keys: pd.DataFrame) -> pd.DataFrame:
        """The rows `keys` (rows of `keys()`) point at, in that order; no rows: the first frame's empty head (no
        frame: an empty one with `columns`)."""
        if not self._frames:
            return pd.DataFrame(columns=self.columns)
        part, row = keys["part"].to_numpy(), keys["row"].to_numpy()
        if not len(part):
            return self._table(0).slice(0, 0).to_pandas()
        pieces, positions = [], []
        for p in np.unique(part):  # each spooled file mapped once per gather, only its rows taken
            at = np.flatnonzero(part == p)
            pieces.append(self._table(int(p)).take(row[at]))
            positions.append(at)
        table = pa.concat_tables(pieces).take(np.argsort(np.concatenate(positions), kind="stable"))
        return table.to_pandas(split_blocks=True)  # a block per column: picking columns copies nothing
