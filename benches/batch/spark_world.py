"""The Spark recipe on a simulated world, against `nextbest score`: scores a feature matrix with
`nextbest.spark.score_dataframe` (mapInArrow) on local[2], then compares its rows with the
command line's output row for row — every column, floats exactly.

    python spark_world.py features.parquet cli.parquet spark_out/ [top_k] [catalog]

Run by benches/batch/spark_world.sh (which builds everything and makes the world). Exits
non-zero when the outputs differ, naming the first differing row and column.
"""
import os
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]


def normalised(table: pa.Table) -> pa.Table:
    """Plain types (dictionaries decoded, rank as int64), sorted by customer and rank."""
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_dictionary(field.type):
            column = column.cast(field.type.value_type)
        elif field.name == "rank":
            column = column.cast(pa.int64())
        elif pa.types.is_timestamp(field.type):
            column = column.cast(pa.timestamp("us", tz="UTC"))
        columns.append(column)
    plain = pa.table(columns, names=table.column_names)
    return plain.sort_by([("customer_id", "ascending"), ("rank", "ascending")])


def first_difference(ours: pa.Table, theirs: pa.Table):
    for name in theirs.column_names:
        a, b = ours.column(name), theirs.column(name)
        if a.equals(b):
            continue
        same = pc.fill_null(pc.equal(a, b), False)
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        bad = pc.invert(pc.or_(same, both_null))
        index = pc.index(bad, True).as_py()
        if index >= 0:
            return name, index, a[index].as_py(), b[index].as_py()
    return None


def main(matrix: str, cli: str, out: str, top_k: int, catalog: str) -> int:
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from nextbest.spark import score_dataframe

    spark = (SparkSession.builder.master("local[2]").appName("nextbest-world")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "2g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    started = time.perf_counter()
    # Four partitions: both cores busy, and each Python worker scores several batches.
    features = spark.read.parquet(matrix).repartition(4)
    decisions = score_dataframe(features, models=str(ROOT / "models"), catalog=catalog,
                                policies=str(ROOT / "policies"), top_k=top_k)
    decisions.write.mode("overwrite").parquet(out)
    seconds = time.perf_counter() - started
    spark.stop()

    ours = normalised(pq.read_table(out))
    theirs = normalised(pq.read_table(cli))
    customers = pc.count_distinct(theirs.column("customer_id")).as_py()
    print(f"spark: {ours.num_rows} rows in {seconds:.1f} s (read, repartition, score, write); "
          f"nextbest score: {theirs.num_rows} rows for {customers} customers")
    if ours.schema.names != theirs.schema.names:
        print(f"DIFFERENT columns: {ours.schema.names} vs {theirs.schema.names}")
        return 1
    if ours.num_rows != theirs.num_rows:
        print(f"DIFFERENT row counts: spark {ours.num_rows}, nextbest score {theirs.num_rows}")
        return 1
    difference = first_difference(ours, theirs)
    if difference is not None:
        name, row, a, b = difference
        print(f"DIFFERENT at sorted row {row}, column {name}: spark {a!r}, nextbest score {b!r}")
        return 1
    print(f"EQUAL: {ours.num_rows} rows, every column identical (floats exactly)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3],
                  int(sys.argv[4]) if len(sys.argv) > 4 else 3,
                  sys.argv[5] if len(sys.argv) > 5 else str(ROOT / "datasets/sample/catalog.toml")))
