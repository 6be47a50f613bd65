"""Atomic output files (dmtpk.io.files); the failure paths are in tests/cli/test_cli_errors.py."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np
import pytest

import dmtpk.io.files as files
from dmtpk import DmtpkError
from dmtpk.io.files import check_outputs, write_atomic, write_csv


def test_io_files_imports_only_errors_and_units_of_dmtpk():
    tree = ast.parse(Path(files.__file__).read_text(encoding="utf-8"))
    relative = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level > 0}
    absolute = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names if alias.name.startswith("dmtpk")}
    assert relative <= {"errors", "units"} and not absolute


def test_write_csv_keeps_every_digit(tmp_path):
    path = write_csv(tmp_path / "x.csv", ("a", "b"), [(0.1 + 0.2, "text"), (np.float64(1 / 3), 2)])
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows == [["a", "b"], [repr(0.1 + 0.2), "text"], [repr(1 / 3), "2"]]
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]  # no temporary file left


def test_an_existing_file_is_kept_unless_forced(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(DmtpkError, match=r"exists; use force=True \(--force on the command line\)"):
        write_atomic(target, lambda p: Path(p).write_text("new"))
    assert target.read_text() == "old"
    write_atomic(target, lambda p: Path(p).write_text("new"), force=True)
    assert target.read_text() == "new"


def test_check_outputs_refuses_a_name_given_twice_and_a_missing_folder(tmp_path):
    with pytest.raises(DmtpkError, match="named for two outputs"):
        check_outputs([tmp_path / "a.csv", None, tmp_path / "a.csv"], force=False)
    with pytest.raises(DmtpkError, match="does not exist"):
        check_outputs([tmp_path / "missing" / "a.csv"], force=False)
    check_outputs([tmp_path / "a.csv", tmp_path / "b.png"], force=False)


def test_outputs_follow_the_umask_and_leave_no_temporary_file(tmp_path):
    """mkstemp makes private (0600) files: atomic outputs, the CLI's and write_nonmem's, must
    get the mode the umask gives any new file, and a failed write leaves nothing behind."""
    import os
    import stat

    import dmtpk

    old = os.umask(0o022)
    try:
        out = write_csv(tmp_path / "a.csv", ["x"], [[1.0]])
        data = dmtpk.io.dataset_from_records({"ID": [1], "TIME": [0.0], "EVID": [1],
                                              "AMT": [10.0]}, time_unit="min")
        dmtpk.write_nonmem(data, tmp_path / "d.csv")
    finally:
        os.umask(old)
    for p in (out, tmp_path / "d.csv"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
    with pytest.raises(ZeroDivisionError):
        write_atomic(tmp_path / "b.csv", lambda tmp: 1 / 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "d.csv"]
