"""Webhook receivers for The SMS Works with callbacks that collect what they are given, and
posting to them."""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import strategies as st

from smsgate.model import InboundMessage, StatusReport
from smsgate.webhooks import WebhookReceiver

SECRET = "k3y-0f-s1xteen-chars"

# Webhook bodies as a hostile sender would post them: any bytes, any JSON, and objects with a
# report's or a reply's fields holding any JSON (for the hostile-input property tests).
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
payloads = st.one_of(
    st.binary(max_size=3000),
    _json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(
        st.sampled_from(["messageid", "status", "destination", "from", "to", "content"]),
        _json_values,
    ).map(lambda fields: json.dumps({**fields, "messagetype": "incoming"}).encode()),
    st.dictionaries(
        st.sampled_from(["messageid", "status", "destination", "modified", "failurereason"]),
        _json_values,
    ).map(lambda fields: json.dumps(fields).encode()),
)

T = TypeVar("T")


class Inbox:
    """Callbacks that collect what they are given; ``hold`` makes them wait."""

    def __init__(self) -> None:
        self.reports: list[StatusReport] = []
        self.inbound: list[InboundMessage] = []
        self.arrived = asyncio.Event()
        self.hold: asyncio.Event | None = None
        self.failures = 0  # how many of the next calls raise

    async def _take(self, into: list[T], item: T) -> None:
        if self.hold is not None:
            await self.hold.wait()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the database is down")
        into.append(item)
        self.arrived.set()

    async def on_report(self, report: StatusReport) -> None:
        await self._take(self.reports, report)

    async def on_inbound(self, message: InboundMessage) -> None:
        await self._take(self.inbound, message)


def receiver_for(inbox: Inbox, **options: Any) -> WebhookReceiver:
    """A receiver of The SMS Works' callbacks under `SECRET`, into ``inbox``."""
    return WebhookReceiver(
        "smsworks",
        secret=SECRET,
        on_report=inbox.on_report,
        on_inbound=inbox.on_inbound,
        **options,
    )


async def post(
    client: TestClient[web.Request, web.Application],
    payload: Any,
    *,
    path: str = f"/sms/{SECRET}",
    **kwargs: Any,
) -> tuple[int, str]:
    """Post ``payload`` as JSON (unless ``kwargs`` give another body); the answer's status
    and text."""
    kwargs.setdefault("json", payload)
    async with client.post(path, **kwargs) as response:
        return response.status, await response.text()
