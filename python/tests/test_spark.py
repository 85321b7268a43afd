"""The Spark recipe on local[2]: `nextbest.spark.score_dataframe` (mapInArrow) scores the
sample world's feature matrix exactly as `nextbest score --features` does."""

import os
import shutil
import sys

import pytest

pyspark = pytest.importorskip("pyspark") if not os.environ.get("CI") else __import__("pyspark")
from pyspark.sql import SparkSession  # noqa: E402

from nextbest.spark import score_dataframe  # noqa: E402
from test_package import ROOT, cli_scores, key, matrix  # noqa: E402,F401


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java 17")
    # Loopback only: Spark would otherwise pick the machine's network address.
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    # Workers run this interpreter (the venv with the package), not whatever python3 is first.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("nextbest-test")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .getOrCreate())
    yield session
    session.stop()


def test_spark_recipe_equals_the_command_line(spark, matrix, tmp_path):
    features = spark.read.parquet(str(matrix)).repartition(4)
    decisions = score_dataframe(features, models=str(ROOT / "models"),
                                catalog=str(ROOT / "datasets/sample/catalog.toml"),
                                policies=str(ROOT / "policies"), top_k=2)
    out = tmp_path / "spark_out"
    decisions.write.parquet(str(out))
    import pyarrow.parquet as pq
    ours = pq.read_table(str(out))
    theirs = cli_scores(matrix, tmp_path / "cli.parquet", "--top-k", "2")
    assert ours.num_rows == theirs.num_rows > 1000
    assert key(ours) == key(theirs)
