import asyncio
from datetime import datetime

import pytest

from smsgate import Message, Receipt, SmsGateway, StatusReport, UnsupportedFeature
from smsgate.gateway import BaseGateway, announce_dispatch, on_dispatch
from smsgate.providers.base import HttpGateway
from smsgate.testing import FakeGateway


class Complete(BaseGateway):
    name = "complete"

    async def send(self, message: Message) -> Receipt:
        raise NotImplementedError

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        raise NotImplementedError

    async def status(self, ref: object) -> StatusReport:
        raise NotImplementedError

    async def cancel(self, ref: object) -> StatusReport:
        raise NotImplementedError


class NoCancel(BaseGateway):
    async def send(self, message: Message) -> Receipt:
        raise NotImplementedError

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        raise NotImplementedError

    async def status(self, ref: object) -> StatusReport:
        raise NotImplementedError


class Http(HttpGateway):
    name = "http"
    default_base_url = "https://example.test"

    async def send(self, message: Message) -> Receipt:
        raise NotImplementedError

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        raise NotImplementedError

    async def status(self, ref: object) -> StatusReport:
        raise NotImplementedError

    async def cancel(self, ref: object) -> StatusReport:
        raise NotImplementedError


def test_gateways_with_every_verb_satisfy_the_protocol():
    assert isinstance(Complete(), SmsGateway)
    assert isinstance(Http(), SmsGateway)
    assert isinstance(FakeGateway(), SmsGateway)


def test_a_gateway_missing_a_verb_does_not():
    assert not isinstance(NoCancel(), SmsGateway)
    assert not isinstance(object(), SmsGateway)


async def test_async_with_closes_the_gateway():
    gateway = Complete()
    async with gateway as entered:
        assert entered is gateway
        assert not gateway.closed
    assert gateway.closed


async def test_the_gateway_is_closed_even_when_the_block_raises():
    gateway = Complete()
    try:
        async with gateway:
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gateway.closed


def test_default_region_is_upper_cased():
    assert Complete(default_region="gb").default_region == "GB"
    assert Complete().default_region is None


# --- announcing dispatch ---------------------------------------------------------------------


async def test_a_dispatch_is_heard_only_by_the_listener_of_its_context():
    heard: list[tuple[str, bool]] = []

    async def listener(name):
        async def hear(left: bool, keyed: bool) -> None:
            heard.append((name, keyed))

        return hear

    async def sending(name, keyed):
        with on_dispatch(await listener(name)):
            await asyncio.sleep(0)
            await announce_dispatch(keyed=keyed)

    await announce_dispatch(keyed=True)  # nobody listens: nothing happens
    await asyncio.gather(sending("a", True), sending("b", False))
    assert sorted(heard) == [("a", True), ("b", False)]


def test_who_announces_its_requests():
    assert Http().announces_dispatch
    assert FakeGateway().announces_dispatch
    assert not Complete().announces_dispatch  # an adapter that does not say: assume it sent


async def test_a_gateway_without_a_search_says_so():
    with pytest.raises(UnsupportedFeature, match="complete does not support looking messages up"):
        await Complete().find("k")
    assert not Complete().can_find
