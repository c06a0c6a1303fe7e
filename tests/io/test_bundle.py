"""Bundles load without pickle, verify their content hash, and refuse what they do not understand."""

import json
import shutil

import pytest

from cxpredict.errors import BundleError
from cxpredict.io.bundle import FORMAT_VERSION, load_bundle


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


def test_bundle_carries_the_training_population_profile_for_drift(trained_bundle):
    b = load_bundle(trained_bundle)
    assert b.drift is not None and b.drift["rows"] == b.metrics["n_customers"]
    assert set(b.drift["features"]) == set(b.manifest.names)
    for name, part in b.drift["features"].items():
        bins = 2 + (len(b.manifest.categorical[name]) if name in b.manifest.categorical  # + unknown, missing
                    else len(b.manifest.numeric[name]["edges"]))  # + above the last edge, missing
        assert len(part["shares"]) == bins and abs(sum(part["shares"]) - 1) < 1e-4, name
    outputs = b.drift["outputs"]
    assert {"predicted_score", "p_detractor"} <= set(outputs)
    assert all(len(o["shares"]) == len(o["edges"]) + 2 for o in outputs.values())
    assert abs(sum(b.drift["predicted_class_shares"].values()) - 1) < 1e-4


def test_tampered_drift_profile_is_refused(trained_bundle, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(trained_bundle, copy)
    profile = json.loads((copy / "drift.json").read_text())
    profile["outputs"]["p_detractor"]["shares"][0] += 0.5  # would hide drift
    (copy / "drift.json").write_text(json.dumps(profile))
    with pytest.raises(BundleError, match="content hash mismatch"):
        load_bundle(copy)


def test_bundle_without_drift_profile_still_loads(trained_bundle, tmp_path):
    from cxpredict.io.bundle import content_hash

    copy = tmp_path / "b"
    shutil.copytree(trained_bundle, copy)
    (copy / "drift.json").unlink()
    info = json.loads((copy / "bundle.json").read_text())
    info["content_hash"] = content_hash(copy)
    (copy / "bundle.json").write_text(json.dumps(info))
    assert load_bundle(copy).drift is None


# --------------------------------------------------------------------------------------------- signatures
def _resave(trained_bundle, tmp_path, monkeypatch, key: str):
    """The session bundle saved again through save_bundle with CXPREDICT_BUNDLE_KEY=key (so it is signed)."""
    from cxpredict.io.bundle import KEY_ENV, save_bundle

    b = load_bundle(trained_bundle)
    monkeypatch.setenv(KEY_ENV, key)
    out = tmp_path / "signed"
    save_bundle(out, b.config, b.manifest, b.nps, components=b.components, metrics=b.metrics,
                fingerprints=b.info["data_fingerprints"], drift_profile=b.drift,
                extra_files={p.name: p.read_text() for p in trained_bundle.glob("*.yaml") if p.name != "config.yaml"}
                | {p.name: p.read_text() for p in trained_bundle.glob("segments.json")})
    return out


def test_with_a_key_bundles_are_signed_and_verified(trained_bundle, tmp_path, monkeypatch):
    from cxpredict.io.bundle import KEY_ENV, SIGNATURE_FILE

    signed = _resave(trained_bundle, tmp_path, monkeypatch, "s3cret")
    assert (signed / SIGNATURE_FILE).read_text().startswith("hmac-sha256:")
    assert load_bundle(signed).content_hash  # verified
    monkeypatch.setenv(KEY_ENV, "another")
    with pytest.raises(BundleError, match="signature mismatch"):
        load_bundle(signed)


def test_without_a_key_unsigned_and_signed_bundles_load_and_the_log_says_so(trained_bundle, tmp_path, monkeypatch,
                                                                           caplog):
    import logging

    from cxpredict.io.bundle import KEY_ENV

    signed = _resave(trained_bundle, tmp_path, monkeypatch, "s3cret")
    monkeypatch.delenv(KEY_ENV)
    with caplog.at_level(logging.INFO, logger="cxpredict"):
        load_bundle(trained_bundle)
        load_bundle(signed)
    assert "it is not signed" in caplog.text and "it is signed, but no key is set" in caplog.text


def test_the_signature_is_not_part_of_the_content_hash(trained_bundle, tmp_path, monkeypatch):
    from cxpredict.io.bundle import content_hash

    signed = _resave(trained_bundle, tmp_path, monkeypatch, "s3cret")
    assert content_hash(signed) == json.loads((signed / "bundle.json").read_text())["content_hash"]
