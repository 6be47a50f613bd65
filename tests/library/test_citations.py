"""Loading a model registers its citations; dmtpk.cite() prints those used (BibTeX and text)."""

from __future__ import annotations

import io

import pytest

import dmtpk
from dmtpk import citations

from .conftest import load_quietly


@pytest.fixture(autouse=True)
def empty_registry():
    saved = dict(citations._REGISTRY)
    citations.clear()
    yield
    citations.clear()
    citations._REGISTRY.update(saved)


def test_nothing_loaded_nothing_cited():
    assert citations.registered() == []
    assert "No model sources registered" in dmtpk.cite(output=None)


def test_loading_registers_and_cite_prints_text_and_bibtex():
    dmtpk.load_model("eckernas2022")
    out = io.StringIO()
    text = dmtpk.cite(output=out)
    assert out.getvalue() == text + "\n"
    assert citations.registered() == ["eckernas2022"]
    assert "Eckernäs E, Timmermann C" in text and "doi:10.1111/cts.13410" in text
    assert "[models: eckernas2022]" in text
    assert "@article{eckernas2022," in text
    assert "  doi = {10.1111/cts.13410}" in text
    assert "  pages = {2928--2937}" in text
    assert "author = {Eckernäs, Emma and Timmermann, Christopher" in text
    assert "psp4.12933" not in text  # the 2023 paper was not used in this run


def test_only_models_used_are_cited_in_order_without_duplicates():
    dmtpk.load_model("eckernas2023_eeg")
    dmtpk.load_model("eckernas2022")
    load_quietly("eckernas2022_inhaled")
    dmtpk.load_model("eckernas2022")
    assert citations.registered() == ["eckernas2023", "eckernas2022", "falchicarvalho2025"]
    text = dmtpk.cite("text", output=None)
    assert "@article" not in text
    assert "[models: eckernas2023_eeg, eckernas2022, eckernas2022_inhaled]" in text
    bib = dmtpk.cite("bibtex", output=None)
    assert bib.count("@article{") == 3 and "Models used" not in bib


def test_simulate_by_name_registers():
    dmtpk.simulate("eckernas2022", dmtpk.Bolus("20 mg", salt="fumarate"), [0, 1])
    assert "eckernas2022" in citations.registered()


def test_unstructured_source_becomes_misc():
    key = citations.register({"citation": "Someone (1999) A report & notes, 50% done"})
    bib = citations.bibtex(citations._REGISTRY[key])
    assert bib.startswith("@misc{") and r"\&" in bib and r"50\%" in bib


def test_bad_format_and_bad_entry():
    with pytest.raises(dmtpk.ValidationError, match="format"):
        dmtpk.cite("latex", output=None)
    with pytest.raises(dmtpk.ValidationError):
        citations.register({"doi": "10.1/x"})
