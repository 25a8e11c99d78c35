"""files.write_atomically and the writers that go through it: an interrupt or a failed write
midway leaves the previous file intact and no temporary behind; an error names the file."""

import json
import os
from pathlib import Path

import pytest

import bitprop
from bitprop import files
from bitprop.cli import run
from bitprop.instance import Instance
from bitprop.slp import Program

DATA = Path(__file__).parent / "data" / "good"
OLD = "the previous file\n"


@pytest.fixture
def old(tmp_path):
    path = tmp_path / "out.json"
    path.write_text(OLD)
    return path


def _left_as_it_was(path):
    assert path.read_text() == OLD
    assert sorted(os.listdir(path.parent)) == [path.name], "a temporary was left behind"


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError(28, "No space left on device"),
                                   ValueError("a bug midway")])
def test_an_error_midway_leaves_the_old_file(old, error):
    def write(handle):
        handle.write("half of the new fi")
        handle.flush()
        raise error

    with pytest.raises(type(error)) as raised:
        files.write_atomically(old, write)
    _left_as_it_was(old)
    if isinstance(error, OSError):
        assert raised.value.filename == str(old) and "out.json" in str(raised.value)


def _writers():
    """Every writer of a user file, each as a function of the path it writes."""
    network = bitprop.Network.load(DATA / "network.json")
    dataset = bitprop.Dataset.load(DATA / "dataset.json")
    program = Program.load(DATA / "program.slp")
    instance = Instance.load(DATA / "instance.json")
    from bitprop.experiments import tables
    return {"network": network.save, "dataset": dataset.save, "program": program.save,
            "instance": instance.save,
            "csv": lambda path: tables.write_csv(path, ["a"], [{"a": 1}]),
            "json": lambda path: tables.write_json(path, {"a": 1})}


@pytest.mark.parametrize("writer", ["network", "dataset", "program", "instance", "csv", "json"])
def test_every_writer_is_atomic(old, monkeypatch, writer):
    save = _writers()[writer]

    def interrupted(source, target):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(files.os, "replace", interrupted)
        with pytest.raises(KeyboardInterrupt):
            save(old)
    _left_as_it_was(old)
    save(old)
    assert old.read_text() != OLD and sorted(os.listdir(old.parent)) == [old.name]


def test_a_plot_is_written_atomically(old):
    pytest.importorskip("matplotlib")
    from bitprop.experiments import plots
    png = old.parent / "figure.png"
    plots._save(plots.plt.figure(), png)
    assert png.read_bytes().startswith(b"\x89PNG") and len(os.listdir(old.parent)) == 2


def test_a_link_is_followed_and_the_mode_kept(old):
    os.chmod(old, 0o640)
    link = old.parent / "link.json"
    link.symlink_to(old.name)
    files.write_atomically(link, lambda handle: handle.write("new\n"))
    assert link.is_symlink() and old.read_text() == "new\n"
    assert os.stat(old).st_mode & 0o777 == 0o640


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        files.write_atomically(tmp_path / "no" / "net.json", lambda handle: None)
    assert raised.value.filename == str(tmp_path / "no" / "net.json")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_device_is_named(capsys):
    program = str(DATA / "program.slp")
    assert run(["slp", "bnslp", program, "-o", "/dev/full"]) == 1
    assert capsys.readouterr().err == ("bitprop: error: /dev/full: cannot write: "
                                       "No space left on device\n")


def test_dash_writes_to_standard_output(tmp_path, capsys):
    program = str(DATA / "program.slp")
    assert run(["compile", "backprop", program, "--sign", "--sigma", "z^2", "-o", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["format"] == "bitprop.instance/1" and err.startswith("wrote -: ")
    assert not os.path.exists("-")
    assert run(["compile", "backprop", program, "--sign", "--sigma", "z^2", "-o", "-",
                "--json"]) == 2
    assert "-o - writes the file to standard output" in capsys.readouterr().err
