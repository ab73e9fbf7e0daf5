import logging
import sys
import textwrap
from typing import Protocol, cast

import pytest

import smsgate
from smsgate import ConfigurationError, Message, SmsGateway
from smsgate.config import (
    OptionInfo,
    env_config,
    from_sources,
    is_reserved,
    provider_option_info,
)
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.registry import register_provider, unregister_provider
from smsgate.testing import FakeGateway

PLUGIN = """
from smsgate.providers.base import HttpGateway, Secret


class AcmeGateway(HttpGateway):
    name = "acme"
    default_base_url = "https://api.acme.test"

    def __init__(
        self,
        *,
        token: str,
        flash: bool = False,
        retries: int = 2,
        rate: float | None = None,
        default_region: str | None = None,
    ) -> None:
        super().__init__(default_region=default_region)
        self.token = Secret(token)
        self.flash, self.retries, self.rate = flash, retries, rate

    async def send(self, message): ...
    async def schedule(self, message, at): ...
    async def status(self, ref): ...
    async def cancel(self, ref): ...


def not_a_gateway(**options):
    return object()
"""


class Acme(Protocol):
    """What the tests know of the plugin's ``AcmeGateway``, which mypy cannot see."""

    name: str
    flash: bool
    retries: int


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Install a third-party package that adds providers through the entry-point group."""
    (tmp_path / "acme_sms.py").write_text(PLUGIN)
    info = tmp_path / "acme_sms-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-sms\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [smsgate.providers]
            acme = acme_sms:AcmeGateway
            broken = acme_sms_not_installed:Gateway
            object = acme_sms:not_a_gateway
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # Installed plug-ins are read once a process; this one comes and goes within a test.
    smsgate.model._known_providers.cache_clear()
    yield
    sys.modules.pop("acme_sms", None)
    smsgate.model._known_providers.cache_clear()


# --- the registry ----------------------------------------------------------------------------


def test_builtin_providers_are_available():
    assert "fake" in smsgate.available_providers()


def test_an_installed_plugin_adds_its_providers(plugin):
    assert {"acme", "broken", "fake", "object"} <= set(smsgate.available_providers())
    gateway = smsgate.connect("acme", token="t0k3n", flash=True)
    assert isinstance(gateway, SmsGateway)
    acme = cast(Acme, gateway)
    assert (type(gateway).__name__, acme.name, acme.flash) == ("AcmeGateway", "acme", True)


@pytest.mark.usefixtures("plugin")
def test_a_message_may_carry_options_for_an_installed_plugin():
    message = Message("+447700900123", "Hi", provider_options={"acme": {"flash": True}})

    assert dict(message.provider_options["acme"]) == {"flash": True}


def test_a_plugin_that_fails_to_load_is_a_configuration_error(plugin):
    with pytest.raises(ConfigurationError) as caught:
        smsgate.connect("broken")
    assert "provider 'broken' is installed (acme_sms_not_installed:Gateway)" in str(caught.value)
    assert "failed to load" in str(caught.value)


def test_a_factory_that_makes_no_gateway_is_a_configuration_error(plugin):
    with pytest.raises(ConfigurationError, match="made a object, which is not an SmsGateway"):
        smsgate.connect("object")


def test_an_unknown_provider_lists_the_available_ones_with_a_guess(plugin):
    with pytest.raises(ConfigurationError) as caught:
        smsgate.connect("smsworkz")
    assert str(caught.value) == (
        "provider: unknown (did you mean 'smsworks'?); available providers: "
        + ", ".join(smsgate.available_providers())
    )
    assert "smsworkz" not in str(caught.value)  # a setting given is never repeated


def test_an_unknown_provider_like_none_of_them_gets_no_guess():
    with pytest.raises(ConfigurationError) as caught:
        smsgate.connect("pigeon-post")
    assert str(caught.value) == (
        "provider: unknown; available providers: " + ", ".join(smsgate.available_providers())
    )


def test_a_provider_name_must_be_a_string():
    with pytest.raises(ConfigurationError, match="provider: must be a name"):
        smsgate.connect(None)  # type: ignore[arg-type]


# --- options ---------------------------------------------------------------------------------


def test_connect_passes_options():
    gateway = smsgate.connect("fake", name="primary", default_region="gb")
    assert isinstance(gateway, FakeGateway)
    assert (gateway.name, gateway.default_region) == ("primary", "GB")


def test_an_unknown_option_lists_the_valid_ones():
    with pytest.raises(ConfigurationError) as caught:
        smsgate.connect("fake", default_regoin="GB")
    assert str(caught.value) == (
        "unknown option 'default_regoin' (did you mean 'default_region'?) for provider 'fake'; "
        "valid options: default_region, name"
    )


def test_several_unknown_options_are_all_named(plugin):
    with pytest.raises(ConfigurationError) as caught:
        smsgate.connect("acme", token="x", tokn="y", flsh=True)
    named = "unknown options 'flsh' (did you mean 'flash'?), 'tokn' (did you mean 'token'?)"
    assert f"{named} for provider 'acme'" in str(caught.value)


def test_a_missing_option_is_named_with_the_valid_ones(plugin):
    with pytest.raises(ConfigurationError) as caught:
        smsgate.connect("acme", flash=True)
    assert str(caught.value) == (
        "missing option 'token' for provider 'acme'; "
        "valid options: default_region, flash, rate, retries, token (required)"
    )


def test_an_invalid_option_value_from_the_provider_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="default_region: must be a two-letter") as caught:
        smsgate.connect("fake", default_region="UK")
    assert "UK" not in str(caught.value)


# --- from_config -----------------------------------------------------------------------------


def test_from_config_reads_provider_and_options():
    gateway = smsgate.from_config({"provider": "fake", "default_region": "FR"})
    assert isinstance(gateway, FakeGateway)
    assert gateway.default_region == "FR"


def test_from_config_without_a_provider_lists_the_available_ones():
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_config({"default_region": "GB"})
    assert "configuration has no 'provider'; available providers: " in str(caught.value)
    assert "fake" in str(caught.value)


def test_from_config_needs_a_mapping():
    with pytest.raises(ConfigurationError, match="configuration must be a mapping, not list"):
        smsgate.from_config([("provider", "fake")])  # type: ignore[arg-type]


def test_the_same_code_runs_against_any_provider_by_configuration(plugin):
    for config in ({"provider": "fake"}, {"provider": "acme", "token": "t"}):
        gateway = smsgate.from_config(config)
        assert isinstance(gateway, SmsGateway)
        assert gateway.name == config["provider"]


# --- from_env --------------------------------------------------------------------------------


def test_from_env_reads_prefixed_variables():
    gateway = smsgate.from_env(
        {"SMSGATE_PROVIDER": "fake", "SMSGATE_DEFAULT_REGION": "GB", "HOME": "/root"}
    )
    assert isinstance(gateway, FakeGateway)
    assert gateway.default_region == "GB"


def test_from_env_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("SMSGATE_PROVIDER", "fake")
    monkeypatch.setenv("SMSGATE_NAME", "from-env")
    assert smsgate.from_env().name == "from-env"


def test_from_env_takes_another_prefix():
    gateway = smsgate.from_env({"SMS_PROVIDER": "fake", "SMS_NAME": "x"}, prefix="SMS_")
    assert gateway.name == "x"


def test_from_env_without_a_provider_says_which_variable_to_set():
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env({"SMSGATE_TOKEN": "t"})
    assert str(caught.value).startswith("SMSGATE_PROVIDER is not set; set it to one of: ")


def test_from_env_ignores_another_providers_variables_and_logs_each(caplog):
    caplog.set_level(logging.DEBUG, logger="smsgate.config")
    environ = {
        "SMSGATE_PROVIDER": "fake",
        "SMSGATE_NAME": "mine",
        "SMSGATE_SENDER": "s3cr3t-sender",
        "SMSGATE_TOKEN": "s3cr3t-token",
    }

    gateway = smsgate.from_env(environ)

    assert gateway.name == "mine"
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("smsgate.config", "DEBUG", "SMSGATE_SENDER ignored: provider 'fake' takes no option "
         "'sender'"),
        ("smsgate.config", "DEBUG", "SMSGATE_TOKEN ignored: provider 'fake' takes no option "
         "'token'"),
    ]  # fmt: skip
    assert "s3cr3t" not in caplog.text


def test_the_sandbox_variables_of_one_provider_do_not_stop_another():
    # What `smsgate sandbox --env smsworks` exports, then a switch to SMS Scheduler.
    environ = {
        "SMSGATE_PROVIDER": "smsscheduler",
        "SMSGATE_BASE_URL": "http://127.0.0.1:8025/smsworks/v1",
        "SMSGATE_TOKEN": "JWT sandbox-token",
        "SMSGATE_SENDER": "Sandbox",
    }

    gateway = smsgate.from_env(environ)

    assert isinstance(gateway, SmsSchedulerGateway)
    assert gateway.base_url == "http://127.0.0.1:8025/smsworks/v1"


def test_a_required_option_without_its_variable_says_which_variable_to_set():
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env({"SMSGATE_PROVIDER": "smsscheduler", "SMSGATE_SENDER": "Sandbox"})
    assert str(caught.value) == (
        "missing option 'token' for provider 'smsscheduler': set SMSGATE_TOKEN"
    )


def test_several_missing_options_name_every_variable():
    def needs_two(*, token: str, account: str) -> FakeGateway:
        return FakeGateway(name=account)

    register_provider("needs-two", needs_two)
    try:
        with pytest.raises(ConfigurationError) as caught:
            smsgate.from_env({"SMS_PROVIDER": "needs-two"}, prefix="SMS_")
    finally:
        unregister_provider("needs-two")
    assert str(caught.value) == (
        "missing options 'account', 'token' for provider 'needs-two': set SMS_ACCOUNT and SMS_TOKEN"
    )


def test_an_unknown_provider_from_the_environment_names_its_variable():
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env({"SMSGATE_PROVIDER": "smsworkz"})
    assert str(caught.value) == (
        "SMSGATE_PROVIDER: unknown (did you mean 'smsworks'?); available providers: "
        + ", ".join(smsgate.available_providers())
    )


def test_a_providers_own_refusal_of_a_variables_value_names_the_variable_not_the_value():
    environ = {"SMSGATE_PROVIDER": "smsscheduler", "SMSGATE_TOKEN": "t"}
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env(environ | {"SMSGATE_TIMEZONE": "Mars/Base"})
    assert str(caught.value) == (
        "SMSGATE_TIMEZONE: must be an IANA time zone name such as 'Europe/Paris'"
    )


def test_the_same_refusal_of_an_explicit_option_names_the_option():
    with pytest.raises(ConfigurationError) as caught:
        smsgate.connect("smsscheduler", token="t", timezone="Mars/Base")
    assert str(caught.value) == "timezone: must be an IANA time zone name such as 'Europe/Paris'"


def test_json_that_is_not_names_its_variable():
    environ = {"SMSGATE_PROVIDER": "smsscheduler", "SMSGATE_TOKEN": "t"}
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env(environ | {"SMSGATE_SENDERS": "Acme=1"})
    assert str(caught.value) == (
        "SMSGATE_SENDERS: option 'senders' must be JSON; the value given is not"
    )


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"provider": "fake", "sender": "Acme"}, "'sender'"),
        ({"provider": "fake", "default_regoin": "GB"}, "'default_regoin' (did you mean "
         "'default_region'?)"),
    ],
)  # fmt: skip
def test_an_option_named_explicitly_is_still_refused_when_unknown(config, named):
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_config(config)
    assert str(caught.value) == (
        f"unknown option {named} for provider 'fake'; valid options: default_region, name"
    )


def test_from_sources_ignores_only_another_providers_options_read_from_variables():
    config = {"provider": "fake", "sender": "Acme", "tokn": "x"}

    with pytest.raises(ConfigurationError) as caught:
        from_sources(config, variables={"sender": "SMSGATE_SENDER"})

    assert str(caught.value) == (
        "unknown option 'tokn' for provider 'fake'; valid options: default_region, name"
    )
    gateway = from_sources({"provider": "fake", "sender": "Acme"}, variables={"sender": "X"})
    assert gateway.name == "fake"


def test_from_sources_tells_how_to_give_missing_options():
    with pytest.raises(ConfigurationError) as caught:
        from_sources({"provider": "smsscheduler"}, missing_hint=lambda names: f"give {names}")
    assert str(caught.value) == "missing option 'token' for provider 'smsscheduler': give ['token']"


def test_toml_keys_are_explicit_options(tmp_path):
    path = tmp_path / "sms.toml"
    path.write_text('[smsgate]\nprovider = "fake"\nsender = "Acme"\n')
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_toml(path)
    assert str(caught.value) == (
        "unknown option 'sender' for provider 'fake'; valid options: default_region, name"
    )


@pytest.mark.parametrize(
    "variable",
    ["SMSGATE_WEBHOOK_SECRET", "SMSGATE_WEBHOOK_PATH", "SMSGATE_WEBHOOK_", "SMSGATE_webhook_x"],
)
def test_webhook_variables_are_never_gateway_options(variable):
    environ = {"SMSGATE_PROVIDER": "fake", variable: "s3cr3t"}

    assert env_config(environ) == {"provider": "fake"}
    assert smsgate.from_env(environ).name == "fake"


def test_webhook_variables_are_kept_from_a_provider_that_takes_any_option():
    register_provider("takes-any", lambda **options: FakeGateway(**options))
    try:
        gateway = smsgate.from_env(
            {"SMSGATE_PROVIDER": "takes-any", "SMSGATE_NAME": "n", "SMSGATE_WEBHOOK_SECRET": "x"}
        )
    finally:
        unregister_provider("takes-any")
    assert gateway.name == "n"


@pytest.mark.parametrize(
    ("name", "reserved"),
    [
        ("db", True),
        ("redis", True),
        ("suppression", True),
        ("webhook_secret", True),
        ("webhook_anything", True),
        ("webhooks", False),
        ("token", False),
    ],
)
def test_reserved_names(name, reserved):
    assert is_reserved(name) is reserved


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"SMSGATE_FLASH": "true"}, {"flash": True}),
        ({"SMSGATE_FLASH": "Yes"}, {"flash": True}),
        ({"SMSGATE_FLASH": "on"}, {"flash": True}),
        ({"SMSGATE_FLASH": "1"}, {"flash": True}),
        ({"SMSGATE_FLASH": "false"}, {"flash": False}),
        ({"SMSGATE_FLASH": "no"}, {"flash": False}),
        ({"SMSGATE_FLASH": "OFF"}, {"flash": False}),
        ({"SMSGATE_FLASH": "0"}, {"flash": False}),
        ({"SMSGATE_RETRIES": " 5 "}, {"retries": 5}),
        ({"SMSGATE_RATE": "2.5"}, {"rate": 2.5}),
        ({"SMSGATE_RATE": "3"}, {"rate": 3.0}),
    ],
)
def test_from_env_reads_numbers_and_booleans_as_their_options_types(plugin, variables, expected):
    environ = {"SMSGATE_PROVIDER": "acme", "SMSGATE_TOKEN": "t"} | variables
    gateway = smsgate.from_env(environ)
    for option, value in expected.items():
        assert getattr(gateway, option) == value
        assert type(getattr(gateway, option)) is type(value)


@pytest.mark.parametrize(
    ("variable", "value", "wanted"),
    [
        ("SMSGATE_FLASH", "s3cr3t-flash", "bool"),
        ("SMSGATE_RETRIES", "s3cr3t-2.5", "int"),
        ("SMSGATE_RATE", "s3cr3t-fast", "float"),
    ],
)
def test_from_env_refuses_values_of_the_wrong_type_without_repeating_them(
    plugin, variable, value, wanted
):
    environ = {"SMSGATE_PROVIDER": "acme", "SMSGATE_TOKEN": "t", variable: value}
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_env(environ)
    option = variable.removeprefix("SMSGATE_").lower()
    assert str(caught.value) == (
        f"{variable}: option {option!r} must be {wanted}; the value given is not"
    )
    assert "s3cr3t" not in str(caught.value)


# --- from_toml -------------------------------------------------------------------------------


def test_from_toml_reads_the_smsgate_table(tmp_path):
    path = tmp_path / "sms.toml"
    path.write_text('[smsgate]\nprovider = "fake"\ndefault_region = "GB"\n[other]\nx = 1\n')
    gateway = smsgate.from_toml(path)
    assert isinstance(gateway, FakeGateway)
    assert gateway.default_region == "GB"


def test_from_toml_reads_a_dotted_table_such_as_pyproject(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "app"\n[tool.smsgate]\nprovider = "fake"\nname = "p"\n')
    assert smsgate.from_toml(str(path), table="tool.smsgate").name == "p"


def test_from_toml_keeps_typed_values(plugin, tmp_path):
    path = tmp_path / "sms.toml"
    path.write_text('[smsgate]\nprovider = "acme"\ntoken = "t"\nflash = true\nretries = 4\n')
    gateway = cast(Acme, smsgate.from_toml(path))
    assert (gateway.flash, gateway.retries) == (True, 4)


def test_from_toml_without_the_table_names_it(tmp_path):
    path = tmp_path / "sms.toml"
    path.write_text('provider = "fake"\n')
    with pytest.raises(ConfigurationError, match=r"has no \[smsgate\] table"):
        smsgate.from_toml(path)


def test_from_toml_with_a_table_that_is_a_value_names_it(tmp_path):
    path = tmp_path / "sms.toml"
    path.write_text('tool = "x"\n')
    with pytest.raises(ConfigurationError, match=r"has no \[tool.smsgate\] table"):
        smsgate.from_toml(path, table="tool.smsgate")


def test_from_toml_with_a_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigurationError, match=r"cannot read .*missing\.toml.*No such file"):
        smsgate.from_toml(tmp_path / "missing.toml")


def test_from_toml_with_invalid_toml_says_where(tmp_path):
    path = tmp_path / "sms.toml"
    path.write_text('[smsgate]\nprovider = "fake\ntoken = "s3cr3t"\n')
    with pytest.raises(ConfigurationError) as caught:
        smsgate.from_toml(path)
    assert "is not valid TOML" in str(caught.value)
    assert "line 2" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_the_campaign_database_variable_is_no_gateway_option():
    environ = {"SMSGATE_PROVIDER": "fake", "SMSGATE_DB": "postgresql://x/y", "HOME": "/root"}
    assert env_config(environ) == {"provider": "fake"}


# --- what each option is ---------------------------------------------------------------------


def test_option_info_reads_types_defaults_and_descriptions_from_the_provider(plugin):
    assert provider_option_info("acme") == [
        OptionInfo(
            "default_region",
            required=False,
            type="str | None",
            default=None,
            description='the country national numbers are read in ("GB")',  # HttpGateway's
        ),
        OptionInfo("flash", required=False, type="bool", default=False),
        OptionInfo("rate", required=False, type="float | None", default=None),
        OptionInfo(
            "retries",
            required=False,
            type="int",
            default=2,
            description="how many times a failed request is tried again, when that cannot "
            "send a message twice (see smsgate.retry); 0 turns retrying off",
        ),
        OptionInfo("token", required=True, type="str", default=None),
    ]


def test_option_info_takes_defaults_passed_on_to_a_base_class():
    options = {o.name: o for o in provider_option_info("smsscheduler")}

    assert options["timeout"] == OptionInfo(
        "timeout",
        required=False,
        type="float",
        default=30.0,
        description="seconds one try of a request may take, answer included",
    )
    assert options["token"].required is True
    assert options["token"].description == (
        "the API token from the account page (sent as Authorization: Bearer ...)"
    )


@pytest.mark.parametrize(
    ("provider", "option", "settable"),
    [
        ("smsworks", "session", False),
        ("smsworks", "rate_limiter", False),
        ("smsworks", "token", True),
        ("smsworks", "idempotency_keys", True),
        ("smsscheduler", "senders", True),  # as JSON
        ("routing", "providers", True),  # as JSON
        ("routing", "strategy", True),
    ],
)
def test_option_info_tells_which_options_text_can_set(provider, option, settable):
    options = {o.name: o for o in provider_option_info(provider)}
    assert options[option].settable is settable
