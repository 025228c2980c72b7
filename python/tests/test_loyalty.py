"""`import loyalty` against `loyalty run` on every example program: the
same summary, ledger, members and rejects, from a file path, a pyarrow
Table and a pandas DataFrame; check's diagnostics; errors as exceptions."""

import csv
import decimal
import json
import os
import pathlib
import subprocess

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import loyalty

from conftest import BINARY, PROGRAMS, UNTIL


def cli_run(name, tmp_path):
    """`loyalty run` of an example's sample: its summary and CSV files."""
    out = tmp_path / f"cli-{name}"
    done = subprocess.run(
        [
            BINARY, "run", str(PROGRAMS / f"{name}.loyalty"),
            str(PROGRAMS / f"{name}.events.csv"),
            "--until", UNTIL[name], "--out", str(out), "--format", "json", "-q",
            "--report", "liability",
        ],
        capture_output=True, text=True, check=True,
    )
    summary = json.loads(done.stdout)
    del summary["files"]

    def rows(file):
        with open(out / file, newline="", encoding="utf-8") as f:
            return list(csv.reader(f))

    return summary, rows("ledger.csv"), rows("members.csv"), rows("rejects.csv"), rows("liability.csv")


def as_csv(table: pa.Table):
    """A typed table's rows as the CSV writes them: decimals exact and
    normalized, times as UTC instants, nulls empty."""
    def cell(value):
        if value is None:
            return ""
        if isinstance(value, decimal.Decimal):
            return format(value.normalize(), "f")
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return str(value)

    return [table.column_names] + [
        [cell(v) for v in row.values()] for row in table.to_pylist()
    ]


def normalized(rows, typed: pa.Table):
    """CSV rows with the typed table's decimals and times written alike."""
    kinds = [typed.schema.field(name).type for name in rows[0]]

    def cell(kind, value):
        if value == "":
            return ""
        if pa.types.is_decimal(kind):
            return format(decimal.Decimal(value).normalize(), "f")
        if pa.types.is_timestamp(kind):
            return pd.Timestamp(value).tz_convert("UTC").isoformat()
        return value

    return [rows[0]] + [[cell(k, v) for k, v in zip(kinds, row)] for row in rows[1:]]


@pytest.mark.parametrize("name", sorted(UNTIL))
def test_a_run_from_python_writes_what_the_cli_writes(name, tmp_path):
    summary, ledger, members, rejects, liability = cli_run(name, tmp_path)
    program = loyalty.Program.from_file(PROGRAMS / f"{name}.loyalty")
    result = program.run(PROGRAMS / f"{name}.events.csv", until=UNTIL[name])
    assert result.summary == summary
    assert as_csv(result.liability) == normalized(liability, result.liability)
    assert pa.types.is_decimal(result.liability.schema.field("outstanding").type)
    assert as_csv(result.ledger) == normalized(ledger, result.ledger)
    assert as_csv(result.members) == normalized(members, result.members)
    # The rejects name the file the events came from: here the bytes'.
    assert [r[1:] for r in as_csv(result.rejects)] == [r[1:] for r in rejects]
    assert pa.types.is_decimal(result.ledger.schema.field("amount").type)
    assert pa.types.is_timestamp(result.ledger.schema.field("time").type)


@pytest.mark.parametrize("name", ["bean_stars", "cartwheel"])
def test_pandas_and_arrow_events_run_like_the_file(name):
    path = PROGRAMS / f"{name}.events.csv"
    program = loyalty.Program.from_file(PROGRAMS / f"{name}.loyalty")
    expected = program.run(path, until=UNTIL[name])
    # Every column as text, empty cells as nulls: what the CSV says.
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None)
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in frame.columns}, strings_can_be_null=True
        ),
    )
    for events in (frame, table, table.to_batches()[0]):
        result = program.run(events, until=UNTIL[name])
        assert result.ledger.equals(expected.ledger)
        assert result.members.equals(expected.members)
        assert result.summary == expected.summary


def test_decimals_cross_exactly_and_floats_by_their_shortest_decimal():
    program = loyalty.Program(
        'program "P" {\n  currency USD\n  timezone "UTC"\n}\n'
        "points stars {\n  precision 2\n}\n"
        "rule base {\n  on purchase\n  earn 10 stars per 1 USD of amount\n}\n"
    )
    frame = pd.DataFrame(
        {
            "id": ["e1", "e2", "e3"],
            "time": pd.to_datetime(["2025-01-01 09:00", "2025-01-02 09:00", "2025-01-03 09:00"]),
            "member": ["ann"] * 3,
            "type": ["enroll", "purchase", "purchase"],
            "amount": [None, decimal.Decimal("0.01"), decimal.Decimal("19.99")],
        }
    )
    result = program.run(frame)
    earned = [r["amount"] for r in result.ledger.to_pylist() if r["kind"] == "earn"]
    assert earned == [decimal.Decimal("0.10"), decimal.Decimal("199.90")]
    floats = frame.assign(amount=[None, 0.3, 0.7])
    earned = [r["amount"] for r in program.run(floats).ledger.to_pylist() if r["kind"] == "earn"]
    assert earned == [decimal.Decimal("3.00"), decimal.Decimal("7.00")]


def test_check_lists_each_diagnostic_with_its_position():
    diagnostics = loyalty.check('program "P" {\n  currency GPB\n  timezone "UTC"\n}\n')
    assert [(d["code"], d["line"], d["column"]) for d in diagnostics] == [
        ("unknown-currency", 2, 12)
    ]
    assert diagnostics[0]["help"] == "did you mean `GBP`?"


def test_errors_are_exceptions_with_the_clis_messages():
    with pytest.raises(loyalty.LoyaltyError, match="p.loyalty:2:12"):
        loyalty.Program('program "P" {\n  currency GPB\n  timezone "UTC"\n}\n', "p.loyalty")
    program = loyalty.Program.from_file(PROGRAMS / "bean_stars.loyalty")
    with pytest.raises(loyalty.LoyaltyError, match="extension"):
        program.run("events.txt")
    with pytest.raises(loyalty.LoyaltyError, match="until"):
        program.run(PROGRAMS / "bean_stars.events.csv", until="yesterday")


def test_simulate_gives_what_loyalty_simulate_writes(tmp_path):
    program = loyalty.Program.from_file(PROGRAMS / "sakura_kissa.loyalty")
    scenario = PROGRAMS / "sakura_kissa.scenario.yaml"
    out = tmp_path / "simulated"
    subprocess.run(
        [BINARY, "simulate", str(PROGRAMS / "sakura_kissa.loyalty"), str(scenario),
         "--runs", "3", "--out", str(out)],
        capture_output=True, check=True,
    )
    simulation = program.simulate(scenario, runs=3)
    with open(out / "liability.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert as_csv(simulation.liability) == normalized(rows, simulation.liability)
    assert pa.types.is_decimal(simulation.liability.schema.field("liability_p50").type)
    report = json.loads((out / "simulation.json").read_text())
    del report["files"]
    assert simulation.report == report


def test_diff_gives_what_loyalty_diff_reports(tmp_path):
    old = PROGRAMS / "bean_stars.loyalty"
    text = old.read_text().replace("earn 1 stars per 1 USD", "earn 2 stars per 1 USD")
    new_path = tmp_path / "bean_stars_v2.loyalty"
    new_path.write_text(text)
    events = PROGRAMS / "bean_stars.events.csv"
    done = subprocess.run(
        [BINARY, "diff", str(old), str(new_path), "--events", str(events),
         "--until", "2026-03-31", "--format", "json"],
        capture_output=True, text=True,
    )
    expected = json.loads(done.stdout)
    diff = loyalty.Program.from_file(old).diff(
        loyalty.Program(text), events, until="2026-03-31"
    )
    overall = {line["measure"]: (line["old"], line["new"]) for line in diff["overall"]}
    assert overall["stars issued"] == ("4702", "9567")
    del expected["title"]
    assert diff == expected
