"""Messages that say what and where without noise: a fault of a model file as a whole names the
file without an empty key (``[]``); an existing output refused by the Python API says how to
overwrite it from Python as well as from the command line."""

from __future__ import annotations

import pytest

import dmtpk
from dmtpk.errors import ModelFileError
from dmtpk.io.files import write_atomic


def test_a_whole_file_fault_has_no_empty_key(tmp_path):
    with pytest.raises(ModelFileError) as info:
        dmtpk.load_model(tmp_path)  # a folder
    assert "[]" not in str(info.value) and str(tmp_path) in str(info.value)
    assert str(ModelFileError("m.toml", "parameters.CL", "bad")) == "m.toml: [parameters.CL] bad"


def test_an_existing_output_says_how_to_overwrite_it(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("kept")
    with pytest.raises(dmtpk.DmtpkError, match=r"use force=True \(--force on the command line\)"):
        write_atomic(target, lambda p: open(p, "w").write("new"))
    assert target.read_text() == "kept"


def test_a_huge_repetition_is_refused_before_it_is_built():
    import time
    from dmtpk.regimen.events import MAX_EVENTS
    start = time.perf_counter()
    with pytest.raises(dmtpk.ValidationError, match=r"times: 1,000,000,000 repetitions"):
        dmtpk.Bolus("1 mg").every("1 min", times=10**9)
    with pytest.raises(dmtpk.ValidationError, match=r"addl: .* at most 100,000"):
        (dmtpk.Bolus("1 mg") + dmtpk.Inhalation("1 mg", at=1)).every("1 min", addl=MAX_EVENTS)
    assert time.perf_counter() - start < 5  # refused, not built
    assert len(dmtpk.Bolus("1 mg").every("1 min", times=1000).events) == 1000
