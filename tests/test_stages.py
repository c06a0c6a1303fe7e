"""The stage protocol (cxpredict/stages.py): every stage declares what it needs and adds truthfully, and a stage
saved to a bundle folder and loaded back transforms a batch exactly as before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxpredict.actions.strategy import ActionStage
from cxpredict.errors import ConfigError
from cxpredict.explain.stage import DriverStage
from cxpredict.io.bundle import load_bundle
from cxpredict.models.stages import ChurnStage, NpsStage, ReasonStage
from cxpredict.stages import Batch, Stage, check_order, run_stages, stage_named
from cxpredict.workflows.score import OBSERVED_COLUMNS, observed_columns, score_frame, scoring_stages
from cxpredict.workflows.text import TextStage


@pytest.fixture(scope="module")
def scoring(trained_bundle, demo_config):
    """The bundle, its stages in scoring order and a first batch of 600 customers (features and answers)."""
    from cxpredict.data.customers import load_customers

    bundle = load_bundle(trained_bundle)
    data = load_customers(demo_config)
    frame = data.frame.iloc[:600]
    X = bundle.manifest.transform(frame)
    observed = data.score.iloc[:600]
    return bundle, scoring_stages(bundle, demo_config), frame, X, observed


def _batch(demo_config, frame, X, observed) -> Batch:
    return Batch(frame, X, observed_columns(frame.index, observed, demo_config))


def test_every_stage_honours_its_declared_needs_and_adds(scoring, demo_config):
    bundle, stages, frame, X, observed = scoring
    assert [s.name for s in stages] == ["nps", "churn", "drivers", "actions"]
    batch = _batch(demo_config, frame, X, observed)
    for stage in stages:
        assert isinstance(stage, Stage)
        assert set(stage.needs()) <= set(batch.scored.columns), stage.name
        added = stage.transform(batch)
        assert tuple(added.columns) == stage.adds(), stage.name  # exactly its columns, in its order
        assert added.index.equals(frame.index), stage.name
        assert not set(added.columns) & set(batch.scored.columns), stage.name  # a stage adds, never overwrites
        batch.scored = pd.concat([batch.scored, added], axis=1)
    # the sequence above is the one every scoring path runs
    pd.testing.assert_frame_equal(batch.scored.reset_index(drop=True),
                                  score_frame(bundle, frame, demo_config, observed, stages=stages))


def test_a_stage_saved_and_loaded_back_transforms_identically(scoring, demo_config, tmp_path):
    bundle, stages, frame, X, observed = scoring
    nps, churn, drivers, actions = stages
    for stage in stages:
        stage.save(tmp_path)
    loaded_nps = NpsStage.load(tmp_path)
    loaded_reasons = ReasonStage.load(tmp_path)
    assert loaded_reasons is not None and drivers.reasons is not None  # the demo data states reasons
    loaded = [
        loaded_nps,
        ChurnStage.load(tmp_path, demo_config.churn),
        DriverStage.load(tmp_path, drivers.cfg, {"nps": loaded_nps, "reasons": loaded_reasons,
                                                 "manifest": bundle.manifest}),
        ActionStage.load(tmp_path, demo_config.resolved_strategy(), skipped=bundle.skipped).following(actions.inputs),
    ]
    loaded[2].rows = drivers.rows
    for before, after in zip(stages, loaded):
        assert after.adds() == before.adds() and after.needs() == before.needs(), before.name
    first = run_stages(stages, _batch(demo_config, frame, X, observed))
    again = run_stages(loaded, _batch(demo_config, frame, X, observed))
    pd.testing.assert_frame_equal(first, again)
    assert (tmp_path / "segments.json").read_text() == (bundle.path / "segments.json").read_text()


def test_a_churn_only_bundle_has_no_nps_stage_and_churn_needs_nothing(demo_config, trained_bundle):
    bundle = load_bundle(trained_bundle)
    churn = stage_named(scoring_stages(bundle, demo_config), "churn")
    without = ChurnStage(None, demo_config.churn)
    assert without.adds() == ("value", "value_imputed") and without.needs() == ()
    assert set(churn.needs()) <= {"p_detractor", "p_passive", "p_promoter"}


def test_check_order_names_the_stage_and_the_missing_column(scoring):
    _, stages, *_ = scoring
    nps, churn, drivers, actions = stages
    check_order(stages, OBSERVED_COLUMNS)
    with pytest.raises(ConfigError, match="stage 'drivers' needs column.*p_detractor"):
        check_order([drivers, nps, churn, actions], OBSERVED_COLUMNS)
    with pytest.raises(ConfigError, match="stage 'churn' needs column.*p_detractor"):
        check_order([churn, nps], OBSERVED_COLUMNS)


def test_run_stages_replaces_a_column_added_again_and_drops_what_a_stage_consumes():
    class Adds:
        name = "adds"

        def __init__(self, columns, consumed=()):
            self.columns, self.consumed = columns, consumed

        def needs(self):
            return ()

        def adds(self):
            return tuple(self.columns)

        def transform(self, batch):
            return pd.DataFrame({c: np.arange(len(batch.frame)) + i for i, c in enumerate(self.columns)},
                                index=batch.frame.index)

        def consumes(self, columns):
            return tuple(c for c in columns if c in self.consumed)

        def save(self, bundle_dir):
            raise AssertionError("not called")

    frame = pd.DataFrame(index=pd.Index(["a", "b"], name="customer_id"))
    batch = Batch(frame, frame, pd.DataFrame({"x": [1, 2], "uplift_a": [0.1, 0.2]}, index=frame.index))
    out = run_stages([Adds(["y", "x"], consumed=("uplift_a",))], batch)
    assert list(out.columns) == ["y", "x"] and out["x"].tolist() == [1, 2]  # x replaced, moved to the end


def test_text_stage_adds_the_comment_reasons_of_each_scored_customer():
    reasons = pd.DataFrame({"comment_reason_1": pd.array(["price", None], dtype="str"),
                            "comment_reason_1_prob": [0.9, np.nan]}, index=pd.Index(["c2", "c9"], dtype="str"))
    stage = TextStage(models=None, features=None, comment_reasons=reasons)
    scored = pd.DataFrame({"customer_id": pd.array(["c1", "c2"], dtype="str")})
    added = stage.transform(Batch(scored, scored, scored))
    assert tuple(added.columns) == stage.adds() and stage.needs() == ("customer_id",)
    assert added["comment_reason_1"].isna().tolist() == [True, False]
    assert added["comment_reason_1_prob"].tolist()[1] == 0.9
    assert TextStage(None, None, None).adds() == ()


def test_train_hands_each_stage_its_own_settings_section_never_the_whole_config(demo_config):
    from cxpredict.config import Config
    from cxpredict.workflows.train import fitting_order

    models, rules = fitting_order(demo_config)
    assert [stage.name for stage, _ in [*models, *rules]] == ["nps", "churn", "actions", "reasons"]  # drivers: last
    for stage, settings in [*models, *rules]:
        assert not isinstance(settings, Config), stage.name
    assert dict((s.name, x) for s, x in models)["churn"] is demo_config.churn


def test_the_actions_layer_takes_its_sections_never_the_whole_config():
    import ast
    from pathlib import Path

    import cxpredict.actions

    for path in Path(cxpredict.actions.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "cxpredict.config":
                assert "Config" not in {a.name for a in node.names}, path.name
