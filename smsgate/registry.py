"""The providers smsgate can build, by name, and the parsers of what each posts to webhooks.

A provider is a factory (usually a gateway class) whose keyword parameters are its options;
`smsgate.connect` builds one by name. Providers come from three places:

- the built-in adapters, listed in `BUILTIN` by import path and loaded on first use;
- `register_provider`, which the module defining a provider calls: ``routing`` and ``fake``
  register themselves when smsgate is imported (routing builds its gateways by name through
  this registry, so the registry cannot name it in turn), and an application or a test may
  register its own;
- installed plug-ins, under the entry-point group ``smsgate.providers``, with their webhook
  parsers under ``smsgate.webhooks``::

    [project.entry-points."smsgate.providers"]
    acme = "acme_sms:AcmeGateway"

    [project.entry-points."smsgate.webhooks"]
    acme = "acme_sms:parse_webhook"

A webhook parser takes the decoded JSON a provider posted and returns a `StatusReport` (a
delivery report) or an `InboundMessage` (an incoming SMS), or raises `ValidationError` when
it is neither; `smsgate.webhooks.WebhookReceiver` serves the providers that have one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from smsgate.errors import ConfigurationError

__all__ = [
    "BUILTIN",
    "PROVIDERS_GROUP",
    "WEBHOOKS_GROUP",
    "ProviderFactory",
    "WebhookParser",
    "available_providers",
    "is_registered",
    "provider_factory",
    "register_provider",
    "unregister_provider",
    "webhook_parser",
]

PROVIDERS_GROUP = "smsgate.providers"
WEBHOOKS_GROUP = "smsgate.webhooks"

ProviderFactory = Callable[..., Any]
"""Builds a gateway from its options (keyword arguments); `smsgate.connect` checks that what
it builds is an `smsgate.SmsGateway`."""

WebhookParser = Callable[[Any], Any]
"""Reads a provider's webhook payload (decoded JSON) into a `StatusReport` or an
`InboundMessage`; raises `ValidationError` for anything else."""

BUILTIN: dict[str, str] = {
    "smsscheduler": "smsgate.providers.smsscheduler:SmsSchedulerGateway",
    "smsworks": "smsgate.providers.smsworks:SmsWorksGateway",
}
"""The adapters that come with smsgate, by import path (``module:attribute``)."""

_BUILTIN_WEBHOOKS: dict[str, str] = {
    "smsworks": "smsgate.providers.smsworks:parse_webhook",
}

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_registered: dict[str, ProviderFactory] = {}
_registered_webhooks: dict[str, WebhookParser] = {}


def register_provider(
    name: str, factory: ProviderFactory, *, parse_webhook: WebhookParser | None = None
) -> None:
    """Make ``factory`` the provider ``name``, for `smsgate.connect` and configuration.

    Args:
        name: the provider's name, as configuration gives it and receipts carry it.
        factory: builds a gateway from the provider's options (usually the gateway class).
        parse_webhook: reads what the provider posts to webhooks, if it posts anything.

    Raises:
        ConfigurationError: ``name`` is not a plain name, or another factory has it already
            (registering the same one again does nothing).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            "provider name: must be letters, digits, _ or - (starting with a letter), "
            "such as 'acme'"
        )
    if not callable(factory) or (parse_webhook is not None and not callable(parse_webhook)):
        raise ConfigurationError(f"provider {name!r}: the factory and parser must be callable")
    held = _registered.get(name)
    if name in BUILTIN or (held is not None and held is not factory):
        raise ConfigurationError(f"provider {name!r} is registered already")
    _registered[name] = factory
    if parse_webhook is not None:
        _registered_webhooks[name] = parse_webhook


def unregister_provider(name: str) -> None:
    """Forget a provider `register_provider` added (and its webhook parser); built-in and
    installed (entry-point) providers stay. Unknown names are ignored."""
    _registered.pop(name, None)
    _registered_webhooks.pop(name, None)


def is_registered(name: str) -> bool:
    """Whether ``name`` is a built-in or registered provider (installed plug-ins are not
    read: that scans every installed distribution)."""
    return name in BUILTIN or name in _registered


def available_providers() -> list[str]:
    """The names of every provider that can be used: built-in ones, registered ones and
    installed plug-ins."""
    plugins = {point.name for point in entry_points(group=PROVIDERS_GROUP)}
    return sorted(BUILTIN.keys() | _registered.keys() | plugins)


def provider_factory(name: str) -> ProviderFactory:
    """The factory (usually a gateway class) registered as provider ``name``.

    Raises:
        ConfigurationError: no provider has that name, or its plug-in fails to load.
    """
    if not isinstance(name, str):
        raise ConfigurationError(f"provider: must be a name, one of {_names()}")
    factory: ProviderFactory | None = _load(name, BUILTIN, _registered, PROVIDERS_GROUP)
    if factory is None:
        raise ConfigurationError(f"provider: unknown; available providers: {_names()}")
    return factory


def webhook_parser(name: str) -> WebhookParser | None:
    """What reads provider ``name``'s webhook payloads; ``None`` when it posts nothing.

    Raises:
        ConfigurationError: no provider has that name, or its plug-in fails to load.
    """
    provider_factory(name)
    parser: WebhookParser | None = _load(
        name, _BUILTIN_WEBHOOKS, _registered_webhooks, WEBHOOKS_GROUP
    )
    return parser


def _load(name: str, builtin: dict[str, str], registered: dict[str, Any], group: str) -> Any | None:
    target = builtin.get(name)
    if target is not None:
        module, _, attribute = target.partition(":")
        return getattr(import_module(module), attribute)
    if name in registered:
        return registered[name]
    for point in entry_points(group=group, name=name):
        try:
            return point.load()
        except Exception as exc:
            raise ConfigurationError(
                f"provider {name!r} is installed ({point.value}) but failed to load: {exc!r}"
            ) from exc
    return None


def _names() -> str:
    return ", ".join(available_providers())
