"""Run a loyalty program on Apache Spark, with the results of ``loyalty run``.

    python -m loyalty.spark PROGRAM EVENTS --until DAY --out DIR [--partitions N]

or, in a notebook, ``loyalty.spark.run(spark, program, events_df, until)``.

How: the events (Parquet, CSV, JSON Lines, a catalog table or a
DataFrame) are numbered in input order, then grouped: each member's events
with those of every member and pool its events link it to (the event fields
``Program.split()`` lists: a referral, a transfer, a pool; and events that
share an id, since a copy is a duplicate across members). Groups are dealt
to partitions by a hash, and each partition's events, in input order, run
through one engine inside ``mapInArrow`` (no process per group): the engine
sorts them by time, as ``loyalty run`` does, and runs the clock to the one
``until`` every partition shares. A program with program-wide budgets
cannot be split (one member's award depends on every other member's): it
runs in one partition, and says so.

What comes back is what ``loyalty run --report liability`` writes,
exactly: the members, the ledger rows (as a set: each partition's rows are
in its engine's order, the partitions' in no particular order), the
rejects (``line`` is the record's line in a CSV file with no field spanning
lines, else its row), and the summary and the liability table, added up by
the engine (``merge_summaries``, ``liability``), never in Python. See
docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Union

import pyarrow as pa

from . import LoyaltyError, Program

__all__ = ["run", "SparkResult", "main"]

# The columns added to the events: the record's place in the input, and
# its group.
_POSITION = "_loyalty_position"
_GROUP = "_loyalty_group"
# The column that says which table an output row belongs to.
_TABLE = "_loyalty_table"
_TABLES = ("ledger", "members", "rejects")
# A Spark row id's upper bits are its input partition, the lower 33 its
# place there (`monotonically_increasing_id`).
_ROW_BITS = 33
# Where an id shared by events of several members is a node of the groups
# (apart from every member, pool and referrer name).
_ID_NODE = "\u0000id\u0000"


@dataclass(frozen=True)
class SparkResult:
    """A Spark run: the ledger, members and rejects as DataFrames (typed as
    ``Program.run``'s tables), and the summary as a dict."""

    ledger: Any
    members: Any
    rejects: Any
    summary: dict
    #: The liability table per month, as CSV (``--report liability``'s
    #: ``liability.csv``, at the program's breakage).
    liability: str
    #: Why the run was not split among partitions, or None.
    whole: Optional[str]


def run(
    spark: Any,
    program: Union[Program, str, "os.PathLike[str]"],
    events: Any,
    until: str,
    partitions: Optional[int] = None,
    name: Optional[str] = None,
) -> SparkResult:
    """Runs ``program`` (a ``Program``, or a ``.loyalty`` file's path) on
    ``events`` (a Spark DataFrame, or a path read by ``read_events``)
    through ``until`` (a day, ``2026-03-31``, or an instant) in
    ``partitions`` partitions (the session's default parallelism if not
    given). ``name`` is the events' file as rejects name it (the path by
    default). The result's DataFrames are persisted: ``unpersist`` them
    when done."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType

    if not isinstance(program, Program):
        program = Program.from_file(program)
    # Row ids are the same each time a file is scanned, not always each
    # time a DataFrame's (or a catalog view's) lineage is computed.
    from_file = not hasattr(events, "mapInArrow") and not os.fspath(events).startswith("table:")
    header = 0
    if not hasattr(events, "mapInArrow"):
        name = name or os.fspath(events)
        header = 1 if os.fspath(events).lower().endswith(".csv") else 0
        events = read_events(spark, events)
    name = name or "events"
    if "member" not in events.columns:
        raise LoyaltyError("the events have no `member` column")
    for hidden in (_POSITION, _GROUP, _TABLE):
        if hidden in events.columns:
            raise LoyaltyError(f"the events have a column `{hidden}`, a name loyalty.spark uses")
    split = program.split()
    partitions = partitions or spark.sparkContext.defaultParallelism
    if split["by"] is None:
        partitions = 1

    numbered = _numbered(events)
    if not from_file:
        numbered = numbered.localCheckpoint(eager=True)
    grouped = _grouped(spark, numbered, split["links"])
    columns = list(events.columns)
    empty = program.run(pa.table({c: pa.array([], pa.string()) for c in columns}), until=until)
    schema = _output_schema(empty)
    text, program_name = program._text, program._name

    def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        batches = [batch for batch in batches if batch.num_rows]
        if not batches:
            return
        table = pa.Table.from_batches(batches)
        yield from _run_partition(
            text, program_name, table, columns, until, name, header, schema
        )

    result = (
        grouped.repartition(partitions, _GROUP)
        .sortWithinPartitions(_POSITION)
        .mapInArrow(apply, _spark_schema(schema))
        .persist()
    )
    parts = (
        result.where(F.col(_TABLE) == "summary")
        .select("summary_json", "summary_liability")
        .collect()
    )
    summary = json.loads(
        program._program.merge_summaries([json.dumps(empty.summary)] + [p[0] for p in parts])
    )
    liability = program._program.liability(
        [empty.liability_flows] + [p[1] for p in parts], until
    )
    # Decimals cross as text; each column then takes the most decimals of
    # any of its values, as `loyalty run --output-format parquet` writes it.
    decimals = [f.name for f in schema if f.metadata and f.metadata.get(b"decimal")]
    scales = result.agg(
        *[
            F.max(
                F.when(F.instr(c, ".") > 0, F.length(F.substring_index(c, ".", -1))).otherwise(0)
            ).alias(c)
            for c in decimals
        ]
    ).collect()[0] if decimals else {}

    def column(table: str, name: str) -> Any:
        prefixed = F.col(f"{table}_{name}")
        if f"{table}_{name}" in decimals:
            prefixed = prefixed.cast(DecimalType(38, scales[f"{table}_{name}"] or 0))
        return prefixed.alias(name)

    tables = {
        table: result.where(F.col(_TABLE) == table).select(
            *[column(table, field.name) for field in getattr(empty, table).schema]
        )
        for table in _TABLES
    }
    return SparkResult(
        summary=summary, liability=liability, whole=split.get("why"), **tables
    )


def read_events(spark: Any, source: Union[str, "os.PathLike[str]"]) -> Any:
    """Events as a DataFrame: a Parquet file or folder, a CSV or JSON Lines
    file (every field read as text, as ``loyalty run`` reads it: never a
    float), or ``table:NAME``, a table of the session's catalog."""
    path = os.fspath(source)
    lower = path.lower()
    if lower.startswith("table:"):
        return spark.table(path[len("table:") :])
    if lower.endswith(".csv"):
        # RFC 4180 quoting (a quote doubled inside quotes); cells as text,
        # an empty cell null (absent), as `loyalty run` reads them.
        return spark.read.csv(path, header=True, escape='"', inferSchema=False)
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return spark.read.json(path, primitivesAsString=True)
    if lower.endswith(".parquet") or os.path.isdir(path):
        return spark.read.parquet(path)
    raise LoyaltyError(
        f"`{path}`: the extension does not say the format "
        "(.csv, .jsonl, .parquet, a Parquet folder, or table:NAME)"
    )


def write(result: SparkResult, out: Union[str, "os.PathLike[str]"]) -> None:
    """Writes ``ledger/``, ``members/`` and ``rejects/`` (Parquet folders),
    ``summary.json`` and ``liability.csv`` into ``out``: all into a new folder beside it
    first, which then takes ``out``'s place, so that a run that fails or is
    killed leaves no half-written results under ``out``."""
    out = os.path.abspath(os.fspath(out))
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    # Times as instants (Parquet's TIMESTAMP adjusted to UTC), not Spark's
    # default INT96, which readers take for local times.
    result.ledger.sparkSession.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    staging = tempfile.mkdtemp(prefix=".loyalty-spark-", dir=parent)
    try:
        for table in _TABLES:
            getattr(result, table).write.parquet(os.path.join(staging, table))
        with open(os.path.join(staging, "summary.json"), "w", encoding="utf-8") as file:
            json.dump(result.summary, file, indent=2)
            file.write("\n")
        with open(os.path.join(staging, "liability.csv"), "w", encoding="utf-8", newline="") as file:
            file.write(result.liability)
        if os.path.isdir(out):
            old = tempfile.mkdtemp(prefix=".loyalty-spark-old-", dir=parent)
            os.rename(out, os.path.join(old, "out"))
            os.rename(staging, out)
            shutil.rmtree(old)
        else:
            os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _numbered(events: Any) -> Any:
    """``events`` with each record's place in the input (0, 1, 2, ... in
    the order a file holds them): Spark's row ids, which rise in input
    order but skip between input partitions, closed up."""
    from pyspark.sql import functions as F

    raw = "_loyalty_row"
    rows = events.withColumn(raw, F.monotonically_increasing_id())
    counts = sorted(
        (r[0], r[1])
        for r in rows.groupBy(F.shiftright(raw, _ROW_BITS)).count().collect()
    )
    start, offsets = 0, []
    for partition, count in counts:
        offsets.append((partition, start))
        start += count
    offset = F.lit(0)
    for partition, first in reversed(offsets):
        offset = F.when(F.shiftright(raw, _ROW_BITS) == partition, F.lit(first)).otherwise(offset)
    mask = (1 << _ROW_BITS) - 1
    return rows.withColumn(_POSITION, offset + F.col(raw).bitwiseAND(F.lit(mask))).drop(raw)


def _grouped(spark: Any, events: Any, links: list[str]) -> Any:
    """``events`` with each one's group: its member's id, unless links
    join the member to others (then the smallest member id of them all)."""
    from pyspark.sql import functions as F

    member = F.col("member").cast("string")
    edges = []
    for link in links:
        kind, field = link.split(".")
        if field in events.columns:
            edges.append(
                events.where((F.col("type") == kind) & F.col(field).isNotNull()).select(
                    member.alias("a"), F.col(field).cast("string").alias("b")
                )
            )
    if "id" in events.columns:
        # Ids by a 64-bit hash, which shuffles less than the text: two ids
        # with one hash only join groups that need not be joined.
        hashed = F.xxhash64(F.col("id").cast("string"))
        copies = (
            events.groupBy(hashed.alias("id_hash"))
            .agg(F.min(member).alias("first"), F.max(member).alias("last"))
            .where(F.col("first") != F.col("last"))
            .select("id_hash")
        )
        edges.append(
            events.join(copies, hashed == F.col("id_hash")).select(
                member.alias("a"), F.concat(F.lit(_ID_NODE), F.col("id_hash").cast("string")).alias("b")
            )
        )
    pairs = []
    if edges:
        union = edges[0]
        for more in edges[1:]:
            union = union.unionByName(more)
        pairs = union.where(F.col("a").isNotNull()).distinct().collect()
    if not pairs:
        return events.withColumn(_GROUP, member)
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in sorted((r[0], r[1]) for r in pairs):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    linked = spark.createDataFrame(
        [(m, root(m)) for m in sorted(parent) if not m.startswith(_ID_NODE)],
        "_loyalty_member string, _loyalty_linked string",
    )
    return (
        events.join(F.broadcast(linked), member == F.col("_loyalty_member"), "left")
        .withColumn(_GROUP, F.coalesce(F.col("_loyalty_linked"), member))
        .drop("_loyalty_member", "_loyalty_linked")
    )


def _run_partition(
    text: str,
    program_name: str,
    table: pa.Table,
    columns: list[str],
    until: str,
    name: str,
    header: int,
    schema: pa.Schema,
) -> Iterator[pa.RecordBatch]:
    """One partition's events through one engine, as output rows: each
    table's rows, their columns prefixed with the table's name, and the
    summary."""
    program = _compiled(text, program_name)
    positions = table.column(_POSITION).to_pylist()
    result = program.run(table.select(columns), until=until)
    rejects = result.rejects
    if rejects.num_rows:
        lines = [
            positions[line - 1] + 1 + header if 1 <= line <= len(positions) else line
            for line in rejects.column("line").to_pylist()
        ]
        rejects = rejects.set_column(
            rejects.schema.get_field_index("line"), "line", pa.array(lines, pa.int64())
        ).set_column(
            rejects.schema.get_field_index("file"),
            "file",
            pa.array([name] * rejects.num_rows, pa.string()),
        )
    for table_name, rows in (("ledger", result.ledger), ("members", result.members), ("rejects", rejects)):
        if rows.num_rows:
            yield _output(schema, table_name, rows)
    summary = pa.table(
        {"json": [json.dumps(result.summary)], "liability": [result.liability_flows]}
    )
    yield _output(schema, "summary", summary)


def _output(schema: pa.Schema, table: str, rows: pa.Table) -> pa.RecordBatch:
    """``rows`` of ``table`` as a batch of the output schema, the other
    tables' columns null."""
    arrays = []
    for field in schema:
        column = field.name[len(table) + 1 :] if field.name.startswith(f"{table}_") else None
        if field.name == _TABLE:
            arrays.append(pa.array([table] * rows.num_rows, pa.string()))
        elif column in rows.column_names:
            arrays.append(rows.column(column).combine_chunks().cast(field.type))
        else:
            arrays.append(pa.nulls(rows.num_rows, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _output_schema(empty: Any) -> pa.Schema:
    """The rows ``mapInArrow`` gives: which table, each table's columns
    prefixed with its name (times as Spark's microseconds, decimals as
    their text: a partition's scale is its own values'), the summary."""
    fields = [pa.field(_TABLE, pa.string())]
    for table in _TABLES:
        for field in getattr(empty, table).schema:
            kind, metadata = field.type, None
            if pa.types.is_timestamp(kind):
                kind = pa.timestamp("us", tz="UTC")
            if pa.types.is_decimal(kind):
                kind, metadata = pa.string(), {"decimal": "1"}
            fields.append(pa.field(f"{table}_{field.name}", kind, metadata=metadata))
    fields.append(pa.field("summary_json", pa.string()))
    fields.append(pa.field("summary_liability", pa.string()))
    return pa.schema(fields)


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


_CACHE: dict[tuple[str, str], Program] = {}


def _compiled(text: str, name: str) -> Program:
    """The program, compiled once per Python worker."""
    key = (text, name)
    if key not in _CACHE:
        _CACHE[key] = Program(text, name)
    return _CACHE[key]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loyalty.spark",
        description=(
            "Run a loyalty program on Apache Spark: the same members, ledger "
            "rows, rejects, summary and liability table as `loyalty run`, "
            "written as Parquet folders, summary.json and liability.csv into --out."
        ),
    )
    parser.add_argument("program", help="the program (.loyalty)")
    parser.add_argument(
        "events",
        help="the events: a .csv, .jsonl or .parquet file, a Parquet folder, or table:NAME",
    )
    parser.add_argument("--until", required=True, help="run the clock to the end of this day (or instant), in every partition")
    parser.add_argument("--out", required=True, help="the folder for ledger/, members/, rejects/, summary.json and liability.csv")
    parser.add_argument("--partitions", type=int, help="partitions to run in (default: the session's parallelism)")
    parser.add_argument("--master", default=None, help="the Spark master (default: the session's, else local[*])")
    args = parser.parse_args(argv)
    if args.partitions is not None and args.partitions < 1:
        parser.error("--partitions must be at least 1")
    try:
        program = Program.from_file(args.program)
    except (OSError, LoyaltyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    spark = session(args.master)
    try:
        result = run(spark, program, args.events, args.until, args.partitions)
        write(result, args.out)
    except LoyaltyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    if result.whole:
        print(f"ran in one partition: {result.whole}", file=sys.stderr)
    json.dump(result.summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def session(master: Optional[str] = None) -> Any:
    """A Spark session for loyalty: times in UTC, Arrow on, Python workers
    on this interpreter."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("loyalty")
    if master:
        builder = builder.master(master)
    elif not os.environ.get("SPARK_HOME") and "spark.master" not in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        builder = builder.master("local[*]")
    return (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


if __name__ == "__main__":
    # Through the module's own name, so that Spark's workers import the
    # functions rather than receive copies of `__main__`.
    from loyalty.spark import main as _main

    sys.exit(_main())
