"""``dmtpk explore``: a mistake is one line on stderr with exit code 2, before any server
starts; without Panel the page says how to install it. (The page itself is tested in a browser
in tests/explorer/test_page.py.)"""

from __future__ import annotations

import sys

import pytest

import dmtpk
from dmtpk.cli import main


@pytest.mark.parametrize("args, words", [
    (("explore", "--port", "-1"), "--port: must be 0-65535"),
    (("explore", "--port", "70000"), "--port: must be 0-65535"),
    (("explore", "no_such_model"), "no_such_model"),
    (("explore", "--address", "0.0.0.0"), "--address: '0.0.0.0' is not a loopback address"),
    (("explore", "--port", "eighty"), "invalid int value"),
])
def test_mistakes_are_one_line(args, words, capsys):
    pytest.importorskip("panel", reason='the explorer needs Panel: pip install "dmtpk[explore]"')
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err


def test_without_panel_the_message_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "panel", None)  # import panel raises ImportError
    with pytest.raises(dmtpk.ValidationError, match=r'pip install "dmtpk\[explore\]"'):
        dmtpk.explore("eckernas2022")
    assert main(["explore"]) == 2
    assert 'pip install "dmtpk[explore]"' in capsys.readouterr().err
