import pickle
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate import DeliveryStatus, Message, Receipt, StatusReport, ValidationError
from smsgate.model import (
    check_region,
    check_send_time,
    message_id_of,
    normalize_number,
    slot_setters,
)

# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "region", "e164"),
    [
        ("+447700900123", None, "+447700900123"),
        ("+44 7700 900123", None, "+447700900123"),
        ("+44 (0)7700 900-123", None, "+447700900123"),
        ("  +44.7700.900.123  ", None, "+447700900123"),
        ("07700 900123", "GB", "+447700900123"),
        ("07700900123", "gb", "+447700900123"),
        ("0044 7700 900123", "GB", "+447700900123"),
        ("447700900123", "GB", "+447700900123"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "GB", "+33612345678"),  # an international number ignores region
        ("(201) 555-0123", "US", "+12015550123"),
        ("+1/201/555/0123", None, "+12015550123"),
    ],
)
def test_numbers_are_normalised_to_e164(written, region, e164):
    assert normalize_number(written, region) == e164


@pytest.mark.parametrize(
    ("written", "region", "problem"),
    [
        ("07700 900123", None, "'07700 900123' has no country code"),
        ("447700900123", None, "'447700900123' has no country code"),
        ("", None, "is empty"),
        ("   ", "GB", "is empty"),
        ("0800 FLOWERS", "GB", "'0800 FLOWERS' is not a phone number: only digits"),
        ("+44 7700 900123 ext. 5", None, "is not a phone number: only digits"),
        ("+447700900123;", None, "is not a phone number: only digits"),
        ("+44", None, "'+44' is not a phone number"),
        ("+", None, "'+' is not a phone number"),
        ("+1 123", None, "'+1 123' cannot be a phone number: it is too short"),
        ("+44 7700 900123 456789", None, "cannot be a phone number: it is too long"),
        ("+999 123456789", None, "its country code does not exist"),
        ("07700 900123", "UK", "'UK' is not a two-letter ISO 3166 region code"),
        ("07700 900123", "", "region: '' is not a two-letter ISO 3166"),
    ],
)
def test_numbers_that_cannot_be_phone_numbers_are_refused(written, region, problem):
    with pytest.raises(ValidationError) as caught:
        normalize_number(written, region)
    assert problem in str(caught.value)


@pytest.mark.parametrize("number", [447700900123, None, b"+447700900123"])
def test_a_number_must_be_a_string(number):
    with pytest.raises(ValidationError, match="to: must be a string"):
        normalize_number(number)


def test_the_field_name_is_reported():
    with pytest.raises(ValidationError) as caught:
        normalize_number("12", "GB", field="destination")
    assert caught.value.field == "destination"


@given(st.from_regex(r"\+447[0-9]{9}", fullmatch=True))
def test_normalising_is_idempotent_on_uk_mobiles(number):
    once = normalize_number(number)
    assert once == number
    assert normalize_number(once) == once


@pytest.mark.parametrize(("region", "expected"), [("gb", "GB"), ("Fr", "FR")])
def test_check_region_upper_cases(region, expected):
    assert check_region(region) == expected


@pytest.mark.parametrize("region", ["UK", "XX", "GBR", "", 44, None])
def test_check_region_refuses_unknown_regions(region):
    with pytest.raises(ValidationError, match=r"region: .* is not a two-letter ISO 3166"):
        check_region(region)


# --- Message ---------------------------------------------------------------------------------


def test_message_normalises_the_recipient_with_the_given_region():
    message = Message("07700 900123", "Hello", region="GB")
    assert message.to == "+447700900123"
    assert message.text == "Hello"
    assert (message.sender, message.reference, message.tag, message.validity) == (None,) * 4
    assert dict(message.metadata) == {}
    assert dict(message.provider_options) == {}


def test_a_national_number_without_a_region_is_refused_naming_field_and_value():
    with pytest.raises(ValidationError) as caught:
        Message("07700 900123", "Hello")
    assert caught.value.field == "to"
    assert "'07700 900123'" in str(caught.value)
    assert "region" in str(caught.value)


def test_message_keeps_every_field():
    message = Message(
        "+447700900123",
        "Hello",
        sender="Acme",
        reference="order-17",
        tag="summer",
        metadata={"customer": "42"},
        validity=timedelta(hours=2),
        provider_options={"smsworks": {"ttl": 10}},
    )
    assert message.sender == "Acme"
    assert message.reference == "order-17"
    assert message.tag == "summer"
    assert dict(message.metadata) == {"customer": "42"}
    assert message.validity == timedelta(hours=2)
    assert dict(message.provider_options["smsworks"]) == {"ttl": 10}


@pytest.mark.parametrize(
    ("kwargs", "field", "problem"),
    [
        ({"text": ""}, "text", "is empty or only whitespace"),
        ({"text": " \n\t "}, "text", "is empty or only whitespace"),
        ({"text": None}, "text", "must be a string, not NoneType"),
        ({"text": 42}, "text", "must be a string, not int"),
        ({"sender": ""}, "sender", "is empty"),
        ({"sender": "  "}, "sender", "is empty"),
        ({"sender": 123}, "sender", "must be a string, not int"),
        ({"reference": ""}, "reference", "is empty"),
        ({"tag": ""}, "tag", "is empty"),
        ({"metadata": {"a": 1}}, "metadata", "values must be strings; 'a' is a int"),
        ({"metadata": {"": "x"}}, "metadata", "keys must be non-empty strings"),
        ({"metadata": {1: "x"}}, "metadata", "keys must be non-empty strings"),
        ({"metadata": [("a", "b")]}, "metadata", "must be a mapping of str to str, not list"),
        ({"validity": timedelta(0)}, "validity", "must be a positive timedelta"),
        ({"validity": timedelta(minutes=-5)}, "validity", "must be a positive timedelta"),
        ({"validity": 60}, "validity", "must be a positive timedelta, not 60"),
        ({"provider_options": {1: {}}}, "provider_options", "must map provider names to their"),
        ({"provider_options": "flash"}, "provider_options", "must map provider names to their"),
        ({"provider_options": {"ttl": 10}}, "provider_options", "e.g. {'smsworks': {'flash'"),
        ({"provider_options": {"smsworks": {1: 2}}}, "provider_options", "names must be strings"),
        ({"to": "not a number"}, "to", "is not a phone number"),
        ({"to": ""}, "to", "is empty"),
    ],
)
def test_bad_input_is_refused_naming_the_field(kwargs, field, problem):
    arguments = {"to": "+447700900123", "text": "Hello"} | kwargs
    to, text = arguments.pop("to"), arguments.pop("text")
    with pytest.raises(ValidationError) as caught:
        Message(to, text, **arguments)
    assert caught.value.field == field
    assert problem in caught.value.problem


def test_provider_options_are_read_only_too():
    options = {"smsworks": {"flash": True}}
    message = Message("+447700900123", "Hello", provider_options=options)
    options["smsworks"]["flash"] = False
    assert message.provider_options["smsworks"]["flash"] is True
    with pytest.raises(TypeError):
        message.provider_options["smsworks"]["flash"] = False  # type: ignore[index]


def test_message_is_immutable_and_does_not_share_the_callers_dicts():
    metadata = {"customer": "42"}
    message = Message("+447700900123", "Hello", metadata=metadata)
    metadata["customer"] = "changed"
    assert message.metadata["customer"] == "42"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.text = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        message.metadata["customer"] = "changed"  # type: ignore[index]


def test_messages_compare_by_value_and_hash():
    one = Message("07700 900123", "Hello", region="GB", metadata={"a": "b"})
    two = Message("+447700900123", "Hello", metadata={"a": "b"})
    assert one == two
    assert hash(one) == hash(two)
    assert len({one, two}) == 1
    assert one != Message("+447700900123", "Hello", metadata={"a": "c"})


def test_evolve_validates_again():
    message = Message("+447700900123", "Hello")
    assert attrs.evolve(message, text="Bye").text == "Bye"
    with pytest.raises(ValidationError, match="text"):
        attrs.evolve(message, text="")
    with pytest.raises(ValidationError, match="has no country code"):
        attrs.evolve(message, to="07700900123")


def test_every_message_gets_an_idempotency_key_of_its_own():
    keys = {Message("+447700900123", "Hi").key for _ in range(10_000)}
    assert len(keys) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]+", key) for key in keys)


def test_a_given_key_is_kept_and_equality_ignores_keys():
    message = Message("+447700900123", "Hi", key="order-17")
    assert message.key == "order-17"
    assert message == Message("+447700900123", "Hi")
    assert hash(message) == hash(Message("+447700900123", "Hi"))


def test_a_copy_made_with_evolve_is_a_new_message_with_a_new_key():
    message = Message("+447700900123", "Hi", key="order-17")
    assert attrs.evolve(message, text="Hello").key != "order-17"


@pytest.mark.parametrize("key", ["", "has space", "x" * 101, "é", 17])
def test_a_bad_key_is_refused(key):
    with pytest.raises(ValidationError, match="key: must be 1 to 100 printable ASCII"):
        Message("+447700900123", "Hi", key=key)


FORKING = """
import os
from smsgate.model import new_key
parent = new_key()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write, new_key().encode())
    os._exit(0)
os.waitpid(pid, 0)
print(parent, os.read(read, 100).decode())
"""


def test_a_forked_process_makes_keys_of_its_own():
    # In a process of its own: forking this (threaded) test process is not safe.
    run = subprocess.run([sys.executable, "-c", FORKING], capture_output=True, text=True)
    parent, child = run.stdout.split()
    assert parent.split("-")[0] != child.split("-")[0]


def test_message_repr_shows_what_will_be_sent():
    assert repr(Message("+447700900123", "Hi")).startswith("Message(to='+447700900123', text='Hi'")


# --- send times ------------------------------------------------------------------------------


def test_check_send_time_accepts_an_aware_future_time():
    at = datetime.now(UTC) + timedelta(minutes=5)
    assert check_send_time(at) is at


def test_check_send_time_compares_across_time_zones():
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    paris = timezone(timedelta(hours=1))
    assert check_send_time(datetime(2026, 11, 22, 13, 1, tzinfo=paris), now=now)
    with pytest.raises(ValidationError, match="not in the future"):
        check_send_time(datetime(2026, 11, 22, 12, 59, tzinfo=paris), now=now)


@pytest.mark.parametrize(
    ("at", "problem"),
    [
        (datetime(2030, 1, 1, 9, 0), "2030-01-01T09:00:00 has no time zone"),
        (datetime(2020, 1, 1, 9, 0, tzinfo=UTC), "is not in the future"),
        ("2030-01-01T09:00:00Z", "must be a datetime, not str"),
        (1893488400, "must be a datetime, not int"),
    ],
)
def test_check_send_time_refuses_bad_times(at, problem):
    with pytest.raises(ValidationError) as caught:
        check_send_time(at)
    assert caught.value.field == "at"
    assert problem in caught.value.problem


def test_now_itself_is_not_in_the_future():
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    with pytest.raises(ValidationError):
        check_send_time(now, now=now)


# --- results ---------------------------------------------------------------------------------


def receipt(**changes):
    fields = {
        "provider": "acme",
        "message_id": "m-1",
        "to": "+447700900123",
        "status": DeliveryStatus.QUEUED,
    }
    return Receipt(**(fields | changes))


def test_receipts_compare_without_the_raw_answer_and_hide_it_from_repr():
    assert receipt(raw={"a": 1}) == receipt(raw={"b": 2})
    assert "raw" not in repr(receipt(raw={"a": 1}))
    assert hash(receipt(metadata={"a": "b"})) == hash(receipt())


def test_results_are_keyword_only():
    with pytest.raises(TypeError):
        Receipt("acme", "m-1", "+447700900123", DeliveryStatus.QUEUED)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        StatusReport("acme", "m-1", DeliveryStatus.QUEUED)  # type: ignore[call-arg]


def test_results_pickle():
    report = StatusReport(provider="acme", message_id="m-1", status=DeliveryStatus.SENT, raw={})
    assert pickle.loads(pickle.dumps(report)) == report


@pytest.mark.parametrize(("ref", "message_id"), [(receipt(), "m-1"), ("m-2", "m-2")])
def test_message_id_of_a_receipt_or_an_id(ref, message_id):
    assert message_id_of(ref) == message_id


@pytest.mark.parametrize("ref", ["", "  ", None, 17])
def test_message_id_of_refuses_anything_else(ref):
    with pytest.raises(ValidationError, match="ref: must be a Receipt or a message id string"):
        message_id_of(ref)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"text": "Hi \udcff"}, "text"),
        ({"reference": "r\ud800"}, "reference"),
        ({"sender": "Acme\udfff"}, "sender"),
        ({"metadata": {"k": "v\udc80"}}, "metadata"),
    ],
)
def test_a_lone_surrogate_is_refused_in_any_text_field(fields, field):
    options = {"text": "Hi", **fields}
    text = options.pop("text")
    with pytest.raises(ValidationError, match="lone surrogate") as caught:
        Message("+447700900123", text, **options)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("to", "region"), [("+447700900123", None), ("07700 900123", "GB"), ("+33 6 12 34 56 78", None)]
)
def test_a_plain_message_is_built_as_one_with_its_options_spelled_out(to, region):
    """A message with no optional field takes a shorter way through __init__: every slot
    ends as the full way sets it."""
    quick = Message(to, "Hello", region=region, key="k-1")
    full = Message(
        to, "Hello", region=region, key="k-1", metadata={}, provider_options={}, sender=None
    )

    assert attrs.astuple(quick, recurse=False) == attrs.astuple(full, recurse=False)
    assert type(quick.metadata) is type(full.metadata)
    assert type(quick.provider_options) is type(full.provider_options)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"to": "+44 7700 9001"}, "it can only be dialled locally"),
        ({"to": "07700 900123"}, "give a region"),
        ({"to": 447700900123}, "to"),
        ({"key": "has space"}, "printable ASCII"),
        ({"text": "a\x00b"}, "control character"),
    ],
)
def test_a_plain_message_is_checked_as_any_other(fields, error):
    with pytest.raises(ValidationError, match=error):
        Message(**{"to": "+447700900123", "text": "Hi", **fields})


def test_slot_setters_refuse_a_class_whose_fields_check_their_values():
    @attrs.frozen
    class Checked:
        n: int = attrs.field(converter=int)

    @attrs.frozen
    class Plain:
        a: int
        b: str

    with pytest.raises(TypeError, match="Checked's fields check their values"):
        slot_setters(Checked)
    set_a, set_b = slot_setters(Plain)
    made = object.__new__(Plain)
    set_a(made, 1)
    set_b(made, "x")
    assert made == Plain(1, "x")


def test_a_subclass_of_message_gets_its_own_fields_and_hooks_set_when_it_is_plain():
    @attrs.frozen(init=False)
    class Tagged(Message):
        campaign: str = "default"

        def __attrs_post_init__(self) -> None:
            object.__setattr__(self, "campaign", self.campaign.upper())

    plain = Tagged("+447700900123", "Hi")
    with_reference = Tagged("+447700900123", "Hi", reference="r")

    assert plain.campaign == with_reference.campaign == "DEFAULT"
    assert plain.to == "+447700900123"


def test_slot_setters_refuse_a_class_with_init_hooks_or_a_cached_hash():
    @attrs.frozen
    class Hooked:
        a: int

        def __attrs_post_init__(self) -> None:
            pass

    @attrs.frozen(cache_hash=True)
    class Cached:
        a: int

    for cls in (Hooked, Cached):
        with pytest.raises(TypeError, match="does more than set its fields"):
            slot_setters(cls)
