"""The SMS Scheduler emulator against its API page: every answer's shape and types, every
refusal's wording, dates in the account's time zone, both ``sms_ids`` shapes and unlisted
status codes, over raw HTTP and through the adapter."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

import smsgate
from smsgate import ConfigurationError, DeliveryStatus, FailureReason, InvalidRequest
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.sandbox import Sandbox
from smsgate.sandbox._engine import Stage
from smsgate.sandbox._smsscheduler import FAILURES, SmsScheduler
from tests.support.sandbox import FAST, raw
from tests.support.tracking import Polling

POLL: Polling = {"interval": 0.02, "max_interval": 0.05}
UK, FR = "+447700900123", "+33612345678"
PAST = "2020-01-01 00:00:00"
LIST_OF_STRINGS = 'The field "phone_numbers" must be a list of type "string"'
BAD_DATE = 'The field "delivery_date" must be a date "Y-m-d H:i:s"'


@pytest.fixture
async def sandbox():
    async with Sandbox(seed=1, failure_rate=0, **FAST) as running:
        yield running


def emulator(sandbox: Sandbox) -> SmsScheduler:
    running = sandbox.emulators["smsscheduler"]
    assert isinstance(running, SmsScheduler)
    return running


def body(**fields):
    """A valid ``POST /sms`` body, with ``fields`` replaced (``None`` leaves one out)."""
    sent = {
        "message_text": "Hello world",
        "delivery_date": PAST,
        "sender_id": 1,
        "phone_numbers": [UK],
    } | fields
    return {name: value for name, value in sent.items() if value is not None}


async def post(sandbox, sent, **options):
    return await raw(sandbox, "POST", "/sms", provider="smsscheduler", json=sent, **options)


async def call(sandbox, method, path, **options):
    return await raw(sandbox, method, path, provider="smsscheduler", **options)


def last_sunday(year: int, month: int) -> date:
    return max(date(year, month, d) for d in range(25, 32) if date(year, month, d).weekday() == 6)


# --- 400: every bad field, in the page's words ---------------------------------------------


async def test_an_empty_body_lists_every_required_field(sandbox):
    assert await post(sandbox, {}) == (
        400,
        {
            "errors": {
                "message_text": ['The field "message_text" is required'],
                "sender_id": ['The field "sender_id" is required'],
                "delivery_date": ['The field "delivery_date" is required'],
                "phone_numbers": ['The field "phone_numbers" is required'],
            }
        },
    )
    assert sandbox.messages("smsscheduler") == []


async def test_null_and_empty_fields_are_missing_ones(sandbox):
    sent: dict[str, object] = {
        "message_text": "",
        "sender_id": None,
        "delivery_date": "",
        "phone_numbers": [],
    }

    status, answer = await post(sandbox, sent)

    assert status == 400
    assert sorted(answer["errors"]) == sorted(sent)
    assert all(m == [f'The field "{f}" is required'] for f, m in answer["errors"].items())


async def test_each_wrong_type_is_named_as_the_page_does(sandbox):
    sent = {
        "message_text": 5,
        "message_stop": "yes",
        "sender_id": "1",
        "delivery_date": 20201225,
        "phone_numbers": {"to": UK},
    }

    assert await post(sandbox, sent) == (
        400,
        {
            "errors": {
                "message_text": ['The field "message_text" must be a value of type "string"'],
                "message_stop": ['The field "message_stop" must be a value of type "boolean"'],
                "sender_id": ['The field "sender_id" must be a value of type "integer"'],
                "delivery_date": ['The field "delivery_date" must be a value of type "string"'],
                "phone_numbers": [LIST_OF_STRINGS],
            }
        },
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("message_stop", None, 'The field "message_stop" must be a value of type "boolean"'),
        ("message_stop", 1, 'The field "message_stop" must be a value of type "boolean"'),
        ("sender_id", True, 'The field "sender_id" must be a value of type "integer"'),
        ("sender_id", 1.0, 'The field "sender_id" must be a value of type "integer"'),
        ("sender_id", 2, "The sender 2 does not exist"),
    ],
)
async def test_a_single_bad_field_is_the_only_one_listed(sandbox, field, value, message):
    sent = body() | {field: value}

    assert await post(sandbox, sent) == (400, {"errors": {field: [message]}})
    assert sandbox.messages("smsscheduler") == []


async def test_the_pages_own_example_is_refused_for_its_hyphenated_number(sandbox):
    sent = {
        "message_text": "Hello world",
        "message_stop": False,
        "delivery_date": "2020-12-25 12:45:59",
        "sender_id": 1,
        "phone_numbers": ["+330101010101", "+330202020202", "+490303030303", "0404-040-404"],
    }

    assert await post(sandbox, sent) == (
        400,
        {"errors": {"phone_numbers": ["The following phone number is invalid: 0404-040-404"]}},
    )


async def test_a_list_with_a_non_string_and_a_bad_number_answers_as_the_page_shows(sandbox):
    sent = body(phone_numbers=["+123456789", 33612345678, UK, "+123456789"])

    assert await post(sandbox, sent) == (
        400,
        {
            "errors": {
                "phone_numbers": [
                    LIST_OF_STRINGS,
                    "The following phone number is invalid: +123456789",
                ]
            }
        },
    )


@pytest.mark.parametrize(
    "number",
    [
        "+33 612345678",
        "+33-612-345-678",
        "+33.6.12.34.56.78",
        "+33(0)612345678",
        "0033612345678",
        "33612345678",
        "0612345678",
        "+123456789",
        "+",
        " +33612345678",
        "+٣٣٦١٢٣٤٥٦٧٨",  # Arabic-Indic digits
    ],
)
async def test_numbers_need_a_plus_and_digits_only(sandbox, number):
    for sent in ([FR, number], number):
        assert await post(sandbox, body(phone_numbers=sent)) == (
            400,
            {"errors": {"phone_numbers": [f"The following phone number is invalid: {number}"]}},
        )
    assert sandbox.messages("smsscheduler") == []


@pytest.mark.parametrize(
    ("sent", "problem"),
    [
        (b"{not json", "Invalid JSON"),
        (b"\xff\xfe", "Invalid JSON"),
        (b"[]", "Expected an object"),
        (b'"+447700900123"', "Expected an object"),
    ],
)
async def test_a_body_that_is_not_an_object_is_refused_under_body(sandbox, sent, problem):
    answer = await call(sandbox, "POST", "/sms", data=sent)

    assert answer == (400, {"errors": {"body": [problem]}})


async def test_unknown_fields_are_ignored(sandbox):
    status, answer = await post(sandbox, body(unknown="x", message_stop=True))

    assert status == 200
    assert list(answer) == ["message_id", "sms_ids"]


# --- 401 and 404: the status alone --------------------------------------------------------


ROUTES = [
    ("POST", "/sms"),
    ("GET", "/sms/1"),
    ("DELETE", "/sms/1"),
    ("GET", "/message/1"),
    ("DELETE", "/message/1"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize(
    "auth", ["", "Bearer nope", "Basic sandbox-token", "sandbox-token", "Bearer  sandbox-token"]
)
async def test_every_route_refuses_a_wrong_token_with_a_bare_401(sandbox, method, path, auth):
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            sandbox.base_url("smsscheduler") + path,
            headers={"Authorization": auth},
            json=body(),
        ) as answer,
    ):
        assert (answer.status, answer.content_type) == (401, "text/plain")
        assert await answer.text() == "Unauthorized"
    assert sandbox.messages("smsscheduler") == []


@pytest.mark.parametrize(("method", "path"), ROUTES[1:])
async def test_an_unknown_id_is_a_bare_404(sandbox, method, path):
    await post(sandbox, body())  # ids 500001 (the message) and 500002 (its SMS)

    for unknown in ("1", "abc", "500001" if "/sms/" in path else "500002"):
        assert await call(sandbox, method, path.replace("1", unknown)) == (404, "Not Found")


# --- methods and paths the page does not list ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "error", "allow"),
    [
        ("GET", "/sms", 405, "GET /sms is not allowed; use POST", "POST"),
        ("PUT", "/sms/7", 405, "PUT /sms/7 is not allowed; use GET or DELETE", "GET, DELETE"),
        ("POST", "/message/7", 405, "POST /message/7 is not allowed; use GET or DELETE", None),
        ("GET", "/messages/7", 404, "no such endpoint: GET /messages/7", None),
        ("GET", "/sms/7/status", 404, "no such endpoint: GET /sms/7/status", None),
        ("POST", "/message/send", 405, None, None),
        ("GET", "/", 404, "no such endpoint: GET /", None),
    ],
)
@pytest.mark.parametrize("auth", [None, "Bearer nope"])
async def test_an_unlisted_method_or_path_gets_a_json_404_or_405(
    sandbox, method, path, status, error, allow, auth
):
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            sandbox.base_url("smsscheduler") + path,
            headers={"Authorization": auth or "Bearer sandbox-token"},
        ) as answer,
    ):
        assert (answer.status, answer.content_type) == (status, "application/json")
        shown = (await answer.json())["error"]
        if allow is not None:
            assert answer.headers["Allow"] == allow
    if error is not None:
        assert shown.startswith(error)
    if status == 404:
        assert shown.endswith(
            "the API has POST /sms, GET and DELETE /sms/{id}, GET and DELETE /message/{id}"
        )
    # the listed routes still answer
    assert (await post(sandbox, body()))[0] == 200


# --- sms_ids: a list per number, or one integer ---------------------------------------------


async def test_sms_ids_map_each_number_to_a_list_of_integers_by_default(sandbox):
    status, answer = await post(sandbox, body(phone_numbers=[UK, FR, UK]))

    assert status == 200
    assert answer == {"message_id": 500001, "sms_ids": {UK: [500002, 500004], FR: [500003]}}
    stored = sandbox.messages("smsscheduler")
    assert [(m.id, m.to, m.batch_id) for m in stored] == [
        ("500002", UK, "500001"),
        ("500003", FR, "500001"),
        ("500004", UK, "500001"),
    ]


async def test_the_integer_shape_maps_each_number_to_one_integer(sandbox):
    emulator(sandbox).sms_ids_shape = "integer"

    status, answer = await post(sandbox, body(phone_numbers=[UK, FR, UK]))

    assert status == 200
    assert answer == {"message_id": 500001, "sms_ids": {UK: 500004, FR: 500003}}
    assert all(type(v) is int for v in answer["sms_ids"].values())
    assert len(sandbox.messages("smsscheduler")) == 3  # each listing is an SMS


def test_an_unknown_sms_ids_shape_is_refused():
    running = emulator(Sandbox())

    with pytest.raises(ConfigurationError, match="sms_ids_shape: must be 'list' or 'integer'"):
        running.sms_ids_shape = "dict"
    assert running.sms_ids_shape == "list"


async def test_one_number_may_be_a_string_and_keys_are_normalised(sandbox):
    status, answer = await post(sandbox, body(phone_numbers="+330101010101"))

    assert (status, answer) == (200, {"message_id": 500001, "sms_ids": {"+33101010101": [500002]}})
    assert [m.to for m in sandbox.messages("smsscheduler")] == ["+33101010101"]


@pytest.mark.parametrize("shape", ["list", "integer"])
async def test_the_adapter_reads_either_shape(sandbox, shape):
    emulator(sandbox).sms_ids_shape = shape

    async with smsgate.from_config(sandbox.config("smsscheduler")) as gateway:
        assert isinstance(gateway, SmsSchedulerGateway)
        receipts = await gateway.send_chunk([gateway.message(n, "Hi") for n in (UK, FR)], None)
        reports = [await smsgate.wait_for_final(gateway, r, **POLL) for r in receipts]
        listed = await gateway.batch_status(receipts[0])

    stored = {m.to: m for m in sandbox.messages("smsscheduler")}
    assert [(r.to, r.message_id, r.batch_id) for r in receipts] == [
        (UK, stored[UK].id, "500001"),
        (FR, stored[FR].id, "500001"),
    ]
    assert [(r.to, r.message_id, r.status) for r in reports] == [
        (UK, stored[UK].id, DeliveryStatus.DELIVERED),
        (FR, stored[FR].id, DeliveryStatus.DELIVERED),
    ]
    assert sorted((r.to, r.message_id) for r in listed) == sorted(
        (to, m.id) for to, m in stored.items()
    )


# --- delivery_date: 19 characters, in the account's time zone ------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "2020-1-5 1:2:3",
        "2020-01-05 1:02:03",
        "2020-01-05T01:02:03",
        "2020-01-05 01:02",
        "2020-01-05",
        " 2020-01-05 01:02:03",
        "2020-01-05 01:02:03 ",
        "2020-01-05 01:02:03.5",
        "2020-01-05 01:02:03+01:00",
        "20200105 010203",
        "2020-13-01 00:00:00",
        "2020-02-30 00:00:00",
        "2020-01-05 24:00:00",
        "0000-01-01 00:00:00",
        "0001-01-01 00:00:00",  # before year 1 in UTC
        "٢٠٢٠-01-05 01:02:03",  # Arabic-Indic digits
        "tomorrow",
    ],
)
async def test_only_the_exact_date_format_is_taken(sandbox, written):
    assert await post(sandbox, body(delivery_date=written)) == (
        400,
        {"errors": {"delivery_date": [BAD_DATE]}},
    )


async def test_the_last_date_that_can_be_written_is_taken():
    async with Sandbox(timezone="America/New_York", **FAST) as sandbox:
        # past year 9999 in UTC
        assert await post(sandbox, body(delivery_date="9999-12-31 23:59:59")) == (
            400,
            {"errors": {"delivery_date": [BAD_DATE]}},
        )
        status, _ = await post(sandbox, body(delivery_date="9999-12-31 12:00:00"))
    assert status == 200
    [stored] = sandbox.messages("smsscheduler")
    assert stored.stage is Stage.SCHEDULED
    assert stored.send_at == datetime(9999, 12, 31, 17, tzinfo=UTC)


async def test_the_date_is_read_in_the_accounts_time_zone():
    tokyo = ZoneInfo("Asia/Tokyo")
    async with Sandbox(timezone="Asia/Tokyo", failure_rate=0, **FAST) as sandbox:
        later = (datetime.now(tokyo) + timedelta(hours=1)).replace(microsecond=0)
        await post(sandbox, body(delivery_date=f"{later:%Y-%m-%d %H:%M:%S}", phone_numbers=UK))
        # an hour ahead in UTC is eight hours ago in Tokyo
        in_utc = datetime.now(UTC) + timedelta(hours=1)
        await post(sandbox, body(delivery_date=f"{in_utc:%Y-%m-%d %H:%M:%S}", phone_numbers=FR))
        # now, to the second, is at or before now
        now = datetime.now(tokyo)
        await post(sandbox, body(delivery_date=f"{now:%Y-%m-%d %H:%M:%S}", phone_numbers=UK))
        scheduled, sent, at_once = sandbox.messages("smsscheduler")

    assert (scheduled.stage, scheduled.send_at) == (Stage.SCHEDULED, later)
    assert scheduled.send_at.utcoffset() == timedelta(0)
    assert sent.stage is not Stage.SCHEDULED
    assert at_once.stage is not Stage.SCHEDULED


async def test_a_time_that_is_still_to_come_and_does_not_exist_is_refused(sandbox):
    year = datetime.now(UTC).year + 2
    gap = f"{last_sunday(year, 3)} 02:30:00"

    assert await post(sandbox, body(delivery_date=gap)) == (
        400,
        {
            "errors": {
                "delivery_date": [
                    'The field "delivery_date" is a time that does not exist in Europe/Paris '
                    f"(clocks go forward then): {gap}"
                ]
            }
        },
    )
    assert sandbox.messages("smsscheduler") == []


async def test_a_time_that_is_still_to_come_and_happens_twice_is_refused(sandbox):
    year = datetime.now(UTC).year + 2
    fold = f"{last_sunday(year, 10)} 02:30:00"

    assert await post(sandbox, body(delivery_date=fold)) == (
        400,
        {
            "errors": {
                "delivery_date": [
                    'The field "delivery_date" is a time that happens twice in Europe/Paris '
                    f"(clocks go back then): {fold}"
                ]
            }
        },
    )
    assert sandbox.messages("smsscheduler") == []


@pytest.mark.parametrize(
    ("written", "earliest"),
    [
        ("2020-03-29 02:30:00", datetime(2020, 3, 29, 0, 30, tzinfo=UTC)),  # does not exist
        ("2020-10-25 02:30:00", datetime(2020, 10, 25, 0, 30, tzinfo=UTC)),  # happens twice
    ],
)
async def test_a_past_time_that_does_not_exist_or_happens_twice_goes_out_at_once(
    sandbox, written, earliest
):
    status, _ = await post(sandbox, body(delivery_date=written))

    assert status == 200
    [stored] = sandbox.messages("smsscheduler")
    assert stored.stage is not Stage.SCHEDULED
    assert stored.send_at == earliest


async def test_a_later_date_waits_as_status_10_with_the_right_types(sandbox):
    later = datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=1)
    _, created = await post(sandbox, body(delivery_date=f"{later:%Y-%m-%d %H:%M:%S}"))
    sms_id = created["sms_ids"][UK][0]

    assert await call(sandbox, "GET", f"/sms/{sms_id}") == (
        200,
        {"phone_number": UK, "status": 10},
    )
    status, listed = await call(sandbox, "GET", f"/message/{created['message_id']}")
    assert (status, listed) == (200, [{"id": sms_id, "phone_number": UK, "status": 10}])
    assert [type(listed[0][k]) for k in ("id", "phone_number", "status")] == [int, str, int]


# --- deleting -------------------------------------------------------------------------------


async def test_deleting_a_scheduled_sms_answers_true_and_it_is_gone(sandbox):
    later = datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=1)
    sent = body(delivery_date=f"{later:%Y-%m-%d %H:%M:%S}", phone_numbers=[UK, FR])
    _, created = await post(sandbox, sent)
    credits = sandbox.credits("smsscheduler")
    uk_id, fr_id = created["sms_ids"][UK][0], created["sms_ids"][FR][0]

    status, answer = await call(sandbox, "DELETE", f"/sms/{uk_id}")

    assert (status, answer) == (200, {"success": True})
    assert type(answer["success"]) is bool
    assert sandbox.credits("smsscheduler") == credits + 1
    assert await call(sandbox, "GET", f"/sms/{uk_id}") == (404, "Not Found")
    assert await call(sandbox, "DELETE", f"/sms/{uk_id}") == (404, "Not Found")
    assert await call(sandbox, "GET", f"/message/{created['message_id']}") == (
        200,
        [{"id": fr_id, "phone_number": FR, "status": 10}],
    )
    stages = {m.to: m.stage for m in sandbox.messages("smsscheduler")}
    assert stages == {UK: Stage.CANCELLED, FR: Stage.SCHEDULED}


async def test_deleting_an_sms_on_its_way_answers_false_and_leaves_it(sandbox):
    _, created = await post(sandbox, body())
    sms_id = created["sms_ids"][UK][0]
    credits = sandbox.credits("smsscheduler")

    status, answer = await call(sandbox, "DELETE", f"/sms/{sms_id}")

    assert (status, answer) == (200, {"success": False})
    assert type(answer["success"]) is bool
    assert sandbox.credits("smsscheduler") == credits
    [stored] = sandbox.messages("smsscheduler")
    assert stored.stage is not Stage.CANCELLED
    async with smsgate.from_config(sandbox.config("smsscheduler")) as gateway:
        with pytest.raises(InvalidRequest, match="was not deleted"):
            await gateway.cancel(str(sms_id))
        report = await smsgate.wait_for_final(gateway, str(sms_id), **POLL)
    assert report.status is DeliveryStatus.DELIVERED


async def test_deleting_a_message_answers_how_many_sms_were_deleted(sandbox):
    later = datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=1)
    sent = body(delivery_date=f"{later:%Y-%m-%d %H:%M:%S}", phone_numbers=[UK, FR])
    _, scheduled = await post(sandbox, sent)
    _, at_once = await post(sandbox, body(phone_numbers=[UK, FR]))

    status, answer = await call(sandbox, "DELETE", f"/message/{scheduled['message_id']}")
    assert (status, answer) == (200, {"success": 2})
    assert type(answer["success"]) is int
    assert await call(sandbox, "DELETE", f"/message/{scheduled['message_id']}") == (
        404,
        "Not Found",
    )
    assert await call(sandbox, "GET", f"/message/{scheduled['message_id']}") == (404, "Not Found")

    status, answer = await call(sandbox, "DELETE", f"/message/{at_once['message_id']}")
    assert (status, answer) == (200, {"success": 0})
    assert type(answer["success"]) is int
    status, listed = await call(sandbox, "GET", f"/message/{at_once['message_id']}")
    assert (status, len(listed)) == (200, 2)


# --- status codes the page does not list ---------------------------------------------------


NUMBERS = [f"+4477009001{i:02d}" for i in range(10, 16)]


async def final_codes(sandbox):
    async with smsgate.from_config(sandbox.config("smsscheduler")) as gateway:
        assert isinstance(gateway, SmsSchedulerGateway)
        receipts = await gateway.send_chunk([gateway.message(n, "Hi") for n in NUMBERS], None)
        return [await smsgate.wait_for_final(gateway, r, **POLL) for r in receipts]


async def test_unlisted_missed_codes_are_drawn_when_asked_and_read_by_their_tens_digit():
    async with Sandbox(seed=2, failure_rate=1, **FAST) as sandbox:
        emulator(sandbox).unlisted_codes = True
        reports = await final_codes(sandbox)

    assert [r.provider_status for r in reports] == [22, 31, 37, 30, 34, 37]
    assert [m.outcome for m in sandbox.messages("smsscheduler")] == [22, 31, 37, 30, 34, 37]
    unlisted = [r for r in reports if r.provider_status in (34, 37)]
    assert [(r.status, r.reason, r.detail) for r in unlisted] == [
        (DeliveryStatus.UNDELIVERED, FailureReason.UNKNOWN, "Missed - unlisted reason")
    ] * 3


async def test_unlisted_codes_are_never_drawn_unless_asked():
    async with Sandbox(seed=2, failure_rate=1, **FAST) as sandbox:
        assert emulator(sandbox).unlisted_codes is False
        reports = await final_codes(sandbox)

    assert [r.provider_status for r in reports] == [22, 31, 30, 28, 26, 32]  # as ever
    assert all(r.provider_status in FAILURES for r in reports)
