"""The converter adapters read answers and write requests with: lenient where providers are,
strict where leniency would invent data."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from smsgate.providers._wire import WireError, kind_of, make_converter, register, structure


@attrs.frozen
class Code:
    value: int


@attrs.frozen
class Answer:
    message_id: str
    credits: float = 0.0
    parts: int = 1
    flash: bool = False
    note: str | None = None
    code: Code | None = None


WIRE = make_converter()
register(WIRE, Answer, message_id="messageid")


def read(**fields: Any) -> Answer:
    return structure(WIRE, {"messageid": "m-1", **fields}, Answer)


# --- scalars ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "read_as"),
    [("m-1", "m-1"), ("", ""), (12, "12"), (12.0, "12"), (-3.0, "-3")],
)
def test_a_string_may_come_as_a_whole_number(value, read_as):
    assert structure(WIRE, {"messageid": value}, Answer).message_id == read_as


@pytest.mark.parametrize("value", [12.5, True, None, [], {}])
def test_a_string_is_never_made_up_from_anything_else(value):
    with pytest.raises(WireError, match=r"expected str @ \$\.message_id"):
        structure(WIRE, {"messageid": value}, Answer)


@pytest.mark.parametrize(
    ("value", "read_as"),
    [(2, 2.0), (2.5, 2.5), ("2.5", 2.5), ("3", 3.0), (-0.5, -0.5)],
)
def test_a_number_may_come_as_a_string(value, read_as):
    credits = read(credits=value).credits
    assert credits == read_as
    assert type(credits) is float


@pytest.mark.parametrize("value", [True, None, [1], {"n": 1}, "two", ""])
def test_a_number_is_never_made_up_from_anything_else(value):
    with pytest.raises(WireError, match=r"expected float @ \$\.credits"):
        read(credits=value)


@pytest.mark.parametrize(
    ("value", "read_as"),
    [(3, 3), (3.0, 3), ("42", 42), (" 42 ", 42), (0, 0)],
)
def test_a_whole_number_may_come_as_a_float_or_digits(value, read_as):
    parts = read(parts=value).parts
    assert parts == read_as
    assert type(parts) is int


@pytest.mark.parametrize("value", [4.5, "4.5", "-1", "", "x", True, False, None, [3]])
def test_a_whole_number_is_never_made_up_from_anything_else(value):
    with pytest.raises(WireError, match=r"expected int @ \$\.parts"):
        read(parts=value)


@pytest.mark.parametrize("value", [True, False])
def test_true_and_false_are_read_as_they_are(value):
    assert read(flash=value).flash is value


@pytest.mark.parametrize("value", ["false", "true", 0, 1, None])
def test_true_and_false_are_never_made_up_from_anything_else(value):
    with pytest.raises(WireError, match=r"expected bool @ \$\.flash"):
        read(flash=value)


def test_an_optional_field_reads_null_as_none_never_as_the_string_none():
    assert read(note=None).note is None
    assert read(note="n").note == "n"
    assert read(note=7).note == "7"


def test_a_scalar_read_on_its_own_says_what_it_got_instead():
    assert structure(WIRE, "2.5", float) == 2.5
    with pytest.raises(WireError, match=r"^unexpected an array: expected a number, got \[1\]$"):
        structure(WIRE, [1], float)
    with pytest.raises(WireError, match=r"^unexpected a string: could not convert"):
        structure(WIRE, "two", float)
    with pytest.raises(WireError, match=r"^unexpected null: expected a string, got None$"):
        structure(WIRE, None, str)


# --- objects ---------------------------------------------------------------------------------


def test_wire_names_are_read_and_written_and_unknown_keys_ignored():
    answer = structure(WIRE, {"messageid": "m-1", "parts": 2, "surprise": [1]}, Answer)

    assert answer == Answer(message_id="m-1", parts=2)
    assert WIRE.unstructure(answer) == {"messageid": "m-1", "parts": 2}


def test_fields_left_at_their_defaults_are_not_written():
    assert WIRE.unstructure(Answer(message_id="m-1")) == {"messageid": "m-1"}
    written = WIRE.unstructure(Answer(message_id="m-1", flash=True, note="n"))
    assert written == {"messageid": "m-1", "flash": True, "note": "n"}


def test_a_missing_required_field_is_named():
    with pytest.raises(WireError, match=r"^required field missing @ \$\.message_id$"):
        structure(WIRE, {"credits": 1}, Answer)


@pytest.mark.parametrize(
    ("data", "kind"),
    [("hostile", "a string"), ([], "an array"), (None, "null"), (7, "a number")],
)
def test_an_answer_that_is_not_an_object_is_refused_naming_what_it_is(data, kind):
    with pytest.raises(WireError, match=f"^expected an object, got {kind}$"):
        structure(WIRE, data, Answer)


def test_a_nested_object_must_be_an_object_too():
    assert read(code={"value": 7}).code == Code(7)
    with pytest.raises(WireError, match=r"@ \$\.code$"):
        read(code="hostile")


@attrs.frozen
class Wrapped:
    code: Code


def test_a_class_never_registered_is_read_by_its_python_names_and_only_from_objects():
    plain = make_converter()

    assert structure(plain, {"code": {"value": "7"}}, Wrapped) == Wrapped(Code(7))
    with pytest.raises(WireError, match=r"^invalid value for type, expected Code @ \$\.code$"):
        structure(plain, {"code": "hostile"}, Wrapped)
    with pytest.raises(WireError, match=r"^required field missing @ \$\.code\.value$"):
        structure(plain, {"code": {}}, Wrapped)


# --- kinds -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ([1, 2], "an array"),
        ("secret", "a string"),
        (True, "true or false"),
        (False, "true or false"),
        (3, "a number"),
        (2.5, "a number"),
        (None, "null"),
        ({"a": 1}, "an object"),
        (b"raw", "bytes"),
    ],
)
def test_the_kind_of_a_value_is_told_without_the_value(data, kind):
    assert kind_of(data) == kind
