#!/usr/bin/env python3
"""Journey analytics: nextbest against DuckDB's SQL on the same Parquet file, same results.

Three queries, each timed end to end from the Parquet file (nextbest: the `journeys` command,
reading included; DuckDB: a fresh connection running one SQL statement over `read_parquet`):

1. a 4-step ordered funnel (visit → page_view → add_to_cart → purchase within 7 days),
2. 30-day retention cohorts by first activity,
3. the transition graph of 30-minute sessions with repeats collapsed.

The two run alternately (nextbest, DuckDB, nextbest, DuckDB, …), so that load on a shared
machine falls on both alike. Each pair of answers is compared (step counts, every cohort cell, every edge count) before a
time is reported, wall-clock and CPU (user + system). DuckDB gets the same number of threads as the machine has cores.

    python3 -m venv .venv && .venv/bin/pip install duckdb pandas pyarrow
    nextbest generate --customers 100000 --days 365 --seed 7 --out out/world100k
    cargo build --release
    .venv/bin/python benches/journeys_vs_duckdb.py out/world100k/events.parquet --nextbest target/release/nextbest
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time

import duckdb

DAY_US = 86_400_000_000


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children: nextbest runs as a child,
    DuckDB in this process, so the difference around a call is that call's CPU either way."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def side_by_side(a, b, repeat: int):
    """A B A B …: each run of one right after a run of the other, so that load on a shared
    machine falls on both alike; the best time of each and every time in order (wall-clock
    seconds, and CPU seconds, which load on a shared machine inflates less)."""
    times_a, times_b, result_a, result_b = [], [], None, None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), cpu_seconds()
        result_a = a()
        times_a.append((time.perf_counter() - started, cpu_seconds() - cpu))
        started, cpu = time.perf_counter(), cpu_seconds()
        result_b = b()
        times_b.append((time.perf_counter() - started, cpu_seconds() - cpu))
    return min(t for t, _ in times_a), result_a, min(t for t, _ in times_b), result_b, times_a, times_b


def nextbest(binary: str, args: list[str]) -> dict:
    out = subprocess.run([binary, "journeys", *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def duck(sql: str, threads: int):
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET TimeZone = 'UTC'")
    return con.execute(sql).fetchall()


def funnel_sql(path: str, start: int, end: int, window: int) -> str:
    # Events numbered in (customer, time, file) order; each step is the first later event of its
    # type (an ASOF join), kept if within the window of the start; a customer reaches the most
    # steps any of their starts reaches.
    return f"""
    WITH ev AS (
        SELECT customer_id AS c, epoch_us(timestamp) AS t, event_type AS e,
               row_number() OVER (ORDER BY customer_id, epoch_us(timestamp), file_row_number) AS n
        FROM read_parquet('{path}', file_row_number = true)
        WHERE event_type IN ('visit', 'page_view', 'add_to_cart', 'purchase')),
    s1 AS (SELECT c, t AS t1, n AS n1 FROM ev WHERE e = 'visit' AND t >= {start} AND t < {end}),
    e2 AS (SELECT c, t, n FROM ev WHERE e = 'page_view'),
    e3 AS (SELECT c, t, n FROM ev WHERE e = 'add_to_cart'),
    e4 AS (SELECT c, t, n FROM ev WHERE e = 'purchase'),
    s2 AS (SELECT s1.*, CASE WHEN e2.t - s1.t1 <= {window} THEN e2.n END AS n2
           FROM s1 ASOF LEFT JOIN e2 ON s1.c = e2.c AND e2.n > s1.n1),
    s3 AS (SELECT s2.*, CASE WHEN s2.n2 IS NOT NULL AND e3.t - s2.t1 <= {window} THEN e3.n END AS n3
           FROM s2 ASOF LEFT JOIN e3 ON s2.c = e3.c AND e3.n > coalesce(s2.n2, 9223372036854775806)),
    s4 AS (SELECT s3.*, CASE WHEN s3.n3 IS NOT NULL AND e4.t - s3.t1 <= {window} THEN e4.n END AS n4
           FROM s3 ASOF LEFT JOIN e4 ON s3.c = e4.c AND e4.n > coalesce(s3.n3, 9223372036854775806)),
    best AS (SELECT c, max(1 + (n2 IS NOT NULL)::INT + (n3 IS NOT NULL)::INT + (n4 IS NOT NULL)::INT) AS reached
             FROM s4 GROUP BY c)
    SELECT count(*) FILTER (WHERE reached >= 1), count(*) FILTER (WHERE reached >= 2),
           count(*) FILTER (WHERE reached >= 3), count(*) FILTER (WHERE reached >= 4) FROM best"""


def cohorts_sql(path: str, origin: int, end: int) -> str:
    days = 30 * DAY_US
    return f"""
    WITH ev AS (SELECT customer_id AS c, epoch_us(timestamp) AS t FROM read_parquet('{path}')
                WHERE event_type <> 'action' AND epoch_us(timestamp) < {end}),
    firsts AS (SELECT c, floor((min(t) - {origin}) / {days})::BIGINT AS cohort FROM ev GROUP BY c HAVING min(t) >= {origin}),
    kept AS (SELECT DISTINCT c, floor((t - {origin}) / {days})::BIGINT AS bucket FROM ev WHERE t >= {origin})
    SELECT f.cohort, k.bucket - f.cohort AS age, count(*) FROM firsts f JOIN kept k USING (c)
    WHERE k.bucket >= f.cohort GROUP BY ALL ORDER BY 1, 2"""


def graph_sql(path: str, gap: int) -> str:
    return f"""
    WITH ev AS (
        SELECT customer_id AS c, epoch_us(timestamp) AS t, event_type AS e, file_row_number AS r
        FROM read_parquet('{path}', file_row_number = true)),
    marked AS (
        SELECT *, (lag(c) OVER w IS DISTINCT FROM c OR t - lag(t) OVER w > {gap}) AS new_session FROM ev
        WINDOW w AS (ORDER BY c, t, r)),
    sessions AS (SELECT *, sum(new_session::INT) OVER (ORDER BY c, t, r) AS s FROM marked),
    kept AS (SELECT * FROM sessions QUALIFY new_session OR e IS DISTINCT FROM lag(e) OVER (ORDER BY c, t, r)),
    steps AS (
        SELECT coalesce(CASE WHEN lag(s) OVER w = s THEN lag(e) OVER w END, '(start)') AS a, e AS b,
               lead(s) OVER w IS DISTINCT FROM s AS last FROM kept WINDOW w AS (ORDER BY c, t, r))
    SELECT a, b, count(*) FROM (
        SELECT a, b FROM steps UNION ALL SELECT b, '(end)' FROM steps WHERE last) GROUP BY ALL"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("events")
    parser.add_argument("--nextbest", default="target/release/nextbest")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    path = os.path.abspath(args.events)
    span = duck(f"SELECT min(epoch_us(timestamp)), max(epoch_us(timestamp)) FROM read_parquet('{path}')", args.threads)[0]
    first, last = span
    origin = first // DAY_US * DAY_US
    end = last + 1
    rows = []

    t_nb, nb, t_dd, dd, all_nb, all_dd = side_by_side(
        lambda: nextbest(args.nextbest, ["funnel", path, "--steps", "visit,page_view,add_to_cart,purchase", "--window", "7"]),
        lambda: duck(funnel_sql(path, first, end, 7 * DAY_US), args.threads), args.repeat)
    counts = [s["customers"] for s in nb["groups"][0]["steps"]]
    assert counts == list(dd[0]), (counts, dd)
    rows.append(("4-step funnel", t_nb, t_dd, f"steps {counts}", all_nb, all_dd))

    t_nb, nb, t_dd, dd, all_nb, all_dd = side_by_side(
        lambda: nextbest(args.nextbest, ["cohorts", path, "--cohort", "first-activity", "--period", "30d"]),
        lambda: duck(cohorts_sql(path, origin, end), args.threads), args.repeat)
    cells = {(i, a): k for i, row in enumerate(nb["cohorts"]) for a, k in enumerate(row["retained"]) if k}
    labels = sorted({r[0] for r in dd})
    ref = {(labels.index(c), a): n for c, a, n in dd}
    assert cells == ref, "cohort cells differ"
    rows.append(("30-day retention cohorts", t_nb, t_dd, f"{len(cells)} cells", all_nb, all_dd))

    t_nb, nb, t_dd, dd, all_nb, all_dd = side_by_side(
        lambda: nextbest(args.nextbest, ["paths", path, "--top", "10"]),
        lambda: duck(graph_sql(path, 30 * 60 * 1_000_000), args.threads), args.repeat)
    assert {(e["from"], e["to"]): e["count"] for e in nb["edges"]} == {(a, b): n for a, b, n in dd}, "edges differ"
    rows.append(("transition graph", t_nb, t_dd, f"{len(dd)} edges", all_nb, all_dd))

    events = duck(f"SELECT count(*) FROM read_parquet('{path}')", args.threads)[0][0]
    print(f"{events:,} events; A B A B, best of {args.repeat}; DuckDB {duckdb.__version__} with {args.threads} threads")
    print(f"load average {' '.join(open('/proc/loadavg').read().split()[:3])} after the runs")
    print(f"| query | nextbest (s) | DuckDB (s) | ratio | same answer | every run, wall (CPU): nextbest / DuckDB |")
    print(f"| --- | ---: | ---: | ---: | --- | --- |")
    for name, a, b, what, all_a, all_b in rows:
        runs = ", ".join(f"{x:.2f} ({cx:.2f}) / {y:.2f} ({cy:.2f})" for (x, cx), (y, cy) in zip(all_a, all_b))
        print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.2f}× | yes ({what}) | {runs} |")


if __name__ == "__main__":
    main()
