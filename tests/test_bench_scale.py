"""scripts/bench_scale.py: the quick run writes every target key (timings are not checked: the machine is shared),
sizes not run are null with a reason, and the competitor processes never outlive the block that started them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def bench(script_module):
    return script_module("bench_scale")


def test_sizes_are_read_and_spelled_as_the_target_keys(bench):
    assert [bench.count(s) for s in ("500k", "2m", "1500", "2.5m")] == [500_000, 2_000_000, 1_500, 2_500_000]
    assert [bench.label(n) for n in (500_000, 2_000_000, 25_000, 1_500)] == ["500k", "2m", "25k", "1500"]
    with pytest.raises(SystemExit, match="not a count"):
        bench.count("lots")


def test_targets_not_run_are_null_with_a_reason_never_invented(bench):
    train = {"500k_25k": {"idle_s": 50.0, "nps_fit_vs_plain_cv": 5.0}}  # no contention run at 500k
    values, missing, met = bench.targets(train, {})
    assert values["train_s_500k_25k"] == 50.0 and met["train_s_500k_25k"] is True
    assert met["nps_fit_vs_plain_cv"] is False
    assert values["contention_ratio"] is None and "not measured" in missing["contention_ratio"]
    assert values["train_s_2m_100k"] is None and "not run" in missing["train_s_2m_100k"]
    assert values["score_rows_per_s_10m"] is None and "not scored" in missing["score_rows_per_s_10m"]
    assert set(values) == set(bench.TARGETS)


def test_a_childs_peak_memory_is_its_own_not_this_processs(bench):
    """Linux carries a parent's high-water RSS into a child across fork and exec; the launcher keeps it out."""
    import numpy as np

    held = np.ones(50_000_000)  # 400 MB in this process, touched
    result = bench.run([sys.executable, "-c", "import sys; print(sys.version_info[0])"], "a small child")
    assert result["stdout"].strip() == "3"
    assert result["peak_rss_mb"] < held.nbytes / 2**20 / 2  # a bare interpreter needs tens of MB, not 400


def test_competitors_are_stopped_even_when_the_block_fails(bench):
    with pytest.raises(RuntimeError), bench.Competitors() as busy:
        procs = list(busy.procs)
        assert len(procs) == 2 and all(p.poll() is None for p in procs)
        raise RuntimeError("a failing benchmark step")
    assert all(p.poll() is not None for p in procs)


def test_stage_seconds_come_from_the_json_log_lines(bench):
    lines = "\n".join([json.dumps({"event": "train.stage", "stage": "churn", "duration_s": 1.5}), "not json",
                       json.dumps({"event": "train.substage", "stage": "nps.nps_fit", "duration_s": 2.0,
                                   "cpu_s": 3.5}),
                       json.dumps({"event": "score.finished", "duration_s": 9.0})])
    assert bench.stage_seconds(lines) == {"churn": 1.5, "nps.nps_fit": 2.0}
    assert bench.stage_seconds(lines, "cpu_s") == {"nps.nps_fit": 3.5}  # only the steps that log their CPU


@pytest.mark.slow
def test_quick_run_writes_every_target_key(repo_root, tmp_path):
    """The smallest run end to end (a few tens of seconds on an idle 2-core machine)."""
    out = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, str(repo_root / "scripts" / "bench_scale.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"bench_scale.py --quick exited {done.returncode}:\n{done.stderr[-4000:]}"
    result = json.loads(out.read_text())
    for key in ("contention_ratio", "train_s_500k_25k", "train_s_2m_100k", "nps_fit_vs_plain_cv",
                "score_rows_per_s_10m", "score_rows_per_s_10m_no_drivers", "score_peak_rss_mb_1m",
                "score_peak_rss_mb_10m", "learn_s_1m", "not_measured", "machine_start", "thread_policy"):
        assert key in result
    size = result["train"]["2k_400"]
    assert {"idle_s", "contended_s", "contention_ratio", "nps_fit_vs_plain_cv", "plain_cv"} <= set(size)
    plain = size["plain_cv"]  # the reference timed on both sides of the idle training, their mean used
    assert len(plain["runs_s"]) == 2 and plain["seconds"] == pytest.approx(sum(plain["runs_s"]) / 2)
    assert {"nps.nps_fit", "churn", "drivers"} <= set(size["idle"]["stages"]) and size["idle"]["peak_rss_mb"] > 0
    assert {"rows_per_s", "rows_per_s_no_drivers", "peak_rss_mb", "learn_s"} <= set(result["score"]["2k"])
    assert result["score"]["2k"]["drivers_rows"] == result["score_drivers_rows"] == "all"  # the mode measured
