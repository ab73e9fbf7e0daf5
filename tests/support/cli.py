"""Running the ``smsgate`` command inside a test, with an environment of the test's own."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pytest

from smsgate.cli import main
from smsgate.cli._sandbox import _variables


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command; returns (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def clear_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take away every ``SMSGATE_*`` variable the test process was started with."""
    for key in [k for k in os.environ if k.startswith("SMSGATE_")]:
        monkeypatch.delenv(key)


def export(monkeypatch: pytest.MonkeyPatch, config: Mapping[str, Any]) -> None:
    """Set the variables for ``config`` that `smsgate sandbox --env` prints."""
    for name, value in _variables(config).items():
        monkeypatch.setenv(name, value)
