"""Reading, validating and writing NONMEM-style datasets; covariates; observation types."""

from __future__ import annotations

import numpy as np
import pytest

from dmtpk import DatasetError, read_nonmem, simulate_dataset, write_nonmem
from dmtpk.model.spec import model_from_dict

from dataset_helpers import CL, K, V, one_cmt

GOOD = """\
C,id,Time,evid,amt,rate,cmt,ss,ii,addl,mdv,dv,WT
.,1,0,1,100,0,2,0,12,1,1,.,70
.,1,0.5,0,.,.,2,.,.,.,0,4.61,.
C,1,0.7,0,.,.,2,.,.,.,0,9999,.
.,1,13.25,0,.,.,2,.,.,.,0,3.125e-1,82.5
.,2,0,1,50,25,2,0,0,0,1,.,60
.,2,4,0,.,.,2,.,.,.,0,1.5,60
"""


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_case_insensitive_missing_and_comment_rows(tmp_path):
    d = read_nonmem(_write(tmp_path, GOOD), time_unit="h")
    assert len(d) == 5 and d.ids == [1, 2]
    np.testing.assert_array_equal(d.item("TIME"), [0, 0.5, 13.25, 0, 4])
    np.testing.assert_array_equal(d.rows, [2, 3, 5, 6, 7])
    assert d.ignored_rows[0][0] == 4  # the C-flagged row is kept aside, not lost
    assert np.isnan(d.item("AMT")[1]) and d.covariates == ("WT",)
    assert d.item("DV")[2] == 0.3125


def test_round_trip_is_exact(tmp_path):
    d = read_nonmem(_write(tmp_path, GOOD), time_unit="h")
    out = tmp_path / "out.csv"
    write_nonmem(d, out)
    e = read_nonmem(out, time_unit="h")
    assert e.columns == d.columns and e.ignored_rows == d.ignored_rows
    for c in d.columns:
        np.testing.assert_array_equal(e.values[c], d.values[c])
    np.testing.assert_array_equal(e.rows, d.rows)
    write_nonmem(e, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_text() == out.read_text()


def test_simulated_population_with_residual_error_round_trips(tmp_path):
    model = one_cmt(variability={"omega": {"CL": 0.09, "V1": 0.04}},
                    residual={"proportional": 0.15, "additive": "0.05 mg/L"})
    rows = ["ID,TIME,EVID,AMT,CMT,DV,MDV"]
    for sid in range(1, 41):
        rows.append(f"{sid},0,1,100,1,.,1")
        rows += [f"{sid},{t},0,0,2,.,0" for t in (0.25, 1, 2.5, 6, 12, 24)]
    template = read_nonmem(_write(tmp_path, "\n".join(rows) + "\n", "template.csv"),
                           time_unit="h", concentration_unit="mg/L")
    res = simulate_dataset(model, template, variability=True, residual=True, seed=7)
    obs = template.item("EVID") == 0
    assert np.all(np.isfinite(res.simulated[obs])) and np.all(np.isnan(res.simulated[~obs]))
    assert not np.allclose(res.simulated[obs], res.pred[obs])  # the error is there
    sim = res.to_dataset()
    write_nonmem(sim, tmp_path / "sim.csv")
    back = read_nonmem(tmp_path / "sim.csv", time_unit="h", concentration_unit="mg/L")
    for c in sim.columns:
        np.testing.assert_array_equal(back.values[c], sim.values[c])
    np.testing.assert_array_equal(back.item("DV")[obs], res.simulated[obs])
    # Same seed, same population; and the predictions do not depend on the written DV.
    again = simulate_dataset(model, back, variability=True, residual=True, seed=7)
    np.testing.assert_array_equal(again.simulated, res.simulated)


HEADER = "ID,TIME,EVID,AMT,RATE,CMT,SS,II,ADDL,DV,MDV\n"
BAD = [
    # (body rows, row, column, words in the message)
    ("1,0,1,100,0,2,0,0,0,.,1\n1,2,0,0,0,2,0,0,0,1.5,0\n1,1,0,0,0,2,0,0,0,1.2,0\n",
     4, "TIME", "must not decrease"),
    ("1,0,1,-5,0,2,0,0,0,.,1\n", 2, "AMT", "negative"),
    ("1,0,0,100,0,2,0,0,0,1.0,0\n", 2, "AMT", "not a dose"),
    ("1,0,1,0,0,2,0,0,0,.,1\n", 2, "AMT", "needs AMT > 0"),
    ("1,0,1,100,0,2,0,0,0,.,1\n1,1,0,0,0,2,0,0,0,.,0\n1,2,0,0,0,2,0,0,0,3.1,0\n",
     3, "DV", "missing DV"),
    ("1,0,1,100,0,2,0,0,0,.,1\n1,1,0,0,0,abc,0,0,0,2.0,0\n", 3, "CMT", "non-numeric"),
    ("1,0,1,100,0,2,0,24,0,.,1\n", 2, "II", "without ADDL or SS"),
    ("1,0,1,100,0,2,0,0,3,.,1\n", 2, "ADDL", "needs II"),
    ("1,0,7,100,0,2,0,0,0,.,1\n", 2, "EVID", "one of"),
    ("1,0,1,100,-3,2,0,0,0,.,1\n", 2, "RATE", "-1"),
    ("1,0,1,100,0,2,0,0,0,.,1\n2,0,1,100,0,2,0,0,0,.,1\n1,5,0,0,0,2,0,0,0,1,0\n",
     4, "ID", "contiguous"),
]


@pytest.mark.parametrize("body,row,column,words", BAD)
def test_bad_data_names_file_row_and_column(tmp_path, body, row, column, words):
    path = _write(tmp_path, HEADER + body, "bad.csv")
    with pytest.raises(DatasetError) as err:
        read_nonmem(path, time_unit="h")
    assert (err.value.path, err.value.row, err.value.column) == ("bad.csv", row, column)
    assert f"bad.csv, row {row}, column {column}" in str(err.value)
    assert words in str(err.value)


def test_duplicate_columns_are_rejected(tmp_path):
    path = _write(tmp_path, "ID,TIME,AMT,Time\n1,0,10,0\n", "dup.csv")
    with pytest.raises(DatasetError, match=r"dup\.csv, row 1, column Time: duplicate"):
        read_nonmem(path, time_unit="h")


def test_unknown_cmt_is_rejected_when_simulating(tmp_path):
    path = _write(tmp_path, HEADER + "1,0,1,100,0,2,0,0,0,.,1\n1,1,0,0,0,2,0,0,0,.,1\n"
                                     "1,2,1,100,0,7,0,0,0,.,1\n", "cmt.csv")
    d = read_nonmem(path, time_unit="h")
    with pytest.raises(DatasetError, match=r"cmt\.csv, row 4, column CMT: unknown CMT 7"):
        simulate_dataset(one_cmt(), d)


def test_units_must_be_declared_and_of_the_right_kind(tmp_path):
    path = _write(tmp_path, GOOD)
    with pytest.raises(TypeError):
        read_nonmem(path)  # the time unit has no default
    with pytest.raises(Exception, match="time_unit"):
        read_nonmem(path, time_unit="mg")


COV = """\
ID,TIME,EVID,AMT,CMT,DV,MDV,WT
1,0,1,100,2,.,1,60
1,1,0,0,2,.,1,.
1,2,0,0,2,.,1,.
1,4,0,0,2,.,1,90
1,5,0,0,2,.,1,.
"""


def test_covariate_fill_modes(tmp_path):
    path = _write(tmp_path, COV)
    d = read_nonmem(path, time_unit="h")
    np.testing.assert_array_equal(d.covariate("WT"), [60, 90, 90, 90, 90])      # NOCB default
    np.testing.assert_array_equal(d.covariate("wt", "locf"), [60, 60, 60, 90, 90])
    np.testing.assert_allclose(d.covariate("WT", "linear"), [60, 67.5, 75, 90, 90])
    lin = read_nonmem(path, time_unit="h", covariates={"WT": "linear"})
    np.testing.assert_allclose(lin.covariate("WT"), [60, 67.5, 75, 90, 90])


@pytest.mark.parametrize("mode", ["nocb", "locf", "linear"])
def test_time_varying_covariate_scales_clearance(tmp_path, mode):
    model = one_cmt(covariates={"WT": {"reference": "70 kg", "exponents": {"CL": 1.0}}})
    d = read_nonmem(_write(tmp_path, COV), time_unit="h", covariates={"WT": mode})
    c = simulate_dataset(model, d).concentration
    wt = {"nocb": [60, 90, 90, 90, 90], "locf": [60, 60, 60, 90, 90],
          "linear": [60, 67.5, 75, 90, 90]}[mode]
    # Value governing each interval (t[i-1], t[i]] (PREDPP: piecewise constant).
    gov = {"nocb": wt, "locf": [wt[0]] + wt[:-1],
           "linear": [wt[0]] + [0.5 * (a + b) for a, b in zip(wt[:-1], wt[1:])]}[mode]
    t = [0, 1, 2, 4, 5]
    expected = [100 / V]
    for i in range(1, 5):
        k = CL * gov[i] / 70 / V
        expected.append(expected[-1] * np.exp(-k * (t[i] - t[i - 1])))
    np.testing.assert_allclose(c, np.array(expected) * 1000, rtol=1e-12)


def test_dvid_and_cmt_choose_effect_observations(tmp_path):
    model = model_from_dict({
        "model": {"name": "pd", "structure": "one_compartment", "routes": ["iv"]},
        "parameters": {"CL": f"{CL} L/h", "V1": f"{V} L", "KE0": "0.5 1/h", "SLOPE": "2 L/mg"},
        "effects": {"score": {"link": "effect_compartment", "model": "linear",
                              "parameters": {"KE0": "KE0", "SLOPE": "SLOPE"}}}})
    # CMT: 1 central, 2 effect compartment (ce_score), 3 eliminated.
    by_cmt = read_nonmem(_write(tmp_path, "ID,TIME,AMT,CMT,EVID\n1,0,100,1,1\n1,3,0,1,0\n"
                                          "1,3,0,2,0\n", "c.csv"), time_unit="h")
    by_dvid = read_nonmem(_write(tmp_path, "ID,TIME,AMT,CMT,EVID,DVID\n1,0,100,1,1,.\n"
                                           "1,3,0,.,0,1\n1,3,0,.,0,2\n", "d.csv"), time_unit="h")
    k, ke0 = K, 0.5
    cp = 100 / V * np.exp(-k * 3)  # mg/L
    ce = 100 / V * ke0 / (ke0 - k) * (np.exp(-k * 3) - np.exp(-ke0 * 3))
    for d in (by_cmt, by_dvid):
        r = simulate_dataset(model, d)
        assert list(r.output[1:]) == ["concentration", "score"]
        np.testing.assert_allclose(r.pred[1:], [cp * 1000, 2 * ce], rtol=1e-11)


def test_doses_become_event_tables_and_observations_targets(tmp_path):
    import dmtpk
    from dmtpk.dataset import observations, subject_event_table, subject_regimen
    text = ("ID,TIME,EVID,AMT,RATE,CMT,II,ADDL,DV,MDV\n"
            "1,0,1,30,0,1,6,2,.,1\n"       # depot boluses at 0, 6, 12 h
            "1,1,1,20,10,2,0,0,.,1\n"      # central infusion 10 mg/h from 1 h for 2 h
            "1,2,0,0,0,2,0,0,1.25,0\n"
            "1,3,0,0,0,2,0,0,.,1\n"
            "1,14,0,0,0,2,0,0,0.75,0\n")
    d = read_nonmem(_write(tmp_path, text, "ev.csv"), time_unit="h", concentration_unit="mg/L")
    model = one_cmt()
    table = subject_event_table(model, d, 1)
    assert len(table) == 5 and sorted(table.time) == [0, 60, 180, 360, 720]
    times = d.item("TIME") * 60
    via_table = dmtpk.simulate(model, subject_regimen(model, d, 1), times).concentration
    via_records = simulate_dataset(model, d).concentration
    np.testing.assert_allclose(via_records, via_table, rtol=1e-10)
    targets = observations(d)
    np.testing.assert_array_equal(targets["row"], [4, 6])
    np.testing.assert_array_equal(targets["time"], [120, 840])
    np.testing.assert_array_equal(targets["dv"], [1.25, 0.75])
    ss = read_nonmem(_write(tmp_path, "ID,TIME,EVID,AMT,CMT,SS,II\n1,0,1,5,2,1,12\n",
                            "ss.csv"), time_unit="h")
    with pytest.raises(DatasetError, match=r"ss\.csv, row 2, column SS"):
        subject_regimen(model, ss, 1)
