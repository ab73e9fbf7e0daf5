"""Keeping the receivers' secrets out of the log lines that servers write: smsgate's own
never carry one, but a server's access log writes each request's path."""

from __future__ import annotations

import logging
from collections.abc import Mapping

SECRETS: set[str] = set()
"""Every receiver's secret in this process, for the access logs to blank."""


def blank(text: str) -> str:
    """``text`` with every receiver's secret written ``********``."""
    for secret in SECRETS:
        text = text.replace(secret, "********")
    return text


class SecretFilter(logging.Filter):
    """A logging filter that writes every receiver's secret as ``********`` wherever it
    appears in a record's message or in the values it is formatted with: for the access
    log of an ASGI server, which writes request paths. For uvicorn's::

        logging.getLogger("uvicorn.access").addFilter(SecretFilter())

    The record keeps its shape (its values stay values), so the server's own formatter
    still reads them. It filters the records logged on the logger it is added to (for those
    of its children too, add it to a handler instead).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = blank(record.msg)
        values = record.args
        if isinstance(values, tuple):
            record.args = tuple(blank(v) if isinstance(v, str) else v for v in values)
        elif isinstance(values, Mapping):
            record.args = {k: blank(v) if isinstance(v, str) else v for k, v in values.items()}
        return True
