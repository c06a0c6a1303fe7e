"""Bundles load without pickle, verify their content hash, and refuse what they do not understand."""

import json
import shutil

import pytest

from cxpredict.bundle import FORMAT_VERSION, load_bundle
from cxpredict.errors import BundleError


def test_roundtrip_loads_every_part(trained_bundle):
    b = load_bundle(trained_bundle)
    assert b.info["format_version"] == FORMAT_VERSION
    assert b.manifest.names
    assert (trained_bundle / "nps").is_dir()
    assert not list(trained_bundle.rglob("*.pkl")) and not list(trained_bundle.rglob("*.joblib"))


def test_tampered_file_is_refused(trained_bundle, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(trained_bundle, copy)
    features = copy / "features.json"
    features.write_text(features.read_text().replace('"names"', '"names" ', 1))
    with pytest.raises(BundleError, match="content hash mismatch"):
        load_bundle(copy)


def test_newer_format_is_refused(trained_bundle, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(trained_bundle, copy)
    info = json.loads((copy / "bundle.json").read_text())
    info["format_version"] = FORMAT_VERSION + 1
    (copy / "bundle.json").write_text(json.dumps(info))
    with pytest.raises(BundleError, match="newer"):
        load_bundle(copy)


def test_missing_bundle_is_a_bundle_error(tmp_path):
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)
