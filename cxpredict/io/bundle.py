"""Model bundle: one folder with everything scoring needs, in open formats, verified on load, never unpickled.

Layout: bundle.json (format version, package versions, data fingerprints, config hash, seed, content hash),
config.yaml, features.json, metrics.json, drift.json (the training population's profile for PSI at scoring
time, see drift.py), and one sub-folder per trained component (nps/, churn/, reasons/, ...)
written by that component's own `save(directory)` as LightGBM text models plus JSON. The content hash covers
every file but bundle.json, so a tampered or half-copied bundle is refused with exit code 4.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cxpredict._version import __version__
from cxpredict.config import Config, config_from_dict
from cxpredict.data.features import FeatureManifest
from cxpredict.errors import BundleError, ConfigError
from cxpredict.io.outputs import current_umask
from cxpredict.models.nps import NpsModel
from cxpredict.provenance import digest_files, package_versions

FORMAT_VERSION = 1
BUNDLE_FILE = "bundle.json"
DRIFT_FILE = "drift.json"  # optional: bundles without it score fine, without PSI

# optional components: sub-folder -> "module:Class" with save(directory) / classmethod load(directory)
COMPONENTS: dict[str, str] = {
    "response": "cxpredict.models.response:ResponseModel",
    "churn": "cxpredict.models.churn:ChurnModel",
    "reasons": "cxpredict.models.reasons:ReasonModel",
    "text": "cxpredict.models.text:TextModels",
}


@dataclass
class Bundle:
    path: Path
    config: Config
    manifest: FeatureManifest
    nps: NpsModel
    components: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] | None = None  # training population profile for PSI at scoring time (drift.json)

    @property
    def content_hash(self) -> str:
        return self.info["content_hash"]

    def get(self, name: str) -> Any:
        return self.components.get(name)


def content_hash(directory: Path) -> str:
    """sha256 over the sorted (relative path, file sha256) pairs of every file except bundle.json."""
    return digest_files(directory, [p for p in directory.rglob("*") if p.is_file() and p.name != BUNDLE_FILE])


@contextmanager
def _atomic_dir(final: Path):
    """Build a folder under a temporary name, then swap it into place; a failure leaves the old one intact."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; a bundle is shared with schedulers and analysts
    try:
        yield tmp
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old.{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def save_bundle(
    path: str | Path,
    cfg: Config,
    manifest: FeatureManifest,
    nps: NpsModel,
    components: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    fingerprints: dict[str, str] | None = None,
    extra_files: dict[str, str] | None = None,
    drift_profile: dict[str, Any] | None = None,
) -> Path:
    """Write a bundle atomically. `extra_files` maps relative names to text content (e.g. playbook.yaml);
    `drift_profile` is drift.profile_training's output, written as drift.json."""
    path = Path(path)
    with _atomic_dir(path) as tmp:
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
        (tmp / "features.json").write_text(json.dumps(manifest.to_dict(), indent=1), encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(metrics or {}, indent=2, default=float), encoding="utf-8")
        if drift_profile is not None:
            (tmp / DRIFT_FILE).write_text(json.dumps(drift_profile, indent=1), encoding="utf-8")
        nps.save(tmp / "nps")
        for name, component in (components or {}).items():
            if component is not None:
                component.save(tmp / name)
        for rel, text in (extra_files or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text, encoding="utf-8")
        info = {
            "format_version": FORMAT_VERSION,
            "cxpredict_version": __version__,
            "name": cfg.name,
            "seed": cfg.seed,
            "config_hash": cfg.fingerprint(),
            "data_fingerprints": fingerprints or {},
            "package_versions": package_versions(),
            "components": sorted(["nps", *[n for n, c in (components or {}).items() if c is not None]]),
            "content_hash": content_hash(tmp),
        }
        (tmp / BUNDLE_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return path


def read_bundle_info(path: str | Path) -> dict[str, Any]:
    """Read and check bundle.json: present, parseable, a format this version understands, content unchanged."""
    path = Path(path)
    meta = path / BUNDLE_FILE
    if not path.is_dir() or not meta.is_file():
        raise BundleError(f"{path}: not a model bundle (no {BUNDLE_FILE}); train one with `cxpredict train CONFIG`")
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{meta}: unreadable bundle metadata ({e}); retrain or restore the bundle") from e
    version = info.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format version {version!r} is newer than this cxpredict understands "
            f"({FORMAT_VERSION}); upgrade cxpredict to load it"
        )
    actual = content_hash(path)
    if actual != info.get("content_hash"):
        raise BundleError(
            f"{path}: content hash mismatch (bundle.json says {str(info.get('content_hash'))[:12]}..., files give "
            f"{actual[:12]}...): a file was changed, added or removed after training. Refusing to load; retrain "
            "or restore the bundle."
        )
    return info


def _load_class(spec: str):
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def load_bundle(path: str | Path) -> Bundle:
    """Load a verified bundle. Every model file is LightGBM text or JSON; nothing is unpickled."""
    path = Path(path)
    info = read_bundle_info(path)
    try:
        raw_cfg = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
        cfg = config_from_dict(raw_cfg, base_dir=path, source=path / "config.yaml")
        manifest = FeatureManifest.from_dict(json.loads((path / "features.json").read_text(encoding="utf-8")))
        nps = NpsModel.load(path / "nps")
        components = {
            name: _load_class(spec).load(path / name)
            for name, spec in COMPONENTS.items()
            if (path / name).is_dir()
        }
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        drift = json.loads((path / DRIFT_FILE).read_text(encoding="utf-8")) if (path / DRIFT_FILE).is_file() else None
    except (OSError, KeyError, ValueError, ConfigError) as e:
        raise BundleError(f"{path}: bundle is incomplete or unreadable: {e}") from e
    return Bundle(path=path, config=cfg, manifest=manifest, nps=nps, components=components, info=info, metrics=metrics,
                  drift=drift)
