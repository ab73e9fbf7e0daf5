"""``python -m smsgate``: the ``smsgate`` command."""

import sys

from smsgate.cli import main

if __name__ == "__main__":
    sys.exit(main())
