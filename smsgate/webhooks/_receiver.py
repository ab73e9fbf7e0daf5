"""`WebhookReceiver`: the core, served by aiohttp or by any ASGI server."""

from __future__ import annotations

from aiohttp import web

from smsgate.webhooks import _aiohttp
from smsgate.webhooks._asgi import AsgiApp
from smsgate.webhooks._core import Receiver


class WebhookReceiver(Receiver):
    """Takes a provider's delivery reports and incoming SMS and passes each, once, to your
    async callbacks: as aiohttp handlers (`add_routes`, `handle`), as an ASGI application
    (`asgi`) or, in any other framework, by `respond`.

    The receiver answers as soon as a payload is read and checked; your callback runs
    afterwards, so a slow callback never makes the provider time out. A callback that raises
    is logged (logger ``smsgate.webhooks``) and its payload forgotten, so that if the provider
    posts it again it reaches the callback again. A repeat of a payload already taken (same
    message id and status, or the same incoming message id) is answered 200 and not passed on.

    Args:
        provider: the provider posting (``"smsworks"``).
        secret: the shared secret: 16 or more letters, digits or ``. _ ~ -``, e.g. from
            ``secrets.token_urlsafe(32)``.
        on_report: called with a `StatusReport` for each delivery report.
        on_inbound: called with an `InboundMessage` for each incoming SMS.
        on_failure: told of each payload whose callback failed, ran past
            ``callback_timeout`` or was cancelled at shutdown (it is logged either way).
        max_body: the largest body read, in bytes (as sent, and once decoded).
        max_pending: callbacks allowed to run at once; beyond it the receiver answers 503.
        remember: how many recent payloads are remembered to recognise repeats.
        remember_bytes: and how many bytes of their ids at most.
        read_timeout: seconds a request's body may take to arrive (then 408).
        callback_timeout: seconds a callback may run; then it is cancelled, and counts as
            failed.
        answer_after_callback: answer only once the callback has run: 200 if it succeeded,
            503 (try again) if it failed or timed out, so that the provider keeps a report
            your code did not take. By default the answer comes first and the provider
            never waits on your code.
        suppression: a `smsgate.suppression.SuppressionList` kept up to date by replies:
            an incoming SMS that is an opt-out keyword (STOP, ...) adds its sender, START
            or UNSTOP takes it off (`smsgate.suppression.apply_inbound`), before the
            answer; if the list cannot be written the answer is 503, so that the provider
            posts the reply again. With it, ``on_inbound`` may be left out.

    Raises:
        ConfigurationError: the provider posts nothing, the secret is weak, or no callback
            (nor suppression list) was given.
    """

    def add_routes(self, app: web.Application, path: str = "/") -> None:
        """Serve ``POST {path}/{secret}`` and ``POST {path}`` (secret in the header) on
        ``app``, and wait for running callbacks when ``app`` shuts down."""
        base = "/" + path.strip("/")
        app.router.add_post(base, self.handle)
        app.router.add_post(base.rstrip("/") + "/{secret}", self.handle)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, _: web.Application) -> None:
        await self.aclose()

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler: mount it yourself on a route that may carry ``{secret}``."""
        return await _aiohttp.handle(self, request)

    def asgi(self) -> AsgiApp:
        """This receiver as an ASGI 3 application: ``POST /{secret}`` and ``POST /``
        (secret in the header) below wherever it is mounted, e.g.
        ``app.mount("/sms", receiver.asgi())`` in FastAPI or Starlette, or served alone
        (``uvicorn module:app``, with ``app = receiver.asgi()``).

        Served alone, the server's lifespan shutdown waits for running callbacks; mounted
        in an application, which does not pass its lifespan on, close the receiver in
        that application's own (``await receiver.aclose()``).
        """
        return AsgiApp(self)
