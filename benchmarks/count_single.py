"""Instructions a single send costs the client, counted by valgrind: a measure that does not
move with the machine's load, unlike the rates of `bench_bulk.py`.

    python benchmarks/count_single.py            # 500 and 1,500 requests of each client
    python benchmarks/count_single.py --n 300 900

Each client runs under ``valgrind --tool=callgrind`` (about 50 times slower than normal)
against the loopback server of `benchmarks.server`, which runs at full speed in a process of
its own. A client is run twice, for two numbers of requests, and the difference divided by
the difference in requests: what is left is the cost of one request, without start-up,
imports and first-use costs. Clients (concurrency 50, as in `bench_bulk.py`):

- ``raw``: raw aiohttp, a dict built and posted with ``json=`` per request;
- ``raw-keyed``: the same with the idempotency key smsgate writes (the same bytes);
- ``smsgate``: ``gateway.send(Message(to, text))``;
- ``hooked``: the same with an event hook installed that does nothing (`smsgate.events`);
- ``pre-built``: ``gateway.send`` of `Message` objects built beforehand; the process builds
  them too, so the table gives its count less that of
- ``build``: building the `Message` objects alone, no request.

Each client builds only what it uses: whatever else the process held, the garbage collector
would walk on every collection, and charge to the requests.

Needs valgrind (Debian's ``valgrind`` package).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bench_bulk
from benchmarks.server import running
from smsgate import Message, events
from smsgate.model import new_key

CLIENTS = ("raw", "raw-keyed", "smsgate", "hooked", "pre-built", "build")


def client(which: str, count: int, base: str) -> None:
    """Run in the counted process: ``count`` requests of one client, each client building
    only what it uses (what else the process holds, the garbage collector walks)."""
    strings = [(bench_bulk.number(i), f"Your code is {i:06d}") for i in range(count)]
    if which in ("raw", "raw-keyed"):
        rows = [(to, text, new_key()) for to, text in strings]
        asyncio.run(bench_bulk.single_raw(base, rows, 50, keyed=which == "raw-keyed"))
    elif which in ("smsgate", "hooked"):
        if which == "hooked":
            events.add_hook(lambda event: None)
        asyncio.run(bench_bulk.single_smsgate(base, strings, 50))
    else:
        messages = [Message(to, text) for to, text in strings]
        if which == "pre-built":
            asyncio.run(bench_bulk.single_prebuilt(base, messages, 50))


def instructions(which: str, count: int, base: str) -> int:
    """Instructions the whole client process ran."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--client",
                which,
                str(count),
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"valgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description="instructions a single send costs")
    parser.add_argument("--n", type=int, nargs=2, default=[500, 1500], metavar=("FEW", "MANY"))
    parser.add_argument(
        "--only", nargs="+", choices=CLIENTS, help="count these clients only (and raw)"
    )
    parser.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        which, count, base = args.client
        client(which, int(count), base)
        return
    if shutil.which("valgrind") is None:
        sys.exit("count_single.py needs valgrind (apt install valgrind)")
    few, many = args.n
    if not 0 < few < many:
        sys.exit("--n: give two numbers of requests, the first smaller")
    per_request = {}
    with running() as base:
        chosen = ["raw", *(c for c in args.only if c != "raw")] if args.only else CLIENTS
        for which in chosen:
            cost = instructions(which, many, base) - instructions(which, few, base)
            per_request[which] = cost / (many - few)
            print(f"{which}: {per_request[which]:,.0f} instructions a request", flush=True)
    if "pre-built" in per_request and "build" in per_request:
        per_request["pre-built"] -= per_request.pop("build")  # the sends alone
    print()
    print("| client | instructions a request | raw ÷ this client |")
    print("|---|---|---|")
    for which, cost in per_request.items():
        # Less work is faster: raw's cost over this client's is the ratio a rate would show
        # if the client's own work were all that limited it.
        print(f"| {which} | {cost:,.0f} | {per_request['raw'] / cost:.2f} |")


if __name__ == "__main__":
    main()
