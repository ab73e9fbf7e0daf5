"""Bad configuration is a typed error before any request, never a traceback; the command line
exits 2 with one line."""

import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone

import pytest
from aiohttp import web

import smsgate
from smsgate import ConfigurationError, Message, ValidationError
from smsgate.cli import main
from smsgate.cli._common import USAGE
from smsgate.model import check_send_time
from smsgate.providers.smsscheduler import SmsSchedulerGateway, delivery_date
from smsgate.providers.smsworks import SmsWorksGateway, message_payload, schedule_time
from smsgate.routing import RoutingGateway
from smsgate.testing import FakeGateway


@pytest.fixture
async def counting(web_server):
    """A loopback server that counts the requests it is sent."""
    seen = []

    async def anything(request):
        seen.append(request.path)
        return web.json_response({"messageid": "1", "status": "SENT"}, status=201)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    server = await web_server(app)
    return str(server.make_url("")), seen


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"provider": "smsworks", "token": "JWT x", "base_url": 5}, "base_url: must start with"),
        ({"provider": "smsworks", "token": "JWT x", "session": "x"}, "option 'session' must be"),
        ({"provider": "smsworks", "token": ["JWT x"]}, "option 'token' must be str"),
        ({"provider": "smsworks", "token": "JWT x", "timeout": "soon"}, "option 'timeout' must be"),
        ({"provider": "smsworks", "token": ""}, "token: must be non-empty text"),
        ({"provider": "smsworks", "token": "   "}, "token: must be non-empty text"),
        (
            {"provider": "smsworks", "customer_id": "c", "key": " ", "secret": "s3cr3t-1"},
            "key: must be non-empty text",
        ),
        ({"provider": "smsworks", "token": "JWT x", "base_url": ""}, "base_url: must be a URL"),
        ({"provider": "smsworks", "token": "JWT x", "base_url": "  "}, "base_url: must be a URL"),
        ({"provider": "smsworks", "token": "JWT x", "base_url": "ftp://x"}, "must start with"),
        ({"provider": "smsworks", "token": "JWT x", "base_url": "http://h:99999"}, "not a valid"),
        ({"provider": "smsscheduler", "token": "t", "sender_id": "twelve"}, "'sender_id' must"),
    ],
)
def test_wrong_settings_are_configuration_errors(config, problem):
    with pytest.raises(ConfigurationError, match=problem) as caught:
        smsgate.from_config(config)
    assert "Traceback" not in str(caught.value)


def test_numbers_written_for_text_settings_are_read_as_their_digits():
    # A TOML file writes an account id or a numeric sender as a number.
    gateway = smsgate.from_config(
        {
            "provider": "smsworks",
            "customer_id": 1234567,
            "key": "k-123456",
            "secret": "s-123456",
            "sender": 447700900123,
        }
    )
    assert isinstance(gateway, SmsWorksGateway)
    assert gateway.sender == "447700900123"


async def test_nothing_is_sent_when_the_configuration_is_refused(counting):
    url, seen = counting
    for config in (
        {"provider": "smsworks", "token": "", "base_url": url},
        {"provider": "smsworks", "token": "JWT x", "session": "x", "base_url": url},
    ):
        with pytest.raises(ConfigurationError):
            async with smsgate.from_config(config) as gateway:
                await gateway.send(Message("+447700900123", "Hi"))
    assert seen == []


def test_an_empty_base_url_from_the_environment_never_means_production(capsys, monkeypatch):
    monkeypatch.setenv("SMSGATE_PROVIDER", "smsworks")
    monkeypatch.setenv("SMSGATE_TOKEN", "JWT x")
    monkeypatch.setenv("SMSGATE_BASE_URL", "")
    code = main(["send", "+447700900123", "Hi"])
    err = capsys.readouterr().err
    assert code == USAGE
    assert err.strip().count("\n") == 0  # one line
    assert err.startswith("smsgate: error: SMSGATE_BASE_URL: must be a URL")  # names the variable


def test_the_sandbox_refuses_a_port_out_of_range(capsys):
    assert main(["sandbox", "--port", "99999"]) == USAGE
    assert "99999" in capsys.readouterr().err


# --- times ------------------------------------------------------------------------------------


def test_a_time_past_the_year_9999_is_a_validation_error():
    at = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=12)))
    with pytest.raises(ValidationError, match="past the year 9999 in UTC"):
        check_send_time(at)


@pytest.mark.parametrize(
    ("wall", "problem"),
    [
        # Europe/Paris: clocks go forward at 02:00 on 29 March 2026, back at 03:00 on 25 Oct.
        (datetime(2027, 3, 28, 2, 30), "does not exist in Europe/Paris (clocks go forward"),
        (datetime(2027, 10, 31, 2, 30), "happens twice in Europe/Paris (clocks go back"),
    ],
)
def test_a_wall_time_that_does_not_exist_or_happens_twice_is_refused_and_says_which(wall, problem):
    zone = zoneinfo.ZoneInfo("Europe/Paris")
    with pytest.raises(ValidationError, match=re.escape(problem)):
        delivery_date(wall.replace(tzinfo=zone), zone)


def test_sms_scheduler_refuses_a_far_date_with_a_validation_error():
    at = datetime(9999, 12, 31, 22, 0, tzinfo=UTC)  # 9999-12-31 22:00 UTC is year 10000 there
    with pytest.raises(ValidationError, match="cannot be written as a date in Pacific/Kiritimati"):
        delivery_date(at, zoneinfo.ZoneInfo("Pacific/Kiritimati"))


async def test_scheduling_through_sms_scheduler_that_far_sends_nothing(counting):
    url, seen = counting
    async with SmsSchedulerGateway(
        token="t", sender_id=1, timezone="Pacific/Kiritimati", base_url=url
    ) as gateway:
        with pytest.raises(ValidationError):
            await gateway.schedule(
                Message("+447700900123", "Hi"), datetime(9999, 12, 31, 22, 0, tzinfo=UTC)
            )
    assert seen == []


def test_an_offset_with_seconds_is_sent_to_the_sms_works_in_utc():
    at = datetime(2027, 1, 5, 9, 0, 0, tzinfo=timezone(timedelta(seconds=30)))
    assert schedule_time(at) == "2027-01-05T08:59:30+00:00"


# --- text no phone can show -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hi\x00", "holds a control character (U+0000) at character 3"),
        ("Bell\x07", "holds a control character (U+0007)"),
        ("Form\x0cfeed", "holds a control character (U+000C)"),
        ("DEL\x7f", "holds a control character (U+007F)"),
        ("C1\x85", "holds a control character (U+0085)"),
        ("caf\udce9", "holds a lone surrogate at character 4 (U+DCE9)"),
        ("\u200b\u200c\u200d", "has no visible character"),
        ("\ufeff \u2060", "has no visible character"),
        ("\u202e\u202c", "has no visible character"),
        ("pay \u202eevil.exe", "leaves a text-direction control open"),
        ("\u2067isolate", "leaves a text-direction control open"),
        ("\u2066a\u202c", "leaves a text-direction control open"),  # PDF ends no isolate
        ("\u202bhi\u2069", "leaves a text-direction control open"),  # nor PDI an embedding
    ],
)
def test_text_no_phone_can_show_is_refused_before_any_request(text, problem):
    with pytest.raises(ValidationError, match=re.escape(problem)) as caught:
        Message("+447700900123", text)
    assert caught.value.field == "text"


@pytest.mark.parametrize(
    "text",
    [
        "Line one\nline two",
        "Tab\tseparated",
        "CR LF\r\n",
        "Café ☕ 🎉 👩\u200d💻",
        "\u202ereversed\u202c ok",
        "\u2068isolated\u2069 ok",
        "a\u200db (joined)",
        "x\u202c a stray end is ignored",
        "\u2067\u202bopened inside an isolate\u2069 ends with it",
        "\u202bends with its paragraph\nnext",
        "שָׁלוֹם\u200f and مرحبا\u061c",
    ],
)
def test_text_a_phone_shows_is_accepted(text):
    assert Message("+447700900123", text).text == text


async def test_refused_text_sends_nothing(counting):
    url, seen = counting
    async with smsgate.connect("smsworks", token="JWT x", base_url=url) as gateway:
        summary = await smsgate.send_all(
            gateway,
            [{"to": "+447700900123", "text": "Hi\x00"}, {"to": "+447700900124", "text": "\u200b"}],
        )
    assert summary.failed == 2
    assert seen == []


# --- options that would be silently ignored ---------------------------------------------------


def test_a_misspelt_provider_in_provider_options_is_refused_with_a_suggestion():
    with pytest.raises(ValidationError, match="'smswork' is no provider; did you mean 'smsworks'"):
        Message("+447700900123", "Hi", provider_options={"smswork": {"flash": True}})
    # A name far from every provider may be a gateway's own name: allowed.
    Message("+447700900123", "Hi", provider_options={"primary": {}})


def test_a_negative_ttl_is_refused():
    message = Message("+447700900123", "Hi", provider_options={"smsworks": {"ttl": -5}})
    with pytest.raises(ValidationError, match="'ttl' is minutes, at least 1"):
        message_payload(message, "Acme")


@pytest.mark.parametrize("cooldown", [[1], -5, "soon", True])
def test_a_bad_routing_cooldown_is_refused(cooldown):
    with pytest.raises(ConfigurationError, match="cooldown: must be a number of seconds"):
        RoutingGateway(providers=[FakeGateway()], cooldown=cooldown)


def test_an_unknown_option_gets_a_suggestion():
    with pytest.raises(ConfigurationError, match="'sendr' \\(did you mean 'sender'\\?\\)"):
        smsgate.connect("smsworks", token="JWT x", sendr="Acme")
