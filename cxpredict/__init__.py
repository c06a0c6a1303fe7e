"""cxpredict: predictive NPS, dissatisfaction drivers and churn for every customer, not just the surveyed few."""

from cxpredict._version import __version__

__all__ = ["__version__"]
