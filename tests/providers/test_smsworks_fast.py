"""The SMS Works codec's direct paths write and read exactly what the one converter does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smsgate import DeliveryStatus, Message, ValidationError
from smsgate.model import BatchReceipt, Receipt
from smsgate.providers._wire import WireError, read, write
from smsgate.providers.smsworks import schema
from smsgate.providers.smsworks.answers import BatchReceipts, parse_status, sent_receipt
from smsgate.providers.smsworks.codec import (
    any_body,
    checked_payload,
    item_json,
    item_of,
    read_sent,
)

# Any text a Message takes: every plane, quotes, backslashes, line breaks and tabs (it
# refuses lone surrogates and other control characters).
TEXT = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], include_characters='\n\t"\\/'),
    min_size=1,
    max_size=40,
).filter(str.strip)
NUMBERS = st.sampled_from(["+447700900123", "+33612345678", "+14155552671", "+4915112345678"])


@st.composite
def messages(draw: st.DrawFn) -> Message:
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["tag"] = draw(TEXT)
    if draw(st.booleans()):
        fields["metadata"] = draw(st.dictionaries(TEXT, TEXT, max_size=2))
    if draw(st.booleans()):
        fields["validity"] = timedelta(minutes=draw(st.integers(1, 2880)))
    if draw(st.booleans()):
        fields["provider_options"] = {"smsworks": {"ttl": draw(st.integers(1, 60))}}
    if draw(st.booleans()):
        fields["provider_options"] = {"smsscheduler": {"message_stop": True}}  # not ours
    try:
        return Message(draw(NUMBERS), draw(TEXT), **fields)
    except ValidationError:  # text Message refuses (an invisible one, say): not a case here
        assume(False)
        raise


@settings(max_examples=1500)
@given(messages(), st.sampled_from(["Acme", "Shop42", "07900123456"]), st.none() | TEXT)
def test_an_item_is_written_as_the_converter_writes_it(message, sender, key):
    expected = write(checked_payload(message, sender, None, key))

    assert item_of(message, sender, None, key) == expected
    assert item_json(message, sender, key) == json.dumps(expected, separators=(",", ":"))


@settings(max_examples=500)
@given(
    st.lists(st.tuples(messages(), st.sampled_from(["Acme", "Shop42", "07900123456"])), max_size=6),
    st.booleans(),
)
def test_a_batch_body_is_written_as_the_converter_writes_it(pairs, keyed):
    """Mixed senders (each written afresh) and options (each through the converter)."""
    batch = [m for m, _ in pairs]
    senders = [s for _, s in pairs]
    expected = [write(checked_payload(m, s, None, m.key if keyed else None)) for m, s in pairs]

    body = any_body(batch, senders, keyed=keyed)

    assert body == json.dumps(expected, separators=(",", ":")).encode()


ANSWER_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=1),
)


@settings(max_examples=1500)
@given(
    st.dictionaries(
        st.sampled_from(["messageid", "status", "creditsUsed", "messageparts", "credits"]),
        ANSWER_VALUES,
    )
    | ANSWER_VALUES
)
def test_a_send_answer_is_read_as_the_converter_reads_it(data):
    message = Message("+447700900123", "Hi", reference="r1", metadata={"a": "b"})
    try:
        sent = read(data, schema.SendMessageResponse)
    except WireError:
        with pytest.raises(WireError):
            sent_receipt(data, message, "k1")
        return
    receipt = sent_receipt(data, message, "k1")
    assert receipt == Receipt(
        provider="smsworks",
        message_id=sent.message_id,
        to=message.to,
        status=parse_status(sent.status),
        reference="r1",
        metadata={"a": "b"},
        parts=sent.message_parts,
        credits=sent.credits_used,
        key="k1",
        raw=data,
    )
    assert receipt.raw is data
    assert type(receipt.credits) is (float if sent.credits_used is not None else type(None))


def test_the_usual_send_answer_is_read_directly():
    answer = {"messageid": "7", "status": "SENT", "credits": 9, "creditsUsed": 1, "messageparts": 1}

    receipt = sent_receipt(answer, Message("+447700900123", "Hi"), None)

    assert (receipt.message_id, receipt.status, receipt.credits, receipt.parts) == (
        "7",
        DeliveryStatus.SENT,
        1.0,
        1,
    )
    assert read_sent(answer) == schema.SendMessageResponse("7", "SENT", 1.0, 1)


def test_a_batchs_receipts_are_made_when_asked_for_and_all_alike():
    messages = [Message(f"+44770090012{i}", "Hi", reference=str(i)) for i in range(3)]
    batch = BatchReceipt(
        provider="smsworks",
        batch_id="b1",
        status=DeliveryStatus.QUEUED,
        recipients=tuple(m.to for m in messages),
        raw={"batchid": "b1"},
    )

    receipts = BatchReceipts(messages, batch, None, True)

    assert len(receipts) == 3
    assert receipts[1] == Receipt(
        provider="smsworks",
        message_id=None,
        to=messages[1].to,
        status=DeliveryStatus.QUEUED,
        batch_id="b1",
        reference="1",
        key=messages[1].key,
        raw={"batchid": "b1"},
    )
    assert receipts[-1].to == messages[2].to
    assert [r.reference for r in receipts[1:]] == ["1", "2"]
    assert BatchReceipts(messages, batch, None, False)[0].key is None


def test_a_batch_receipt_has_every_slot_a_receipt_made_the_usual_way_has():
    at = datetime(2030, 1, 1, 9, tzinfo=UTC)
    message = Message("+447700900123", "Hi", reference="r", metadata={"a": "b"})
    batch = BatchReceipt(
        provider="smsworks", batch_id="b1", status=DeliveryStatus.SCHEDULED, raw={"x": 1}
    )

    made = BatchReceipts([message], batch, at, True)[0]

    usual = Receipt(
        provider="smsworks",
        message_id=None,
        to=message.to,
        status=DeliveryStatus.SCHEDULED,
        batch_id="b1",
        reference="r",
        metadata=message.metadata,
        scheduled_at=at,
        key=message.key,
        raw={"x": 1},
    )
    assert attrs.astuple(made, recurse=False) == attrs.astuple(usual, recurse=False)
