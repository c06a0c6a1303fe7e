"""cxpredict: predictive NPS, dissatisfaction drivers and churn for every customer, not just the surveyed few."""

__version__ = "0.1.0"
