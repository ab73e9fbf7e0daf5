"""The receiver in an aiohttp application: aiohttp routes the request and undoes its
``Content-Encoding``; the core answers."""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from smsgate.webhooks._core import UNDECODABLE, BodyReader, Receiver
from smsgate.webhooks._logs import blank


async def handle(receiver: Receiver, request: web.Request) -> web.Response:
    """``receiver``'s answer to ``request``, on a route that may carry ``{secret}``."""
    content = request.content
    # All of a small body is in by the time the handler runs: take it without waiting.
    body: bytes | BodyReader = content.read_nowait() if content.is_eof() else content.readany
    try:
        answer = await receiver._answer_post(
            request.match_info.get("secret"), request.headers, body, decoded=True
        )
    except (HttpProcessingError, RequestPayloadError):  # aiohttp could not decode it
        answer = UNDECODABLE
    response = web.Response(status=answer.status, body=answer.body, headers=answer.headers)
    if not content.is_eof():
        # An answer before the body's end closes the connection, the rest unread, rather
        # than have aiohttp read (and fail on) the rest.
        content.feed_eof()
        response.force_close()
    return response


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log, without any receiver's secret: wherever one appears in a
    request's path (on any route, matched or not), it is written ``********``. The path is
    written as it arrived, percent-encoded, so that no request can forge a log line.

    Serve with it: ``web.run_app(app, access_log_class=AccessLogger)``, or
    ``web.AppRunner(app, access_log_class=AccessLogger)``.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        try:
            path = request.raw_path
            method, version = request.method, request.version
        except Exception:  # a request aiohttp's parser refused
            path, method, version = "-", "-", None
        self.logger.info(
            '%s "%s %s HTTP/%s" %s %s %.6f',
            request.remote,
            method,
            blank(path),
            "-" if version is None else f"{version.major}.{version.minor}",
            response.status,
            response.body_length,
            time,
        )
