"""Progress on long commands: a rich bar on a terminal, sparse plain log lines otherwise (schedulers, CI, pipes).
Both show done/total, the rate per second and the time left (ETA) when the total is known.

One helper for tuning trials, training folds and scoring rows, so every long command reports the same way.
Progress goes to stderr so it never mixes with data written to stdout. `CXPREDICT_PROGRESS=0` silences it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

PLAIN_EVERY_SECONDS = 15.0  # a plain line at least this often while work advances
PLAIN_STEPS = 10  # ... and at every 10 % of the total


def _enabled() -> bool:
    return os.environ.get("CXPREDICT_PROGRESS", "1").strip().lower() not in ("0", "false", "no", "off")


def _interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"


class _PlainReporter:
    """Writes 'label: done/total unit (pct) elapsed' lines at each tenth of the total and every few seconds."""

    def __init__(self, total: int | None, label: str, unit: str) -> None:
        self.total, self.label, self.unit = total, label, unit
        self.done = 0
        self.start = self.last_time = time.perf_counter()
        self.last_step = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        step = int(PLAIN_STEPS * self.done / self.total) if self.total else 0
        if step > self.last_step or now - self.last_time >= PLAIN_EVERY_SECONDS:
            self.last_step, self.last_time = step, now
            self._line(now)

    def finish(self) -> None:
        if self.total is None or self.done != self.total or self.last_step < PLAIN_STEPS:
            self._line(time.perf_counter())

    def _line(self, now: float) -> None:
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        total = f"/{self.total}" if self.total is not None else ""
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        speed = f", {rate:,.0f} {self.unit}/s" if rate >= 1 else ""
        left = (self.total or 0) - self.done
        eta = f", ETA {left / rate:.0f}s" if self.total and rate > 0 and left > 0 else ""
        text = f"{self.label}: {self.done}{total} {self.unit}{share} {elapsed:.1f}s{speed}{eta}"
        if logging.getLogger("cxpredict").handlers:  # the CLI's logging: plain or --log-json lines, like every log
            logging.getLogger("cxpredict.workflows.progress").info(text, extra={"fields": {
                "event": f"{self.label}.progress", self.unit: self.done, "total": self.total,
                f"{self.unit}_per_s": round(rate, 1), "duration_s": round(elapsed, 3)}})
        else:
            print(text, file=sys.stderr, flush=True)


@contextmanager
def progress_bar(total: int | None, label: str, unit: str = "items") -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; call it as work completes. Use when the work is not a simple loop (callbacks, batches)."""
    if not _enabled():
        yield lambda n=1: None
        return
    if _interactive():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task) -> Text:
                return Text(f"{task.speed:,.0f} {unit}/s" if task.speed else "")

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                   RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task(label, total=total)
            yield lambda n=1: bar.advance(task, n)
        return
    reporter = _PlainReporter(total, label, unit)
    yield reporter.advance
    reporter.finish()


def progress(iterable: Iterable[T], total: int | None = None, label: str = "working", unit: str = "items") -> Iterator[T]:
    """Iterate `iterable` while reporting progress; `total` defaults to len(iterable) when it has one."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress_bar(total, label, unit) as advance:
        for item in iterable:
            yield item
            advance(1)
