"""Grows a feature matrix to N rows for the batch benchmark: the rows of a real matrix
(`nextbest features` on the sample world) repeated under new customer ids, with the feature
spec kept in the file's metadata so that `nextbest score --features` accepts it.

    python make_matrix.py base.parquet 1000000 big.parquet
"""
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def main(source: str, rows: int, target: str) -> None:
    base = pq.read_table(source)
    n = base.num_rows
    index = np.arange(rows) % n
    grown = base.take(pa.array(index))
    ids = pa.array([f"B{i:08d}" for i in range(rows)])
    grown = grown.set_column(grown.schema.get_field_index("customer_id"), "customer_id", ids)
    grown = grown.replace_schema_metadata(base.schema.metadata)
    pq.write_table(grown, target, row_group_size=128 * 1024, compression="snappy")
    print(f"wrote {rows} rows × {grown.num_columns} columns to {target}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
