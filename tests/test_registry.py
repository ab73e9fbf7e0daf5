"""Providers registered by name: what an application may register, and what it may not."""

from __future__ import annotations

from typing import Any

import pytest

import smsgate
from smsgate import ConfigurationError, StatusReport, registry
from smsgate.registry import register_provider, webhook_parser
from smsgate.testing import FakeGateway


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a test registers is forgotten after it."""
    monkeypatch.setattr(registry, "_registered", dict(registry._registered))
    monkeypatch.setattr(registry, "_registered_webhooks", dict(registry._registered_webhooks))


class AcmeGateway(FakeGateway):
    def __init__(self, *, default_region: str | None = None) -> None:
        super().__init__(name="acme", default_region=default_region)


def parse_acme(payload: Any) -> StatusReport:
    raise NotImplementedError


@pytest.mark.usefixtures("clean_registry")
def test_an_applications_provider_and_its_webhook_parser_are_found_by_name():
    register_provider("acme", AcmeGateway, parse_webhook=parse_acme)

    assert "acme" in smsgate.available_providers()
    assert isinstance(smsgate.connect("acme"), AcmeGateway)
    assert webhook_parser("acme") is parse_acme


@pytest.mark.usefixtures("clean_registry")
def test_a_provider_registered_without_a_parser_posts_no_webhooks():
    register_provider("acme", AcmeGateway)

    assert webhook_parser("acme") is None


def test_registering_the_same_factory_again_does_nothing():
    register_provider("fake", FakeGateway)

    assert isinstance(smsgate.connect("fake"), FakeGateway)


@pytest.mark.parametrize("name", ["smsworks", "fake", "routing"])
def test_a_name_taken_by_another_factory_is_refused(name):
    with pytest.raises(ConfigurationError, match=f"^provider '{name}' is registered already$"):
        register_provider(name, AcmeGateway)


@pytest.mark.parametrize("name", ["", "2way", "acme sms", "acme.eu", "-acme", 42, None])
def test_a_name_that_is_not_a_plain_name_is_refused(name):
    with pytest.raises(ConfigurationError, match=r"^provider name: must be letters, digits"):
        register_provider(name, AcmeGateway)


@pytest.mark.parametrize(
    ("factory", "parser"), [("AcmeGateway", None), (AcmeGateway, "parse_acme")]
)
def test_a_factory_or_parser_that_cannot_be_called_is_refused(factory, parser):
    with pytest.raises(ConfigurationError, match="must be callable"):
        register_provider("acme", factory, parse_webhook=parser)
    assert not registry.is_registered("acme")
