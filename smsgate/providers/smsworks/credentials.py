"""The SMS Works' credentials, checked before any request: a ready token, or the customer id,
key and secret that buy one from ``POST /auth/token``.

>>> login = read_credentials(token=None, customer_id="C1", key="k-123456", secret="s-123456")
>>> login.token is None, sorted(login.login)
(True, ['customerid', 'key', 'secret'])
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from smsgate.errors import ConfigurationError, ValidationError
from smsgate.providers.smsworks.codec import check_sender
from smsgate.redaction import Secret

__all__ = ["Credentials", "configured_sender", "read_credentials"]


@attrs.frozen
class Credentials:
    """What a gateway authenticates with.

    Attributes:
        token: the JSON Web Token to send as it is, when one was given.
        login: otherwise the body of ``POST /auth/token`` (``customerid``, ``key``,
            ``secret``), each value a `Secret`.
        advice: what an `AuthenticationError` tells the user to check.
    """

    token: Secret | None
    login: Mapping[str, Secret] | None
    advice: str


def read_credentials(
    *,
    token: str | None,
    customer_id: str | None,
    key: str | None,
    secret: str | None,
) -> Credentials:
    """Either ``token``, or all of ``customer_id``, ``key`` and ``secret``; each non-empty text.
    Surrounding white space is dropped (a credential pasted from a file keeps its line break:
    it is no part of it).

    Raises:
        ConfigurationError: credentials are missing, mixed, empty or not text; the message
            names the option, never its value.
    """
    pair = (customer_id, key, secret)
    if token is not None and any(part is not None for part in pair):
        raise ConfigurationError(
            "smsworks: give either token, or customer_id, key and secret, not both"
        )
    if token is None and not all(pair):
        raise ConfigurationError(
            "smsworks needs credentials: token, or all of customer_id, key and secret"
        )
    for option, value in (
        ("token", token),
        *zip(("customer_id", "key", "secret"), pair, strict=True),
    ):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigurationError(f"{option}: must be non-empty text (an unset variable?)")
    if token is not None:
        return Credentials(
            token=Secret(token.strip()),
            login=None,
            advice="check the token; regenerating the API key and secret revokes old tokens",
        )
    names = ("customerid", "key", "secret")
    values = (Secret((value or "").strip()) for value in pair)
    return Credentials(
        token=None,
        login=dict(zip(names, values, strict=True)),
        advice="check customer_id, key and secret",
    )


def configured_sender(sender: object) -> str | None:
    """The gateway's default sender, if it is one The SMS Works takes.

    Raises:
        ConfigurationError: it is not text, or not a valid sender.
    """
    if sender is None:
        return None
    if not isinstance(sender, str):
        raise ConfigurationError("sender: must be text")
    try:
        return check_sender(sender)
    except ValidationError as exc:
        raise ConfigurationError(f"sender: {exc.rule}") from None
