"""``[[comparisons]]``: studies a model is compared against, validated like sources, shown by
print(model), never registered for dmtpk.cite()."""

from __future__ import annotations

import pytest

import dmtpk
from dmtpk import citations
from dmtpk.model.spec import model_from_dict

BASE = {
    "model": {"name": "c", "structure": "one_compartment", "routes": ["iv"]},
    "parameters": {"CL": {"value": "1 L/min", "source": "a", "where": "Table 1"},
                   "V1": {"value": "10 L", "source": "a", "where": "Table 1"}},
    "sources": [{"key": "a", "citation": "A (2020) J 1:1", "doi": "10.1/a"}],
}


def _with(comparisons):
    return {**BASE, "comparisons": comparisons}


def test_comparisons_are_shown_and_not_cited():
    m = model_from_dict(_with([{"key": "b", "citation": "B (2021) K 2:2",
                                "url": "https://example.org/b", "where": "Abstract: 35 ng/mL"}]))
    assert [c["key"] for c in m.comparisons] == ["b"]
    text = str(m)
    assert "Compared against" in text and "B (2021) K 2:2 https://example.org/b" in text
    assert "reports: Abstract: 35 ng/mL" in text
    saved = dict(citations._REGISTRY)
    try:
        citations.clear()
        dmtpk.load_model(m)
        assert citations.registered() == ["a"]
    finally:
        citations.clear()
        citations._REGISTRY.update(saved)


@pytest.mark.parametrize("comparisons, key", [
    ({"key": "b"}, "comparisons"),
    ([{"key": "b"}], "comparisons[0].citation"),
    ([{"key": "a", "citation": "x"}], "comparisons[0].key"),          # a source's key
    ([{"key": "b", "citation": "x", "parameters": ["CL"]}], "comparisons[0].parameters"),
    ([{"key": "b", "citation": "x", "pmid": 1}], "comparisons[0].pmid"),
])
def test_malformed_comparisons(comparisons, key):
    with pytest.raises(dmtpk.ModelFileError) as exc:
        model_from_dict(_with(comparisons), "m.toml")
    assert exc.value.key == key
