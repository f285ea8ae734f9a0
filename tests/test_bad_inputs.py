"""Every row of the bad-input table (tests/bad_inputs.py, docs/reliability.md) gives its named
error: a DsfError whose message matches the row, or for the CLI exit status 2 and one
`dsf: error:` line; and the document lists every row."""
from __future__ import annotations

import os
import re

import pytest

from bad_inputs import ROWS, run_row

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                   "reliability.md")


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_gets_its_named_error(row, tmp_path, capsys):
    msg = run_row(row, tmp_path, capsys)
    assert re.search(row[3], msg), f"{row[0]}: {msg!r} does not match {row[3]!r}"
    assert "Traceback" not in msg


def test_table_is_large_and_documented():
    assert len(ROWS) >= 60 and len({r[0] for r in ROWS}) == len(ROWS)
    doc = open(DOC).read()
    for r in ROWS:
        assert f"| `{r[0]}` |" in doc, f"docs/reliability.md lacks row {r[0]} (run " \
                                       f"`python tests/bad_inputs.py --write-doc`)"
