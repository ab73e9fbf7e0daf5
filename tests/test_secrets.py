"""Secrets never leak, in any form a server may echo them and through any path: the error's
text and attributes, its chained cause and context, the gateway's repr, the log."""

import asyncio
import base64
import json
import logging
import os
import sys
import threading
import urllib.parse

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

import smsgate
from smsgate import AuthenticationError, ConfigurationError, Message, SmsGateError
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.providers.smsworks import SmsWorksGateway
from smsgate.redaction import MIN_SECRET, REDACTED, Redactor
from tests.support.leaks import leaks
from tests.support.servers import RawServer, read_request

JWT = "JWT eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzM2NyM3QifQ.s3cr3tSignatureXYZ_0123456789"
BARE = JWT.removeprefix("JWT ")
SCHEDULER_TOKEN = "12|Ab/Cd+Ef/SECRET0099"
SMSWORKS_SECRET = "secr/et+s3cr3t"


def echoes(secret: str) -> dict[str, str]:
    """Every form in which a server may echo ``secret`` (or its meaningful part)."""
    part = secret.rsplit("|", 1)[-1].removeprefix("JWT ")
    return {
        "raw": secret,
        "part": part,
        "json": json.dumps(part)[1:-1],
        "json with escaped slashes": json.dumps(part)[1:-1].replace("/", "\\/"),
        "json \\u escapes": "".join(f"\\u{ord(c):04x}" for c in part),
        "url-encoded": urllib.parse.quote(part, safe=""),
        "url-encoded, +": urllib.parse.quote_plus(part),
        "base64": base64.b64encode(part.encode()).decode(),
    }


# --- the redaction rule ----------------------------------------------------------------------


@pytest.mark.parametrize("secret", [JWT, SCHEDULER_TOKEN, SMSWORKS_SECRET])
def test_every_echo_form_is_blanked(secret):
    redactor = Redactor([secret])
    for form, echo in echoes(secret).items():
        for carrier in (f"token {echo} was refused", f'{{"t":"{echo}"}}', echo):
            assert redactor.text(carrier).count(REDACTED) >= 1, form
            assert echo not in redactor.text(carrier), form
            assert echo.encode() not in redactor.bytes(carrier.encode()), form


def test_a_basic_header_of_key_and_secret_is_blanked():
    basic = base64.b64encode(b"key-123:" + SMSWORKS_SECRET.encode()).decode()
    redactor = Redactor(["key-123", SMSWORKS_SECRET], pairs=[("key-123", SMSWORKS_SECRET)])
    assert redactor.text(f"Authorization: Basic {basic}") == f"Authorization: Basic {REDACTED}"


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=["Cs"]),
        min_size=MIN_SECRET,
        max_size=40,
    ),
    before=st.text(max_size=20),
    after=st.text(max_size=20),
    form=st.sampled_from(
        [
            "raw",
            "json",
            "json with escaped slashes",
            "json \\u escapes",
            "url-encoded",
            "url-encoded, +",
            "base64",
        ]
    ),
)
def test_any_secret_in_any_form_anywhere_is_blanked(secret, before, after, form):
    echo = echoes(secret)[form] if "|" not in secret and not secret.startswith("JWT ") else secret
    text = before + echo + after
    assert echo not in Redactor([secret]).text(text)


# Bytes around a form: anything but NUL, which makes them read as UTF-16 or UTF-32; the
# escapes (\\ % +) often, which send them through the escaped forms' own search too.
AROUND = st.text(
    alphabet=st.characters(min_codepoint=1, exclude_categories=["Cs"]) | st.sampled_from("\\%+ "),
    max_size=60,
).map(str.encode)


@settings(max_examples=150, deadline=None)  # each example compiles a Redactor: ~20 ms
@given(
    secrets=st.lists(
        st.text(
            alphabet=st.characters(min_codepoint=33, exclude_categories=["Cs"]),
            min_size=MIN_SECRET,
            max_size=30,
        ),
        min_size=1,
        max_size=3,
    ),
    before=AROUND,
    after=AROUND,
    pick=st.integers(0, 10_000),
    insert=st.booleans(),
)
def test_bytes_are_blanked_as_a_replace_of_each_literal_form_blanks_them(
    secrets, before, after, pick, insert
):
    redactor = Redactor(secrets)
    forms = [form.encode("utf-8", "surrogatepass") for form in redactor.literal]
    form = forms[pick % len(forms)]
    data = before + form + after if insert else before + after
    expected = data
    for each in forms:
        expected = expected.replace(each, REDACTED.encode())

    blanked = redactor.bytes(data)

    assert form not in blanked
    if not any(escape in data for escape in (b"\\", b"%", b"+")):
        assert blanked == expected  # with no escape, the literal forms are all there is


def test_short_values_are_left_alone():
    assert Redactor(["k", "abc"]).text("k abc") == "k abc"


# --- through the gateways ----------------------------------------------------------------


def echoing(body_for):
    """An application that answers 401 with a body echoing the request's credentials."""

    async def answer(request):
        text = body_for(request.headers.get("Authorization", ""), await request.read())
        return web.Response(status=401, text=text, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


@pytest.mark.parametrize("form", list(echoes(JWT)))
async def test_the_sms_works_token_echoed_in_any_form_never_leaks(web_server, caplog, form):
    echo = echoes(JWT)[form]
    # The echo goes in the body as a server writes it, not escaped again.
    server = await web_server(echoing(lambda auth, body: f'{{"message": "bad {echo}"}}'))
    caplog.set_level(logging.DEBUG, logger="smsgate")
    gateway = SmsWorksGateway(token=JWT, sender="Acme", base_url=str(server.make_url("/v1")))
    with pytest.raises(AuthenticationError) as caught:
        await gateway.send(Message("+447700900123", "Hi"))
    await gateway.aclose()
    for fragment in ("s3cr3tSignatureXYZ", BARE[:20]):
        assert leaks(fragment, caught.value, gateway, caplog.text) == []


async def test_a_fetched_token_echoed_without_its_scheme_never_leaks(web_server, caplog):
    issued = "JWT eyJhbGciOiJIUzI1NiJ9.eyJpc3N1ZWQiOnRydWV9.issuedS3cr3tSignature"

    async def token(request):
        return web.json_response({"token": issued})

    async def refuse(request):
        bare = request.headers["Authorization"].removeprefix("JWT ")
        return web.json_response({"message": f"token {bare} revoked"}, status=401)

    app = web.Application()
    app.router.add_post("/v1/auth/token", token)
    app.router.add_post("/v1/message/send", refuse)
    server = await web_server(app)
    caplog.set_level(logging.DEBUG, logger="smsgate")
    gateway = SmsWorksGateway(
        customer_id="c-1",
        key="key-123",
        secret=SMSWORKS_SECRET,
        sender="Acme",
        base_url=str(server.make_url("/v1")),
    )
    with pytest.raises(AuthenticationError) as caught:
        await gateway.send(Message("+447700900123", "Hi"))
    await gateway.aclose()
    assert leaks("issuedS3cr3t", caught.value, gateway, caplog.text) == []


@pytest.mark.parametrize("form", list(echoes(SCHEDULER_TOKEN)))
async def test_an_sms_scheduler_token_echoed_in_any_form_never_leaks(web_server, caplog, form):
    echo = echoes(SCHEDULER_TOKEN)[form]
    server = await web_server(echoing(lambda auth, body: f'{{"message": "{echo}"}}'))
    caplog.set_level(logging.DEBUG, logger="smsgate")
    gateway = SmsSchedulerGateway(
        token=SCHEDULER_TOKEN, sender_id=1, base_url=str(server.make_url("/api/v1"))
    )
    with pytest.raises(SmsGateError) as caught:
        await gateway.send(Message("+447700900123", "Hi"))
    await gateway.aclose()
    assert leaks("SECRET0099", caught.value, gateway, caplog.text) == []
    assert leaks("Ab/Cd", caught.value, gateway, caplog.text) == []


async def test_a_malformed_answer_chains_no_cause_that_holds_the_header(caplog):
    async def malformed(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 abc nonsense\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()

    caplog.set_level(logging.DEBUG, logger="smsgate")
    async with RawServer(malformed) as server:
        gateway = SmsWorksGateway(token=JWT, sender="Acme", base_url=server.url + "/v1")
        with pytest.raises(SmsGateError) as caught:
            await gateway.send(Message("+447700900123", "Hi"))
        await gateway.aclose()
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None
    assert leaks("s3cr3tSignature", error, gateway, caplog.text) == []


# --- configuration that would repeat a secret -------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    ["https://user:p4ssw0rd-SECRET@api.example.test/v1", "http://p4ssw0rd-SECRET@127.0.0.1/x"],
)
def test_a_base_url_with_credentials_is_refused_without_repeating_them(base_url):
    with pytest.raises(ConfigurationError, match="must not hold a user name or password") as c:
        smsgate.connect("smsworks", token=JWT, base_url=base_url)
    assert "p4ssw0rd" not in str(c.value)


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"provider": "smsworks", "token": JWT, "sender": JWT}, "sender: use 3 to 11"),
        ({"provider": "fake", "default_region": JWT}, "default_region: must be a two-letter"),
        ({"provider": JWT}, "provider: unknown"),
        (
            {"provider": "routing", "providers": [{"provider": "fake"}], "routes": {JWT: "fake"}},
            "routes: regions must be",
        ),
        (
            {"provider": "routing", "providers": [{"provider": "fake"}], "routes": {"FR": JWT}},
            "routes: each region must name one of the providers",
        ),
    ],
)
def test_configuration_errors_never_repeat_the_values_given(config, problem):
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_config(config)
    assert problem in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert "eyJ" not in str(caught.value)


@pytest.mark.parametrize("form", ["raw", "part", "json with escaped slashes", "url-encoded"])
async def test_the_command_line_never_prints_a_token_a_server_echoed(web_server, form):
    echo = echoes(SCHEDULER_TOKEN)[form]
    server = await web_server(echoing(lambda auth, body: f'{{"message": "{echo}"}}'))
    environment = {
        **os.environ,
        "SMSGATE_PROVIDER": "smsscheduler",
        "SMSGATE_TOKEN": SCHEDULER_TOKEN,
        "SMSGATE_SENDER_ID": "1",
        "SMSGATE_BASE_URL": str(server.make_url("/api/v1")),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smsgate",
        "send",
        "+447700900123",
        "Hi",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert b"smsgate: error:" in err
    for fragment in (b"SECRET0099", b"Ab/Cd", b"Ab%2FCd", b"Ab\\/Cd"):
        assert fragment not in out + err


# --- what a second look found ----------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_body_in_utf16_or_utf32_is_blanked_too(encoding):
    body = json.dumps({"message": f"token refused: Bearer {SCHEDULER_TOKEN}"}).encode(encoding)
    cleaned = Redactor([SCHEDULER_TOKEN]).bytes(body).decode(encoding)
    assert "SECRET0099" not in cleaned
    assert json.loads(cleaned)["message"] == f"token refused: Bearer {REDACTED}"


@pytest.mark.parametrize("offset", [0, 1, 2, 5])
def test_a_secret_inside_any_longer_base64_is_blanked(offset):
    wrapped = "x" * offset + f'{{"token": "{SCHEDULER_TOKEN}"}}'
    coded = base64.b64encode(wrapped.encode()).decode()
    assert "SECRET" not in base64.b64decode(
        Redactor([SCHEDULER_TOKEN]).text(coded).replace(REDACTED, "AAAA") + "==="
    ).decode("latin-1")


def test_the_bearer_header_of_an_sms_scheduler_token_is_blanked_in_base64():
    gateway = SmsSchedulerGateway(token=SCHEDULER_TOKEN, sender_id=1)
    header = base64.b64encode(f"Bearer {SCHEDULER_TOKEN}".encode()).decode()
    assert gateway.redactor.text(header) == REDACTED


def test_a_plus_read_as_a_space_is_blanked():
    assert "SECRET0099" not in Redactor([SCHEDULER_TOKEN]).text("Ab/Cd Ef/SECRET0099")


def test_a_secret_of_backslashes_is_blanked_without_exponential_work():
    secret = "\\" * 22 + "x"
    body = "\\" * 80 + "y" + "\\u005c" * 22 + "x"
    result = []
    worker = threading.Thread(target=lambda: result.append(Redactor([secret]).text(body)))
    worker.start()
    worker.join(10)  # bounded: a regex that backtracks would still be running
    assert result
    assert result[0].endswith(REDACTED)


def test_a_base_url_with_a_query_is_refused():
    with pytest.raises(ConfigurationError, match="no query"):
        smsgate.connect("smsworks", token=JWT, base_url="https://api.example.test/v1?x=1")


def test_credentials_pasted_with_a_line_break_are_read_without_it():
    gateway = SmsWorksGateway(token=JWT + "\n", sender="Acme")
    assert gateway.secrets() == [JWT]
    with pytest.raises(ConfigurationError, match="sender: must be text"):
        SmsWorksGateway(token=JWT, sender=447700900123)  # type: ignore[arg-type]
