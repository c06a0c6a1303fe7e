"""What a run needs to be reproduced: seed, config hash, data fingerprints, package versions, model version, timings."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from cxpredict import threads
from cxpredict._version import __version__

PACKAGES = ("cxpredict", "lightgbm", "scikit-learn", "shap", "optuna", "pandas", "numpy", "mlflow", "pyarrow", "pydantic")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_digests(root: str | Path, files: Iterable[str | Path]) -> dict[str, str]:
    """{relative POSIX name: file sha256} of `files` under `root`, sorted by name."""
    root = Path(root)
    return {rel: sha256_file(root / rel) for rel in sorted(Path(f).relative_to(root).as_posix() for f in files)}


def combine_digests(digests: dict[str, str]) -> str:
    """sha256 (hex) over the sorted (name, sha256) pairs of `file_digests`."""
    h = hashlib.sha256()
    for rel in sorted(digests):
        h.update(rel.encode())
        h.update(b"\0")
        h.update(digests[rel].encode())
    return h.hexdigest()


def digest_files(root: str | Path, files: Iterable[str | Path]) -> str:
    """sha256 (hex) over the sorted (relative POSIX name, file sha256) pairs: a folder's content, whatever the
    order its files were written in. Model bundles and Parquet folders are hashed this one way."""
    return combine_digests(file_digests(root, files))


def fingerprint_path(path: str | Path, parts: Iterable[str | Path] | None = None) -> str:
    """First 16 hex of the sha256 of a file's bytes, or of a folder's files (`digest_files`); `parts` limits a
    folder to the files that make up its content (e.g. a Parquet dataset's parts, not its _SUCCESS marker)."""
    path = Path(path)
    if path.is_dir():
        files = parts if parts is not None else [p for p in path.rglob("*") if p.is_file()]
        return digest_files(path, files)[:16]
    return sha256_file(path)[:16]


def git_commit(start: str | Path = ".") -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=start, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def process_seconds() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere): a manifest's stage times then account
    for the interpreter's start, the imports and the config and bundle reading before the first stage too."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 3)
    except (OSError, ValueError, IndexError):  # not Linux, or /proc unreadable: the stages alone
        return None


class Timer:
    """Collects named wall-clock timings for the run manifest; with `progress` (a logger), each finished stage is
    also a progress line, so a long training run shows where it is."""

    def __init__(self, progress: Any = None, what: str = "") -> None:
        self.seconds: dict[str, float] = {}
        self.progress, self.what = progress, what

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - start
            self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 3)
            if self.progress is not None:
                self.progress.info("%s: %s done in %.1f s", self.what, name, took,
                                   extra={"fields": {"event": f"{self.what}.stage", "stage": name,
                                                     "duration_s": round(took, 3)}})


def run_manifest(kind: str, cfg: Any, fingerprints: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The JSON record written beside every output: enough to reproduce or audit the run."""
    return {
        "kind": kind,
        "cxpredict_version": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seed": cfg.seed,
        "config_name": cfg.name,
        "config_hash": cfg.fingerprint(),
        "data_fingerprints": fingerprints,
        "package_versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]),
        "threads": threads.describe(),
        **extra,
    }
