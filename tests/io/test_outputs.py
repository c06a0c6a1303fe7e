import pandas as pd
import pyarrow.parquet as pq
import pytest

from cxpredict.io.outputs import (
    TableWriter,
    atomic_path,
    write_csv,
    write_json,
    write_table,
)


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


# --------------------------------------------------------------------------------------------- output sets
def test_staged_outputs_appear_together_manifest_last(tmp_path, monkeypatch):
    import os

    from cxpredict.io import outputs
    from cxpredict.io.outputs import StagedOutputs

    order = []
    real_replace = os.replace
    monkeypatch.setattr(outputs.os, "replace", lambda a, b: (order.append(os.path.basename(b)), real_replace(a, b)))
    with StagedOutputs() as staged:
        write_json({"ok": True}, staged.path(tmp_path / "manifest.json"))
        with TableWriter(tmp_path / "scored.csv", staged=staged) as writer:
            writer.write(pd.DataFrame({"a": [1, 2]}))
        write_table(pd.DataFrame({"b": [3]}), staged.path(tmp_path / "summary.csv"))
        assert not (tmp_path / "scored.csv").exists() and staged.path(tmp_path / "scored.csv").suffix == ".csv"
        staged.commit(last=(tmp_path / "manifest.json",))
    assert order[-3:] == ["scored.csv", "summary.csv", "manifest.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "scored.csv", "summary.csv"]


def test_staged_outputs_failure_keeps_previous_files_and_removes_temps(tmp_path):
    from cxpredict.io.outputs import StagedOutputs

    (tmp_path / "scored.csv").write_text("yesterday")
    with pytest.raises(RuntimeError), StagedOutputs() as staged:
        with TableWriter(tmp_path / "scored.csv", staged=staged) as writer:
            writer.write(pd.DataFrame({"a": [1]}))
        scratch = staged.scratch_dir(tmp_path / "scored.csv")
        (scratch / "spool.parquet").write_text("x")
        raise RuntimeError("killed half-way")
    assert [p.name for p in tmp_path.iterdir()] == ["scored.csv"]
    assert (tmp_path / "scored.csv").read_text() == "yesterday"


def test_stale_temporaries_of_dead_writers_are_swept(tmp_path):
    import os
    import subprocess
    import sys

    from cxpredict.io.outputs import StagedOutputs

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".scored.csv.cxpid{dead_pid}.abc.tmp.csv"
    stale_dir = tmp_path / f".scored.csv.cxpid{dead_pid}.def.tmpdir"
    stale_inner = tmp_path / f"..scored.csv.cxpid{dead_pid}.abc.tmp.csv.x1y2.tmp"  # atomic_path into a staged path
    other = tmp_path / f".other.csv.cxpid{dead_pid}.abc.tmp.csv"  # another output's: not ours to remove
    alive = tmp_path / f".scored.csv.cxpid{os.getppid()}.ghi.tmp.csv"  # a running writer: left alone
    for path in (stale, alive, stale_inner, other):
        path.write_text("partial")
    stale_dir.mkdir()
    with StagedOutputs() as staged:
        staged.path(tmp_path / "scored.csv")
    assert not stale.exists() and not stale_dir.exists() and not stale_inner.exists()
    assert alive.exists() and other.exists()


def test_sigterm_becomes_interrupted_and_is_held_during_commit(tmp_path, monkeypatch):
    import os
    import signal

    from cxpredict.errors import Interrupted
    from cxpredict.io import outputs
    from cxpredict.io.outputs import StagedOutputs, terminate_gracefully

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as info, terminate_gracefully():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between bytecodes
            pass
    assert info.value.exit_code == 143 and signal.getsignal(signal.SIGTERM) == before

    real_replace = os.replace

    def replace_then_kill(a, b):
        real_replace(a, b)
        os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of the renames

    monkeypatch.setattr(outputs.os, "replace", replace_then_kill)
    with pytest.raises(Interrupted), terminate_gracefully(), StagedOutputs() as staged:
        for name in ("a.csv", "b.csv", "manifest.json"):
            staged.path(tmp_path / name).write_text(name)
        staged.commit(last=(tmp_path / "manifest.json",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "manifest.json"]  # all or nothing
