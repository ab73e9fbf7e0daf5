"""Rate limits in SMS parts: counted right, waited for before each try, shared through Redis
by processes (against the machine's Redis, each test with its own key)."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from aiohttp import web

from smsgate import ConfigurationError, Message, TransportError, send_all
from smsgate.providers.smsworks import SmsWorksGateway
from smsgate.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter, parts_of
from tests.support.redis import URL

GSM_160 = "x" * 160
GSM_161 = "x" * 161
UCS_70 = "é" + "ж" * 69
UCS_71 = "é" + "ж" * 70


@pytest.mark.parametrize(
    ("texts", "parts"),
    [
        ([], 0),
        (["Hi"], 1),
        (["x" * 35], 1),
        (["ж" * 35], 1),
        (["😀" * 35], 1),  # two UTF-16 units each: 70
        (["😀" * 36], 2),
        ([GSM_160], 1),
        ([GSM_161], 2),
        (["x" * 306], 2),
        (["x" * 307], 3),
        (["€" * 80], 1),  # each € is two septets: 160
        (["€" * 81], 2),
        ([UCS_70], 1),
        ([UCS_71], 2),
        (["Hi", GSM_161, UCS_71], 5),
    ],
)
def test_parts_are_counted_as_the_provider_bills_them(texts, parts):
    assert parts_of(texts) == parts


class Recorder:
    """A RateLimiter that records what it was asked for, and when."""

    def __init__(self, seen: list[object]) -> None:
        self.seen = seen

    async def acquire(self, parts: int = 1) -> None:
        self.seen.append(("acquire", parts))


def recording_provider(seen: list[object], statuses: list[int] | None = None) -> web.Application:
    """The SMS Works' send and batch endpoints, recording each request as it arrives."""
    left = list(statuses or [])

    async def send(request: web.Request) -> web.Response:
        seen.append(("request", request.path))
        status = left.pop(0) if left else 201
        if status == 429:  # too many requests: nothing taken, try again
            return web.json_response(
                {"message": "slow down"}, status=429, headers={"Retry-After": "0"}
            )
        return web.json_response(
            {"messageid": "m1", "status": "SENT", "creditsUsed": 1, "messageparts": 1},
            status=status,
        )

    async def batch(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(("request", request.path, len(body)))
        return web.json_response({"batchid": "b1", "status": "SCHEDULED"}, status=201)

    async def status(request: web.Request) -> web.Response:
        seen.append(("request", request.path))
        return web.json_response({"messageid": "m1", "status": "DELIVERED", "destination": "1"})

    app = web.Application()
    app.router.add_post("/v1/message/send", send)
    app.router.add_post("/v1/batch/any", batch)
    app.router.add_get("/v1/messages/{id}", status)
    return app


async def test_each_request_that_carries_messages_waits_for_its_parts_first(web_server):
    seen: list[object] = []
    server = await web_server(recording_provider(seen))
    base = str(server.make_url("/v1"))
    async with SmsWorksGateway(
        token="JWT t", sender="Acme", base_url=base, rate_limiter=Recorder(seen)
    ) as gateway:
        await gateway.send(Message("+447700900123", GSM_161))
        await gateway.status("m1")  # carries no message: not limited
        await gateway.send_batch([Message("+447700900124", "Hi"), Message("+447700900125", UCS_71)])
    assert seen == [
        ("acquire", 2),
        ("request", "/v1/message/send"),
        ("request", "/v1/messages/m1"),
        ("acquire", 3),
        ("request", "/v1/batch/any", 2),
    ]


async def test_a_retry_waits_for_its_parts_again(web_server, retrying):
    seen: list[object] = []
    server = await web_server(recording_provider(seen, statuses=[429]))
    async with SmsWorksGateway(
        token="JWT t",
        sender="Acme",
        base_url=str(server.make_url("/v1")),
        rate_limiter=Recorder(seen),
        retry_backoff=0.001,
    ) as gateway:
        receipt = await gateway.send(Message("+447700900123", "Hi"))
    assert receipt.message_id == "m1"
    assert seen == [
        ("acquire", 1),
        ("request", "/v1/message/send"),
        ("acquire", 1),
        ("request", "/v1/message/send"),
    ]


async def test_a_limiter_that_cannot_be_read_sends_nothing(web_server):
    seen: list[object] = []
    server = await web_server(recording_provider(seen))

    class Broken:
        async def acquire(self, parts: int = 1) -> None:
            raise TransportError("limit unreadable", provider="redis", maybe_sent=False)

    async with SmsWorksGateway(
        token="JWT t",
        sender="Acme",
        base_url=str(server.make_url("/v1")),
        rate_limiter=Broken(),
        retries=0,
    ) as gateway:
        with pytest.raises(TransportError) as raised:
            await gateway.send(Message("+447700900123", "Hi"))
    assert raised.value.maybe_sent is False
    assert seen == []


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: LocalRateLimiter(0), "rate"),
        (lambda: LocalRateLimiter(-5), "rate"),
        (lambda: LocalRateLimiter("50"), "rate"),  # type: ignore[arg-type]
        (lambda: LocalRateLimiter(50, period=0), "period"),
        (lambda: RedisRateLimiter(URL, "k", 0), "rate"),
        (lambda: RedisRateLimiter(URL, "k", 50, burst=0), "burst"),
        (lambda: RedisRateLimiter(URL, "", 50), "key"),
        (lambda: SmsWorksGateway(token="JWT t", rate_limiter=50), "rate_limiter"),  # type: ignore[arg-type]
    ],
)
def test_bad_limits_are_refused_naming_the_setting(make, problem):
    with pytest.raises(ConfigurationError, match=f"^{problem}:"):
        make()


def test_both_limiters_are_rate_limiters():
    assert isinstance(LocalRateLimiter(5), RateLimiter)
    assert isinstance(RedisRateLimiter(URL, "k", 5), RateLimiter)
    assert repr(LocalRateLimiter(5)) == "<LocalRateLimiter 5 parts / 1 s>"


async def test_a_local_limit_spreads_parts_over_time():
    limiter = LocalRateLimiter(20, period=0.1)  # 200 parts a second, 20 at once
    started = time.monotonic()
    await limiter.acquire(60)  # more than the bucket holds: taken in pieces
    took = time.monotonic() - started
    assert took >= 0.15  # 40 parts beyond the first 20, at 200 a second: 0.2 s


async def test_a_local_limit_takes_at_most_its_rate_from_the_bucket_at_once():
    limiter = LocalRateLimiter(1000)
    taken: list[float] = []

    class Bucket:  # stands in for aiolimiter's, which refuses more than its rate at once
        max_rate = 1000.0

        async def acquire(self, amount: float) -> None:
            taken.append(amount)

    limiter._limiter = Bucket()  # type: ignore[assignment]
    await limiter.acquire(2500)
    await limiter.acquire(0)
    assert taken == [1000, 1000, 500]


# --- shared through Redis ------------------------------------------------------------------


async def test_a_redis_limit_makes_each_caller_wait_its_turn(redis_key):
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(URL)  # the caller's client: the limiter leaves it open
    limiter = RedisRateLimiter(client, redis_key, 50, burst=1)  # a part every 20 ms
    assert repr(limiter) == f"<RedisRateLimiter {redis_key!r} 50 parts / 1 s>"
    try:
        started = time.monotonic()
        for _ in range(11):
            await limiter.acquire(1)
        took = time.monotonic() - started
        await limiter.acquire(5)  # five parts: a 100 ms reservation
        took_five = time.monotonic() - started - took
    finally:
        await limiter.aclose()
    assert await client.ping()
    await client.aclose()
    assert took >= 0.18  # ten intervals of 20 ms after the first, less the clock's grain
    assert took_five >= 0.08


async def test_a_redis_limit_that_cannot_be_reached_sends_nothing():
    limiter = RedisRateLimiter("redis://127.0.0.1:9/0", "k", 50)  # the discard port: refused
    try:
        with pytest.raises(TransportError) as raised:
            await limiter.acquire(1)
    finally:
        await limiter.aclose()
    assert raised.value.maybe_sent is False
    assert "'k'" in str(raised.value)


CHILD = """
import asyncio, sys, time
from smsgate.ratelimit import RedisRateLimiter

async def main(url, key, count):
    limiter = RedisRateLimiter(url, key, 50, burst=1)
    for _ in range(count):
        await limiter.acquire(1)
        print(time.time(), flush=True)
    await limiter.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_two_processes_share_one_redis_limit(redis_key):
    each = 25
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, URL, redis_key, str(each), stdout=asyncio.subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(c.communicate() for c in children)), 30)
    assert [c.returncode for c in children] == [0, 0]
    times = sorted(float(line) for out, _ in outputs for line in out.split())
    assert len(times) == 2 * each
    # 50 parts at 50 a second, one at once: 49 intervals of 20 ms between the first and the
    # last, whichever process took each. Loosely (the machine is shared): at least 0.9 s.
    assert times[-1] - times[0] >= 0.9
    # No second held more than the limit and its burst allows.
    assert all(sum(1 for t in times if start <= t < start + 1) <= 51 for start in times)


async def test_two_gateways_share_a_redis_limit_as_the_provider_sees_it(web_server, redis_key):
    arrivals: list[float] = []

    async def send(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        return web.json_response({"messageid": "m", "status": "SENT"}, status=201)

    app = web.Application()
    app.router.add_post("/v1/message/send", send)
    server = await web_server(app)
    base = str(server.make_url("/v1"))

    class Single(SmsWorksGateway):
        batch_limit = 1  # every message a request of its own

    limiters = [RedisRateLimiter(URL, redis_key, 50, burst=2) for _ in range(2)]
    try:
        gateways = [
            Single(token="JWT t", sender="Acme", base_url=base, rate_limiter=limiter)
            for limiter in limiters
        ]
        two_parts = "x" * 200
        summaries = await asyncio.gather(
            *(
                send_all(g, [Message(f"+44770090{k}{i:03d}", two_parts) for i in range(12)])
                for k, g in enumerate(gateways)
            )
        )
        for gateway in gateways:
            await gateway.aclose()
    finally:
        for limiter in limiters:
            await limiter.aclose()
    assert [s.accepted for s in summaries] == [12, 12]
    assert len(arrivals) == 24
    # 48 parts at 50 a second, two at once: the provider saw them over at least
    # (48 - 2) / 50 = 0.92 s, loosely 0.8.
    assert max(arrivals) - min(arrivals) >= 0.8
