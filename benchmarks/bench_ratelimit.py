"""One rate limit shared by worker processes through Redis: how close to it they send.

    python benchmarks/bench_ratelimit.py                # 2 workers, 50 parts a second
    python benchmarks/bench_ratelimit.py --workers 4 --rate 200 --messages 400

Each worker is a process of its own with a `SmsWorksGateway` (a message a request, at most 8
in flight) and a `RedisRateLimiter` on the same key, sending two-part messages to the
loopback server of `benchmarks.server`. The table gives the parts sent, the time from the
first request to the last answer, the rate that makes, and the least time the limit allows:
``(parts - burst) / rate``. Needs Redis at ``SMSGATE_BENCH_REDIS`` (by default
``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.server import running
from smsgate import Message, send_all
from smsgate.providers.smsworks import SmsWorksGateway
from smsgate.ratelimit import RedisRateLimiter, parts_of

REDIS = os.environ.get("SMSGATE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
TEXT = "Your order has shipped. " * 7  # 168 characters: two parts


class Single(SmsWorksGateway):
    batch_limit = 1  # a message a request: the limit is taken request by request


async def worker(base: str, key: str, rate: float, count: int, first: int) -> None:
    """Send ``count`` messages under the shared limit; print when the first left and the
    last was answered."""
    limiter = RedisRateLimiter(REDIS, key, rate)
    messages = [Message(f"+4477009{first + i:05d}", TEXT) for i in range(count)]
    async with Single(
        token="JWT bench", sender="Acme", base_url=base + "/v1", rate_limiter=limiter
    ) as gateway:
        started = time.time()
        summary = await send_all(gateway, messages, concurrency=8)
        print(started, time.time(), summary.accepted, flush=True)
    await limiter.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description="a rate limit shared through Redis")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=50.0, help="parts a second")
    parser.add_argument("--messages", type=int, default=150, help="messages a worker")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        base, key, rate, count, first = args.worker
        asyncio.run(worker(base, key, float(rate), int(count), int(first)))
        return
    key = f"smsgate-bench:{uuid.uuid4().hex}"
    with running() as base:
        children = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    base,
                    key,
                    str(args.rate),
                    str(args.messages),
                    str(k * args.messages),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for k in range(args.workers)
        ]
        lines = [child.communicate(timeout=3600)[0].split() for child in children]
    starts, ends = [float(line[0]) for line in lines], [float(line[1]) for line in lines]
    accepted = sum(int(line[2]) for line in lines)
    parts = parts_of([TEXT]) * accepted
    took = max(ends) - min(starts)
    least = (parts - args.rate) / args.rate  # the burst (one period's parts) goes at once
    print(
        f"{date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {args.workers} workers, Redis at {REDIS}"
    )
    print()
    print("| workers | limit | parts sent | took | parts a second | least time the limit allows |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {args.workers} | {args.rate:g} parts/s | {parts:,} | {took:.2f} s | "
        f"{parts / took:.1f} | {least:.2f} s |"
    )


if __name__ == "__main__":
    main()
