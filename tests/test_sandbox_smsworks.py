"""The sandbox's The SMS Works, held to the provider's documents: error bodies, dates as
``new Date()`` reads them, every endpoint of the spec, credits and destinations."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import smsgate
from smsgate.encoding import segments
from smsgate.sandbox import Sandbox
from smsgate.sandbox._engine import Stage
from smsgate.sandbox._gsm import sms_parts
from smsgate.sandbox._jsdate import read_js_date
from tests.support.conformance import Conformance, problems_with
from tests.support.sandbox import FAST, raw

LONDON = ZoneInfo("Europe/London")
UK, FR = "447700900123", "33612345678"
GOOD = {"sender": "Sandbox", "destination": UK, "content": "Hi"}
LATER = "2030-06-01T12:00:00Z"


@pytest.fixture
async def sandbox():
    async with Sandbox(seed=1, failure_rate=0, **FAST) as running:
        yield running


def extended(
    status: int, code: int, message: str, permanent: bool = True
) -> tuple[int, dict[str, object]]:
    return status, {
        "message": message,
        "errorCode": code,
        "status": str(status),
        "permanent": permanent,
    }


# --- the spec check itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("POST", "/message/send", 400, b'{"message":"x","errorCode":4000,"status":400}'),
        ("POST", "/message/send", 400, b'{"message":"x"}'),
        ("GET", "/messages/1", 200, b'{"messageid":"1","status":"SENT"}'),
        ("POST", "/message/schedule", 200, b'{"messageid":"1","status":"SCHEDULED"}'),
        ("POST", "/auth/token", 200, b'{"jwt":"JWT x"}'),
        ("GET", "/no/such/path", 404, b'{"message":"Not found"}'),
        ("GET", "/credits/balance", 200, b"not json"),
    ],
)
def test_the_spec_check_finds_an_answer_outside_the_spec(method, path, status, body):
    assert problems_with(method, path, status, "application/json", body) != []


def test_the_spec_check_takes_answers_the_spec_declares():
    error = b'{"message":"x","errorCode":4000,"status":"400","permanent":true}'
    assert problems_with("POST", "/message/send", 400, "application/json", error) == []
    assert problems_with("GET", "/messages/schedule", 501, "application/json", error) == []
    assert problems_with("GET", "/credits/balance", 200, "text/plain", b"{}") == [
        "GET /credits/balance -> 200: answered text/plain, not JSON"
    ]


async def test_the_spec_check_sees_what_aiohttp_raises_and_what_crashes(web_server):
    found = Conformance()

    async def refused(_):
        raise web.HTTPRequestEntityTooLarge(max_size=1, actual_size=2)

    async def crashed(_):
        raise RuntimeError("boom")

    app = web.Application(middlewares=[found.middleware("/api")])
    app.add_routes([web.post("/api/message/send", refused), web.get("/api/utils/test", crashed)])
    server = await web_server(app)
    async with aiohttp.ClientSession() as session:
        async with session.post(server.make_url("/api/message/send")) as answer:
            assert answer.status == 413
        async with session.get(server.make_url("/api/utils/test")) as answer:
            assert answer.status == 500

    assert found.checked == 2
    assert found.problems == [
        "POST /message/send -> 413: answered text/plain, not JSON",
        "GET /utils/test: the handler raised RuntimeError('boom')",
    ]


async def test_every_answer_of_a_test_is_checked(sandbox, conformance):
    await raw(sandbox, "POST", "/message/send", json=GOOD)
    await raw(sandbox, "POST", "/message/send", json={**GOOD, "content": ""})
    await raw(sandbox, "GET", "/messages/schedule")

    assert (conformance.checked, conformance.problems) == (3, [])


# --- 1. error bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/message/schedule", {**GOOD, "schedule": "soon"}, "schedule must be a date"),
        ("POST", "/message/schedule", GOOD, "schedule must be a date"),
        ("POST", "/message/send", {**GOOD, "content": ""}, "content is required"),
        ("POST", "/message/send", [GOOD], "Request body must be a JSON object"),
        ("POST", "/batch/send", GOOD, "destinations must be a non-empty array"),
        ("POST", "/batch/any", [], "the batch is empty"),
        ("POST", "/batch/any", GOOD, "Request body must be a JSON array"),
        ("POST", "/messages", {"limit": "ten"}, "limit must be a whole number"),
        ("POST", "/batch/any", ["not a message"], "Request body must be a JSON object"),
    ],
)
async def test_every_bad_request_is_an_extended_error(sandbox, method, path, body, message):
    assert await raw(sandbox, method, path, json=body) == extended(400, 4000, message)
    assert sandbox.messages("smsworks") == []


async def test_a_limit_may_be_written_as_a_json_float(sandbox):
    for _ in range(3):
        await raw(sandbox, "POST", "/message/send", json=GOOD)

    status, found = await raw(sandbox, "POST", "/messages", json={"limit": 2.0})

    assert (status, len(found)) == (200, 2)


async def test_an_unknown_batch_is_an_extended_404(sandbox):
    not_found = extended(404, 4040, "Batch not found")
    assert await raw(sandbox, "GET", "/batch/b1") == not_found
    assert await raw(sandbox, "DELETE", "/batches/schedule/b1") == not_found


async def test_the_key_and_secret_login_is_offered_and_works(sandbox):
    [login] = sandbox.logins("smsworks").values()
    async with smsgate.from_config(login) as gateway:
        receipt = await gateway.send(gateway.message("+447700900123", "Hi"))

    assert sandbox.logins("smsscheduler") == {}
    assert [sms.id for sms in sandbox.messages("smsworks")] == [receipt.message_id]


async def test_cancelling_what_is_not_scheduled_is_an_extended_error(sandbox):
    _, sent = await raw(sandbox, "POST", "/message/send", json=GOOD)
    _, batch = await raw(sandbox, "POST", "/batch/send", json={**GOOD, "destinations": [UK]})
    message_id, batch_id = sent["messageid"], batch["batchid"]

    assert await raw(sandbox, "DELETE", f"/messages/schedule/{message_id}") == extended(
        400, 4000, f"Message {message_id} is not scheduled"
    )
    assert await raw(sandbox, "DELETE", f"/batches/schedule/{batch_id}") == extended(
        400, 4000, f"Batch {batch_id} is not scheduled"
    )
    assert await raw(sandbox, "GET", "/messages/999") == extended(404, 4040, "Message not found")
    assert [sms.stage for sms in sandbox.messages("smsworks")] == [Stage.QUEUED, Stage.QUEUED]


@pytest.mark.parametrize("auth", ["JWT forged", "", "sandbox-token"])
async def test_a_call_without_a_valid_token_is_refused_with_4011(sandbox, auth):
    not_authenticated = extended(401, 4011, "Not authenticated")
    assert await raw(sandbox, "POST", "/message/send", json=GOOD, auth=auth) == not_authenticated
    assert await raw(sandbox, "GET", "/credits/balance", auth=auth) == not_authenticated
    assert sandbox.messages("smsworks") == []


async def test_a_bad_key_and_secret_are_refused_with_4011(sandbox):
    body = {"customerid": "sandbox", "key": "sandbox-key", "secret": "wrong"}
    assert await raw(sandbox, "POST", "/auth/token", json=body) == extended(
        401, 4011, "Not authenticated"
    )
    assert await raw(sandbox, "POST", "/auth/token", data=b"{") == extended(
        400, 4000, "Request body must be JSON"
    )


# --- 2. schedule dates ----------------------------------------------------------------------

SUMMER = datetime(2030, 7, 14, 17, 0, tzinfo=LONDON)  # BST, +01:00
WINTER = datetime(2030, 1, 14, 17, 0, tzinfo=LONDON)  # GMT, +00:00


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("2030-07-14T16:00:00.000Z", SUMMER),  # JSON of a JavaScript Date, the Node SDK's
        ("2030-07-14T17:00:00+01:00", SUMMER),  # smsgate's own form
        ("2030-07-14T17:00:00.0000000+01:00", SUMMER),  # C#: DateTimeOffset.ToString("o")
        ("2030-07-14T17:00:00", SUMMER),  # no offset: London's local time
        ("2030-01-14T17:00:00", WINTER),
        ("2030-07-14", datetime(2030, 7, 14, tzinfo=UTC)),  # a date alone is UTC
        ("Sun Jul 14 2030 17:00:00 GMT+0100 (BST)", SUMMER),  # the guide's example
        ("Sun Jul 14 2030 17:00:00 GMT+0100 (British Summer Time)", SUMMER),
        ("Sun 14 Jul 2030 16:00:00 UTC", SUMMER),  # the guide's Python: '%a %d %b %Y ... %Z'
        ("Sun 14 Jul 2030 17:00:00 ", SUMMER),  # the same with a naive datetime (%Z empty)
        ("Sun Jul 14 05:00:00 2030 PM", SUMMER),  # the guide's Java form, with AM/PM
        ("Sun Jul 14 17:00:00 2030", SUMMER),  # ... and without
        ("Sun, 14 Jul 2030 16:00:00 GMT", SUMMER),  # RFC 1123: Date.toUTCString()
        ("July 14, 2030 17:00:00", SUMMER),  # the guide's Node: new Date('October 14, ...')
        ("2030/07/14 17:00", SUMMER),
        ("07/14/2030 5:00 pm", SUMMER),  # month first, as JavaScript reads it
        ("14 Jul 2030 11:00:00 EST", SUMMER),  # US zones are known
    ],
)
async def test_the_guides_date_forms_are_scheduled_for_the_time_they_mean(sandbox, written, meant):
    status, answer = await raw(
        sandbox, "POST", "/message/schedule", json={**GOOD, "schedule": written}
    )

    assert (status, answer[0]["status"]) == (200, "SCHEDULED")
    [stored] = sandbox.messages("smsworks")
    assert (stored.send_at, stored.stage) == (meant, Stage.SCHEDULED)


@pytest.mark.parametrize(
    "written",
    [
        "Sun 14 Jul 2030 17:00:00 BST",  # Python's %Z for Europe/London in summer: Node refuses
        "20300714T170000Z",  # ISO basic format: not JavaScript's
        "2030-W28-7",
        "2030-13-01T10:00:00Z",
        "Jul 14 2030 25:00",
        "tomorrow",
        "",
        1909999999,
    ],
)
async def test_what_new_date_cannot_read_is_refused(sandbox, written):
    answer = await raw(sandbox, "POST", "/message/schedule", json={**GOOD, "schedule": written})

    assert answer == extended(400, 4000, "schedule must be a date")
    assert sandbox.messages("smsworks") == []


async def test_a_date_in_the_past_is_refused_and_one_a_moment_ago_is_sent_at_once(sandbox):
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    a_moment_ago = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    year_less = {**GOOD, "destinations": [UK], "schedule": "Jul 14 17:00"}  # 2001, as in Node

    refused = await raw(
        sandbox, "POST", "/message/schedule", json={**GOOD, "schedule": an_hour_ago}
    )
    refused_too = await raw(sandbox, "POST", "/batch/schedule", json=year_less)
    status, _ = await raw(
        sandbox, "POST", "/message/schedule", json={**GOOD, "schedule": a_moment_ago}
    )

    assert refused == refused_too == extended(400, 4000, "schedule must not be in the past")
    assert status == 200
    [stored] = sandbox.messages("smsworks")
    assert stored.stage is Stage.QUEUED


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        # A local time in the spring gap reads with the offset before it; one in the autumn
        # overlap is the earlier of the two, as ECMAScript says.
        ("2030-03-31T01:30:00", datetime(2030, 3, 31, 1, 30, tzinfo=UTC)),
        ("2030-10-27T01:30:00", datetime(2030, 10, 27, 0, 30, tzinfo=UTC)),
        ("2030-02-30T10:00:00Z", datetime(2030, 3, 2, 10, tzinfo=UTC)),  # rolls over
        ("Jul 14 30 17:00 GMT", datetime(2030, 7, 14, 17, tzinfo=UTC)),  # 2-digit year
        ("Jul 14 75 17:00 GMT", datetime(1975, 7, 14, 17, tzinfo=UTC)),
        ("Sun (a (nested) note) Jul 14 2030 17:00 GMT", datetime(2030, 7, 14, 17, tzinfo=UTC)),
        ("Jul 14 2030 17:00 GMT-05:30", datetime(2030, 7, 14, 22, 30, tzinfo=UTC)),
        ("Jul 14 2030 12:00 AM GMT", datetime(2030, 7, 14, tzinfo=UTC)),
        ("2030-07-14T24:00:00Z", datetime(2030, 7, 15, tzinfo=UTC)),
        ("Jul 14 2030 17:00:00.5 GMT", datetime(2030, 7, 14, 17, 0, 0, 500000, tzinfo=UTC)),
        ("2030-07-14T17:00+0200", datetime(2030, 7, 14, 15, tzinfo=UTC)),
        ("Jul 14 2030 17:: GMT", datetime(2030, 7, 14, 17, tzinfo=UTC)),
        ("2030-07-14t17:00:00.000z", datetime(2030, 7, 14, 17, tzinfo=UTC)),  # any case
        ("Jul 14 2030 17:00 GMT+1", datetime(2030, 7, 14, 16, tzinfo=UTC)),
        ("2030 Jul 14 17:00 GMT", datetime(2030, 7, 14, 17, tzinfo=UTC)),  # year first
    ],
)
def test_dates_are_read_as_javascript_reads_them(written, meant):
    read = read_js_date(written, LONDON)
    # (in UTC: Python never calls a time in a gap or an overlap equal to another zone's)
    assert read is not None
    assert read.astimezone(UTC) == meant


@pytest.mark.parametrize(
    "written",
    [
        "Sunday14 Jul 2030",  # a word against a number
        "14 Jul 2030 at 17:00",  # a word after a number
        "Jul 14 2030 13:00 PM",
        "Jul 14 2030 17:00 GMT+123456",
        "Jul 14 2030 17:00 GMT+2400",
        "Jul 14 2030 17:00) GMT",
        "1 2 3 4",
        "2030-07-14T17:00+25:00",  # an offset of a day or more
        "10:00 17:: Jul 14 2030",
        "Jul 14 2030 17:00 18: GMT",  # a time after a finished time
        "Jul 14 2030 17:00:00. GMT",
        "9999-12-31T24:00:00Z",  # past the last day Python can hold
        "Jul 14 2030 17 EST +0100",  # an offset comes after a time or UTC only
    ],
)
def test_what_javascript_calls_an_invalid_date_is_none(written):
    assert read_js_date(written, LONDON) is None


async def test_a_search_reads_its_dates_as_the_schedule_does(sandbox):
    await raw(sandbox, "POST", "/message/send", json=GOOD)
    ahead = (datetime.now(UTC) + timedelta(hours=1)).astimezone(timezone(timedelta(hours=1)))

    status, found = await raw(
        sandbox, "POST", "/messages", json={"to": ahead.strftime("%a %b %d %Y %H:%M:%S GMT+0100")}
    )

    assert (status, len(found)) == (200, 1)


# --- 3. endpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/messages/schedule"),
        ("POST", "/binary/send"),
        ("POST", "/otp/send"),
        ("POST", "/otp/verify"),
        ("GET", "/otp/123"),
    ],
)
async def test_what_the_sandbox_does_not_emulate_answers_501(sandbox, method, path):
    shown = path.replace("123", "{messageid}")
    assert await raw(sandbox, method, path, json={}) == extended(
        501, 5010, f"The sandbox does not emulate {method} {shown}"
    )
    assert sandbox.messages("smsworks") == []


async def test_an_unknown_path_or_method_answers_json(sandbox):
    assert await raw(sandbox, "GET", "/nothing/here") == extended(
        404, 4040, "Not found: GET /nothing/here"
    )
    assert await raw(sandbox, "GET", "/message/send") == extended(
        405, 4050, "GET is not allowed on /message/send"
    )
    async with smsgate.from_config(sandbox.config("smsworks")):
        pass


async def test_a_wrong_method_names_the_allowed_ones(sandbox):
    url = sandbox.base_url("smsworks") + "/messages/5"
    async with aiohttp.ClientSession() as session, session.put(url) as answer:
        assert (answer.status, answer.headers["Allow"]) == (405, "DELETE, GET, HEAD")


async def test_the_volume_counts_the_messages_sent_today(sandbox):
    sandbox.inject("smsworks", "5001")  # logged as REJECTED, never sent
    await raw(sandbox, "POST", "/message/send", json=GOOD)
    await raw(sandbox, "POST", "/message/send", json=GOOD)
    await raw(sandbox, "POST", "/batch/send", json={**GOOD, "destinations": [UK, FR]})
    await raw(sandbox, "POST", "/message/schedule", json={**GOOD, "schedule": LATER})

    assert await raw(sandbox, "GET", "/messages/volume") == (200, {"volume": 3})


async def test_failed_and_inbox_searches(tmp_path):
    async with Sandbox(seed=3, failure_rate=0.5, send_delay=0, deliver_delay=0) as sandbox:
        for _ in range(8):
            await raw(sandbox, "POST", "/message/send", json=GOOD)
        await sandbox.settle()
        _, failed = await raw(sandbox, "POST", "/messages/failed", json={})
        _, inbox = await raw(sandbox, "POST", "/messages/inbox", json={})
        bad = await raw(sandbox, "POST", "/messages/failed", json={"skip": -1})

    expected = [s.id for s in sandbox.messages("smsworks") if s.failed]
    assert 0 < len(expected) < 8
    assert [m["messageid"] for m in failed] == expected
    assert inbox == []
    assert bad == extended(400, 4000, "skip must be a whole number")


async def test_a_final_message_can_be_deleted_and_a_scheduled_one_cannot(sandbox):
    _, sent = await raw(sandbox, "POST", "/message/send", json=GOOD)
    _, [later] = await raw(sandbox, "POST", "/message/schedule", json={**GOOD, "schedule": LATER})
    sent_id, later_id = sent["messageid"], later["messageid"]
    early = await raw(sandbox, "DELETE", f"/messages/{later_id}")
    await _until_final(sandbox, sent_id)

    deleted = await raw(sandbox, "DELETE", f"/messages/{sent_id}")

    assert early == extended(
        400, 4000, f"Message {later_id} is not final yet; cancel it or wait for it"
    )
    assert deleted == (200, {"messageid": sent_id, "status": "DELETED"})
    assert await raw(sandbox, "GET", f"/messages/{sent_id}") == extended(
        404, 4040, "Message not found"
    )
    _, listed = await raw(sandbox, "POST", "/messages", json={})
    assert [m["messageid"] for m in listed] == [later_id]
    assert sandbox.messages("smsworks")[1].stage is Stage.SCHEDULED  # never cancelled


async def _until_final(sandbox, message_id):
    for _ in range(100):
        _, logged = await raw(sandbox, "GET", f"/messages/{message_id}")
        if logged["status"] == "DELIVERED":
            return
        await sandbox.settle()
        await asyncio.sleep(0.01)
    raise AssertionError(f"message {message_id} never became final")


async def test_the_utility_endpoints(sandbox):
    assert await raw(sandbox, "GET", "/utils/test") == (200, {"message": "sandbox"})
    assert await raw(sandbox, "GET", "/utils/errors/4021") == extended(
        402, 4021, "Insufficient credit to send message"
    )
    assert await raw(sandbox, "GET", "/utils/errors/5002") == extended(
        503, 5002, "Service database error. Please try again.", permanent=False
    )
    assert await raw(sandbox, "GET", "/utils/errors/42") == extended(
        404, 4040, "No error has the code 42"
    )
    long = "4" * 5000  # beyond what int() reads
    assert await raw(sandbox, "GET", f"/utils/errors/{long}") == extended(
        404, 4040, f"No error has the code {long}"
    )


async def test_a_batch_takes_5000_messages_of_640_characters_and_no_more(sandbox):
    def body(data):  # a stream: aiohttp warns about a body of bytes this large
        return io.BytesIO(json.dumps(data).encode())

    item = {**GOOD, "content": "x" * 640}
    full = await raw(sandbox, "POST", "/batch/any", data=body([item] * 5000))
    over = await raw(sandbox, "POST", "/batch/any", data=body([item] * 5001))
    over_too = await raw(sandbox, "POST", "/batch/send", json={**GOOD, "destinations": [UK] * 5001})

    assert full[0] == 201
    assert (
        over == over_too == extended(400, 4000, "Batches may contain up to 5000 messages at a time")
    )
    assert len(sandbox.messages("smsworks")) == 5000


# --- 4. credits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "destination", "parts", "credits"),
    [
        ("x" * 160, UK, 1, 1),
        ("x" * 161, UK, 2, 2),  # then 153 a part, as the spec says
        ("x" * 306, UK, 2, 2),
        ("x" * 307, UK, 3, 3),
        ("x" * 640, UK, 5, 5),
        ("€" * 80, UK, 1, 1),  # an extension character takes two units
        ("€" * 81, UK, 2, 2),
        ("中" * 70, UK, 1, 1),  # outside GSM 03.38: 70 in one
        ("中" * 71, UK, 2, 2),  # then 67 a part
        ("中" * 134, UK, 2, 2),
        ("中" * 135, UK, 3, 3),
        ("😀" * 35, UK, 1, 1),  # two UTF-16 units each
        ("😀" * 36, UK, 2, 2),
        ("x" * 161, FR, 2, 4),  # double outside the UK
    ],
)
async def test_credits_are_charged_per_part_by_the_documents(
    sandbox, content, destination, parts, credits
):
    body = {**GOOD, "content": content, "destination": destination}
    status, sent = await raw(sandbox, "POST", "/message/send", json=body)

    assert (status, sent["messageparts"], sent["creditsUsed"]) == (201, parts, credits)
    assert sandbox.credits("smsworks") == 1_000_000 - credits
    assert sandbox.messages("smsworks")[0].credits == credits


async def test_failed_messages_are_refunded_as_the_guide_says():
    async with Sandbox(seed=7, failure_rate=1, send_delay=0, deliver_delay=0) as sandbox:
        for destination in [UK, FR] * 12:
            await raw(sandbox, "POST", "/message/send", json={**GOOD, "destination": destination})
        await sandbox.settle()
        logged = {
            m.id: (await raw(sandbox, "GET", f"/messages/{m.id}"))[1]
            for m in sandbox.messages("smsworks")
        }

    kept = 0
    for sms in sandbox.messages("smsworks"):
        word, uk = logged[sms.id]["status"], sms.to.startswith("+44")
        if word == "REJECTED":  # never charged, at home or abroad
            assert logged[sms.id]["credits"] == 0
        elif not uk:  # UNDELIVERED or EXPIRED abroad: paid for
            assert logged[sms.id]["credits"] == 2
            kept += 2
    words = {(logged[s.id]["status"], s.to[:3]) for s in sandbox.messages("smsworks")}
    assert {("REJECTED", "+33"), ("REJECTED", "+44"), ("UNDELIVERED", "+33")} <= words
    assert sandbox.credits("smsworks") == 1_000_000 - kept


@given(st.text(alphabet=st.sampled_from("ab €[{中😀\n"), max_size=400))
def test_the_sandbox_counts_parts_as_the_library_does_but_for_split_pairs(text):
    charged, sent = sms_parts(text), segments(text).parts
    if not any(c in text for c in "€[{😀"):
        assert charged == sent
    else:  # the library never splits an escape or surrogate pair, so it may need one more
        assert charged <= sent <= charged + 1


# --- 5. destinations ------------------------------------------------------------------------


@pytest.mark.parametrize("destination", ["00447700900123", "0033612345678", "+447700900123"])
async def test_a_destination_with_00_or_plus_is_refused(sandbox, destination):
    answer = await raw(sandbox, "POST", "/message/send", json={**GOOD, "destination": destination})

    assert answer == extended(400, 4004, "Invalid destination number")
    assert sandbox.messages("smsworks") == []


async def test_the_gateway_sends_a_batch_of_several_megabytes(sandbox):
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        assert isinstance(gateway, smsgate.BatchingGateway)
        messages = [gateway.message(f"+44770090{i:04d}", "x" * 640) for i in range(5000)]
        receipts = await gateway.send_chunk(messages, None)

    assert len(receipts) == 5000
    assert [sms.to for sms in sandbox.messages("smsworks")] == [m.to for m in messages]
