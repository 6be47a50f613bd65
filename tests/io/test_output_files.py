"""Output files: all or none of a command's outputs appear, in the user's umask; a folder the
user cannot write in is refused before any work, naming the user's path (never a temporary)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dmtpk.cli import main
from dmtpk.errors import DmtpkError
from dmtpk.io.files import OutputError, check_outputs, write_outputs

SIM = ["simulate", "eckernas2022", "--route", "iv", "--dose", "10 mg"]


def _text(content):
    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(content)
    return write


def _fail(exc):
    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise exc
    return write


# -- all or nothing ------------------------------------------------------------------------------

@pytest.mark.parametrize("failing", [0, 1, 2])
@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk full", "interrupt"])
def test_one_failing_output_leaves_none_and_no_temporary(tmp_path, failing, exc):
    names = ["a.csv", "b.csv", "c.png"]
    writers = [_text(n) for n in names]
    writers[failing] = _fail(exc)
    with pytest.raises(type(exc)) as info:
        write_outputs([(tmp_path / n, w) for n, w in zip(names, writers)])
    assert list(tmp_path.iterdir()) == []
    if isinstance(exc, OSError):
        msg = str(info.value)
        assert isinstance(info.value, DmtpkError)
        assert msg.startswith(str(tmp_path / names[failing]))
        assert "none of the outputs" in msg and all(n in msg for n in names)
        assert ".part" not in msg


def test_failed_overwrite_keeps_every_old_file(tmp_path):
    for n in ("a.csv", "b.csv"):
        (tmp_path / n).write_text("old " + n)
    with pytest.raises(OSError):
        write_outputs([(tmp_path / "a.csv", _text("new")),
                       (tmp_path / "b.csv", _fail(OSError(5, "I/O error")))], force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]
    assert (tmp_path / "a.csv").read_text() == "old a.csv"
    assert (tmp_path / "b.csv").read_text() == "old b.csv"


@pytest.mark.parametrize("existing", [False, True], ids=["new files", "overwrite"])
def test_failure_while_renaming_puts_back_what_was_there(tmp_path, monkeypatch, existing):
    if existing:
        for n in ("a.csv", "b.csv", "c.csv"):
            (tmp_path / n).write_text("old")
    real = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 3 and not str(dst).endswith(".old"):
            raise OSError(13, "Permission denied")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OutputError, match="none of the outputs"):
        write_outputs([(tmp_path / n, _text("new")) for n in ("a.csv", "b.csv", "c.csv")],
                      force=True)
    monkeypatch.setattr(os, "replace", real)
    if existing:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "c.csv"]
        assert all((tmp_path / n).read_text() == "old" for n in ("a.csv", "b.csv", "c.csv"))
    else:
        assert list(tmp_path.iterdir()) == []


def test_cli_plot_failing_after_the_csv_leaves_neither(tmp_path, monkeypatch, capsys):
    from matplotlib.figure import Figure

    def savefig(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", savefig)
    monkeypatch.chdir(tmp_path)
    code = main(SIM + ["--out", "r.csv", "--plot", "r.png"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("dmtpk: error: --plot: r.png: cannot write")
    assert "none of the outputs (r.csv, r.png) was written" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_interrupt_while_writing_says_none_was_written(tmp_path, monkeypatch, capsys):
    from matplotlib.figure import Figure

    def savefig(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", savefig)
    monkeypatch.chdir(tmp_path)
    code = main(SIM + ["--out", "r.csv", "--plot", "r.png"])
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip() == "dmtpk: interrupted; none of the outputs was written (r.csv, r.png)"
    assert list(tmp_path.iterdir()) == []


# -- umask -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_cli_outputs_follow_the_umask(tmp_path, mask):
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "dmtpk", *SIM, "--out", "r.csv", "--plot",
                           "r.png"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300, preexec_fn=lambda: os.umask(mask))
    assert proc.returncode == 0, proc.stderr
    for name in ("r.csv", "r.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~mask, name


# -- unwritable outputs ------------------------------------------------------------------------

def _writable(folder: Path) -> bool:
    try:
        fd, p = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(p)
    return True


@pytest.fixture(params=["read-only folder", "sysfs", "immutable folder"])
def unwritable(request, tmp_path):
    """A folder that exists but in which no file can be created."""
    if request.param == "read-only folder":
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        if _writable(folder):  # root ignores permissions
            folder.chmod(0o755)
            pytest.skip("permissions are not enforced for this user")
        yield folder
        folder.chmod(0o755)
    elif request.param == "sysfs":
        folder = Path("/sys")
        if not folder.is_dir() or _writable(folder):
            pytest.skip("no read-only /sys here")
        yield folder
    else:
        folder = tmp_path / "immutable"
        folder.mkdir()
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available")
        yield folder
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)


@pytest.mark.parametrize("option,name", [("--out", "r.csv"), ("--plot", "r.png")])
def test_unwritable_output_is_refused_before_the_run(unwritable, option, name, capsys):
    target = unwritable / f"dmtpk-test-{os.getpid()}-{name}"
    code = main(SIM + [option, str(target)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""  # refused before the run: not even the header was printed
    assert err.count("\n") == 1
    assert err.startswith(f"dmtpk: error: {option}: {target}: cannot create files in folder")
    assert ".part" not in err and ".check" not in err
    assert not target.exists()


def test_unwritable_scenario_output_names_the_file_and_key(unwritable, tmp_path, capsys):
    scenario = tmp_path / "s.toml"
    target = unwritable / f"dmtpk-test-{os.getpid()}.csv"
    scenario.write_text("[scenario]\nmodel = 'eckernas2022'\n[[regimens]]\n"
                        "events = [{ type = 'bolus', dose = 1 }]\n"
                        f"[outputs]\nmetrics = '{target}'\n")
    code = main(["run", str(scenario)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith(f"dmtpk: error: {scenario}: [outputs.metrics]: {target}: cannot "
                          "create files")


def test_check_outputs_names_the_option_given_twice(tmp_path):
    with pytest.raises(OutputError, match=r"^--plot: .*also named by --out"):
        check_outputs({"--out": tmp_path / "x.csv", "--plot": tmp_path / "x.csv"}, False)


# -- write_nonmem ------------------------------------------------------------------------------

@pytest.mark.parametrize("stage", ["writing", "renaming"])
def test_failed_write_nonmem_leaves_no_temporary_and_names_the_file(tmp_path, monkeypatch,
                                                                    stage):
    from dmtpk import read_nonmem, write_nonmem
    source = tmp_path / "d.csv"
    source.write_text("ID,TIME,AMT,DV\n1,0,10,.\n1,1,0,2\n")
    data = read_nonmem(source, time_unit="min")
    target = tmp_path / "out.csv"
    if stage == "writing":
        import csv

        class Full:
            def __init__(self, *args, **kwargs):
                pass

            def writerows(self, rows):
                raise OSError(28, "No space left on device")

        monkeypatch.setattr(csv, "writer", Full)
    else:
        def replace(src, dst):
            raise OSError(13, "Permission denied", str(src), None, str(dst))
        monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError) as info:
        write_nonmem(data, target)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]
    assert str(info.value).startswith(f"{target}: cannot write")
    assert ".part" not in str(info.value)
