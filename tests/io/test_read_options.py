"""Reading datasets as users have them: ``drop``, ``rename``, ``ignore``/``accept``, DataFrames
and exact subject IDs.

Expected values come from the file contents written in each test (or, for the Schoemaker 2019
data sets, from the counts stated in the README of that folder), never from dmtpk's output.
"""

from __future__ import annotations

import math
import operator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmtpk import simulate_dataset
from dmtpk.errors import ValidationError
from dmtpk.io import DatasetError, dataset_from_records, read_nonmem, write_nonmem

from dataset_helpers import one_cmt

SCHOEMAKER = Path(__file__).resolve().parents[2].parent / "shared" / "validation" / \
    "schoemaker2019"
BOLUS_2CPT = SCHOEMAKER / "Bolus_2CPT.csv"
needs_schoemaker = pytest.mark.skipif(
    not BOLUS_2CPT.exists(),
    reason=f"Schoemaker 2019 data sets not found at {SCHOEMAKER} (nlmixr qualification data, "
           "GPL, kept outside the project)")


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------
# The Schoemaker 2019 data sets (README: 120 subjects x 66 records = 7,920 rows; 8 doses per
# subject; SD = 1 on 20 rows per subject, 2,400 in all; SS = 99 marks a subset, not a steady
# state)
# --------------------------------------------------------------------------------------------

@needs_schoemaker
def test_schoemaker_ss_marker_is_refused_unless_dropped():
    with pytest.raises(DatasetError) as err:
        read_nonmem(BOLUS_2CPT, time_unit="h", amount_unit="ug")
    assert (err.value.path, err.value.row, err.value.column) == ("Bolus_2CPT.csv", 2, "SS")
    assert "99" in str(err.value)


@needs_schoemaker
def test_schoemaker_reads_with_ss_and_ii_dropped():
    d = read_nonmem(BOLUS_2CPT, time_unit="h", amount_unit="ug", drop=["SS", "II"])
    assert len(d) == 7920
    assert len(d.ids) == 120
    evid = d.item("EVID")
    assert [int(np.sum(evid[sl] == 1)) for _, sl in d.subjects()] == [8] * 120
    assert not d.has("SS") and not d.has("II")
    assert "SS" not in d.columns and "II" not in d.columns
    assert "SS" not in d.covariates and "SD" in d.covariates


@needs_schoemaker
def test_schoemaker_single_dose_subset():
    d = read_nonmem(BOLUS_2CPT, time_unit="h", amount_unit="ug", drop=["SS", "II"],
                    ignore="SD == 0")
    assert len(d) == 2400
    assert [sl.stop - sl.start for _, sl in d.subjects()] == [20] * 120
    assert np.all(d.values["SD"] == 1)
    same = read_nonmem(BOLUS_2CPT, time_unit="h", amount_unit="ug", drop=["SS", "II"],
                       accept="SD.EQ.1")
    np.testing.assert_array_equal(same.rows, d.rows)


# --------------------------------------------------------------------------------------------
# drop
# --------------------------------------------------------------------------------------------

DROP = """\
ID,TIME,EVID,AMT,CMT,SS,II,DV,WT
1,0,1,100,2,99,0,.,70
1,1,0,0,2,99,x,4.5,70
2,0,1,50,2,1,0,.,60
"""


def test_dropped_columns_are_not_read_or_validated(tmp_path):
    # SS = 99, SS = 1 without II and II = 'x' would all be refused if read.
    d = read_nonmem(_write(tmp_path, DROP), time_unit="h", drop=["ss", "Ii"])
    assert d.columns == ("ID", "TIME", "EVID", "AMT", "CMT", "DV", "WT")
    assert d.covariates == ("WT",)
    np.testing.assert_array_equal(d.item("SS"), [0, 0, 0])  # the default, not the file's
    np.testing.assert_array_equal(d.item("AMT"), [100, 0, 50])


def test_drop_accepts_a_single_name(tmp_path):
    text = "ID,TIME,AMT,JUNK\n1,0,10,abc\n"
    d = read_nonmem(_write(tmp_path, text), time_unit="h", drop="junk")
    assert d.columns == ("ID", "TIME", "AMT")


def test_unknown_drop_name_is_a_validation_error(tmp_path):
    with pytest.raises(ValidationError) as err:
        read_nonmem(_write(tmp_path, DROP), time_unit="h", drop=["SS", "ADDL"])
    assert err.value.field == "drop"
    assert "'ADDL'" in str(err.value) and "data.csv" in str(err.value)
    assert "['ID', 'TIME', 'EVID', 'AMT', 'CMT', 'SS', 'II', 'DV', 'WT']" in str(err.value)
    with pytest.raises(ValidationError, match="drop"):
        read_nonmem(_write(tmp_path, DROP), time_unit="h", drop=[3])


def test_dropping_id_says_so(tmp_path):
    with pytest.raises(DatasetError, match=r"row 1, column ID: the dataset has no ID column "
                                           r"\(column ID is dropped\)"):
        read_nonmem(_write(tmp_path, DROP), time_unit="h", drop=["ID", "SS", "II"])


def test_dropped_comment_column_flags_nothing_and_comment_rows_lose_dropped_fields(tmp_path):
    text = "ID,TIME,AMT,SS,C\n1,0,10,99,.\n1,1,.,99,C\n#note\n"
    d = read_nonmem(_write(tmp_path, text), time_unit="h", drop=["SS"])
    assert d.ignored_rows == ((3, ["1", "1", ".", "C"]), (4, ["#note"]))
    out = tmp_path / "out.csv"
    write_nonmem(d, out)
    assert out.read_text() == "ID,TIME,AMT,C\n1,0,10,.\n1,1,.,C\n#note\n"
    e = read_nonmem(_write(tmp_path, text), time_unit="h", drop=["SS", "C"])
    assert len(e) == 2 and e.ignored_rows == ((4, ["#note"]),)


# --------------------------------------------------------------------------------------------
# rename
# --------------------------------------------------------------------------------------------

RENAME = """\
ID,TIME,EVID,AMT,CMT,CONC,V,DOSE
1,0,1,100,2,.,21.5,100
1,1,0,0,2,4.5,21.5,100
1,2,0,0,2,3.25,21.5,100
"""


def test_renamed_columns_take_their_new_names(tmp_path):
    d = read_nonmem(_write(tmp_path, RENAME), time_unit="h",
                    rename={"conc": "DV", "V": "V1", "DOSE": "DOSEGRP"})
    assert d.columns == ("ID", "TIME", "EVID", "AMT", "CMT", "DV", "V1", "DOSEGRP")
    assert d.has("DV") and d.covariates == ("V1", "DOSEGRP")
    np.testing.assert_array_equal(d.item("DV"), [np.nan, 4.5, 3.25])
    np.testing.assert_array_equal(d.covariate("V1"), [21.5, 21.5, 21.5])
    assert dict(d.renamed) == {"DV": "CONC", "V1": "V", "DOSEGRP": "DOSE"}


def test_renaming_makes_a_standard_item(tmp_path):
    text = "ID,TIME,TYPE,AMT,CMT\n1,0,1,100,2\n1,1,2,0,2\n"
    d = read_nonmem(_write(tmp_path, text), time_unit="h", rename={"TYPE": "EVID"})
    np.testing.assert_array_equal(d.item("EVID"), [1, 2])
    assert d.covariates == ()


def test_names_can_be_swapped(tmp_path):
    text = "ID,TIME,A,B\n1,0,1,2\n"
    d = read_nonmem(_write(tmp_path, text), time_unit="h", rename={"A": "B", "B": "A"})
    assert d.columns == ("ID", "TIME", "B", "A")
    assert d.values["B"][0] == 1 and d.values["A"][0] == 2


def test_errors_in_a_renamed_column_name_it_as_written_and_as_read(tmp_path):
    bad_value = RENAME.replace("3.25", "n/a")
    with pytest.raises(DatasetError) as err:
        read_nonmem(_write(tmp_path, bad_value), time_unit="h", rename={"CONC": "DV"})
    assert (err.value.row, err.value.column, err.value.read_as) == (4, "CONC", "DV")
    assert "data.csv, row 4, column CONC (read as DV): non-numeric value 'n/a'" in \
        str(err.value)
    missing = RENAME.replace("3.25", ".")  # an observation without DV (found by validation)
    with pytest.raises(DatasetError) as err:
        read_nonmem(_write(tmp_path, missing), time_unit="h", rename={"CONC": "DV"})
    assert "data.csv, row 4, column CONC (read as DV): missing DV" in str(err.value)
    assert err.value.column == "CONC"


def test_simulation_errors_can_name_the_file_column(tmp_path):
    d = read_nonmem(_write(tmp_path, RENAME), time_unit="h", rename={"CONC": "DV"})
    err = d.error(2, "DV", "some problem")
    assert str(err) == "data.csv, row 4, column CONC (read as DV): some problem"


def test_bad_rename_arguments(tmp_path):
    path = _write(tmp_path, RENAME)
    with pytest.raises(ValidationError) as err:
        read_nonmem(path, time_unit="h", rename={"VOL": "V1"})
    assert err.value.field == "rename.VOL" and "'VOL' is not a column" in str(err.value)
    with pytest.raises(ValidationError) as err:
        read_nonmem(path, time_unit="h", rename={"V": "dose"})
    assert err.value.field == "rename.V" and "the file has a column DOSE" in str(err.value)
    with pytest.raises(ValidationError) as err:
        read_nonmem(path, time_unit="h", rename={"V": "X", "DOSE": "x"})
    assert err.value.field.startswith("rename.") and "two columns" in str(err.value)
    with pytest.raises(ValidationError, match=r"rename\.V: .*dropped"):
        read_nonmem(path, time_unit="h", drop=["V"], rename={"V": "V1"})
    with pytest.raises(ValidationError, match=r"rename\.V: .*non-empty"):
        read_nonmem(path, time_unit="h", rename={"V": ""})
    with pytest.raises(ValidationError, match="rename: expected a mapping"):
        read_nonmem(path, time_unit="h", rename=["V", "V1"])


def test_renamed_dataset_is_written_under_the_new_names(tmp_path):
    d = read_nonmem(_write(tmp_path, RENAME), time_unit="h", rename={"CONC": "DV"})
    out = tmp_path / "out.csv"
    write_nonmem(d, out)
    assert out.read_text().splitlines()[0] == "ID,TIME,EVID,AMT,CMT,DV,V,DOSE"
    e = read_nonmem(out, time_unit="h")
    np.testing.assert_array_equal(e.item("DV"), [np.nan, 4.5, 3.25])


# --------------------------------------------------------------------------------------------
# ignore / accept
# --------------------------------------------------------------------------------------------

SELECT = """\
ID,TIME,EVID,AMT,CMT,DV,SD,GEN,AGE
1,0,1,100,2,.,1,1,30
1,1,0,0,2,4.5,1,1,30
1,2,0,0,2,3.0,0,1,30
2,0,1,100,2,.,1,2,70
2,1,0,0,2,5.5,0.0,2,70
3,0,1,100,2,.,1,1,65
3,1,0,0,2,2.5,1,1,65
"""


def _rows(path, **kw):
    """File rows of the records read."""
    return list(read_nonmem(path, time_unit="h", **kw).rows)


@pytest.mark.parametrize("kw", [
    {"ignore": "SD == 0"}, {"ignore": "SD.EQ.0"}, {"ignore": "sd .eq. 0"},
    {"ignore": "SD=0"}, {"ignore": "SD.EQN.0"}, {"ignore": "SD < 0.5"}, {"ignore": "SD .LT. 1"},
    {"accept": "SD == 1"}, {"accept": "SD != 0"}, {"accept": "SD /= 0"}, {"accept": "SD>=1"},
    {"ignore": lambda row: row["SD"] == 0}, {"accept": lambda row: row["sd"] > 0.5},
])
def test_selection_forms_agree(tmp_path, kw):
    # SD is 0 on rows 4 and 6 (written "0" and "0.0": compared as numbers).
    assert _rows(_write(tmp_path, SELECT), **kw) == [2, 3, 5, 7, 8]


def test_lists_are_or_ed_as_in_nonmem(tmp_path):
    path = _write(tmp_path, SELECT)
    # NONMEM: IGNORE=(GEN.EQ.1,AGE.GT.60) drops records with GEN = 1 or AGE > 60: here every
    # record is one or the other ...
    with pytest.raises(DatasetError, match="no records"):
        read_nonmem(path, time_unit="h", ignore=["GEN.EQ.1", "AGE.GT.60"])
    # ... and ACCEPT=(GEN.EQ.1,AGE.GT.60) keeps records with GEN = 1 or AGE > 60.
    assert _rows(path, accept=["GEN.EQ.1", "AGE.GT.60"]) == [2, 3, 4, 5, 6, 7, 8]
    assert _rows(path, accept=("GEN == 2", "AGE > 60")) == [5, 6, 7, 8]
    # NONMEM's way to write "ignore GEN = 1 and AGE > 60": ACCEPT=(GEN.NE.1,AGE.LE.60).
    assert _rows(path, accept=["GEN.NE.1", "AGE.LE.60"]) == [2, 3, 4, 5, 6]
    assert _rows(path, ignore="GEN == 1 and AGE > 60") == [2, 3, 4, 5, 6]


def test_and_binds_before_or(tmp_path):
    path = _write(tmp_path, SELECT)
    # ID == 3 or (SD == 0 and GEN == 2): rows 6 (ID 2, SD 0.0, GEN 2), 7, 8 (ID 3).
    assert _rows(path, ignore="ID == 3 or SD == 0 and GEN == 2") == [2, 3, 4, 5]


def test_ignored_rows_are_not_validated_and_keep_file_row_numbers(tmp_path):
    text = ("ID,TIME,EVID,AMT,CMT,SS,DV,PART\n"
            "1,0,1,100,2,99,.,0\n"          # SS = 99: invalid, but ignored
            "1,0,1,100,2,0,.,1\n"
            "1,1,0,0,2,0,abc,0\n"           # non-numeric DV: invalid, but ignored
            "1,2,0,0,2,0,4.5,1\n"
            "1,1.5,0,0,2,0,4.0,1\n")        # times decrease: found, named by its file row
    path = _write(tmp_path, text)
    with pytest.raises(DatasetError) as err:
        read_nonmem(path, time_unit="h", ignore="PART == 0")
    assert (err.value.row, err.value.column) == (6, "TIME")
    d = read_nonmem(_write(tmp_path, text.replace("1,1.5,", "1,2.5,")), time_unit="h",
                    ignore="PART == 0")
    np.testing.assert_array_equal(d.rows, [3, 5, 6])
    np.testing.assert_array_equal(d.item("TIME"), [0, 2, 2.5])


def test_ignored_rows_are_not_written_back_but_comment_rows_are(tmp_path):
    text = "C,ID,TIME,AMT,SD\n.,1,0,10,1\nC,1,1,20,1\n.,1,2,30,0\n.,1,3,40,1\n"
    d = read_nonmem(_write(tmp_path, text), time_unit="h", ignore="SD == 0")
    out = tmp_path / "out.csv"
    write_nonmem(d, out)
    assert out.read_text() == "C,ID,TIME,AMT,SD\n.,1,0,10,1\nC,1,1,20,1\n.,1,3,40,1\n"


def test_conditions_may_read_dropped_columns(tmp_path):
    # As in NONMEM, records are selected before columns are dropped ($INPUT SS=DROP with
    # IGNORE=(SS.EQ.99)).
    d = read_nonmem(_write(tmp_path, DROP), time_unit="h", drop=["SS", "II"],
                    ignore="SS == 99")
    np.testing.assert_array_equal(d.rows, [4])


def test_missing_values_satisfy_only_not_equal(tmp_path):
    text = "ID,TIME,AMT,X\n1,0,10,.\n1,1,10,0\n1,2,10,\n1,3,10,2\n"
    path = _write(tmp_path, text)
    assert _rows(path, ignore="X == 0") == [2, 4, 5]
    assert _rows(path, ignore="X != 0") == [3]
    assert _rows(path, ignore="X < 1") == [2, 4, 5]
    assert _rows(path, ignore="X >= 1") == [2, 3, 4]
    seen = []
    read_nonmem(path, time_unit="h", ignore=lambda row: seen.append(row["X"]) or False)
    assert math.isnan(seen[0]) and seen[1] == 0 and math.isnan(seen[2]) and seen[3] == 2


def test_the_function_sees_every_column_as_read(tmp_path):
    seen = []

    def keep_all(row):
        seen.append(dict(row))
        return False

    text = "ID,TIME,AMT,SS,V\n1,0,10,99,3.5\n"
    read_nonmem(_write(tmp_path, text), time_unit="h", drop=["SS"], rename={"V": "V1"},
                ignore=keep_all)
    assert seen == [{"ID": 1.0, "TIME": 0.0, "AMT": 10.0, "V1": 3.5, "SS": 99.0}]


@pytest.mark.parametrize("cond,words", [
    ("SD = = 0", "expected COLUMN OP NUMBER"),
    ("SD == x", "expected COLUMN OP NUMBER"),
    ("SD ==", "expected COLUMN OP NUMBER"),
    ("== 0", "expected COLUMN OP NUMBER"),
    ("SD == 0 and", "expected COLUMN OP NUMBER"),
    ("SD == 0 or or GEN == 1", "expected COLUMN OP NUMBER"),
    ("SD ~ 0", "cannot read"),
    ("__import__('os') == 1", "cannot read"),
    ("SDX == 0", "no column 'SDX'"),
])
def test_malformed_conditions_name_the_argument(tmp_path, cond, words):
    path = _write(tmp_path, SELECT)
    for arg in ("ignore", "accept"):
        with pytest.raises(ValidationError) as err:
            read_nonmem(path, time_unit="h", **{arg: cond})
        assert err.value.field == arg and words in str(err.value)
        assert not isinstance(err.value, DatasetError)


def test_a_condition_on_an_old_name_says_what_it_is_read_as(tmp_path):
    with pytest.raises(ValidationError, match=r"ignore: .*no column 'V'.*V is read as 'V1'"):
        read_nonmem(_write(tmp_path, RENAME), time_unit="h", rename={"V": "V1"},
                    ignore="V > 1")


def test_bad_selection_arguments(tmp_path):
    path = _write(tmp_path, SELECT)
    with pytest.raises(ValidationError) as err:
        read_nonmem(path, time_unit="h", ignore="SD == 0", accept="SD == 1")
    assert err.value.field == "accept" and "together with ignore" in str(err.value)
    for bad in (5, [], ["SD == 0", 3]):
        with pytest.raises(ValidationError, match="ignore: expected a condition"):
            read_nonmem(path, time_unit="h", ignore=bad)


def test_a_failing_selection_function_is_named_with_its_row(tmp_path):
    path = _write(tmp_path, SELECT)
    with pytest.raises(ValidationError) as err:
        read_nonmem(path, time_unit="h", ignore=lambda row: row["WT"] > 70)
    assert err.value.field == "ignore"
    assert "data.csv, row 2: the function raised KeyError: no column 'WT'" in str(err.value)
    with pytest.raises(ValidationError, match=r"accept: data\.csv, row 2: .*ZeroDivisionError"):
        read_nonmem(path, time_unit="h", accept=lambda row: 1 / 0 > 1)
    with pytest.raises(ValidationError, match=r"ignore: data\.csv, row 2: .*True or False, "
                                              r"got 1\.0"):
        read_nonmem(path, time_unit="h", ignore=lambda row: row["SD"])


def test_non_numeric_value_in_a_condition_column_is_a_dataset_error(tmp_path):
    text = "ID,TIME,AMT,FLAG\n1,0,10,0\n1,1,10,yes\n"
    with pytest.raises(DatasetError) as err:
        read_nonmem(_write(tmp_path, text), time_unit="h", drop=["FLAG"], ignore="FLAG == 1")
    assert (err.value.row, err.value.column) == (3, "FLAG")
    assert "non-numeric value 'yes' (needed by ignore)" in str(err.value)


@settings(max_examples=40, deadline=None)
@given(xs=st.lists(st.integers(-5, 5), min_size=1, max_size=12), t=st.integers(-6, 6),
       op=st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
def test_threshold_selection_matches_the_written_values(tmp_path_factory, xs, t, op):
    lines = ["ID,TIME,AMT,X"] + [f"1,{k},1,{x}" for k, x in enumerate(xs)]
    path = tmp_path_factory.mktemp("sel") / "x.csv"
    path.write_text("\n".join(lines) + "\n")
    test = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
            "==": operator.eq, "!=": operator.ne}[op]
    expected = [k + 2 for k, x in enumerate(xs) if not test(x, t)]
    if not expected:
        with pytest.raises(DatasetError, match="no records"):
            read_nonmem(path, time_unit="h", ignore=f"X {op} {t}")
        return
    assert list(read_nonmem(path, time_unit="h", ignore=f"X {op} {t}").rows) == expected


# --------------------------------------------------------------------------------------------
# DataFrames
# --------------------------------------------------------------------------------------------

FRAME_CSV = """\
ID,TIME,EVID,AMT,CMT,DV,WT
1,0,1,100,2,.,70
1,0.5,0,.,2,4.61,.
2,0,1,50,2,.,60
2,4,0,0,2,1.5,60
"""


def _frame():
    return pd.DataFrame({
        "ID": [1, 1, 2, 2], "TIME": [0.0, 0.5, 0.0, 4.0], "EVID": [1, 0, 1, 0],
        "AMT": ["100", ".", 50, 0], "CMT": [2, 2, 2, 2], "DV": [np.nan, 4.61, "", 1.5],
        "WT": [70, None, 60, 60]})


def test_a_dataframe_reads_as_the_same_file(tmp_path):
    f = read_nonmem(_frame(), time_unit="h")
    d = read_nonmem(_write(tmp_path, FRAME_CSV), time_unit="h")
    assert f.path == "<DataFrame>" and f.columns == d.columns and f.ids == [1, 2]
    np.testing.assert_array_equal(f.rows, [2, 3, 4, 5])
    for c in d.columns:
        np.testing.assert_array_equal(f.values[c], d.values[c])


def test_a_dataframe_takes_the_options_too(tmp_path):
    frame = _frame().rename(columns={"DV": "CONC"}).assign(SS=99)
    f = read_nonmem(frame, time_unit="h", drop=["SS"], rename={"CONC": "DV"},
                    accept="ID == 2")
    np.testing.assert_array_equal(f.rows, [4, 5])
    np.testing.assert_array_equal(f.item("DV"), [np.nan, 1.5])


def test_dataframe_errors_name_row_column_and_index_label():
    frame = _frame()
    frame.index = ["a", "b", "c", "d"]
    frame.loc["c", "AMT"] = "fifty"
    with pytest.raises(DatasetError) as err:
        read_nonmem(frame, time_unit="h")
    assert (err.value.path, err.value.row, err.value.column, err.value.index) == \
        ("<DataFrame>", 4, "AMT", "c")
    assert "<DataFrame>, row 4 (index 'c'), column AMT: non-numeric value 'fifty'" in \
        str(err.value)
    frame = _frame().rename(columns={"DV": "CONC"})
    frame["CONC"] = [np.nan, 4.61, np.nan, np.nan]  # an observation without DV (row 5)
    with pytest.raises(DatasetError) as err:
        read_nonmem(frame, time_unit="h", rename={"CONC": "DV"})
    assert "<DataFrame>, row 5 (index 3), column CONC (read as DV): missing DV" in \
        str(err.value)


def test_dataframe_dates_are_not_numbers():
    frame = _frame().assign(TIME=pd.to_datetime(["2020-01-01"] * 4))
    with pytest.raises(DatasetError, match=r"row 2 \(index 0\), column TIME: non-numeric"):
        read_nonmem(frame, time_unit="h")


def test_duplicate_dataframe_columns_are_refused():
    frame = pd.DataFrame([[1, 0, 10, 0]], columns=["ID", "TIME", "AMT", "time"])
    with pytest.raises(DatasetError, match=r"<DataFrame>, row 1, column time: duplicate"):
        read_nonmem(frame, time_unit="h")


def test_a_source_that_is_neither_path_nor_frame():
    with pytest.raises(ValidationError, match="path: expected a file path or a DataFrame"):
        read_nonmem(42, time_unit="h")


# --------------------------------------------------------------------------------------------
# Subject IDs, read exactly
# --------------------------------------------------------------------------------------------

BIG = 2 ** 53  # 9007199254740992: BIG and BIG + 1 are one float64


def test_ids_beyond_2_53_stay_distinct_subjects(tmp_path):
    assert float(BIG) == float(BIG + 1)  # why the test matters
    text = (f"ID,TIME,AMT,CMT\n{BIG + 1},0,100,2\n{BIG + 1},1,0,2\n{BIG},0,50,2\n"
            f"{BIG},2,0,2\n")
    d = read_nonmem(_write(tmp_path, text), time_unit="h")
    assert d.ids == [9007199254740993, 9007199254740992]
    assert [(sl.start, sl.stop) for _, sl in d.subjects()] == [(0, 2), (2, 4)]
    out = tmp_path / "out.csv"
    write_nonmem(d, out)
    assert out.read_text() == text
    assert read_nonmem(out, time_unit="h").ids == [9007199254740993, 9007199254740992]


def test_huge_ids_and_a_frame_of_them(tmp_path):
    a, b = 10 ** 30 + 1, 10 ** 30 + 2
    d = read_nonmem(_write(tmp_path, f"ID,TIME,AMT\n{a},0,1\n{b},0,2\n"), time_unit="h")
    assert d.ids == [a, b]
    frame = pd.DataFrame({"ID": [BIG + 1, BIG], "TIME": [0, 0], "AMT": [1, 2]})
    assert read_nonmem(frame, time_unit="h").ids == [BIG + 1, BIG]
    cols = {"ID": [BIG + 1, BIG], "TIME": [0.0, 0.0], "AMT": [1.0, 2.0]}
    assert dataset_from_records(cols, time_unit="h").ids == [BIG + 1, BIG]


def test_ids_returning_after_others_are_found_exactly(tmp_path):
    text = f"ID,TIME,AMT\n{BIG + 1},0,1\n{BIG},0,1\n{BIG + 1},1,1\n"
    with pytest.raises(DatasetError) as err:
        read_nonmem(_write(tmp_path, text), time_unit="h")
    assert (err.value.row, err.value.column) == (4, "ID")
    assert f"ID {BIG + 1} appears again" in str(err.value)


def test_time_order_is_checked_per_exact_id(tmp_path):
    # Two subjects, the second starting earlier than the first ended: not a time reversal.
    text = f"ID,TIME,AMT\n{BIG + 1},0,1\n{BIG + 1},5,1\n{BIG},0,1\n"
    assert len(read_nonmem(_write(tmp_path, text), time_unit="h").ids) == 2


def test_non_integer_ids_still_work(tmp_path):
    d = read_nonmem(_write(tmp_path, "ID,TIME,AMT\n1.5,0,1\n1.5,1,1\n2.0,0,1\n"),
                    time_unit="h")
    assert d.ids == [1.5, 2] and isinstance(d.ids[1], int)


@pytest.mark.parametrize("first,second,words", [
    ("0.1", "0.10000000000000001", "the same in double precision"),
    ("1", "1.00000000000000001", "reads as 1 in double precision"),
])
def test_ids_double_precision_cannot_tell_apart_are_refused(tmp_path, first, second, words):
    text = f"ID,TIME,AMT\n{first},0,1\n{second},0,1\n"
    with pytest.raises(DatasetError) as err:
        read_nonmem(_write(tmp_path, text), time_unit="h")
    assert (err.value.path, err.value.row, err.value.column) == ("data.csv", 3, "ID")
    assert words in str(err.value)


def test_subjects_with_ids_beyond_2_53_are_simulated_apart(tmp_path):
    # Linear model, same times: the subject given half the dose has half the concentrations.
    text = (f"ID,TIME,EVID,AMT,CMT,DV\n"
            f"{BIG + 1},0,1,100,2,.\n{BIG + 1},1,0,0,2,.\n{BIG + 1},4,0,0,2,.\n"
            f"{BIG},0,1,50,2,.\n{BIG},1,0,0,2,.\n{BIG},4,0,0,2,.\n")
    d = read_nonmem(_write(tmp_path, text), time_unit="h", concentration_unit="mg/L")
    res = simulate_dataset(one_cmt(), d)
    np.testing.assert_allclose(res.pred[[4, 5]], 0.5 * res.pred[[1, 2]], rtol=1e-9)
    assert res.pred[1] > 0


@settings(max_examples=25, deadline=None)
@given(base=st.integers(2 ** 53, 2 ** 80), gap=st.integers(1, 3))
def test_any_two_different_integer_ids_stay_apart(tmp_path_factory, base, gap):
    path = tmp_path_factory.mktemp("ids") / "ids.csv"
    path.write_text(f"ID,TIME,AMT\n{base},0,1\n{base + gap},0,1\n")
    assert read_nonmem(path, time_unit="h").ids == [base, base + gap]


def test_simulation_errors_name_a_renamed_column_as_in_the_file(tmp_path):
    """A record the model cannot take, in a column read under another name: the error names
    the file's column and the name it is read as."""
    path = tmp_path / "renamed.csv"
    path.write_text("ID,TIME,EVID,AMT,COMP,DV\n1,0,1,10,7,.\n1,1,0,0,1,.\n")
    data = read_nonmem(path, time_unit="h", rename={"COMP": "CMT"})
    with pytest.raises(DatasetError) as err:
        simulate_dataset("eckernas2022", data)
    assert err.value.column == "COMP" and err.value.read_as == "CMT"
    assert "row 2" in str(err.value) and "column COMP (read as CMT)" in str(err.value)
