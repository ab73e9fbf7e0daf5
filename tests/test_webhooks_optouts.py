"""A receiver wired to a suppression list keeps it up to date from replies (STOP adds the
sender, START takes it off) before it answers, and tells event hooks of each request taken."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from smsgate import ConfigurationError, events
from smsgate.suppression import MemorySuppressionList, SuppressionError
from smsgate.webhooks import WebhookReceiver, WebhookRequest
from tests.support.providers import SMSWORKS
from tests.support.webhooks import SECRET, post, receiver_for

SENDER = "+447777777777"


def reply(text: str, message_id: str = "6170167") -> dict[str, str]:
    return {**SMSWORKS.fixture("incoming"), "content": text, "messageid": message_id}


@pytest.fixture
def seen() -> Iterator[list[events.Event]]:
    found: list[events.Event] = []
    remove = events.add_hook(found.append)
    yield found
    remove()


async def test_a_stop_reply_adds_its_sender_before_the_answer(serve, inbox, seen):
    optouts = MemorySuppressionList()
    receiver = receiver_for(inbox, suppression=optouts)
    client = await serve(receiver)

    assert await post(client, reply("Stop")) == (200, "taken")
    assert await optouts.contains(SENDER)  # already, as the answer came
    [entry] = [e async for e in optouts.entries()]
    assert (entry.number, entry.reason, entry.source) == (SENDER, "STOP", "inbound")
    await receiver.aclose()
    assert [m.text for m in inbox.inbound] == ["Stop"]  # the callback still has it

    assert await post(client, reply("Stop")) == (200, "repeat")  # the same message again
    assert await post(client, reply("START", "6170168")) == (200, "taken")
    assert not await optouts.contains(SENDER)
    assert await post(client, reply("Stop sending me offers", "6170169")) == (200, "taken")
    assert not await optouts.contains(SENDER)  # not a keyword: the list is left alone
    assert [(e.kind, e.items, e.repeated) for e in seen] == [
        ("inbound", 1, 0),
        ("inbound", 1, 1),
        ("inbound", 1, 0),
        ("inbound", 1, 0),
    ]
    assert all(type(e) is events.WebhookReceived and e.provider == "smsworks" for e in seen)


async def test_a_reply_the_list_cannot_take_is_answered_503_and_taken_when_posted_again(
    serve, inbox, seen
):
    class Flaky(MemorySuppressionList):
        down = True

        async def add(self, number: str, **fields: str | None) -> bool:
            if self.down:
                raise SuppressionError("the suppression list cannot be written: disk full")
            return await super().add(number, **fields)  # type: ignore[arg-type]

    optouts = Flaky()
    receiver = receiver_for(inbox, suppression=optouts)
    client = await serve(receiver)
    status, text = await post(client, reply("STOP"))
    assert (status, text) == (503, "the suppression list cannot be written; try again")
    assert not await optouts.contains(SENDER)
    assert seen == []  # not taken
    optouts.down = False
    assert await post(client, reply("STOP")) == (200, "taken")  # the provider's retry
    assert await optouts.contains(SENDER)
    await receiver.aclose()
    assert [m.text for m in inbox.inbound] == ["STOP"]  # once


async def test_a_list_alone_is_enough_for_replies(seen):
    optouts = MemorySuppressionList()
    receiver = WebhookReceiver("smsworks", secret=SECRET, suppression=optouts)
    body = json.dumps(reply("unsubscribe")).encode()
    headers = {"content-type": "application/json"}
    answer = await receiver.respond(
        WebhookRequest(method="POST", path=f"/{SECRET}", headers=headers, body=body)
    )
    assert (answer.status, answer.text) == (200, "taken")
    assert await optouts.contains(SENDER)
    report = json.dumps(SMSWORKS.fixture("delivery_report")).encode()
    answer = await receiver.respond(
        WebhookRequest(method="POST", path=f"/{SECRET}", headers=headers, body=report)
    )
    assert (answer.status, answer.text) == (400, "this endpoint does not take delivery reports")
    await receiver.aclose()
    assert [(e.kind, e.items) for e in seen] == [("inbound", 1)]


async def test_delivery_reports_are_events_too(serve, inbox, seen):
    receiver = receiver_for(inbox)
    client = await serve(receiver)
    assert await post(client, SMSWORKS.fixture("delivery_report")) == (200, "taken")
    await receiver.aclose()
    assert [(e.kind, e.items, e.repeated) for e in seen] == [("status", 1, 0)]


def test_a_suppression_that_is_no_list_is_refused():
    with pytest.raises(ConfigurationError, match="suppression: must be a SuppressionList"):
        WebhookReceiver("smsworks", secret=SECRET, suppression={SENDER})  # type: ignore[arg-type]
