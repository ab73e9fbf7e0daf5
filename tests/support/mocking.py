"""aioresponses on every aiohttp release we support, and the calls it recorded."""

from __future__ import annotations

import inspect
import io
import json
from collections.abc import Sequence
from typing import Any

import aioresponses.core
import pytest
from aiohttp import ClientResponse
from aioresponses.core import RequestCall
from yarl import URL


class _RequestAlreadySent:
    """What aiohttp reads from the writer of a request that has been sent in full."""

    output_size = 0


class _CompatClientResponse(ClientResponse):
    """aiohttp 3.14 added a required ``stream_writer`` argument that aioresponses 0.7.x does
    not pass (pnuckowski/aioresponses#289). Supply it until aioresponses does."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _RequestAlreadySent())
        super().__init__(method, url, **kwargs)


def mocked_http(
    monkeypatch: pytest.MonkeyPatch, passthrough: Sequence[str] = ()
) -> aioresponses.aioresponses:
    """aioresponses, working on every aiohttp we support; URLs under ``passthrough`` go to
    the network (loopback only, in this suite)."""
    if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
        monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatClientResponse)
    return aioresponses.aioresponses(passthrough=list(passthrough))


def recorded(mocked: aioresponses.aioresponses, method: str, url: str) -> list[RequestCall]:
    """The calls aioresponses recorded to ``method url``."""
    return mocked.requests.get((method, URL(url)), [])


def sent_json(kwargs: dict[str, Any]) -> Any:
    """The JSON body of a request aioresponses recorded (bytes, or a stream when large)."""
    data = kwargs["data"]
    return json.loads(data.getvalue() if isinstance(data, io.BytesIO) else data)


def recorded_request(
    mocked: aioresponses.aioresponses, method: str, url: str, index: int = 0
) -> tuple[Any, Any]:
    """The headers and JSON body of one recorded call (``None`` without a body)."""
    call = recorded(mocked, method, url)[index]
    data = call.kwargs.get("data")
    if isinstance(data, io.BytesIO):  # a large body goes as a stream
        data = data.getvalue()
    return call.kwargs["headers"], None if data is None else json.loads(data)
