"""Scoring a Spark DataFrame of feature rows with `DataFrame.mapInArrow`: each executor's
Python worker loads the models once and scores the partitions' Arrow batches with nextbest's
batch scorer — the same answers as `nextbest score --features` (tests/test_spark.py checks it).

    from pyspark.sql import SparkSession
    from nextbest.spark import score_dataframe

    spark = SparkSession.builder.master("local[2]").getOrCreate()
    features = spark.read.parquet("features/")              # `nextbest features` output, or a warehouse table
    decisions = score_dataframe(features, models="/srv/nextbest/models", top_k=3)
    decisions.write.parquet("decisions/")

On a cluster, install the wheel on every executor (e.g. `--py-files` is not enough for a
compiled module: use `spark.archives` with a packed venv, or the cluster's library manager) and
give paths every executor can read (a shared file system, or files shipped with `--files`).
"""

from __future__ import annotations

import functools
from typing import Iterator, Optional

import pyarrow as pa

from . import BatchScorer

#: The Spark schema of decision rows (Arrow's unsigned rank becomes a bigint).
DECISIONS_SCHEMA = (
    "customer_id string, as_of timestamp, rank bigint, action_id string, kind string, "
    "channel string, score double, p_convert double, p_convert_no_action double, uplift double, "
    "p_churn double, sentiment double, value double, cost double, customer_value double, "
    "propensity double, explored boolean, policy string, churn_model string, "
    "conversion_model string"
)

#: The Spark schema of prediction rows (`predictions=True`).
PREDICTIONS_SCHEMA = (
    "customer_id string, as_of timestamp, action_id string, p_convert double, "
    "p_convert_no_action double, uplift double, p_churn double, churn_model string, "
    "conversion_model string"
)


@functools.lru_cache(maxsize=4)
def _scorer(models: str, catalog: str, policies: str, policy: str, top_k: int,
            predictions: bool, as_of: Optional[str]) -> BatchScorer:
    # One per worker process and configuration: Spark reuses Python workers across tasks.
    return BatchScorer(models=models, catalog=catalog, policies=policies, policy=policy,
                       top_k=top_k, predictions=predictions, as_of=as_of)


def _spark_types(batch: pa.RecordBatch) -> pa.RecordBatch:
    if "rank" not in batch.schema.names:
        return batch
    columns = [c.cast(pa.int64()) if f.name == "rank" else c
               for f, c in zip(batch.schema, batch.columns)]
    fields = [pa.field("rank", pa.int64(), False) if f.name == "rank" else f
              for f in batch.schema]
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


def score_dataframe(df, models: str, catalog: str = "datasets/sample/catalog.toml",
                    policies: str = "policies", policy: str = "default", top_k: int = 1,
                    predictions: bool = False, as_of: Optional[str] = None):
    """The decisions (or predictions) of every feature row of `df`, as a DataFrame."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        scorer = _scorer(models, catalog, policies, policy, top_k, predictions, as_of)
        for out in scorer.score_batches(batches):
            yield _spark_types(out)

    return df.mapInArrow(run, PREDICTIONS_SCHEMA if predictions else DECISIONS_SCHEMA)
