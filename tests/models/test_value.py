"""The value at stake: the CLV proxy, its placeholders flagged and counted, value at risk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxpredict.config import ValueConfig
from cxpredict.errors import ConfigError, InputError
from cxpredict.models.value import ImputedValues, compute_value, value_at_risk, valued


def test_value_and_value_at_risk():
    frame = pd.DataFrame({"Monthly Charge": [50.0, np.nan, -10.0], "plan": ["a", "b", "c"]})
    value = compute_value(frame, ValueConfig(column="Monthly Charge", months=12, default=100.0))
    assert value.tolist() == [600.0, 100.0, 0.0]
    assert value_at_risk(np.array([0.5, 0.1, 0.9]), value).tolist() == pytest.approx([300.0, 10.0, 0.0])
    assert compute_value(frame, ValueConfig()).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match="did you mean 'Monthly Charge'"):
        compute_value(frame, ValueConfig(column="Monthly Charges"))
    with pytest.raises(InputError, match="numeric"):
        compute_value(frame, ValueConfig(column="plan"))


def test_placeholder_values_are_flagged_and_counted_over_batches():
    frame = pd.DataFrame({"rev": [50.0, np.nan, np.inf, 10.0]}, index=["a", "b", "c", "d"])
    cfg = ValueConfig(column="rev", default=5.0)
    value, imputed = valued(frame, cfg)
    assert value.tolist() == [600.0, 5.0, 5.0, 120.0] and imputed.tolist() == [False, True, True, False]
    counted = ImputedValues()
    counted.add(frame.index[:2], imputed[:2])
    counted.add(frame.index[2:], imputed[2:])
    note = counted.warning(cfg)
    assert "2 of 4 customers have no usable 'rev'" in note and "e.g. b, c" in note and "value_imputed = 1" in note
    assert ImputedValues().warning(cfg) is None
    assert valued(frame, ValueConfig())[1].all()  # no value column: every value is the default
