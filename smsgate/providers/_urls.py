"""The check of an adapter's ``base_url``: a setting that may hold a password by mistake, so
its errors never repeat it.

>>> checked_base_url(" https://api.example.com/v1 ")
'https://api.example.com/v1'
"""

from __future__ import annotations

import urllib.parse

from smsgate.errors import ConfigurationError

__all__ = ["checked_base_url"]


def checked_base_url(base_url: object) -> str:
    """``base_url`` if it is an http(s) URL with a host and no credentials in it.

    Raises:
        ConfigurationError: it is not; the message never repeats it (it may hold a password).
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigurationError(
            "base_url: must be a URL such as https://api.example.com/v1; it is empty or not "
            "text (an unset variable?)"
        )
    url = base_url.strip()
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (an impossible port raises here)
    except ValueError:
        raise ConfigurationError("base_url: is not a valid URL") from None
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            "base_url: must not hold a user name or password (user:pass@); give credentials "
            "as the provider's options"
        )
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError("base_url: must start with https:// or http:// and name a host")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ConfigurationError(
            "base_url: must hold no query (?...) or fragment (#...): paths are added to it"
        )
    return url
