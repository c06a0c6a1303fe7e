"""SortedSpool: frames on disk, keys in memory, rows read back in any order the keys decide."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxpredict.io.spool import SortedSpool


def _frames(seed: int = 0) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frames = []
    for size in (5, 0, 17, 9):
        frames.append(pd.DataFrame({"key": rng.integers(0, 4, size).astype(float),
                                    "text": pd.array([f"t{i}" for i in rng.integers(0, 99, size)], dtype="str"),
                                    "when": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 9, size), "h"),
                                    "band": pd.Categorical(rng.choice(["a", "b"], size), categories=["a", "b"])}))
    return frames


def test_rows_come_back_in_the_order_the_keys_give_from_disk_as_from_memory(tmp_path):
    frames = _frames()
    whole = pd.concat(frames, ignore_index=True)
    disk, memory = SortedSpool(["key"], tmp_path, prefix="p"), SortedSpool(["key"])
    for frame in frames:
        disk.add(frame, size=pd.Series(len(frame), index=frame.index))
        memory.add(frame, size=pd.Series(len(frame), index=frame.index))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"p-00000{i}.arrow" for i in range(4)]
    keys = disk.keys()
    assert list(keys.columns) == ["key", "size", "part", "row"] and len(keys) == len(whole)
    order = keys.sort_values("key", ascending=False, kind="stable")
    expected = whole.iloc[order.index].reset_index(drop=True)
    pd.testing.assert_frame_equal(disk.gather(order), expected, check_exact=True)
    pd.testing.assert_frame_equal(memory.gather(order), expected, check_exact=True)
    pd.testing.assert_frame_equal(disk.gather(order.iloc[3:11]), expected.iloc[3:11].reset_index(drop=True))
    assert list(disk.gather(order.iloc[:0]).columns) == list(whole.columns)
    assert list(SortedSpool(["key"], columns=["x", "y"]).gather(keys.iloc[:0]).columns) == ["x", "y"]
