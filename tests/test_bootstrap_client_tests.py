"""`python -m chatapp.bootstrap test` runs the client's tests (tests/js) under node: in CI a
missing node fails the run, so the client is never left untested there without anyone
noticing; on a laptop without node they are skipped, saying so."""

import subprocess

import pytest

from chatapp import bootstrap


@pytest.fixture
def no_node(monkeypatch):
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name, **kwargs: None)

    def run(*args, **kwargs):
        raise AssertionError("nothing is run without node")

    monkeypatch.setattr(bootstrap.subprocess, "run", run)


def test_in_ci_a_missing_node_fails_the_run_saying_why(no_node, capsys):
    with pytest.raises(SystemExit) as exited:
        bootstrap.run_client_tests(ci=True)
    assert exited.value.code not in (0, None)
    assert "node is required in CI" in capsys.readouterr().err


def test_on_a_laptop_a_missing_node_skips_the_client_tests_saying_so(no_node, capsys):
    assert bootstrap.run_client_tests(ci=False) == 0
    assert "node is not installed" in capsys.readouterr().out


def test_with_node_the_client_tests_decide_the_result(monkeypatch):
    ran = []
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name, **kwargs: "/usr/bin/node")

    def run(cmd, **kwargs):
        ran.append(cmd)
        return subprocess.CompletedProcess(cmd, 3)

    monkeypatch.setattr(bootstrap.subprocess, "run", run)
    assert bootstrap.run_client_tests(ci=True) == 3
    assert ran == [["/usr/bin/node", "--test", "tests/js/"]]
