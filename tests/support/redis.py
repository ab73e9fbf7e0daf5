"""The machine's Redis, for the tests that need it.

The server is found at ``SMSGATE_TEST_REDIS`` (a URL; by default ``redis://127.0.0.1:6379/0``).
Without it a test skips, saying so in one line, except when ``CI`` is set: there a missing
server fails the run. Each test names its own keys and deletes them afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

URL = os.environ.get("SMSGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def reachable() -> str | None:
    """Why Redis cannot be used, or None when it can."""
    try:
        import redis.asyncio as aioredis
    except ImportError:
        return 'redis-py is not installed (pip install -e ".[dev]")'
    client = aioredis.Redis.from_url(URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except (aioredis.RedisError, OSError) as exc:
        return f"Redis is not reachable at {URL!r}: {exc}"
    finally:
        await client.aclose()
    return None


async def new_key() -> AsyncIterator[str]:
    """A new key name (the ``redis_key`` fixture), deleted afterwards; skipped (failed in CI)
    without Redis."""
    problem = await reachable()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Redis: {problem}")
        pytest.skip(problem)
    import redis.asyncio as aioredis

    key = f"smsgate-test:{uuid.uuid4().hex}"
    yield key
    client = aioredis.Redis.from_url(URL)
    try:
        await client.delete(key)
    finally:
        await client.aclose()
