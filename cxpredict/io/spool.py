"""Frames added batch by batch and read back in an order only all of them decide (work orders: sorted over the
whole run), without holding them: each frame waits on disk as an LZ4 Arrow IPC file (or in memory when no folder
is given) and only a few key columns per row stay in memory, with where each row is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


class SortedSpool:
    """`add` frames (a default RangeIndex each); `keys()` gives every row's key columns plus `part` and `row`;
    sort or filter those, then `gather(keys)` reads the rows they point at, in that order."""

    def __init__(self, key_columns: list[str], directory: str | Path | None = None, prefix: str = "part",
                 columns: list[str] | None = None):
        self.key_columns, self.prefix, self.columns = list(key_columns), prefix, list(columns or [])
        self.directory = Path(directory) if directory is not None else None
        self._frames: list[pd.DataFrame | Path] = []
        self._keys: list[pd.DataFrame] = []

    def add(self, frame: pd.DataFrame, **extra: pd.Series) -> None:
        """Spool `frame`; `extra`: more key columns (aligned with its rows) kept in memory under those names."""
        part = len(self._frames)
        keys = frame[[c for c in self.key_columns if c in frame.columns]].copy()
        for name, values in extra.items():
            keys[name] = values
        keys["part"], keys["row"] = np.int32(part), np.arange(len(frame), dtype=np.int32)
        self._keys.append(keys)
        if self.directory is None:
            self._frames.append(frame)
        else:
            path = self.directory / f"{self.prefix}-{part:06d}.arrow"
            frame.to_feather(path, compression="lz4")
            self._frames.append(path)

    def __len__(self) -> int:
        return len(self._frames)

    def keys(self) -> pd.DataFrame | None:
        """Every row's keys in the order added; None before the first frame."""
        return pd.concat(self._keys, ignore_index=True) if self._keys else None

    def _frame(self, part: int) -> pd.DataFrame:
        frame = self._frames[part]
        return pd.read_feather(frame) if isinstance(frame, Path) else frame

    def gather(self, keys: pd.DataFrame) -> pd.DataFrame:
        """The rows `keys` (rows of `keys()`) point at, in that order; no rows: the first frame's empty head (no
        frame: an empty one with `columns`)."""
        if not self._frames:
            return pd.DataFrame(columns=self.columns)
        part, row = keys["part"].to_numpy(), keys["row"].to_numpy()
        if not len(part):
            return self._frame(0).iloc[:0]
        pieces, positions = [], []
        for p in np.unique(part):  # each spooled frame read once per gather
            at = np.flatnonzero(part == p)
            pieces.append(self._frame(int(p)).iloc[row[at]])
            positions.append(at)
        frame = pd.concat(pieces, ignore_index=True)
        return frame.iloc[np.argsort(np.concatenate(positions), kind="stable")].reset_index(drop=True)
