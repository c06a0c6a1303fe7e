"""The per-customer path on Spark: the event features built by Spark (data.engine: spark, data/spark_events.py),
then every customer scored on the executors by the bundle's pyfunc model (tracking.spark_udf, the same
`score_frame` as `cxpredict score`), written by Spark's own Parquet writer.

Why this split: what is per customer (event windows over the events, the models, drivers, reasons, segment and
playbook columns) scales out; what needs the whole population at once (survey answers, capacity and `deferred`,
control groups, the population estimate, key driver analysis, drift, the work-order files) runs on one machine.
There, `cxpredict score CONFIG --features F.parquet` reads the feature table Spark built
(`cxpredict features CONFIG --out F.parquet --set data.engine=spark`) instead of the events, so the events never
reach that machine. The feature table (one row per customer) passes through the driver on its way to the
executors: memory follows the customers, not the events.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa

from cxpredict.config import Config
from cxpredict.data.customers import load_customers
from cxpredict.data.spark_events import local_session, quiet_pyspark
from cxpredict.io import tracking
from cxpredict.workflows.pyfunc import _plain, save_pyfunc


def spark_score(cfg: Config, model: str | Path, out: str | Path, spark=None) -> Path:
    """Build the features with Spark and score them with the pyfunc model of `model` (a bundle folder, or
    `models:/NAME@ALIAS`); write the per-customer scored columns (customer_id first; the pyfunc model's columns,
    workflows/pyfunc.py) to the Parquet folder `out`. `spark`: the session (default: the active one, else local
    mode on the run's threads, stopped at the end)."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    session = spark or SparkSession.getActiveSession()
    started = session is None
    session = session or local_session()
    try:
        data = load_customers(cfg.model_copy(update={"data": cfg.data.model_copy(update={"engine": "spark"})}))
        rows = _plain(data.frame.rename_axis(cfg.data.key).reset_index())
        customers = session.createDataFrame(pa.Table.from_pandas(rows, preserve_index=False))
        with tempfile.TemporaryDirectory(prefix="cxpredict-pyfunc-") as folder, quiet_pyspark():
            uri = str(model) if tracking.is_tracking_uri(str(model)) else \
                str(save_pyfunc(model, Path(folder) / "model"))
            scores = tracking.spark_udf(session, uri)
            scored = customers.select(scores(F.struct(*[F.col(f"`{c}`") for c in customers.columns])).alias("cx"))
            scored.select("cx.*").write.mode("overwrite").parquet(str(out))  # runs while the model folder exists
    finally:
        if started:
            session.stop()
    return Path(out)
