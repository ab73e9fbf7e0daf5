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
from smsgate.cli._commands import USAGE
from smsgate.model import check_send_time
from smsgate.providers.smsscheduler import SmsSchedulerGateway, delivery_date
from smsgate.providers.smsworks import schedule_time


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
    assert "base_url: must be a URL" in err


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
