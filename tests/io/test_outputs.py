import pandas as pd
import pytest

from cxpredict.io.outputs import (
    atomic_path,
    write_csv,
    write_json,
    write_table,
)
from cxpredict.io.tables import TableWriter


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


# --------------------------------------------------------------------------------------------- write failures
@pytest.mark.parametrize("code, words", [
    ("ENOSPC", "df -h"), ("EDQUOT", "free space"), ("EROFS", "read-only file system"), ("EACCES", "write permission"),
    ("EPERM", "lsattr"), ("EEXIST", "a file where a folder is needed"), ("ENOTDIR", "a file where a folder"),
    ("EISDIR", "a folder where a file is needed"), ("EFBIG", "ulimit -f"), ("ENAMETOOLONG", "shorten"),
])
def test_every_write_failure_names_path_cause_and_fix(tmp_path, code, words):
    import errno
    import os

    from cxpredict.errors import OutputError
    from cxpredict.io.outputs import output_errors

    number = getattr(errno, code)
    with pytest.raises(OutputError) as info, output_errors(tmp_path / "scored.csv"):
        raise OSError(number, os.strerror(number))
    text = str(info.value)
    assert info.value.exit_code == 5 and str(tmp_path / "scored.csv") in text and code in text and words in text


def test_other_os_errors_pass_through(tmp_path):
    import errno

    from cxpredict.io.outputs import output_errors

    with pytest.raises(OSError) as info, output_errors(tmp_path):
        raise OSError(errno.EIO, "I/O error")
    assert type(info.value) is OSError


# --------------------------------------------------------------------------------------------- the folder lock
def test_second_run_fails_fast_or_waits_for_the_first(tmp_path):
    import threading
    import time

    from cxpredict.errors import BusyError
    from cxpredict.io.outputs import LOCK_NAME, output_lock

    with output_lock(tmp_path / "out"):
        assert (tmp_path / "out" / LOCK_NAME).is_file()
        with pytest.raises(BusyError, match=r"in use by pid \d+"), output_lock(tmp_path / "out"):
            pass
    assert not (tmp_path / "out").exists()  # created by the lock, left empty: removed again

    (tmp_path / "out").mkdir()
    held = threading.Event()

    def first():
        with output_lock(tmp_path / "out"):
            held.set()
            time.sleep(0.5)

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    start = time.monotonic()
    with output_lock(tmp_path / "out", wait=10):
        waited = time.monotonic() - start
    thread.join()
    assert 0.2 < waited < 5 and (tmp_path / "out").is_dir() and not list((tmp_path / "out").iterdir())


def _holder(folder, signum):
    """A subprocess that holds the lock of `folder` (SIGTERM handled as the CLI does), killed by `signum`."""
    import signal
    import subprocess
    import sys

    code = ("import sys, time; from cxpredict.io.outputs import output_lock, terminate_gracefully\n"
            "from cxpredict.errors import Interrupted\n"
            "try:\n"
            "    with terminate_gracefully(), output_lock(sys.argv[1]):\n"
            "        print('locked', flush=True); time.sleep(60)\n"
            "except Interrupted as e:\n"
            "    sys.exit(e.exit_code)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    proc.send_signal(signum)
    return proc.wait(timeout=30), signal


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGKILL"])
def test_a_stopped_or_killed_holder_never_blocks_the_next_run(tmp_path, signame):
    import signal

    from cxpredict.io.outputs import LOCK_NAME, output_lock

    (tmp_path / "out").mkdir()
    rc, _ = _holder(tmp_path / "out", getattr(signal, signame))
    if signame == "SIGTERM":
        assert rc == 143 and not (tmp_path / "out" / LOCK_NAME).exists()  # released and removed on the way out
    else:
        assert rc == -9 and (tmp_path / "out" / LOCK_NAME).exists()  # the file stays; the kernel dropped the flock
    with output_lock(tmp_path / "out"):  # at once: no wait, no BusyError
        pass
    assert not (tmp_path / "out" / LOCK_NAME).exists()


def test_a_killed_bundle_build_is_removed_by_the_next(tmp_path):
    import subprocess
    import sys

    from cxpredict.io.outputs import atomic_dir

    code = ("import os, signal, sys; from cxpredict.io.outputs import atomic_dir\n"
            "with atomic_dir(sys.argv[1]) as tmp:\n"
            "    (tmp / 'half.txt').write_text('x'); os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "model")], check=False)
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.cxpid") and leftovers[0].endswith(".tmp")
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "bundle.json").write_text("{}")
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
