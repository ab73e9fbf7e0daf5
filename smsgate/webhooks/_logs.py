"""Keeping the receivers' secrets out of the log lines that servers write: smsgate's own
never carry one, but a server's access log writes each request's path."""

from __future__ import annotations

SECRETS: set[str] = set()
"""Every receiver's secret in this process, for the access logs to blank."""


def blank(text: str) -> str:
    """``text`` with every receiver's secret written ``********``."""
    for secret in SECRETS:
        text = text.replace(secret, "********")
    return text
