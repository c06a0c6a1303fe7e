import json

import pytest

from cxpredict.errors import BundleError
from cxpredict.models.components import read_component_meta


def test_reads_metadata_of_the_supported_version(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"format_version": 2, "seed": 1}))
    assert read_component_meta(tmp_path / "m.json", "NPS model", 2)["seed"] == 1


def test_unreadable_or_missing_metadata_is_a_bundle_error(tmp_path):
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(BundleError, match="unreadable NPS model metadata"):
        read_component_meta(tmp_path / "m.json", "NPS model", 2)
    with pytest.raises(BundleError, match="unreadable"):
        read_component_meta(tmp_path / "absent.json", "NPS model", 2)


def test_other_format_version_is_a_bundle_error(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"format_version": 3}))
    with pytest.raises(BundleError, match="format 3 is not the supported 2"):
        read_component_meta(tmp_path / "m.json", "churn model", 2)
