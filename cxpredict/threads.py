"""The one place that decides how many threads cxpredict uses, and how they wait.

Why: on a shared scheduler worker, OpenMP's default spinning wait makes every LightGBM booster burn the cores
other jobs need, and a booster with more threads than the process may run crawls (measured in issue 20: a fit
50x slower beside two busy processes). So:

- OpenMP threads spin only briefly before they sleep (`GOMP_SPINCOUNT=100000`, unless the user set it or
  `OMP_WAIT_POLICY`): long enough that back-to-back parallel regions of one fit do not sleep on a quiet machine,
  short enough that a thread waiting for a descheduled teammate does not burn a scheduler time slice. Fully
  passive waits (`OMP_WAIT_POLICY=PASSIVE`) cost a small LightGBM fit 4x on a quiet machine; libgomp's default
  spin (300,000) crawls beside busy processes (experiments/threads). The variables are read when an OpenMP
  runtime loads, so `import cxpredict` sets them before LightGBM, numba or scikit-learn load;
- the thread budget is the cores this process may use: its CPU affinity, bounded by a cgroup CPU quota;
- `CXPREDICT_THREADS` (the operator of a shared worker) overrides the config's `n_jobs`, which overrides the
  detected cores; a section's own `n_jobs` (e.g. `nps.params.n_jobs`) still wins for that section alone;
- parallelism is never nested: a pool of workers gets `split(tasks)`, workers x threads per worker <= budget.

Every library reads the budget from here: LightGBM and DuckDB through `count`, numba (driver attributions) through
`count`, BLAS and OpenMP defaults through `use`. The manifest records `describe()`.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from cxpredict.errors import ConfigError

T, R = TypeVar("T"), TypeVar("R")
ENV = "CXPREDICT_THREADS"
CGROUP_ROOT = Path("/sys/fs/cgroup")
SPIN_COUNT = "100000"  # libgomp busy-wait iterations before a waiting thread sleeps (its default: 300,000)
# OpenMP runtimes read these when they load; numba reads its own at import
_LOAD_TIME_LIBRARIES = ("lightgbm", "numba", "sklearn")


@dataclass(frozen=True)
class ThreadPlan:
    threads: int  # the budget: threads for one LightGBM fit, the driver kernel, BLAS
    source: str  # "CXPREDICT_THREADS", "config n_jobs" or "usable cores"
    usable_cores: int  # affinity bounded by the cgroup quota
    affinity_cores: int
    cgroup_quota_cores: float | None
    omp_wait_policy: str | None  # OMP_WAIT_POLICY and GOMP_SPINCOUNT as the OpenMP runtimes saw them at load
    gomp_spincount: str | None
    waits_set_by_cxpredict: bool  # False: the user set them, or a runtime had loaded before cxpredict


_plan: ThreadPlan | None = None
_waits_set = False
_waits_at_load: tuple[str | None, str | None] = (None, None)


def cgroup_quota_cores(root: Path = CGROUP_ROOT) -> float | None:
    """CPU quota of this process's cgroup in cores (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`), None if unlimited."""
    v2 = root / "cpu.max"
    try:
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1_quota, v1_period = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
        if v1_quota.is_file() and v1_period.is_file():
            quota = int(v1_quota.read_text())
            return None if quota <= 0 else quota / int(v1_period.read_text())
    except (OSError, ValueError):  # unreadable or odd cgroup files: no quota known, affinity decides
        return None
    return None


def affinity_cores() -> int:
    """The CPUs this process may run on (not the machine's count: a scheduler may pin a job to a few)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def usable_cores(root: Path = CGROUP_ROOT) -> int:
    quota = cgroup_quota_cores(root)
    cores = affinity_cores()
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


def env_threads() -> int | None:
    """`CXPREDICT_THREADS` as a positive integer; unset or empty is None; anything else is a ConfigError."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"environment variable {ENV}={raw!r} is not a positive whole number of threads. "
                          f"Set it to e.g. 1 or 2, or unset it to use the cores this process may run on.")
    return value


def resolve(n_jobs: int | None = None, root: Path = CGROUP_ROOT) -> ThreadPlan:
    """The plan for a run: CXPREDICT_THREADS, else the config's `n_jobs`, else the usable cores."""
    if n_jobs is not None and n_jobs < 1:
        raise ConfigError(f"n_jobs {n_jobs} must be a positive number of threads (or left out: the usable cores)")
    cores, affinity, quota = usable_cores(root), affinity_cores(), cgroup_quota_cores(root)
    from_env = env_threads()
    if from_env is not None:
        threads, source = from_env, ENV
    elif n_jobs is not None:
        threads, source = n_jobs, "config n_jobs"
    else:
        threads, source = cores, "usable cores"
    return ThreadPlan(threads, source, cores, affinity, quota, *_waits_at_load, _waits_set)


def use(n_jobs: int | None = None) -> ThreadPlan:
    """Fix this process's plan for a run (called by every workflow with the config's `n_jobs`) and cap the
    OpenMP and BLAS defaults to it, so libraries that pick their own thread count stay inside the budget."""
    global _plan
    _plan = resolve(n_jobs)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=_plan.threads)  # every loaded OpenMP and BLAS runtime
    return _plan


def current() -> ThreadPlan:
    """The run's plan, or the default plan when no workflow fixed one (the Python API's estimators)."""
    return _plan if _plan is not None else resolve()


def count(explicit: int | None = None) -> int:
    """Threads for one fit or kernel: a section's own `n_jobs` when given, else the run's budget."""
    if explicit is not None and explicit != 0:
        if explicit < 0:  # scikit-learn's -1 = all usable cores
            return current().usable_cores
        return int(explicit)
    return current().threads


def split(tasks: int, budget: int | None = None) -> tuple[int, int]:
    """(workers, threads per worker) for `tasks` independent jobs: never nested, workers x threads <= budget."""
    budget = current().threads if budget is None else budget
    workers = max(1, min(tasks, budget))
    return workers, max(1, budget // workers)


def map_split(fn: Callable[[T], R], tasks: Sequence[T], workers: int) -> list[R]:
    """fn over tasks, in order, on `workers` threads (one thread: a plain loop). The one home of cxpredict's
    thread pool: callers take `workers` from `split`, so each task's own threads x workers stay in the budget.
    For work that releases the GIL (LightGBM's fits and predictions)."""
    if workers <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    with ThreadPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        return list(pool.map(fn, tasks))


def workers(count: int) -> ThreadPoolExecutor:
    """`count` compute workers for a caller that submits tasks as they become ready (map_split's pool, for work
    that is not one map): the caller takes `count` from `split`/`count` and gives each task one thread."""
    return ThreadPoolExecutor(max_workers=count)


def background(name: str) -> ThreadPoolExecutor:
    """One thread that writes while the caller computes the next batch: it waits on the disk, not on a core, and
    a writer gets one, never a pool, so it stays outside the compute budget. Its futures raise the write's error."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)


def describe() -> dict:
    """For the manifest: the threads used, where the number came from, and the wait policy in force."""
    return asdict(current())


def prepare_environment() -> None:
    """Short OpenMP spins and a default OpenMP/numba thread count from the usable cores, before the runtimes
    load. Variables the user set are left alone. Called once by `import cxpredict`."""
    global _waits_set, _waits_at_load
    loaded = [name for name in _LOAD_TIME_LIBRARIES if name in sys.modules]
    if loaded:  # too late once a runtime has loaded: record what it saw instead of pretending
        _waits_at_load = (os.environ.get("OMP_WAIT_POLICY"), os.environ.get("GOMP_SPINCOUNT"))
        return
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
        _waits_set = True
    _waits_at_load = (os.environ.get("OMP_WAIT_POLICY"), os.environ.get("GOMP_SPINCOUNT"))
    try:
        budget = env_threads() or usable_cores()
    except ConfigError:  # reported with its fix when a workflow resolves the plan; importing must not fail
        budget = usable_cores()
    if "OMP_NUM_THREADS" not in os.environ:  # OpenMP's own default is every CPU, not the cgroup's share
        os.environ["OMP_NUM_THREADS"] = str(budget)
    if "numba" not in sys.modules and "NUMBA_NUM_THREADS" not in os.environ:
        os.environ["NUMBA_NUM_THREADS"] = str(max(budget, usable_cores()))


@contextmanager
def numba_threads(n: int | None = None) -> Iterator[int]:
    """numba's parallel loops on `n` threads (default: the budget, `count`), at most the pool numba started with
    (NUMBA_NUM_THREADS), restored on exit; yields the threads set. The compiled kernels' one way to their threads."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n or count(), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)


@functools.cache
def _threadpools():
    """The BLAS and OpenMP runtimes loaded, found once at first use (by then numpy's and scipy's): a fresh scan
    costs milliseconds, too much for a limit entered once per scoring batch and model."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def serial_blas():
    """A context with one BLAS thread, for work made of thin, memory-bound products (the text models: texts x a
    few topics; calibrations: rows x a few classes), where a second BLAS thread mostly spins and costs CPU others
    could use."""
    return _threadpools().limit(limits=1, user_api="blas")


def serial_blas_calls(fn: Callable[..., R]) -> Callable[..., R]:
    """`fn` run inside `serial_blas` at every call."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with serial_blas():
            return fn(*args, **kwargs)
    return run
