"""The ``smsgate`` command: send, schedule, track and cancel from a shell, bulk-send a CSV
file with a journal that resumes it after any stop (``smsgate bulk``, ``smsgate track``), run
the local sandbox, and ``smsgate demo``.

Its dependencies (click, rich) come with the ``cli`` extra: ``pip install "smsgate[cli]"``.

Exit codes: 0 done; 1 the provider refused, or a bulk run had failures; 2 bad usage,
configuration or input (nothing was sent); 3 a message may or may not have been sent (check
before sending it again); 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        from smsgate.cli import (
            _bulk,  # noqa: F401 (registers bulk and track)
            _campaign,  # noqa: F401 (registers campaign)
            _sandbox,  # noqa: F401 (registers sandbox and demo)
            _suppress,  # noqa: F401 (registers suppress)
        )
        from smsgate.cli._commands import run
    except ImportError as exc:  # the cli extra is not installed
        print(
            f'smsgate: error: the command line needs {exc.name}: pip install "smsgate[cli]"',
            file=sys.stderr,
        )
        return 2
    return run(argv)
