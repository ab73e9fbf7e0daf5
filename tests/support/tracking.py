"""Polling options for `smsgate.track` and `smsgate.wait_for_final`, typed."""

from __future__ import annotations

from typing import TypedDict


class Polling(TypedDict):
    """How often to ask about a message: at first, and at most, in seconds."""

    interval: float
    max_interval: float
