"""`python -m loyalty.spark` against `loyalty run` on one machine: the same
members, ledger rows (as a set), rejects (file and line included), summary
and liability table, for every example program's sample, a generated stream of ~50,000
events, a program whose members transfer and pool points, and copies of an
event sent under two members. Spark runs in local mode on two cores."""

import decimal
import datetime
import json
import os
import pathlib
import subprocess

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

import loyalty
import loyalty.spark

from conftest import BINARY, PROGRAMS, UNTIL


@pytest.fixture(scope="module")
def spark():
    session = loyalty.spark.session("local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()


def cells(table):
    """A table's rows as tuples of text: decimals normalized, times as UTC
    instants, nulls empty, so that two writers' types compare by value."""

    def cell(value):
        if value is None:
            return ""
        if isinstance(value, decimal.Decimal):
            return format(value.normalize(), "f")
        if isinstance(value, datetime.datetime):
            return value.astimezone(datetime.timezone.utc).isoformat()
        return str(value)

    names = table.column_names
    return [tuple(cell(row[n]) for n in names) for row in table.to_pylist()]


def cli(program, events, until, out):
    """`loyalty run`'s summary and Parquet tables."""
    done = subprocess.run(
        [
            BINARY, "run", str(program), str(events), "--until", until,
            "--out", str(out), "--output-format", "parquet", "--format", "json", "-q",
            "--report", "liability",
        ],
        capture_output=True, text=True, check=True,
    )
    summary = json.loads(done.stdout)
    del summary["files"]
    tables = {t: pq.read_table(out / f"{t}.parquet") for t in ("ledger", "members", "rejects")}
    tables["liability"] = (out / "liability.csv").read_text()
    return summary, tables


def assert_same_as_cli(spark, program, events, until, tmp_path, partitions=3):
    """Runs both ways and compares everything; returns Spark's result."""
    summary, tables = cli(program, events, until, tmp_path / "cli")
    out = tmp_path / "spark"
    result = loyalty.spark.run(spark, str(program), str(events), until, partitions=partitions)
    loyalty.spark.write(result, out)
    assert json.loads((out / "summary.json").read_text()) == summary
    assert result.summary == summary
    assert (out / "liability.csv").read_text() == tables["liability"]
    for table in ("ledger", "members", "rejects"):
        written = pq.read_table(out / table)
        assert written.column_names == tables[table].column_names, table
        assert sorted(cells(written)) == sorted(cells(tables[table])), table
    assert tables["ledger"].num_rows > 0
    return result


@pytest.mark.parametrize("name", sorted(UNTIL))
def test_every_example_gives_what_loyalty_run_gives(spark, name, tmp_path):
    program = loyalty.Program.from_file(PROGRAMS / f"{name}.loyalty")
    result = assert_same_as_cli(
        spark, PROGRAMS / f"{name}.loyalty", PROGRAMS / f"{name}.events.csv", UNTIL[name], tmp_path
    )
    # A program with budgets runs whole, and says why.
    assert result.whole == program.split().get("why")


def test_a_generated_stream_split_by_member(spark, tmp_path):
    events = tmp_path / "coffee.parquet"
    subprocess.run(
        [
            BINARY, "gen", str(PROGRAMS / "bean_stars.loyalty"), "--members", "2000",
            "--events", "50000", "--months", "12", "--format", "parquet", "--out", str(events), "-q",
        ],
        check=True,
    )
    assert loyalty.Program.from_file(PROGRAMS / "bean_stars.loyalty").split()["by"] == "member"
    result = assert_same_as_cli(
        spark, PROGRAMS / "bean_stars.loyalty", events, "2026-12-31", tmp_path, partitions=4
    )
    assert result.whole is None
    assert result.summary["events"]["read"] > 45_000


def test_members_linked_by_transfers_and_pools_share_a_partition(spark, tmp_path):
    # The hotel program without its budget splits, along transfers and pools.
    text = (PROGRAMS / "harbor_hotels.loyalty").read_text()
    budget = next(line for line in text.splitlines(keepends=True) if line.startswith("  budget "))
    program = tmp_path / "harbor_unbudgeted.loyalty"
    program.write_text(text.replace(budget, ""))
    split = loyalty.Program.from_file(program).split()
    assert split["by"] == "member" and "join_pool.pool" in split["links"]
    events = PROGRAMS / "harbor_hotels.events.csv"
    result = assert_same_as_cli(spark, program, events, UNTIL["harbor_hotels"], tmp_path, partitions=4)
    assert result.whole is None
    kinds = {row[0] for row in cells(pq.read_table(tmp_path / "spark" / "ledger").select(["kind"]))}
    assert {"transfer_in", "transfer_out", "pool_join"} <= kinds, kinds


def test_a_copy_sent_under_another_member_is_a_duplicate_as_in_one_engine(spark, tmp_path):
    lines = (PROGRAMS / "bean_stars.events.csv").read_text().splitlines()
    header = lines[0].split(",")
    member, kind = header.index("member"), header.index("type")
    purchases = [line for line in lines[1:] if line.split(",")[kind] == "purchase"]
    first, other = purchases[0].split(","), purchases[-1].split(",")
    assert first[member] != other[member]
    copy = list(first)
    copy[member] = other[member]
    events = tmp_path / "copies.csv"
    events.write_text("\n".join(lines + [",".join(copy)]) + "\n")
    summary, tables = cli(PROGRAMS / "bean_stars.loyalty", events, UNTIL["bean_stars"], tmp_path / "c")
    rejected = [row for row in cells(tables["rejects"]) if row[2] == first[0]]
    assert rejected, "the copy is rejected by one engine"
    assert_same_as_cli(spark, PROGRAMS / "bean_stars.loyalty", events, UNTIL["bean_stars"], tmp_path, partitions=4)


def test_the_command_writes_the_folder_and_prints_the_summary(tmp_path):
    out = tmp_path / "out"
    name = "sakura_kissa"
    done = subprocess.run(
        [
            str(pathlib.Path(os.sys.executable)), "-m", "loyalty.spark",
            str(PROGRAMS / f"{name}.loyalty"), str(PROGRAMS / f"{name}.events.csv"),
            "--until", UNTIL[name], "--out", str(out), "--partitions", "2", "--master", "local[2]",
        ],
        capture_output=True, text=True, check=True,
    )
    summary, _ = cli(PROGRAMS / f"{name}.loyalty", PROGRAMS / f"{name}.events.csv", UNTIL[name], tmp_path / "c")
    assert json.loads(done.stdout) == summary
    assert sorted(p.name for p in out.iterdir()) == [
        "ledger", "liability.csv", "members", "rejects", "summary.json"
    ]
    bad = subprocess.run(
        [str(pathlib.Path(os.sys.executable)), "-m", "loyalty.spark", str(PROGRAMS / f"{name}.loyalty"),
         str(PROGRAMS / f"{name}.events.csv"), "--out", str(out)],
        capture_output=True, text=True,
    )
    assert bad.returncode == 2 and "--until" in bad.stderr


def test_a_dataframe_runs_as_its_rows_in_order(spark, tmp_path):
    name = "bean_stars"
    events = PROGRAMS / f"{name}.events.csv"
    summary, tables = cli(PROGRAMS / f"{name}.loyalty", events, UNTIL[name], tmp_path / "c")
    frame = loyalty.spark.read_events(spark, str(events)).select("*")
    result = loyalty.spark.run(spark, PROGRAMS / f"{name}.loyalty", frame, UNTIL[name], partitions=2, name="frame")
    assert result.summary == summary
    for table in ("ledger", "members"):
        assert sorted(cells(getattr(result, table).toArrow())) == sorted(cells(tables[table])), table
    # A DataFrame has rows, not lines: a reject names its row (the file's
    # line less the header) and the name given.
    rows = sorted(cells(result.rejects.toArrow()))
    expected = sorted(("frame", str(int(line) - 1), *rest) for _, line, *rest in cells(tables["rejects"]))
    assert rows == expected
