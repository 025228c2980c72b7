"""What the Python tests share: the example programs' folder, the binary
`cargo test` built, and each example's `--until` day (tests/until.txt,
which the Rust tests read too)."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "programs"
BINARY = os.environ.get("LOYALTY_BIN", str(ROOT / "target" / "debug" / "loyalty"))
UNTIL = dict(
    line.split()
    for line in (ROOT / "tests" / "until.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)
