"""The registry of emulators: a provider's emulator added from outside is served like the
built-in ones."""

import asyncio
import json
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web

import smsgate.sandbox
from smsgate import ConfigurationError
from smsgate.sandbox import (
    Context,
    Emulator,
    Sandbox,
    Sms,
    Stage,
    _emulator,
    register_emulator,
    registered_emulators,
    unregister_emulator,
)
from tests.support.sandbox import sandbox_command

FAST: dict[str, Any] = {"send_delay": 0.02, "deliver_delay": 0.02}


class Acme:
    """A provider with one route: ``POST /send`` takes ``{"to", "text"}``, and a text of
    "refuse" is refused by the platform."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.finals: list[Sms] = []
        self.ended = asyncio.Event()

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/send", self.context.sending(self.send, answer=self.busy))]

    async def send(self, request: web.Request) -> web.Response:
        body = await request.json()
        account, now = self.context.account, self.context.now()
        sms = Sms(
            id=account.next_id(),
            provider=self.context.name,
            to=body["to"],
            text=body["text"],
            sender="Acme",
            parts=1,
            credits=1,
            created=now,
            send_at=now,
            outcome="REFUSED" if body["text"] == "refuse" else "DELIVERED",
        )
        account.credits -= sms.credits
        account.messages[sms.id] = sms
        self.context.engine.add(sms, now)
        return web.json_response({"id": sms.id}, status=201)

    def busy(self, fault: str, stored: list[Sms]) -> web.Response:
        return web.json_response({"error": fault, "stored": len(stored)}, status=503)

    def config(self, base_url: str) -> dict[str, object]:
        return {"provider": "acme", "base_url": base_url, "token": "acme-token"}

    def on_final(self, sms: Sms) -> None:
        self.finals.append(sms)
        self.ended.set()


def acme(**changes: object) -> Emulator:
    settings: dict[str, Any] = {
        "name": "acme",
        "title": "Acme SMS",
        "prefix": "/acme/v1",
        "first_id": 7001,
        "build": Acme,
        "refusals": frozenset({"REFUSED"}),
        "faults": {"busy": False},
    }
    return Emulator(**{**settings, **changes})


@pytest.fixture
def registry(monkeypatch):
    """The registry as it is, put back as it was after the test."""
    monkeypatch.setattr(_emulator, "_registered", dict(_emulator._registered))
    monkeypatch.setattr(_emulator, "_discovered", _emulator._discovered)


@pytest.fixture
def registered(registry):
    emulator = acme()
    register_emulator(emulator)
    return emulator


async def send(sandbox, text="Hi", provider="acme"):
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sandbox.base_url(provider) + "/send", json={"to": "+447700900123", "text": text}
        ) as answer,
    ):
        return answer.status, await answer.json()


# --- the built-in emulators ------------------------------------------------------------------


def test_the_built_in_emulators_come_first_in_their_order():
    assert smsgate.sandbox.PROVIDERS[:2] == ("smsworks", "smsscheduler")
    assert [e.title for e in registered_emulators()[:2]] == ["The SMS Works", "SMS Scheduler"]


def test_each_built_in_module_exports_its_emulator():
    from smsgate.sandbox import _smsscheduler, _smsworks

    assert registered_emulators()[:2] == (_smsworks.EMULATOR, _smsscheduler.EMULATOR)


def test_a_sandbox_reaches_each_emulator_by_name_and_as_an_attribute():
    sandbox = Sandbox()

    assert sandbox.smsworks is sandbox.emulators["smsworks"]
    assert sandbox.smsscheduler is sandbox.emulators["smsscheduler"]
    with pytest.raises(AttributeError, match="no attribute 'smsnowhere'"):
        _ = sandbox.smsnowhere


def test_the_emulators_share_no_code_with_the_adapters():
    for module in Path(smsgate.sandbox.__file__).parent.glob("*.py"):
        assert "smsgate.providers" not in module.read_text(), module.name


def test_each_built_in_emulator_says_which_outcomes_are_refusals():
    sandbox = Sandbox()

    assert sandbox.engine.refusals == {
        "smsworks": frozenset({"REJECTED"}),
        "smsscheduler": frozenset(range(20, 30)),
    }


# --- registering one -----------------------------------------------------------------------


async def test_a_registered_emulator_is_served_listed_and_configured(registered):
    assert smsgate.sandbox.PROVIDERS == ("smsworks", "smsscheduler", "acme")
    assert "busy" in smsgate.sandbox.FAULTS

    async with Sandbox(failure_rate=0, credits=10, **FAST) as sandbox:
        assert sandbox.providers["acme"] is registered
        assert await send(sandbox) == (201, {"id": "7001"})
        assert sandbox.config("acme") == {
            "provider": "acme",
            "base_url": sandbox.url + "/acme/v1",
            "token": "acme-token",
        }
        assert [sms.text for sms in sandbox.messages("acme")] == ["Hi"]
        assert sandbox.credits("acme") == 9
        assert sandbox.accounts["acme"].messages["7001"].to == "+447700900123"
        assert sandbox.messages("smsworks") == []


async def test_its_messages_move_along_and_its_refusals_are_never_sent(registered):
    async with Sandbox(failure_rate=0, send_delay=0.02, deliver_delay=30) as sandbox:
        await send(sandbox, "Hi")
        await send(sandbox, "refuse")
        async with asyncio.timeout(5):
            await cast(Acme, sandbox.emulators["acme"]).ended.wait()

    delivered, refused = sandbox.messages("acme")
    assert (delivered.stage, refused.stage) == (Stage.SENT, Stage.FINAL)
    assert cast(Acme, sandbox.emulators["acme"]).finals == [refused]


async def test_it_meets_the_common_faults_and_its_own(registered):
    async with Sandbox(failure_rate=0, **FAST) as sandbox:
        sandbox.inject("acme", "429")
        sandbox.inject("acme", "busy", stored=True)  # its own: stores what it says

        assert (await send(sandbox))[0] == 429
        assert await send(sandbox) == (503, {"error": "busy", "stored": 0})
        assert (await send(sandbox))[0] == 201
        with pytest.raises(
            ConfigurationError, match=r"acme can meet one of 500, 502, 504, drop, 429, busy$"
        ):
            sandbox.inject("acme", "5001")
        with pytest.raises(
            ConfigurationError,
            match=r"smsworks can meet one of 500, 502, 504, drop, 429, 5001, 5002$",
        ):
            sandbox.inject("smsworks", "busy")


async def test_an_unknown_provider_is_refused_with_the_registered_names(registered):
    with pytest.raises(
        ConfigurationError, match="the sandbox emulates smsworks, smsscheduler, acme, not 'nope'"
    ):
        Sandbox().config("nope")


def test_a_sandbox_serves_the_emulators_registered_when_it_was_made(registry):
    before = Sandbox()
    register_emulator(acme())

    assert "acme" not in before.providers
    assert "acme" in Sandbox().providers


def test_an_emulator_that_refuses_a_setting_stops_the_sandbox(registry):
    def build(context: Context) -> Acme:
        raise ConfigurationError("acme: no such region")

    register_emulator(acme(build=build))

    with pytest.raises(ConfigurationError, match="no such region"):
        Sandbox()


# --- conflicts, bad emulators and unregistering -------------------------------------------


def test_registering_the_same_emulator_again_does_nothing(registered):
    register_emulator(registered)

    assert smsgate.sandbox.PROVIDERS.count("acme") == 1


@pytest.mark.parametrize("name", ["acme", "smsworks"])
def test_another_emulator_under_a_taken_name_is_refused(registered, name):
    held = Sandbox().providers[name]

    with pytest.raises(ConfigurationError, match=f"emulator '{name}' is registered already"):
        register_emulator(acme(name=name))

    assert Sandbox().providers[name] is held


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"name": "acme sms"}, "emulator name: must be letters, digits, _ or -"),
        ({"name": "1acme"}, "emulator name: must be letters, digits, _ or -"),
        ({"name": ""}, "emulator name"),
        ({"name": None}, "emulator name"),
        ({"prefix": "acme/v1"}, "prefix must be a path such as '/acme/v1'"),
        ({"prefix": "/acme/"}, "prefix must be a path"),
        ({"prefix": "/"}, "prefix must be a path"),
        ({"first_id": 0}, "first_id must be 1 or more"),
        ({"first_id": True}, "first_id must be 1 or more"),
        ({"build": "Acme"}, "build must be callable"),
        ({"faults": {"500": True}}, "every emulator meets 500 already"),
    ],
)
def test_an_emulator_that_cannot_be_is_refused(changes, problem):
    with pytest.raises(ConfigurationError, match=problem):
        acme(**changes)


def test_only_an_emulator_can_be_registered(registry):
    with pytest.raises(ConfigurationError, match=r"must be an smsgate\.sandbox\.Emulator"):
        register_emulator(Acme)  # type: ignore[arg-type]  # the mistake under test


def test_an_unregistered_emulator_is_no_longer_served(registered):
    unregister_emulator("acme")

    assert "acme" not in smsgate.sandbox.PROVIDERS
    assert "acme" not in Sandbox().providers
    with pytest.raises(ConfigurationError, match="unknown; the sandbox emulates smsworks, sms"):
        unregister_emulator("acme")


# --- installed plug-ins ----------------------------------------------------------------------

PLUGIN = """
from aiohttp import web

from smsgate.sandbox import Emulator


class Acme:
    def __init__(self, context):
        self.context = context

    def routes(self):
        return [web.get("/ping", self.ping)]

    async def ping(self, request):
        return web.json_response({"pong": self.context.name})

    def config(self, base_url):
        return {"provider": "acme", "base_url": base_url}

    def on_final(self, sms):
        pass


EMULATOR = Emulator(name="acme", title="Acme SMS", prefix="/acme/v1", first_id=1, build=Acme)
not_an_emulator = object()
"""


@pytest.fixture
def install(tmp_path, monkeypatch, registry):
    """Install a package whose ``entry_points.txt`` lists ``points`` under
    ``smsgate.emulators``; the registry reads installed plug-ins again."""

    def installed(points):
        (tmp_path / "acme_emulator.py").write_text(PLUGIN)
        info = tmp_path / "acme_emulator-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-emulator\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text("[smsgate.emulators]\n" + textwrap.dedent(points))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setattr(_emulator, "_discovered", False)
        return tmp_path

    yield installed
    sys.modules.pop("acme_emulator", None)


async def test_an_installed_plugin_is_found_and_served(install):
    install("acme = acme_emulator:EMULATOR\n")

    assert smsgate.sandbox.PROVIDERS == ("smsworks", "smsscheduler", "acme")
    async with (
        Sandbox() as sandbox,
        aiohttp.ClientSession() as session,
        session.get(sandbox.base_url("acme") + "/ping") as answer,
    ):
        assert await answer.json() == {"pong": "acme"}
        assert sandbox.config("acme") == {"provider": "acme", "base_url": sandbox.url + "/acme/v1"}


def test_installed_plugins_are_read_once(install, monkeypatch):
    install("acme = acme_emulator:EMULATOR\n")
    registered_emulators()
    monkeypatch.setattr(_emulator, "entry_points", lambda **_: pytest.fail("read again"))

    assert smsgate.sandbox.PROVIDERS[-1] == "acme"


@pytest.mark.parametrize(
    ("points", "problem"),
    [
        (
            "acme = acme_emulator_not_installed:EMULATOR",
            r"emulator 'acme' is installed \(acme_emulator_not_installed:EMULATOR\) but failed "
            "to load: ModuleNotFoundError",
        ),
        (
            "acme = acme_emulator:not_an_emulator",
            r"emulator 'acme' \(acme_emulator:not_an_emulator\): must be an "
            "smsgate.sandbox.Emulator named 'acme'",
        ),
        ("other = acme_emulator:EMULATOR", "must be an smsgate.sandbox.Emulator named 'other'"),
        ("smsworks = acme_emulator:EMULATOR", "named 'smsworks'"),
    ],
)
def test_a_plugin_that_is_not_an_emulator_is_a_configuration_error(install, points, problem):
    install(points)

    with pytest.raises(ConfigurationError, match=problem):
        Sandbox()


def test_a_plugin_under_a_name_taken_already_is_refused(install):
    register_emulator(acme())
    install("acme = acme_emulator:EMULATOR")

    with pytest.raises(
        ConfigurationError,
        match=r"emulator 'acme' is installed \(acme_emulator:EMULATOR\) but another one has",
    ):
        registered_emulators()


def test_the_sandbox_command_serves_an_installed_plugin(install):
    path = install("acme = acme_emulator:EMULATOR\n")
    with sandbox_command(str(path)) as (url, lines):
        lines = [line.rstrip("\n") for line in lines]
        block = lines[lines.index("# acme") :]
        assert block[1:3] == [
            "export SMSGATE_PROVIDER=acme",
            f"export SMSGATE_BASE_URL={url}/acme/v1",
        ]
        with urllib.request.urlopen(url + "/acme/v1/ping", timeout=5) as answer:
            assert json.loads(answer.read()) == {"pong": "acme"}
