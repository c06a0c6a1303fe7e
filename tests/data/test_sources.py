"""Where scoring reads customers from: the population table's checks, survey alignment, reading ahead."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from cxpredict.config import FeaturesConfig, config_from_dict
from cxpredict.data.features import FeatureManifest
from cxpredict.data.sources import _UniqueKeys, open_source, read_ahead
from cxpredict.errors import InputError

TRAINING = pd.DataFrame({"plan": ["a", "b", "a", "b"], "charges": [1.0, 2.0, 3.0, 4.0]},
                        index=pd.Index(["c1", "c2", "c3", "c4"], name="customer_id"))


def make_cfg(tmp_path, population: str, batch_size: int = 2):
    (tmp_path / "survey.csv").write_text("customer_id,score\n007,9\nc3,2\n")
    (tmp_path / "customers.csv").write_text("customer_id,plan,charges\nc1,a,1\n")
    raw = {"data": {"survey": {"path": "survey.csv"}, "behaviour": [{"name": "customers", "path": "customers.csv"}],
                    "population": population}, "scoring": {"batch_size": batch_size}}
    return config_from_dict(raw, base_dir=tmp_path)


@pytest.fixture()
def manifest():
    return FeatureManifest.fit(TRAINING, FeaturesConfig())


def test_csv_population_streams_with_training_types_and_survey_answers(tmp_path, manifest):
    # 'plan' looks numeric in the first rows; the manifest says it is a category, and the key stays text
    (tmp_path / "pop.csv").write_text("customer_id,plan,charges,extra\n007,1,5,x\n010,2,6,y\nc3,b,,z\n")
    source = open_source(make_cfg(tmp_path, "pop.csv"), manifest)
    assert source.total_rows is None and source.extra_columns == ["extra"]
    assert set(source.fingerprints) == {"population", "survey"}
    batches = list(source.batches())
    assert [len(b.frame) for b in batches] == [2, 1] and [b.start for b in batches] == [0, 2]
    frame = pd.concat([b.frame for b in batches])
    assert frame.index.tolist() == ["007", "010", "c3"] and frame["plan"].tolist() == ["1", "2", "b"]
    assert pd.api.types.is_float_dtype(frame["charges"])
    observed = pd.concat([b.observed for b in batches])
    assert observed.tolist()[0] == 9.0 and np.isnan(observed.tolist()[1]) and observed.tolist()[2] == 2.0


def test_parquet_folder_population_counts_rows_from_footers(tmp_path, manifest):
    (tmp_path / "pop").mkdir()
    TRAINING.reset_index().iloc[:3].to_parquet(tmp_path / "pop" / "part-0.parquet")
    TRAINING.reset_index().iloc[3:].to_parquet(tmp_path / "pop" / "part-1.parquet")
    source = open_source(make_cfg(tmp_path, "pop", batch_size=3), manifest)
    assert source.total_rows == 4 and sum(len(b.frame) for b in source.batches()) == 4


def test_missing_feature_or_key_column_fails_before_reading(tmp_path, manifest):
    (tmp_path / "pop.csv").write_text("customer_id,plann,charges\nc1,a,1\n")
    with pytest.raises(InputError, match=r"pop\.csv.*'plan'.*did you mean 'plann'"):
        open_source(make_cfg(tmp_path, "pop.csv"), manifest)
    (tmp_path / "pop.csv").write_text("id,plan,charges\nc1,a,1\n")
    with pytest.raises(InputError, match=r"pop\.csv.*customer_id.*data\.key"):
        open_source(make_cfg(tmp_path, "pop.csv"), manifest)


def test_empty_and_repeated_ids_name_the_rows(tmp_path, manifest):
    (tmp_path / "pop.csv").write_text("customer_id,plan,charges\nc1,a,1\n,a,2\n")
    with pytest.raises(InputError, match=r"empty at row 3 \(file lines"):
        list(open_source(make_cfg(tmp_path, "pop.csv"), manifest).batches())
    (tmp_path / "pop.csv").write_text("customer_id,plan,charges\nc1,a,1\nc2,a,2\nc3,b,3\nc1,b,4\n")
    with pytest.raises(InputError, match=r"repeat at rows 2, 5 \(file lines"):
        list(open_source(make_cfg(tmp_path, "pop.csv"), manifest).batches())


def test_unique_keys_finds_every_repeated_position():
    keys = _UniqueKeys()
    keys.add(pd.Series(["a", "b", "c"], dtype="str"))
    keys.add(pd.Series(["d", "a", "e", "d"], dtype="str"))
    assert keys.repeated().tolist() == [0, 3, 4, 6]


def test_read_ahead_keeps_order_and_hands_over_reader_errors():
    assert list(read_ahead(iter(range(20)), depth=2)) == list(range(20))

    def failing():
        yield 1
        raise InputError("broken file")

    seen = []
    with pytest.raises(InputError, match="broken file"):
        for item in read_ahead(failing()):
            seen.append(item)
    assert seen == [1]


def test_read_ahead_stops_its_reader_when_the_consumer_stops():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    for item in read_ahead(endless()):
        if item == 3:
            break
    assert not [t for t in threading.enumerate() if t.name == "cxpredict-read-ahead"]
