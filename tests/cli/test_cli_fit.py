"""``dmtpk fit``: the parameter table, the fitted model and the report, all or none; mistakes
as one line with exit code 2."""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk.cli import main

MODEL = """\
[model]
name = "one_cpt"
routes = ["iv"]
structure = "one_compartment"
elimination = "linear"

[parameters]
CL = "5 L/h"
V1 = "60 L"

[variability]
omega = { CL = 0.2, V1 = 0.2 }

[residual]
exponential = 0.2
"""


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(1)
    times = [0.5, 1, 2, 4, 8, 12, 24]
    lines = ["ID,TIME,AMT,EVID,MDV,DV"]
    for i in range(1, 31):
        cl, v = 4 * np.exp(0.3 * rng.standard_normal()), 70 * np.exp(0.3 * rng.standard_normal())
        lines.append(f"{i},0,10,1,1,.")
        for t in times:
            c = 10_000 / v * np.exp(-cl / v * t) * np.exp(0.15 * rng.standard_normal())
            lines.append(f"{i},{t},0,0,0,{float(c)!r}")
    data = tmp_path / "d.csv"
    data.write_text("\n".join(lines) + "\n")
    model = tmp_path / "m.toml"
    model.write_text(MODEL)
    return model, data


def test_fit_prints_the_table_and_writes_model_and_report(files, tmp_path, capsys):
    model, data = files
    out, rep = tmp_path / "fit.toml", tmp_path / "rep"
    code = main(["fit", str(model), str(data), "--time-unit", "h", "--amount-unit", "mg",
                 "--concentration-unit", "ug/L", "--out", str(out), "--report", str(rep)])
    text = capsys.readouterr().out
    assert code == 0
    assert "FOCEI fit of one_cpt: 30 subjects, 210 observations" in text
    assert "omega(CL)" in text and "shrink" in text
    fitted = dmtpk.load_model(out)
    assert "FOCE-I fit to" in fitted.description
    assert sorted(p.name for p in rep.iterdir()) == sorted(
        ["model.toml", "parameters.csv", "table.csv", "diagnostics.png", "individuals.png",
         "eta.png", "vpc.png"])
    # Run again without --force: refused before fitting, nothing changed, exit 2.
    before = out.read_bytes()
    code = main(["fit", str(model), str(data), "--time-unit", "h", "--amount-unit", "mg",
                 "--concentration-unit", "ug/L", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--out" in err
    assert out.read_bytes() == before


@pytest.mark.parametrize("extra, where", [
    (["--estimate", "CL,KA"], "estimate.KA"),
    (["--omega", "CL=x"], "--omega"),
    (["--method", "saem"], "--seed"),
    (["--method", "ml", "--report", "rep"], "--report"),
    (["--method", "saem", "--seed", "1", "--iterations", "20"], "--iterations"),
    (["--method", "saem", "--seed", "1", "--iterations", "0,10"], "iterations"),
    (["--max-iter", "-1"], "max_iter"),
])
def test_mistakes_are_one_line(files, tmp_path, capsys, extra, where):
    model, data = files
    extra = [str(tmp_path / e) if e == "rep" else e for e in extra]
    code = main(["fit", str(model), str(data), "--time-unit", "h", "--amount-unit", "mg",
                 "--concentration-unit", "ug/L"] + extra)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and where in err


@pytest.mark.parametrize("kept", ["table.csv", "model.toml"])
def test_an_existing_report_file_is_refused_before_the_fit(files, tmp_path, capsys, kept,
                                                           monkeypatch):
    """Every file of the report folder is checked before fitting, not only one of them."""
    import sys
    fit_module = sys.modules["dmtpk.fit"]  # the package (dmtpk.fit is also the function)
    model, data = files
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / kept).write_text("kept")

    def no_fit(*a, **k):  # pragma: no cover - reached only if the check let the run start
        raise AssertionError("the fit ran although an output exists")
    monkeypatch.setattr(fit_module, "fit", no_fit)
    code = main(["fit", str(model), str(data), "--time-unit", "h", "--amount-unit", "mg",
                 "--concentration-unit", "ug/L", "--report", str(rep)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and kept in err and "exists" in err
    assert (rep / kept).read_text() == "kept"


def test_iteration_counts_reach_the_fit(files, capsys):
    """``--max-iter 0`` evaluates the objective at the model file's values (NONMEM's
    MAXEVAL=0): the same OFV as ``dmtpk.fit(..., max_iter=0)`` and no iteration; ``--iterations``
    sets SAEM's exploration and smoothing counts, or ``auto``."""
    model, data = files
    base = ["fit", str(model), str(data), "--time-unit", "h", "--amount-unit", "mg",
            "--concentration-unit", "ug/L", "--covariance", "none"]
    assert main(base + ["--max-iter", "0"]) == 0
    text = capsys.readouterr().out
    ref = dmtpk.fit(dmtpk.load_model(model), dmtpk.read_nonmem(
        data, time_unit="h", amount_unit="mg", concentration_unit="ug/L"), max_iter=0,
        covariance="none", progress=False)
    assert "max_iter=0" in text and "(0 iterations" in text
    assert f"OFV {ref.ofv:.3f}" in text
    assert main(base + ["--method", "saem", "--seed", "3", "--iterations", "6,4"]) == 0
    assert "SAEM 6 + 4 iterations (seed 3)" in capsys.readouterr().out
    assert main(base + ["--method", "saem", "--seed", "3", "--iterations", "auto"]) == 0
    assert "SAEM automatic exploration, " in capsys.readouterr().out
