"""nextbest for Python: the batch scorer on pyarrow record batches, and featurisation.

    import pyarrow.parquet as pq
    import nextbest

    scorer = nextbest.BatchScorer(models="models", top_k=3)        # loaded once
    for batch in pq.ParquetFile("features.parquet").iter_batches():
        decisions = scorer.score(batch)                             # pyarrow.RecordBatch

The answers are `nextbest score --features`'s: the same models, policy and rules (see
docs/batch.md). Dictionary-encoded string columns come back as plain strings (what Spark's
mapInArrow expects).
"""

from __future__ import annotations

from typing import Iterator, Optional

import pyarrow as pa
import pyarrow.compute as pc

from . import _native

__all__ = ["BatchScorer", "featurize"]


def _to_ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def _plain_strings(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = []
    fields = []
    for field, column in zip(batch.schema, batch.columns):
        if pa.types.is_dictionary(field.type):
            column = pc.cast(column, pa.string())
            field = pa.field(field.name, pa.string(), field.nullable)
        columns.append(column)
        fields.append(field)
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


class BatchScorer:
    """Models, catalog and policy loaded once; `score` turns feature rows into decisions (or
    predictions with `predictions=True`). Exploration is off unless `explore_seed` is given."""

    def __init__(self, models: str = "models", catalog: str = "datasets/sample/catalog.toml",
                 policies: str = "policies", policy: str = "default", top_k: int = 1,
                 predictions: bool = False, as_of: Optional[str] = None,
                 explore_seed: Optional[int] = None, skip_invalid: bool = False):
        self._native = _native.Scorer(models, catalog, policies, policy, top_k, predictions,
                                      as_of, explore_seed, skip_invalid)

    @property
    def feature_names(self) -> list[str]:
        """The feature columns the models take, in order."""
        return self._native.feature_names()

    def score(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Scores one record batch of feature rows (`customer_id`, `as_of` unless the scorer
        has one, and every feature column); returns one record batch of output rows."""
        reply = self._native.score_ipc(_to_ipc(batch))
        table = pa.ipc.open_stream(reply).read_all()
        out = table.combine_chunks().to_batches()
        if not out:
            return _plain_strings(pa.RecordBatch.from_pylist([], schema=table.schema))
        return _plain_strings(out[0])

    def score_batches(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Scores a stream of record batches (the shape `DataFrame.mapInArrow` wants)."""
        for batch in batches:
            if batch.num_rows:
                yield self.score(batch)


def featurize(events: str, as_of: str, out: str, models: str = "models",
              customers: Optional[str] = None) -> int:
    """Writes the point-in-time feature matrix of an events file (one row per customer, as of
    `as_of`, with the models' feature spec) to the Parquet file `out`; returns its row count."""
    return _native.featurize(events, as_of, out, models, customers)
