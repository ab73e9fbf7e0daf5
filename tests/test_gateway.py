import asyncio
from datetime import datetime

import pytest

from smsgate import (
    BatchReceipt,
    DeliveryStatus,
    Message,
    Receipt,
    SmsGateway,
    StatusReport,
    UnsupportedFeature,
    ValidationError,
)
from smsgate.gateway import BaseGateway, announce_dispatch, on_dispatch
from smsgate.model import batch_id_of
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
    class Partial:
        name = "partial"

        async def send(self, message: Message) -> Receipt:
            raise NotImplementedError

    assert not isinstance(Partial(), SmsGateway)
    assert not isinstance(object(), SmsGateway)


def test_a_subclass_missing_a_verb_cannot_be_made():
    with pytest.raises(TypeError, match=r"abstract method.*cancel"):
        NoCancel()  # type: ignore[abstract]  # the mistake under test


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


# --- optional capabilities, one protocol each -------------------------------------------------


CAPABILITIES = frozenset(
    {
        "BatchingGateway",
        "BatchTrackingGateway",
        "BalanceGateway",
        "FindingGateway",
        "AnnouncingGateway",
    }
)


def capabilities(gateway):
    from smsgate import gateway as contract

    return {name for name in CAPABILITIES if isinstance(gateway, getattr(contract, name))}


def test_each_provider_offers_the_capabilities_it_has():
    from smsgate.providers.smsscheduler import SmsSchedulerGateway
    from smsgate.providers.smsworks import SmsWorksGateway

    every = CAPABILITIES
    assert capabilities(SmsWorksGateway(token="JWT t")) == every
    assert capabilities(SmsSchedulerGateway(token="t")) == every - {"BalanceGateway"}
    assert capabilities(Complete()) == {"FindingGateway", "AnnouncingGateway"}


def test_can_find_and_announces_dispatch_ask_the_gateway_not_only_its_type():
    from smsgate.gateway import announces_dispatch, can_find
    from smsgate.providers.smsscheduler import SmsSchedulerGateway
    from smsgate.providers.smsworks import SmsWorksGateway

    assert can_find(SmsWorksGateway(token="JWT t"))
    assert not can_find(SmsWorksGateway(token="JWT t", idempotency_keys=False))
    assert not can_find(SmsSchedulerGateway(token="t"))
    assert not can_find(object())
    assert announces_dispatch(SmsWorksGateway(token="JWT t"))
    assert not announces_dispatch(Complete())
    assert not announces_dispatch(object())


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("b-1", "b-1"),
        (BatchReceipt(provider="p", batch_id="b-2", status=DeliveryStatus.QUEUED), "b-2"),
        (
            Receipt(
                provider="p",
                message_id="m",
                to="+447700900123",
                status=DeliveryStatus.QUEUED,
                batch_id="b-3",
            ),
            "b-3",
        ),
    ],
)
def test_a_batch_is_named_by_its_receipt_a_receipt_from_it_or_its_id(ref, expected):
    assert batch_id_of(ref) == expected


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("", "batch: must be a BatchReceipt or a batch id string"),
        ("  ", "batch: must be a BatchReceipt or a batch id string"),
        (7, "batch: must be a BatchReceipt or a batch id string"),
        (None, "batch: must be a BatchReceipt or a batch id string"),
        (
            Receipt(provider="p", message_id="m", to="+447700900123", status=DeliveryStatus.QUEUED),
            "batch: this receipt has no batch id \\(message m went alone\\)",
        ),
    ],
)
def test_anything_else_is_not_a_batch(ref, problem):
    with pytest.raises(ValidationError, match=problem):
        batch_id_of(ref)
