"""The Python package against the command line: the same feature matrix scored by
`nextbest.BatchScorer` and by `nextbest score --features` gives the same rows, and
`nextbest.featurize` writes the matrix `nextbest features` would."""

import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import nextbest

ROOT = Path(__file__).resolve().parents[2]
NB = os.environ.get("NEXTBEST_BIN", str(ROOT / "target" / "debug" / "nextbest"))
AS_OF = "2025-11-01"


@pytest.fixture(scope="session")
def matrix(tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "features.parquet"
    rows = nextbest.featurize(str(ROOT / "datasets/sample/events.parquet"), AS_OF, str(out),
                              models=str(ROOT / "models"),
                              customers=str(ROOT / "datasets/sample/customers.parquet"))
    assert rows > 1000
    return out


def cli_scores(matrix, out, *extra):
    subprocess.run([NB, "score", "--features", str(matrix), "--out", str(out), *extra],
                   cwd=ROOT, check=True, capture_output=True)
    return pq.read_table(out)


def key(table):
    rows = table.select(["customer_id", "rank", "action_id", "score", "propensity"]).to_pylist()
    return sorted((r["customer_id"], int(r["rank"]), r["action_id"], r["score"], r["propensity"])
                  for r in rows)


def test_batch_scorer_equals_the_command_line(matrix, tmp_path):
    scorer = nextbest.BatchScorer(models=str(ROOT / "models"),
                                  catalog=str(ROOT / "datasets/sample/catalog.toml"),
                                  policies=str(ROOT / "policies"), top_k=2)
    assert "tenure_days" in scorer.feature_names
    batches = pq.ParquetFile(matrix).iter_batches(batch_size=500)
    ours = pa.Table.from_batches(list(scorer.score_batches(batches)))
    theirs = cli_scores(matrix, tmp_path / "cli.parquet", "--top-k", "2")
    assert ours.num_rows == theirs.num_rows > 1000
    assert key(ours) == key(theirs)
    assert not pa.types.is_dictionary(ours.schema.field("action_id").type)


def test_a_batch_without_a_feature_column_is_refused(matrix):
    scorer = nextbest.BatchScorer(models=str(ROOT / "models"),
                                  catalog=str(ROOT / "datasets/sample/catalog.toml"),
                                  policies=str(ROOT / "policies"))
    batch = next(pq.ParquetFile(matrix).iter_batches(batch_size=10))
    with pytest.raises(ValueError, match="tenure_days"):
        scorer.score(batch.drop_columns(["tenure_days"]))


def test_featurize_writes_the_models_spec(matrix):
    metadata = pq.read_schema(matrix).metadata
    spec = json.loads(metadata[b"nextbest.feature_spec"])
    manifest = json.loads((ROOT / "models/conversion/manifest.json").read_text())
    assert spec == manifest["features"]
