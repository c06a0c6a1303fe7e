"""Pipeline: fit is `cxpredict train`, score is the score command's per-batch function, from_bundle reloads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxpredict import Pipeline, load_bundle
from cxpredict.columns import AFTER_PLAYBOOK
from cxpredict.errors import ConfigError
from cxpredict.workflows.score import score


def test_fit_trains_the_same_models_as_train(demo_config, trained_bundle, tmp_path):
    pipe = Pipeline(demo_config).fit(out=tmp_path / "model")
    assert pipe.train_result_.bundle_path == tmp_path / "model" and pipe.bundle_.path == tmp_path / "model"
    shipped = load_bundle(trained_bundle)
    assert pipe.bundle_.nps.cv_metrics_ == shipped.nps.cv_metrics_
    assert pipe.bundle_.info["config_hash"] == shipped.info["config_hash"]
    X = shipped.manifest.transform(pipe.customers().frame.head(200))
    np.testing.assert_array_equal(pipe.bundle_.nps.predict_proba(X), shipped.nps.predict_proba(X))


def test_score_gives_the_score_commands_columns_and_values(demo_config, trained_bundle, tmp_path):
    pipe = Pipeline.from_bundle(trained_bundle, demo_config)
    batch = pd.read_parquet(score(demo_config, pipe.bundle_, tmp_path / "scored.parquet").path)
    data = pipe.customers()
    mine = pipe.score(data.frame, observed=data.score)
    assert len(mine) == len(batch)
    # run-level columns: capacity ('deferred') is settled over a whole run, the rest are added after the playbook
    common = [c for c in batch.columns if c not in AFTER_PLAYBOOK | {"deferred"}]
    assert set(common) <= set(mine.columns) and len(common) > 20
    by_id = mine.set_index("customer_id").loc[batch["customer_id"]].reset_index()
    pd.testing.assert_frame_equal(by_id[common], batch[common], check_dtype=False, check_exact=False, rtol=1e-9)


def test_score_before_fit_says_what_to_do(demo_config):
    with pytest.raises(ConfigError, match="fit"):
        Pipeline(demo_config).score(pd.DataFrame())


def test_from_config_reads_the_file_with_overrides(demo_config_path):
    pipe = Pipeline.from_config(demo_config_path, ["nps.cv_folds=4"])
    assert pipe.config.nps.cv_folds == 4 and pipe.bundle_ is None


def test_score_with_its_defaults_gives_the_cli_values_on_respondents_too(demo_config, trained_bundle, tmp_path):
    """The README's `pipe.score(frame)`: respondents keep their own answer (observed_*, and their segment and
    action when strategy.class_source is observed), as in the scored file of `cxpredict score`."""
    pipe = Pipeline.from_bundle(trained_bundle, demo_config)
    batch = pd.read_parquet(score(demo_config, pipe.bundle_, tmp_path / "scored.parquet").path)
    data = pipe.customers()
    respondents = data.frame.index[data.is_respondent][:200]
    mine = pipe.score(data.frame.loc[respondents]).set_index("customer_id")
    cli = batch.set_index("customer_id").loc[mine.index]
    common = [c for c in cli.columns if c not in AFTER_PLAYBOOK | {"deferred"} and c in mine.columns]
    assert {"action", "segment", "observed_score"} <= set(common) and cli["observed_score"].notna().all()
    pd.testing.assert_frame_equal(mine[common], cli[common], check_dtype=False, check_exact=False, rtol=1e-9,
                                  check_categorical=False)  # a batch of respondents holds fewer levels
    silent = pipe.score(data.frame.loc[respondents], observed=None)  # everyone as silent, as the pyfunc model
    assert silent["observed_score"].isna().all()
