"""Run loyalty programs (``.loyalty`` files) on pandas and Arrow data.

>>> import loyalty
>>> program = loyalty.Program.from_file("programs/bean_stars.loyalty")
>>> result = program.run("programs/bean_stars.events.csv", until="2026-03-31")
>>> result.summary["points"][0]["issued"]
'4702'

Events may be a file path (``.csv``, ``.jsonl``, ``.yaml``, ``.parquet``,
``.arrow``), a pyarrow Table, RecordBatch or RecordBatchReader, or a pandas
DataFrame. Every column crosses as Arrow: exact ``decimal128`` values and
timestamps with or without a zone are read exactly (see the CLI's
``src/events/columnar.rs``). The ledger, members and rejects come back as
pyarrow Tables with typed columns (``decimal128`` amounts, UTC timestamps);
``.to_pandas()`` works. Money and points are never floats.
"""

from __future__ import annotations

import decimal
import json
import os
from dataclasses import dataclass
from typing import Any, Optional, Union

import pyarrow as pa
import pyarrow.parquet as pq

from ._loyalty import LoyaltyError
from ._loyalty import Program as _Program
from ._loyalty import check as _check

__all__ = ["check", "Program", "Result", "Simulation", "LoyaltyError"]

_FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".arrows": "arrow",
    ".ipc": "arrow",
    ".feather": "arrow",
}

Events = Union[str, "os.PathLike[str]", pa.Table, pa.RecordBatch, pa.RecordBatchReader, Any]


def check(text: str, name: str = "program.loyalty") -> list[dict]:
    """Every error and warning in a program's text, as ``loyalty check
    --format json`` lists them: ``code``, ``severity``, ``message``,
    ``line``, ``column``, ``end_line``, ``end_column``, ``label``, ``help``."""
    return json.loads(_check(text, name))


@dataclass(frozen=True)
class Result:
    """One run: the ledger, members and rejects, the summary, and the
    liability table per month (``--report liability``'s ``liability.csv``
    at the program's breakage, figures as exact ``decimal128``)."""

    ledger: pa.Table
    members: pa.Table
    rejects: pa.Table
    summary: dict
    liability: pa.Table
    #: The liability table's months and cohorts (JSON), to add up runs
    #: made in pieces (``loyalty.spark``).
    liability_flows: str


@dataclass(frozen=True)
class Simulation:
    """A simulation: the liability table's and the KPIs' p5/p50/p95 per
    month (``liability.csv`` and ``kpis.csv`` of ``loyalty simulate``, with
    figures as exact ``decimal128``), and the whole report as a dict
    (``simulation.json``, exact decimals as strings)."""

    liability: pa.Table
    kpis: pa.Table
    report: dict


class Program:
    """A program, checked and compiled. Raises ``LoyaltyError`` with the
    CLI's messages (file, line and column) if it does not check."""

    def __init__(self, text: str, name: str = "program.loyalty") -> None:
        self._program = _Program(text, name)
        self._text = text
        self._name = name

    @classmethod
    def from_file(cls, path: Union[str, "os.PathLike[str]"]) -> "Program":
        with open(path, encoding="utf-8") as file:
            return cls(file.read(), os.path.basename(os.fspath(path)))

    def run(self, events: Events, until: Optional[str] = None, stream: bool = False) -> Result:
        """Applies the program to ``events``, through ``until`` (a day,
        ``2026-03-31``, or an instant), sorted by time first unless
        ``stream``, as ``loyalty run`` does."""
        data, format = _event_bytes(events)
        ledger, members, rejects, summary, liability, flows = self._program.run(
            data, format, until, stream
        )
        return Result(
            ledger=_table(ledger),
            members=_table(members),
            rejects=_table(rejects),
            summary=json.loads(summary),
            liability=_decimal_csv(liability),
            liability_flows=flows,
        )


    def simulate(
        self,
        scenario: Union[str, "os.PathLike[str]"],
        runs: int = 100,
        seed: Optional[int] = None,
    ) -> Simulation:
        """Simulates the program on a scenario's population (a
        ``.scenario.yaml`` path, or its text), ``runs`` times, as ``loyalty
        simulate`` does; ``seed`` replaces the scenario's."""
        text = _text(scenario)
        liability, kpis, report = self._program.simulate(text, runs, seed)
        return Simulation(
            liability=_decimal_csv(liability), kpis=_decimal_csv(kpis), report=json.loads(report)
        )

    def split(self) -> dict:
        """How the program's events may be split among machines, as
        ``loyalty check --format json`` reports it: ``by`` (``"member"``,
        or None when it must run whole, and ``why``) and ``links`` (the
        event fields that join members' groups). See ``loyalty.spark``."""
        return json.loads(self._program.split())

    def diff(self, new: "Program", events: Events, until: Optional[str] = None) -> dict:
        """What changing this program to ``new`` does on ``events``, as
        ``loyalty diff --format json`` reports it (exact decimals as
        strings): the figures overall and per tier, and the members who
        moved most."""
        data, format = _event_bytes(events)
        return json.loads(self._program.diff(new._program, data, format, until))


def _text(source: Union[str, "os.PathLike[str]"]) -> str:
    """A file's text, or ``source`` itself when it is not a file's path."""
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and os.path.isfile(source)
    ):
        with open(source, encoding="utf-8") as file:
            return file.read()
    return str(source)


def _decimal_csv(text: str) -> pa.Table:
    """A report's CSV text as a table: each column whose every value is a
    decimal as ``decimal128`` at its values' most decimals, the others as
    text. Never floats."""
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        pa.BufferReader(text.encode()),
        read_options=pacsv.ReadOptions(use_threads=False),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in text.split("\n", 1)[0].split(",")}
        ),
    )
    columns = []
    for name, column in zip(table.column_names, table.columns):
        values = [v for v in column.to_pylist() if v not in (None, "")]
        try:
            decimals = [decimal.Decimal(v) for v in values]
        except decimal.InvalidOperation:
            columns.append(column)
            continue
        if not decimals or any(not d.is_finite() for d in decimals):
            columns.append(column)
            continue
        scale = max(max(-d.as_tuple().exponent, 0) for d in decimals)
        columns.append(
            pa.array(
                [decimal.Decimal(v) if v not in (None, "") else None for v in column.to_pylist()],
                type=pa.decimal128(38, scale),
            )
        )
    return pa.table(columns, names=table.column_names)


def _table(parquet: bytes) -> pa.Table:
    # On one thread: pyarrow 26's thread pool can abort the interpreter as
    # it exits ("terminate called without an active exception"), seen on
    # three runs in twelve of a plain read_table on this project's machine.
    return pq.read_table(pa.BufferReader(parquet), use_threads=False)


def _event_bytes(events: Events) -> tuple[bytes, str]:
    """The bytes of ``events`` and their format."""
    if isinstance(events, (str, os.PathLike)):
        path = os.fspath(events)
        extension = os.path.splitext(path)[1].lower()
        if extension not in _FORMATS:
            raise LoyaltyError(
                f"`{path}`: the extension does not say the format "
                "(.csv, .jsonl, .yaml, .parquet or .arrow)"
            )
        with open(path, "rb") as file:
            return file.read(), _FORMATS[extension]
    if isinstance(events, pa.RecordBatchReader):
        events = events.read_all()
    if isinstance(events, pa.RecordBatch):
        events = pa.Table.from_batches([events])
    if not isinstance(events, pa.Table) and hasattr(events, "to_records"):
        # A pandas DataFrame: its index is not a column.
        events = pa.Table.from_pandas(events, preserve_index=False, nthreads=1)
    if not isinstance(events, pa.Table):
        raise LoyaltyError(
            "events are a file path, a pyarrow Table, RecordBatch or "
            f"RecordBatchReader, or a pandas DataFrame, not {type(events).__name__}"
        )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, events.schema) as writer:
        writer.write_table(events)
    return sink.getvalue().to_pybytes(), "arrow"
