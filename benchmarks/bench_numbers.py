"""What reading a number costs: `normalize_number` (with its fast path) against the same
function with every number read by phonenumbers (`_normalize_slowly`), in the same run.

    python benchmarks/bench_numbers.py            # 100,000 numbers, 5 rounds
    python benchmarks/bench_numbers.py --quick    # 20,000 numbers, 3 rounds

The numbers are a fixed random mix of what a service sends to: UK, French, US and German
mobile numbers in E.164 (``+447700900123``), some of them written with spaces as people
write them (``+44 7700 900123``), and UK numbers written nationally (``07700 900123``, read
in GB). Both functions read the same list, after a check that they give the same answer
for every number. Each slice of 5,000 numbers is read in alternate rounds by the two and
the best round of each is kept, because this machine is shared and noisy. Prints µs per
number for each, the ratio, and how many of the numbers the fast path answered.
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import phonenumbers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsgate._e164 import e164_or_none
from smsgate.numbers import _normalize_slowly, normalize_number

Number = tuple[str, str | None]


def digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def mixed(count: int, seed: int = 164) -> list[Number]:
    """``count`` numbers with their regions: a fifth of each kind."""
    rng = random.Random(seed)
    makers: list[Callable[[], str]] = [
        lambda: "+447" + rng.choice("4579") + digits(rng, 8),  # UK mobile
        lambda: "+33" + rng.choice("67") + digits(rng, 8),  # French mobile
        # US: area code and exchange start 2-9
        lambda: (
            "+1" + rng.choice("23456789") + digits(rng, 2) + rng.choice("23456789") + digits(rng, 6)
        ),
        lambda: "+491" + rng.choice(["51", "52", "60", "70", "71", "72", "76"]) + digits(rng, 8),
    ]
    numbers: list[Number] = []
    for i in range(count):
        kind = i % 5
        if kind == 4:  # UK, national, as people write it
            numbers.append((f"07{rng.choice('4579')}{digits(rng, 2)} {digits(rng, 6)}", "GB"))
            continue
        e164 = makers[kind]()
        if rng.random() < 0.25:  # written with spaces, as phonenumbers would write it
            parsed = phonenumbers.parse(e164)
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        numbers.append((e164, None))
    rng.shuffle(numbers)
    return numbers


def per_number(read: Callable[[str, str | None], str], numbers: list[Number]) -> float:
    """µs per number to read all of ``numbers`` once."""
    start = time.perf_counter()
    for number, region in numbers:
        read(number, region)
    return (time.perf_counter() - start) / len(numbers) * 1e6


def best_per_number(
    reads: dict[str, Callable[[str, str | None], str]], numbers: list[Number], rounds: int
) -> dict[str, float]:
    """µs per number for each way of reading, over slices of 5,000 numbers: each slice is
    read ``rounds`` times by each in turn and its best time kept, so that a moment when the
    machine is busy elsewhere spoils one slice's round, not the result."""
    total = dict.fromkeys(reads, 0.0)
    slices = [numbers[i : i + 5_000] for i in range(0, len(numbers), 5_000)]
    for part in slices:
        best = dict.fromkeys(reads, float("inf"))
        for _ in range(rounds):
            for name, read in reads.items():
                best[name] = min(best[name], per_number(read, part))
        for name in reads:
            total[name] += best[name] * len(part) / len(numbers)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 numbers, 3 rounds")
    options = parser.parse_args()
    count, rounds = (20_000, 3) if options.quick else (100_000, 5)

    numbers = mixed(count)
    mismatches = [n for n in numbers if normalize_number(*n) != _normalize_slowly(*n)]
    if mismatches:
        sys.exit(f"the two paths disagree on {len(mismatches)} numbers, e.g. {mismatches[0]}")
    fast_answers = sum(e164_or_none(n.strip(), r) is not None for n, r in numbers)
    gc.collect()
    gc.freeze()

    best = best_per_number({"fast": normalize_number, "slow": _normalize_slowly}, numbers, rounds)

    print(
        f"{count:,} numbers (UK/FR/US/DE E.164, a quarter with spaces; a fifth UK national), "
        f"best of {rounds} rounds; Python {platform.python_version()}, "
        f"phonenumbers {phonenumbers.__version__}\n"
    )
    print("| path | µs per number |")
    print("|---|---:|")
    print(f"| normalize_number (fast path) | {best['fast']:.2f} |")
    print(f"| phonenumbers only (_normalize_slowly) | {best['slow']:.2f} |")
    print(f"\nratio: {best['slow'] / best['fast']:.1f}x faster")
    print(f"fast path answered {fast_answers:,} of {count:,} numbers")


if __name__ == "__main__":
    main()
