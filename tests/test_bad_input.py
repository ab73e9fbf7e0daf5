"""Bad configuration is a typed error before any request, never a traceback; the command line
exits 2 with one line."""

import pytest
from aiohttp import web

import smsgate
from smsgate import ConfigurationError, Message
from smsgate.cli import main
from smsgate.cli._commands import USAGE


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
