"""Cancelling a bulk run part-way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import TypeVar

import pytest

T = TypeVar("T")


async def cancel_after(run: AsyncIterable[T], outcomes: int) -> tuple[list[T], float]:
    """Consume ``run`` in a task until ``outcomes`` have come, then cancel the task.

    Returns the outcomes seen and the seconds the cancelled task took to finish.
    """
    seen: list[T] = []
    enough = asyncio.Event()

    async def consume() -> None:
        async for outcome in run:
            seen.append(outcome)
            if len(seen) >= outcomes:
                enough.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(enough.wait(), 10)
    started = asyncio.get_running_loop().time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return seen, asyncio.get_running_loop().time() - started
