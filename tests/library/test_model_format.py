"""The model-file format the library needs: provenance, dose form, validity, Box-Cox and
between-occasion variability, bounded residual errors, structured sources. Every malformed case
is rejected naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

import dmtpk

LIB_BASE = """\
[model]
name = "lib"
structure = "two_compartment"
routes = ["iv", "inhaled"]

[parameters]
CL = { value = "1.5 L/min", source = "a2020", where = "Table 2" }
V1 = { value = "10 L", source = "a2020", where = "Table 2" }
Q = { value = "2 L/min", source = "a2020", where = "Table 2" }
V2 = { value = "20 L", source = "a2020", where = "Table 2" }
KA = { value = "3 1/min", assumption = "chosen to match the onset of effect" }
F_INH = { value = 0.4, assumption = "chosen to match the peak effect" }
KE0 = { value = "0.5 1/min", source = "a2020", where = "Table 3" }
R0 = { value = 10.0, source = "a2020", where = "Table 3" }
IMAX = { value = 0.8, source = "a2020", where = "Table 3" }
IC50 = { value = "50 nM", source = "a2020", where = "Table 3" }
GAMMA = { value = 2.0, source = "a2020", where = "Table 3" }

[effects.power]
link = "effect_compartment"
model = "fractional_imax"
parameters = { KE0 = "KE0", R0 = "R0", IMAX = "IMAX", IC50 = "IC50", GAMMA = "GAMMA" }
unit = "power"

[dose_form]
salt = "fumarate"
nmol_per_mg = "3285.8 nmol/mg"
source = "a2020"
where = "Methods"

[variability]
omega = { CL = 0.09, R0 = 0.5, IC50 = 0.2 }
correlation = { "R0,IC50" = -0.4 }
distribution = { R0 = "boxcox" }
boxcox = { R0 = -0.3 }
source = "a2020"
where = "Table 3"

[variability.occasion]
omega = { R0 = 0.1 }

[residual]
proportional = 0.2

[residual.power]
logit_additive = 0.5
lower = 0
upper = 12

[validity]
population = "20 healthy adults"

[validity.iv]
administration = ["bolus"]
dose = ["5 mg", "25 mg"]

[validity.inhaled]
fitted = false
dose = ["10 mg", "50 mg"]
salt = "base"
why = "no inhaled PK published; KA and F_INH are assumptions"

[[sources]]
key = "a2020"
citation = "Author A, Author B (2020) A title. J Pharm 1:2-3"
doi = "10.0000/example"
authors = ["Author, A", "Author, B"]
title = "A title"
journal = "J Pharm"
year = 2020
"""


def _edit(text, old, new):
    assert text.count(old) == 1, f"test setup: {old!r} must occur once"
    return text.replace(old, new)


def _write(tmp_path, text, name="lib.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _load(path):
    with pytest.warns(dmtpk.model.spec.NotFittedWarning) if "fitted = false" in \
            path.read_text(encoding="utf-8") else _nothing():
        return dmtpk.load_model(path)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_lib_base_is_valid(tmp_path):
    m = _load(_write(tmp_path, LIB_BASE))
    assert m.dose_form.salt == "fumarate"
    assert m.validity["iv"].dose == pytest.approx((5 * 3285.8 * 188.27e-6, 25 * 3285.8 * 188.27e-6))
    assert m.validity["inhaled"].dose == (10.0, 50.0)  # stated as base
    assert m.validity["inhaled"].fitted is False
    assert m.variability["boxcox"] == {"R0": -0.3}
    assert m.variability["occasion"]["omega"] == {"R0": 0.1}
    assert m.residual["power"]["logit_additive"] == 0.5
    assert m.residual["power"]["upper"] == 12.0


MALFORMED = {
    # provenance
    "missing_source": (lambda s: _edit(s, 'source = "a2020", where = "Table 2" }\nV1',
                                       'where = "Table 2" }\nV1'), "parameters.CL.source"),
    "bare_value_in_sourced_file": (
        lambda s: _edit(s, 'CL = { value = "1.5 L/min", source = "a2020", where = "Table 2" }',
                        'CL = "1.5 L/min"'), "parameters.CL.source"),
    "unknown_source_key": (lambda s: _edit(s, 'CL = { value = "1.5 L/min", source = "a2020"',
                                           'CL = { value = "1.5 L/min", source = "b2021"'),
                           "parameters.CL.source"),
    "missing_where": (lambda s: _edit(s, 'V1 = { value = "10 L", source = "a2020", where = '
                                         '"Table 2" }', 'V1 = { value = "10 L", source = '
                                                        '"a2020" }'), "parameters.V1.where"),
    "empty_assumption": (lambda s: _edit(s, '"chosen to match the onset of effect"', '" "'),
                         "parameters.KA.assumption"),
    "parameter_unknown_key": (lambda s: _edit(s, 'where = "Table 2" }\nV1',
                                              'where = "Table 2", sorce = "x" }\nV1'),
                              "parameters.CL.sorce"),
    "validity_route_unknown_source": (lambda s: _edit(s, 'administration = ["bolus"]',
                                                      'administration = ["bolus"]\nsource = "q"'),
                                      "validity.iv.source"),
    "unknown_unit": (lambda s: _edit(s, '"1.5 L/min"', '"1.5 blorps/min"'), "parameters.CL"),
    "wrong_unit_dimension": (lambda s: _edit(s, '"50 nM"', '"50 nmol"'), "parameters.IC50"),
    # variability
    "omega_unknown_parameter": (lambda s: _edit(s, "omega = { CL = 0.09,",
                                                "omega = { CLX = 0.1, CL = 0.09,"),
                                "variability.omega.CLX"),
    "negative_variance": (lambda s: _edit(s, "CL = 0.09", "CL = -0.09"),
                          "variability.omega.CL"),
    "occasion_negative_variance": (lambda s: _edit(s, "omega = { R0 = 0.1 }",
                                                   "omega = { R0 = -0.1 }"),
                                   "variability.occasion.omega.R0"),
    "occasion_unknown_parameter": (lambda s: _edit(s, "omega = { R0 = 0.1 }",
                                                   "omega = { R9 = 0.1 }"),
                                   "variability.occasion.omega.R9"),
    "occasion_unknown_key": (lambda s: _edit(s, "omega = { R0 = 0.1 }",
                                             "omega = { R0 = 0.1 }\nkappa = 1"),
                             "variability.occasion.kappa"),
    "unknown_distribution": (lambda s: _edit(s, '"boxcox" }', '"weibull" }'),
                             "variability.distribution.R0"),
    "distribution_without_omega": (lambda s: _edit(s, 'distribution = { R0 = "boxcox" }',
                                                   'distribution = { R0 = "boxcox", '
                                                   'V1 = "normal" }'),
                                   "variability.distribution.V1"),
    "boxcox_without_lambda": (lambda s: _edit(s, "boxcox = { R0 = -0.3 }\n", ""),
                              "variability.boxcox.R0"),
    "lambda_without_boxcox": (lambda s: _edit(s, 'distribution = { R0 = "boxcox" }\n', ""),
                              "variability.boxcox.R0"),
    "lambda_not_a_number": (lambda s: _edit(s, "boxcox = { R0 = -0.3 }",
                                            'boxcox = { R0 = "x" }'), "variability.boxcox.R0"),
    "variability_unknown_source": (lambda s: _edit(s, 'source = "a2020"\nwhere = "Table 3"',
                                                   'source = "zz"\nwhere = "Table 3"'),
                                   "variability.source"),
    # residual
    "logit_without_bounds": (lambda s: _edit(s, "lower = 0\n", ""), "residual.power.lower"),
    "logit_bounds_reversed": (lambda s: _edit(s, "upper = 12", "upper = -1"),
                              "residual.power.upper"),
    "residual_unknown_endpoint": (lambda s: _edit(s, "[residual.power]", "[residual.alpha]"),
                                  "residual.alpha"),
    "residual_metabolite_without_metabolite": (
        lambda s: s + "\n[residual.metabolite]\nproportional = 0.1\n", "residual.metabolite"),
    "residual_unknown_key": (lambda s: _edit(s, "logit_additive = 0.5", "sd = 0.5"),
                             "residual.power.sd"),
    "residual_negative": (lambda s: _edit(s, "logit_additive = 0.5", "logit_additive = -0.5"),
                          "residual.power.logit_additive"),
    # dose form
    "unknown_salt": (lambda s: _edit(s, 'salt = "fumarate"', 'salt = "hydrochloride"'),
                     "dose_form.salt"),
    "factor_wrong_unit": (lambda s: _edit(s, '"3285.8 nmol/mg"', '"3285.8 nmol"'),
                          "dose_form.nmol_per_mg"),
    "factor_above_base": (lambda s: _edit(s, '"3285.8 nmol/mg"', '"6000 nmol/mg"'),
                          "dose_form.nmol_per_mg"),
    "factor_without_provenance": (lambda s: _edit(s, 'source = "a2020"\nwhere = "Methods"\n', ""),
                                  "dose_form.source"),
    # validity
    "validity_without_population": (lambda s: _edit(s, 'population = "20 healthy adults"\n', ""),
                                    "validity.population"),
    "validity_unknown_table": (lambda s: _edit(s, '[validity.inhaled]\nfitted = false\n',
                                               '[validity.other]\nfitted = false\n'),
                               "validity.other"),
    "validity_route_missing": (lambda s: s[:s.index("[validity.inhaled]")]
                               + s[s.index("[[sources]]"):], "validity.inhaled"),
    "validity_undeclared_route": (lambda s: _edit(s, 'routes = ["iv", "inhaled"]',
                                                  'routes = ["iv"]').replace(
        'KA = { value = "3 1/min", assumption = "chosen to match the onset of effect" }\n'
        'F_INH = { value = 0.4, assumption = "chosen to match the peak effect" }\n', ""),
        "validity.inhaled"),
    "validity_dose_without_unit": (lambda s: _edit(s, 'dose = ["5 mg", "25 mg"]',
                                                   'dose = [5, 25]'), "validity.iv.dose"),
    "validity_dose_reversed": (lambda s: _edit(s, 'dose = ["5 mg", "25 mg"]',
                                               'dose = ["25 mg", "5 mg"]'), "validity.iv.dose"),
    "validity_dose_wrong_unit": (lambda s: _edit(s, 'dose = ["5 mg", "25 mg"]',
                                                 'dose = ["5 L", "25 L"]'), "validity.iv.dose"),
    "validity_unknown_administration": (lambda s: _edit(s, 'administration = ["bolus"]',
                                                        'administration = ["intramuscular"]'),
                                        "validity.iv.administration"),
    "not_fitted_without_why": (lambda s: _edit(
        s, 'why = "no inhaled PK published; KA and F_INH are assumptions"\n', ""),
        "validity.inhaled.why"),
    "validity_fitted_not_bool": (lambda s: _edit(s, "fitted = false", 'fitted = "no"'),
                                 "validity.inhaled.fitted"),
    # sources and routes
    "source_unknown_key": (lambda s: _edit(s, 'key = "a2020"', 'key = "a2020"\ncolour = "red"'),
                           "sources[0].colour"),
    "source_without_citation": (lambda s: _edit(
        s, 'citation = "Author A, Author B (2020) A title. J Pharm 1:2-3"\n', ""),
        "sources[0].citation"),
    "duplicate_source_key": (lambda s: s + '\n[[sources]]\nkey = "a2020"\ncitation = "x"\n',
                             "sources[1].key"),
    "source_year_not_integer": (lambda s: _edit(s, "year = 2020", 'year = "2020"'),
                                "sources[0].year"),
    "model_without_route": (lambda s: _edit(s, 'routes = ["iv", "inhaled"]\n', ""),
                            "model.routes"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_library_file(tmp_path, case):
    mutate, key = MALFORMED[case]
    text = mutate(LIB_BASE)
    assert text != LIB_BASE
    path = _write(tmp_path, text, f"{case}.toml")
    with pytest.raises(dmtpk.ModelFileError) as exc:
        dmtpk.load_model(path)
    err = exc.value
    assert err.key == key, str(err)
    assert str(path.resolve()) in str(err) and f"[{key}]" in str(err)


def test_file_without_sources_may_use_bare_values(tmp_path):
    """A quick model of one's own (no [[sources]]) needs no provenance; a literature model does."""
    text = """\
[model]
name = "mine"
structure = "one_compartment"
routes = ["iv"]

[parameters]
CL = "1 L/min"
V1 = "10 L"
"""
    m = dmtpk.load_model(_write(tmp_path, text, "mine.toml"))
    assert m.validity == {} and m.dose_form.salt == "base" and m.population == ""
    assert m.check_regimen(dmtpk.Bolus(100)) == []  # nothing stated, nothing checked
