"""The thread policy (cxpredict/threads.py): threads from affinity and cgroup quota, overrides honoured, short
OpenMP spins set before the runtimes load, no nested pools anywhere in the package."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cxpredict import threads
from cxpredict.errors import ConfigError

PACKAGE = Path(threads.__file__).parent


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """A fake machine: `cores` in the affinity mask, a cgroup folder the test fills, no CXPREDICT_THREADS."""
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(threads, "_plan", None)

    def set_cores(n: int) -> Path:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)
        return tmp_path
    return set_cores


def test_threads_come_from_the_affinity_mask_not_the_machine(machine):
    root = machine(1)
    plan = threads.resolve(root=root)
    assert (plan.threads, plan.source, plan.usable_cores) == (1, "usable cores", 1)
    assert threads.resolve(root=machine(6)).threads == 6


@pytest.mark.parametrize("cpu_max, cores, expected", [("150000 100000", 8, 2), ("50000 100000", 8, 1),
                                                       ("max 100000", 8, 8), ("400000 100000", 3, 3)])
def test_a_cgroup_v2_quota_bounds_the_cores(machine, cpu_max, cores, expected):
    root = machine(cores)
    (root / "cpu.max").write_text(cpu_max + "\n")
    assert threads.resolve(root=root).threads == expected


def test_a_cgroup_v1_quota_bounds_the_cores(machine):
    root = machine(16)
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.resolve(root=root).threads == 3
    (root / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # unlimited
    assert threads.resolve(root=root).threads == 16


def test_config_n_jobs_overrides_the_cores_and_the_environment_overrides_both(machine, monkeypatch):
    root = machine(4)
    assert (threads.resolve(3, root=root).threads, threads.resolve(3, root=root).source) == (3, "config n_jobs")
    monkeypatch.setenv(threads.ENV, "1")
    plan = threads.resolve(3, root=root)
    assert (plan.threads, plan.source) == (1, threads.ENV)


@pytest.mark.parametrize("raw", ["0", "-2", "two", "1.5"])
def test_a_bad_cxpredict_threads_is_a_config_error_naming_the_variable(machine, monkeypatch, raw):
    machine(2)
    monkeypatch.setenv(threads.ENV, raw)
    with pytest.raises(ConfigError, match=f"{threads.ENV}={raw!r}.*positive whole number") as caught:
        threads.resolve()
    assert caught.value.exit_code == 2


def test_a_section_n_jobs_wins_for_that_section_and_none_takes_the_run_budget(machine):
    machine(4)
    threads.use(3)
    assert threads.count(None) == 3 and threads.count(0) == 3
    assert threads.count(1) == 1
    assert threads.count(-1) == 4  # scikit-learn's "all cores": the usable ones


def test_lightgbm_boosters_get_the_run_budget(machine):
    from cxpredict.models.lgbm import lgbm_params
    from cxpredict.models.nps import NpsClassifier

    machine(4)
    threads.use(1)
    assert lgbm_params(NpsClassifier())["num_threads"] == 1
    assert lgbm_params(NpsClassifier(n_jobs=2))["num_threads"] == 2


@pytest.mark.parametrize("tasks, budget, expected", [(1, 1, (1, 1)), (1, 8, (1, 8)), (3, 2, (2, 1)),
                                                     (5, 8, (5, 1)), (8, 8, (8, 1)), (20, 3, (3, 1)), (2, 8, (2, 4))])
def test_split_never_nests_more_threads_than_the_budget(tasks, budget, expected):
    """Workers first (one per task up to the budget), the threads left over go to each worker."""
    assert threads.split(tasks, budget) == expected


def test_the_manifest_records_the_plan(machine):
    from cxpredict.provenance import run_manifest

    class Cfg:
        seed, name = 1, "x"

        def fingerprint(self):
            return "h"

    machine(2)
    threads.use(None)
    record = run_manifest("score", Cfg(), {})["threads"]
    assert record["threads"] == 2 and record["source"] == "usable cores" and "omp_wait_policy" in record


def _fresh_python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS",
                                                              "NUMBA_NUM_THREADS", threads.ENV)}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True).stdout


def test_import_sets_short_spins_before_the_openmp_runtimes_load():
    out = json.loads(_fresh_python(
        "import json, os, sys, cxpredict; from cxpredict import threads;"
        "print(json.dumps([os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_NUM_THREADS'),"
        " 'lightgbm' in sys.modules, threads.describe()]))"))
    assert out[0] == threads.SPIN_COUNT and out[1] == str(threads.usable_cores()) and out[2] is False
    assert out[3]["waits_set_by_cxpredict"] is True and out[3]["gomp_spincount"] == threads.SPIN_COUNT


@pytest.mark.parametrize("variable, value", [("OMP_WAIT_POLICY", "ACTIVE"), ("OMP_WAIT_POLICY", "PASSIVE"),
                                             ("GOMP_SPINCOUNT", "0")])
def test_import_leaves_a_users_wait_settings_alone(variable, value):
    out = json.loads(_fresh_python("import json, os, cxpredict; from cxpredict import threads;"
                                   "print(json.dumps([os.environ.get('GOMP_SPINCOUNT'), threads.describe()]))",
                                   **{variable: value}))
    assert out[1]["waits_set_by_cxpredict"] is False
    assert out[0] == (value if variable == "GOMP_SPINCOUNT" else None)


def test_import_after_lightgbm_says_the_waits_came_too_late():
    late = json.loads(_fresh_python("import json, lightgbm, cxpredict; from cxpredict import threads;"
                                    "print(json.dumps(threads.describe()))"))
    assert late["waits_set_by_cxpredict"] is False and late["gomp_spincount"] is None


def _parallel_constructs(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            found += [n for n in names if n and n.split(".")[0] in ("joblib", "multiprocessing", "concurrent")]
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "optimize":
            found += ["optimize(n_jobs=...)" for k in node.keywords if k.arg == "n_jobs"]
    return found


def test_no_module_starts_a_pool_of_its_own():
    """Pools nest threads inside workers: any pool must take its sizes from threads.split, so a new one fails here
    until it does (then list it here with the split it uses)."""
    offenders = {str(p.relative_to(PACKAGE)): found for p in PACKAGE.rglob("*.py")
                 if p.name != "threads.py" and (found := _parallel_constructs(ast.parse(p.read_text())))}
    assert offenders == {}


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_the_thread_pool_keeps_the_order_of_its_tasks(workers):
    assert threads.map_split(lambda t: t * t, list(range(7)), workers) == [t * t for t in range(7)]


def test_workers_run_submitted_tasks_side_by_side():
    import threading

    meet = threading.Barrier(2, timeout=10)  # passes only when both tasks run at once
    with threads.workers(2) as pool:
        futures = [pool.submit(lambda k: meet.wait() * 0 + k, k) for k in range(2)]
        assert [f.result() for f in futures] == [0, 1]


def test_numba_kernels_take_the_budget_and_give_the_threads_back(monkeypatch):
    import numba

    before = numba.get_num_threads()
    monkeypatch.setattr(threads, "count", lambda explicit=None: 1)  # the run's budget
    with threads.numba_threads() as n:
        assert n == numba.get_num_threads() == 1
    with threads.numba_threads(10_000) as n:
        assert n == numba.config.NUMBA_NUM_THREADS, "never more than the pool numba started with"
    assert numba.get_num_threads() == before


def test_serial_blas_calls_run_with_one_blas_thread_and_restore_the_budget():
    import numpy  # noqa: F401 - its BLAS loaded
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}
        assert threads.serial_blas_calls(blas_threads)() == {1}
        assert blas_threads() == {2}
