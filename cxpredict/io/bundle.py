"""Model bundle: one folder with everything scoring needs, in open formats, verified on load, never unpickled.

Layout: bundle.json (format version, package versions, data fingerprints, config hash, seed, content hash),
config.yaml, features.json, metrics.json, drift.json (the training population's profile for PSI at scoring
time, see drift.py), and one sub-folder per trained component (nps/, churn/, reasons/, ...)
written by that component's own `save(directory)` as LightGBM text models plus JSON. bundle.json lists the
components and the stages training skipped with why (`skipped`: a churn-only bundle has no nps/).

Two checks on load, each refusing with exit code 4:
- the content hash (sha256 over every file but bundle.json and bundle.sig, stored in bundle.json) catches
  corruption and half copies: a truncated, changed, added or missing file. Anyone can recompute it, so it does
  not stop a deliberate change.
- the signature (optional): with CXPREDICT_BUNDLE_KEY set, training writes bundle.sig, an HMAC-SHA256 of
  bundle.json's bytes (which hold the content hash, so it covers every file) under that key, and loading
  refuses a bundle whose signature is missing or wrong. It stops tampering by anyone without the key. Without a
  key, bundles load as before and the log says they were not verified by a signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from lightgbm.basic import LightGBMError

from cxpredict import threads
from cxpredict._version import __version__
from cxpredict.config import Config, config_from_dict
from cxpredict.data.features import FeatureManifest
from cxpredict.errors import BundleError, ConfigError
from cxpredict.io.outputs import atomic_dir, output_errors, short_write
from cxpredict.models.churn import ChurnClassifier
from cxpredict.models.nps import NpsClassifier
from cxpredict.models.reasons import ReasonClassifier
from cxpredict.models.response import ResponsePropensity
from cxpredict.models.text import TextModels
from cxpredict.models.uplift import UpliftModels
from cxpredict.provenance import digest_files, package_versions

FORMAT_VERSION = 1
BUNDLE_FILE = "bundle.json"
SIGNATURE_FILE = "bundle.sig"
KEY_ENV = "CXPREDICT_BUNDLE_KEY"
SIGNATURE_PREFIX = "hmac-sha256:"
DRIFT_FILE = "drift.json"  # optional: bundles without it score fine, without PSI

# optional components: sub-folder -> class with save(directory) / classmethod load(directory). Classes, not
# "module:Class" strings, so every import is one the layer checks see (bundle.json names sub-folders only).
COMPONENTS: dict[str, type] = {
    "response": ResponsePropensity,
    "invited_response": ResponsePropensity,  # who answers an invitation
    "churn": ChurnClassifier,
    "reasons": ReasonClassifier,
    "text": TextModels,
    "uplift": UpliftModels,  # added by `cxpredict learn` (extend_bundle)
}


log = logging.getLogger(__name__)


@dataclass
class Bundle:
    path: Path
    config: Config
    manifest: FeatureManifest
    nps: NpsClassifier | None  # None: trained without a survey (churn-only)
    components: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    drift: dict[str, Any] | None = None  # training population profile for PSI at scoring time (drift.json)

    @property
    def content_hash(self) -> str:
        return self.info["content_hash"]

    def get(self, name: str) -> Any:
        return self.components.get(name)

    @property
    def skipped(self) -> dict[str, str]:
        """Stages training skipped, with why (Config.absent_stages at training time)."""
        return dict(self.info.get("skipped", {}))


def content_hash(directory: Path) -> str:
    """sha256 over the sorted (relative path, file sha256) pairs of every file except bundle.json and bundle.sig."""
    return digest_files(directory, [p for p in directory.rglob("*")
                                    if p.is_file() and p.relative_to(directory).as_posix() not in UNHASHED])


UNHASHED = (BUNDLE_FILE, SIGNATURE_FILE)


def bundle_key() -> bytes | None:
    """The signing key from CXPREDICT_BUNDLE_KEY (None when unset or empty)."""
    value = os.environ.get(KEY_ENV, "")
    return value.encode("utf-8") if value else None


def signature(metadata: bytes, key: bytes) -> str:
    """bundle.sig's text: HMAC-SHA256 of bundle.json's bytes under `key`."""
    return SIGNATURE_PREFIX + hmac.new(key, metadata, hashlib.sha256).hexdigest() + "\n"


def verify_signature(path: Path, metadata: bytes) -> None:
    """With a key set: the bundle must carry bundle.sig and it must match (BundleError otherwise)."""
    sig = path / SIGNATURE_FILE
    key = bundle_key()
    if key is None:
        log.info("bundle %s loaded without signature check (%s; set %s to require signed bundles)", path,
                 "it is signed, but no key is set" if sig.is_file() else "it is not signed", KEY_ENV)
        return
    if not sig.is_file():
        raise BundleError(f"{path}: the bundle is not signed (no {SIGNATURE_FILE}) and {KEY_ENV} is set, so only "
                          "signed bundles load. Retrain with the key set, or unset the key to accept unsigned "
                          "bundles.")
    try:
        stored = sig.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BundleError(f"{sig}: unreadable signature ({e}); retrain or restore the bundle") from e
    if not hmac.compare_digest(stored.strip(), signature(metadata, key).strip()):
        raise BundleError(f"{sig}: signature mismatch: {BUNDLE_FILE} was changed after signing, or the bundle was "
                          f"signed with another key than {KEY_ENV}. Refusing to load; retrain or restore the "
                          "bundle, or set the key it was signed with.")


@contextmanager
def _library_writes(folder: Path):
    """LightGBM reports a full disk or a file-size limit as its own error ("Cannot write ..."): an OutputError."""
    try:
        yield
    except LightGBMError as e:
        if "Cannot write" not in str(e):
            raise
        raise short_write(folder, f"LightGBM could not write its model file ({e})") from e


def save_bundle(
    path: str | Path,
    cfg: Config,
    manifest: FeatureManifest,
    nps: NpsClassifier | None,
    components: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    fingerprints: dict[str, str] | None = None,
    extra_files: dict[str, str] | None = None,
    drift_profile: dict[str, Any] | None = None,
    skipped: dict[str, str] | None = None,
) -> Path:
    """Write a bundle atomically. `extra_files` maps relative names to text content (e.g. playbook.yaml);
    `drift_profile` is drift.profile_training's output, written as drift.json; `skipped` the stages training
    skipped with why (`nps` None when the NPS stage is among them)."""
    path = Path(path)
    with atomic_dir(path) as tmp, output_errors(path):
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
        (tmp / "features.json").write_text(json.dumps(manifest.to_dict(), indent=1), encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(metrics or {}, indent=2, default=float), encoding="utf-8")
        if drift_profile is not None:
            (tmp / DRIFT_FILE).write_text(json.dumps(drift_profile, indent=1), encoding="utf-8")
        with _library_writes(path):
            if nps is not None:
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
            "threads": threads.describe(),
            "components": sorted([*(["nps"] if nps is not None else []),
                                  *[n for n, c in (components or {}).items() if c is not None]]),
            "skipped": skipped or {},
            "content_hash": content_hash(tmp),
        }
        _write_metadata(tmp, path, info)
    return path


def _write_metadata(tmp: Path, path: Path, info: dict[str, Any]) -> None:
    """bundle.json, and bundle.sig when CXPREDICT_BUNDLE_KEY is set (the last files of a bundle)."""
    metadata = json.dumps(info, indent=2).encode("utf-8")
    (tmp / BUNDLE_FILE).write_bytes(metadata)
    key = bundle_key()
    if key is not None:
        (tmp / SIGNATURE_FILE).write_text(signature(metadata, key), encoding="utf-8")
    log.info("bundle %s written, %s", path, f"signed with {KEY_ENV}" if key is not None else
             f"unsigned ({KEY_ENV} not set)")


def extend_bundle(source: Bundle, path: str | Path, components: dict[str, Any], provenance: dict[str, Any]) -> Path:
    """A new bundle at `path`: `source`'s files plus `components` (each saved by its own `save`), re-hashed, with
    the source's content hash and `provenance` recorded; the source bundle is left as it was."""
    path = Path(path)
    if path.resolve() == Path(source.path).resolve():
        raise ConfigError(f"{path}: the extended bundle must go to a new folder, not over its source bundle")
    with atomic_dir(path) as tmp, output_errors(path):
        for file in Path(source.path).rglob("*"):
            rel = file.relative_to(source.path)
            if file.is_file() and rel.as_posix() not in UNHASHED and rel.parts[0] not in components:
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, tmp / rel)
        with _library_writes(path):
            for name, component in components.items():
                component.save(tmp / name)
        info = {**source.info, "components": sorted({*source.info.get("components", []), *components}),
                "parent_content_hash": source.content_hash, **provenance}
        info["content_hash"] = content_hash(tmp)
        _write_metadata(tmp, path, info)
    return path


def read_bundle_info(path: str | Path) -> dict[str, Any]:
    """Read and check bundle.json: present, parseable, a format this version understands, content unchanged."""
    path = Path(path)
    meta = path / BUNDLE_FILE
    if not path.is_dir() or not meta.is_file():
        raise BundleError(f"{path}: not a model bundle (no {BUNDLE_FILE}); train one with `cxpredict train CONFIG`")
    try:
        metadata = meta.read_bytes()
        info = json.loads(metadata.decode("utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BundleError(f"{meta}: unreadable bundle metadata ({e}); retrain or restore the bundle") from e
    if not isinstance(info, dict):
        raise BundleError(f"{meta}: bundle metadata is not a JSON object; retrain or restore the bundle")
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
    verify_signature(path, metadata)
    return info


def load_bundle(path: str | Path) -> Bundle:
    """Load a verified bundle. Every model file is LightGBM text or JSON; nothing is unpickled."""
    path = Path(path)
    info = read_bundle_info(path)
    try:
        raw_cfg = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
        cfg = config_from_dict(raw_cfg, base_dir=path, source=path / "config.yaml")
        manifest = FeatureManifest.from_dict(json.loads((path / "features.json").read_text(encoding="utf-8")))
        nps = NpsClassifier.load(path / "nps") if "nps" in info.get("components", ["nps"]) else None
        components = {
            name: component.load(path / name)
            for name, component in COMPONENTS.items()
            if (path / name).is_dir()
        }
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        drift = json.loads((path / DRIFT_FILE).read_text(encoding="utf-8")) if (path / DRIFT_FILE).is_file() else None
    except (OSError, KeyError, ValueError, ConfigError) as e:
        raise BundleError(f"{path}: bundle is incomplete or unreadable: {e}") from e
    return Bundle(path=path, config=cfg, manifest=manifest, nps=nps, components=components, info=info, metrics=metrics,
                  drift=drift)
