"""The whole flow as one Python object: train exactly as `cxpredict train` does, score exactly as the pyfunc model
and Spark do.

`Pipeline.fit` runs `workflows.train.train`, the function the `train` command runs, and writes the same bundle
(the command also records the run in MLflow). `Pipeline.score` runs `workflows.score.score_frame`, the one
per-batch function of `cxpredict score`, the pyfunc model and Spark, with the stages `scoring_stages` builds
(NPS, churn, uplift, drivers and reasons, segments and playbook). Capacity limits of the playbook are settled
over a whole run by `cxpredict score`, not per batch.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxpredict.config import Config, load_config
from cxpredict.data.customers import CustomerData, load_customers, load_survey
from cxpredict.errors import ConfigError
from cxpredict.io.bundle import Bundle, load_bundle
from cxpredict.stages import Stage
from cxpredict.workflows.score import check_compatible, score_frame, scoring_stages
from cxpredict.workflows.train import TrainResult, default_bundle_path, train


SURVEY = "survey"  # Pipeline.score's default `observed`: the config's survey answers, as `cxpredict score`


class Pipeline:
    """`Pipeline.from_config(path).fit()` trains every model into a bundle; `.score(frame)` scores a batch.

    `config` is the validated config; after `fit` (or `from_bundle`), `bundle_` is the loaded bundle and, after
    `fit`, `train_result_` holds the bundle path, metrics and reports of training.
    """

    def __init__(self, config: Config):
        self.config = config
        self.bundle_: Bundle | None = None
        self.train_result_: TrainResult | None = None
        self._stages: list[Stage] | None = None
        self._survey: pd.Series | None = None  # data.survey's scores by customer, read on the first score()

    @classmethod
    def from_config(cls, path: str | Path, overrides: list[str] | None = None) -> Pipeline:
        """A pipeline of a YAML config; `overrides` as on the command line, e.g. ["nps.cv_folds=3"]."""
        return cls(load_config(path, overrides))

    @classmethod
    def from_bundle(cls, path: str | Path, config: Config | None = None) -> Pipeline:
        """A fitted pipeline of a trained bundle (verified on load), scoring with `config` or the bundle's own."""
        bundle = load_bundle(path)
        pipe = cls(config or bundle.config)
        check_compatible(pipe.config, bundle)
        pipe.bundle_ = bundle
        return pipe

    def customers(self) -> CustomerData:
        """The config's tables, read, validated and joined as `train` reads them (frame indexed by customer)."""
        return load_customers(self.config)

    def fit(self, out: str | Path | None = None, data: CustomerData | None = None) -> Pipeline:
        """Train every model and write the bundle to `out` (default outputs/<name>/model, as the command)."""
        self.train_result_ = train(self.config, out or default_bundle_path(self.config), data=data)
        self.bundle_ = load_bundle(self.train_result_.bundle_path)
        self._stages = None
        return self

    def score(self, frame: pd.DataFrame, observed: pd.Series | str | None = SURVEY) -> pd.DataFrame:
        """The scored file's columns for one batch of customers (behaviour columns, index = customer id).

        `observed`: the respondents' scores (same index), kept beside the prediction and, with
        strategy.class_source observed, deciding their segment and action. By default ("survey") the answers of
        the config's data.survey for these customers, as `cxpredict score` takes them, so both give the same
        values; None scores every customer as silent (as the pyfunc model does)."""
        if self.bundle_ is None:
            raise ConfigError("Pipeline.score needs a trained bundle: call fit() first or use Pipeline.from_bundle")
        if isinstance(observed, str):
            if observed != SURVEY:
                raise ConfigError(f"Pipeline.score: observed must be a Series of scores, None or '{SURVEY}', "
                                  f"got {observed!r}")
            observed = self._survey_scores(frame.index)
        if self._stages is None:  # built once, as the score command and the pyfunc model do
            self._stages = scoring_stages(self.bundle_, self.config)
        return score_frame(self.bundle_, frame, self.config, observed=observed, stages=self._stages)

    def _survey_scores(self, index: pd.Index) -> pd.Series | None:
        """The config's survey answers aligned to `index` (read once; None without a survey)."""
        if self.config.data.survey is None:
            return None
        if self._survey is None:
            self._survey = load_survey(self.config)[0]["score"]
        return self._survey.reindex(index.astype("str")).set_axis(index)
