"""Fixtures of the io tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from factories import scored_frame

from cxpredict.actions.playbook import load_playbook
from cxpredict.actions.segments import Segmenter
from cxpredict.actions.strategy import segment_and_act
from cxpredict.config import DEFAULT_PLAYBOOK, ChurnConfig, StrategyConfig


@pytest.fixture
def acted(repo_root) -> tuple[pd.DataFrame, object]:
    pb = load_playbook(DEFAULT_PLAYBOOK)
    scored = scored_frame(600)
    scored["stated_reasons"] = pd.array(np.where(scored["is_respondent"], "network;billing", None), dtype="str")
    seg = Segmenter.fit(ChurnConfig(), StrategyConfig(value_bands=[0.5, 0.8]), scored["value"].to_numpy())
    frame = segment_and_act(scored, seg, pb)
    frame["deferred"] = frame["deferred"] | (np.arange(len(frame)) % 5 == 0)  # as if capacity ran out for some
    return frame, pb
