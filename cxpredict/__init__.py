"""cxpredict: predictive NPS, dissatisfaction drivers and churn for every customer, not just the surveyed few.

The public API (README "Python API"). Names are imported on first use, so `import cxpredict` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from cxpredict import threads
from cxpredict._version import __version__

threads.prepare_environment()  # passive OpenMP waits before LightGBM, numba or scikit-learn load

_API = {
    "NpsClassifier": "cxpredict.models.nps",
    "ResponsePropensity": "cxpredict.models.response",
    "ChurnClassifier": "cxpredict.models.churn",
    "ReasonClassifier": "cxpredict.models.reasons",
    "estimate_population_nps": "cxpredict.estimation.population",
    "PopulationNps": "cxpredict.estimation.population",
    "DriverExplainer": "cxpredict.explain.drivers",
    "Playbook": "cxpredict.actions.playbook",
    "Pipeline": "cxpredict.workflows.pipeline",
    "load_bundle": "cxpredict.io.bundle",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'cxpredict' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
