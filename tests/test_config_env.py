"""Which ``SMSGATE_*`` variables configuration reads, passes over or refuses: another
provider's options are passed over (a DEBUG line), reserved names are never options, a name
no provider takes is an error naming the variable, and a provider that needs one of several
sets of credentials says which variables to set. The same from `smsgate.from_env` and from
the command line (one line, exit code 2, nothing sent)."""

import json
import logging
import re
from pathlib import Path

import pytest

import smsgate
from smsgate import ConfigurationError
from smsgate.cli._common import OK, USAGE
from smsgate.config import RESERVED, from_sources, is_reserved, provider_option_info
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.registry import register_provider, unregister_provider
from smsgate.testing import FakeGateway
from tests.support.cli import run

ROOT = Path(__file__).parent.parent
SMSWORKS = {"SMSGATE_PROVIDER": "smsworks", "SMSGATE_TOKEN": "JWT s3cr3t-token"}
CREDENTIALS = (
    "smsworks needs credentials: token, or all of customer_id, key and secret; "
    "set SMSGATE_TOKEN, or set SMSGATE_CUSTOMER_ID, SMSGATE_KEY and SMSGATE_SECRET"
)


pytestmark = pytest.mark.usefixtures("no_smsgate_environment")


# --- a name no provider takes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "error"),
    [
        (
            "SMSGATE_BASE_ULR",
            "SMSGATE_BASE_ULR: no provider takes an option 'base_ulr' "
            "(did you mean SMSGATE_BASE_URL?)",
        ),
        (
            "SMSGATE_TIMOUT",
            "SMSGATE_TIMOUT: no provider takes an option 'timout' (did you mean SMSGATE_TIMEOUT?)",
        ),
        ("SMSGATE_COLOUR", "SMSGATE_COLOUR: no provider takes an option 'colour'"),
    ],
)
def test_a_variable_no_provider_takes_is_an_error_with_a_guess(variable, error):
    environ = SMSWORKS | {variable: "http://127.0.0.1:9/s3cr3t-value"}

    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env(environ)

    assert str(caught.value) == error
    assert "s3cr3t" not in str(caught.value)


def test_a_misspelt_token_variable_is_named_before_the_missing_token():
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env({"SMSGATE_PROVIDER": "smsworks", "SMSGATE_TOKN": "JWT s3cr3t"})
    assert str(caught.value) == (
        "SMSGATE_TOKN: no provider takes an option 'tokn' (did you mean SMSGATE_TOKEN?)"
    )


def test_every_variable_no_provider_takes_is_named_on_one_line():
    environ = SMSWORKS | {"SMSGATE_TOKN": "x", "SMSGATE_BASE_ULR": "y"}
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env(environ)
    assert str(caught.value) == (
        "SMSGATE_BASE_ULR: no provider takes an option 'base_ulr' (did you mean "
        "SMSGATE_BASE_URL?); SMSGATE_TOKN: no provider takes an option 'tokn' (did you mean "
        "SMSGATE_TOKEN?)"
    )


def test_the_guess_is_among_the_chosen_providers_options():
    environ = {"SMSGATE_PROVIDER": "smsscheduler", "SMSGATE_TOKEN": "t", "SMSGATE_SENDR": "x"}
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env(environ)
    assert str(caught.value) == (
        "SMSGATE_SENDR: no provider takes an option 'sendr' (did you mean SMSGATE_SENDERS?)"
    )


def test_the_guess_is_a_variable_of_the_prefix_read():
    environ = {"SMS_PROVIDER": "smsworks", "SMS_TOKEN": "t", "SMS_BASE_ULR": "x"}
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env(environ, prefix="SMS_")
    assert str(caught.value) == (
        "SMS_BASE_ULR: no provider takes an option 'base_ulr' (did you mean SMS_BASE_URL?)"
    )


def test_from_sources_refuses_a_variable_no_provider_takes():
    config = {"provider": "fake", "colour": "red"}
    with pytest.raises(ConfigurationError) as caught:
        from_sources(config, variables={"colour": "APP_COLOUR"})
    assert str(caught.value) == "APP_COLOUR: no provider takes an option 'colour'"


def test_a_provider_that_takes_any_option_is_given_every_variable():
    register_provider("takes-any", lambda **options: FakeGateway(name=str(options)))
    try:
        gateway = smsgate.from_env({"SMSGATE_PROVIDER": "takes-any", "SMSGATE_COLOUR": "red"})
    finally:
        unregister_provider("takes-any")
    assert gateway.name == "{'colour': 'red'}"


def test_the_command_line_refuses_a_misspelt_variable_and_sends_nothing(
    capsys, monkeypatch, mock_http
):
    for name, value in (SMSWORKS | {"SMSGATE_BASE_ULR": "http://127.0.0.1:9/v1"}).items():
        monkeypatch.setenv(name, value)

    code, out, err = run(capsys, "send", "+447700900123", "Hi")

    assert (code, out) == (USAGE, "")
    assert err == (
        "smsgate: error: SMSGATE_BASE_ULR: no provider takes an option 'base_ulr' "
        "(did you mean SMSGATE_BASE_URL?)\n"
    )
    assert mock_http.requests == {}


def test_the_command_line_refuses_a_misspelt_variable_in_json(capsys, monkeypatch):
    monkeypatch.setenv("SMSGATE_TOKN", "JWT s3cr3t")

    code, out, err = run(capsys, "--json", "-p", "smsworks", "send", "+447700900123", "Hi")

    assert (code, out) == (USAGE, "")
    assert json.loads(err) == {
        "error": "SMSGATE_TOKN: no provider takes an option 'tokn' (did you mean SMSGATE_TOKEN?)",
        "exit_code": USAGE,
        "kind": "ConfigurationError",
    }


# --- another provider's options ------------------------------------------------------------


def test_the_sandbox_variables_of_one_provider_are_passed_over_for_another_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="smsgate.config")
    # What `smsgate sandbox --env smsworks` exports, with the provider switched.
    environ = {
        "SMSGATE_PROVIDER": "smsscheduler",
        "SMSGATE_BASE_URL": "http://127.0.0.1:8025/smsscheduler/api/v1",
        "SMSGATE_TOKEN": "s3cr3t-token",
        "SMSGATE_SENDER": "s3cr3t-sender",
        "SMSGATE_CUSTOMER_ID": "s3cr3t-id",
    }

    gateway = smsgate.from_env(environ)

    assert isinstance(gateway, SmsSchedulerGateway)
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "smsgate.config",
            logging.DEBUG,
            "SMSGATE_CUSTOMER_ID ignored: provider 'smsscheduler' takes no option 'customer_id'",
        ),
        (
            "smsgate.config",
            logging.DEBUG,
            "SMSGATE_SENDER ignored: provider 'smsscheduler' takes no option 'sender'",
        ),
    ]
    assert "s3cr3t" not in caplog.text


def test_an_option_of_a_registered_provider_is_passed_over_by_the_others(caplog):
    def acme(*, colour: str) -> FakeGateway:
        return FakeGateway(name=colour)

    caplog.set_level(logging.DEBUG, logger="smsgate.config")
    environ = {"SMSGATE_PROVIDER": "fake", "SMSGATE_COLOUR": "red"}
    register_provider("acme-colours", acme)
    try:
        assert smsgate.from_env(environ).name == "fake"
        assert smsgate.from_env(environ | {"SMSGATE_PROVIDER": "acme-colours"}).name == "red"
    finally:
        unregister_provider("acme-colours")
    assert caplog.messages == ["SMSGATE_COLOUR ignored: provider 'fake' takes no option 'colour'"]
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env(environ)  # unregistered, no provider takes it
    assert str(caught.value) == "SMSGATE_COLOUR: no provider takes an option 'colour'"


def test_the_command_line_passes_over_another_providers_variables_at_debug(
    capsys, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG, logger="smsgate.config")
    for name, value in (SMSWORKS | {"SMSGATE_SENDER": "Acme"}).items():
        monkeypatch.setenv(name, value)

    code, out, err = run(capsys, "--json", "-p", "fake", "send", "+447700900123", "Hi")

    assert (code, err) == (OK, "")
    assert json.loads(out)["provider"] == "fake"
    assert caplog.messages == [
        "SMSGATE_SENDER ignored: provider 'fake' takes no option 'sender'",
        "SMSGATE_TOKEN ignored: provider 'fake' takes no option 'token'",
    ]


# --- reserved names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variable",
    [
        "SMSGATE_DB",
        "SMSGATE_REDIS",
        "SMSGATE_SUPPRESSION",
        "SMSGATE_WEBHOOK_SECRET",
        "SMSGATE_WEBHOOK_ANYTHING",
        "SMSGATE_TEST_POSTGRES",
        "SMSGATE_TEST_REDIS",
        "SMSGATE_BENCH_POSTGRES",
        "SMSGATE_BENCH_REDIS",
        "SMSGATE_CRASH_IN_COMMIT",
    ],
)
def test_reserved_variables_are_never_options_nor_errors(capsys, monkeypatch, variable):
    assert smsgate.from_env(SMSWORKS | {variable: "s3cr3t"}).name == "smsworks"

    monkeypatch.setenv(variable, "s3cr3t")
    code, out, err = run(capsys, "--json", "-p", "fake", "send", "+447700900123", "Hi")
    assert (code, err) == (OK, "")
    assert json.loads(out)["provider"] == "fake"


def test_a_webhook_name_is_reserved_only_with_its_underscore():
    assert (is_reserved("webhook_x"), is_reserved("webhook"), is_reserved("webhooks")) == (
        True,
        False,
        False,
    )
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env(SMSWORKS | {"SMSGATE_WEBHOOKS": "x"})
    assert str(caught.value) == "SMSGATE_WEBHOOKS: no provider takes an option 'webhooks'"


def test_every_smsgate_variable_the_project_reads_is_accepted():
    # Every SMSGATE_* name the package, its tests, benchmarks and docs read or tell to set;
    # a name ending in "_" is a beginning (SMSGATE_WEBHOOK_*). This module and
    # tests/test_config.py misspell names on purpose, as docs/configuration.md does once.
    misspelt = {"SMSGATE_BASE_ULR"}
    sources = [
        *(ROOT / "smsgate").rglob("*.py"),
        *(ROOT / "benchmarks").rglob("*.py"),
        *(p for p in (ROOT / "tests").rglob("*.py") if not p.name.startswith("test_config")),
        *(ROOT / "docs").rglob("*.md"),
        ROOT / "README.md",
    ]
    found = {
        name
        for path in sources
        for name in re.findall(r"\bSMSGATE_[A-Za-z0-9_]+", path.read_text(encoding="utf-8"))
    }
    assert {
        "SMSGATE_DB",
        "SMSGATE_SUPPRESSION",
        "SMSGATE_WEBHOOK_",
        "SMSGATE_TEST_POSTGRES",
        "SMSGATE_CRASH_IN_COMMIT",
        "SMSGATE_SENDER_ID",
        "SMSGATE_BASE_ULR",
    } <= found
    fakes = {f"SMSGATE_{o.name.upper()}" for o in provider_option_info("fake")}
    for name in sorted(found - misspelt - fakes - {"SMSGATE_", "SMSGATE_PROVIDER"}):
        variable = f"{name}ANYTHING" if name.endswith("_") else name
        gateway = smsgate.from_env({"SMSGATE_PROVIDER": "fake", variable: "1"})
        assert gateway.name == "fake", name
    assert {"db", "redis", "suppression", "test_postgres", "crash_in_commit"} <= RESERVED


# --- credentials the provider needs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "error"),
    [
        ({}, CREDENTIALS),
        (
            {"SMSGATE_CUSTOMER_ID": "s3cr3t-1", "SMSGATE_KEY": "s3cr3t-2"},
            "smsworks needs credentials: token, or all of customer_id, key and secret; "
            "set SMSGATE_SECRET",
        ),
        (
            {"SMSGATE_SECRET": "s3cr3t-3"},
            "smsworks needs credentials: token, or all of customer_id, key and secret; "
            "set SMSGATE_CUSTOMER_ID and SMSGATE_KEY",
        ),
        (
            {"SMSGATE_TOKEN": "JWT s3cr3t", "SMSGATE_KEY": "s3cr3t-2"},
            "smsworks: give either token, or customer_id, key and secret, not both",
        ),
    ],
)
def test_missing_credentials_say_which_variables_to_set(environ, error):
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env({"SMSGATE_PROVIDER": "smsworks"} | environ)
    assert str(caught.value) == error
    assert "s3cr3t" not in str(caught.value)


def test_missing_credentials_given_explicitly_get_no_hint():
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_config({"provider": "smsworks"})
    assert str(caught.value) == (
        "smsworks needs credentials: token, or all of customer_id, key and secret"
    )


def test_missing_credentials_on_the_command_line_say_which_variables_or_flags(capsys):
    code, out, err = run(capsys, "-p", "smsworks", "send", "+447700900123", "Hi")

    assert (code, out) == (USAGE, "")
    assert err == (
        "smsgate: error: smsworks needs credentials: token, or all of customer_id, key and "
        "secret; set SMSGATE_TOKEN or pass -o token=VALUE, or set SMSGATE_CUSTOMER_ID, "
        "SMSGATE_KEY and SMSGATE_SECRET or pass -o customer_id=VALUE -o key=VALUE "
        "-o secret=VALUE\n"
    )
