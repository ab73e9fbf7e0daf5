"""Receiving what providers post: delivery reports and incoming SMS, in an aiohttp service,
in any ASGI application or server, or in any other framework.

The SMS Works POSTs a delivery report for each message to the URL on the account page (or a
message's ``deliveryreporturl``), and each incoming SMS to the URL of the keyword or number.
It signs neither, so the receiver only takes requests that carry a shared secret: as the last
segment of the URL (``.../{secret}``, the only way The SMS Works can send one) or in the
``X-Smsgate-Secret`` header (when a proxy in front adds it).

>>> from aiohttp import web
>>> async def on_report(report): print(report.message_id, report.status)
>>> receiver = WebhookReceiver("smsworks", secret="s3cret-s3cret-s3cret", on_report=on_report)
>>> receiver.add_routes(app := web.Application(), "/sms")
>>> sorted(route.resource.canonical for route in app.router.routes())
['/sms', '/sms/{secret}']
>>> receiver.asgi()  # for FastAPI's app.mount("/sms", ...) or any ASGI server
<AsgiApp of <WebhookReceiver smsworks pending=0>>

How it is served: aiohttp's handlers (`WebhookReceiver.add_routes`, `WebhookReceiver.handle`)
and the ASGI application (`WebhookReceiver.asgi`) are thin adapters on one core,
`WebhookReceiver.respond`, which takes a `WebhookRequest` and returns a `WebhookAnswer`; every
check and answer below is the core's, whichever serves it.

What the receiver answers:

=====  =================================================================================
200    taken (the callback runs after the answer; with ``answer_after_callback``, it has
       run), or a repeat of one already taken
400    not JSON, not a report or message the provider sends (any field of the wrong type
       included), a body that cannot be decoded (a false ``Content-Encoding``), or a client
       that went away mid-body; no callback for its kind
403    no secret, or the wrong one
404    a path that is not the receiver's: ``{mount}/{secret}`` and ``{mount}`` only (under
       ASGI, ``{mount}/`` too)
405    a method other than POST (with ``Allow: POST``)
408    the body took longer than ``read_timeout`` to arrive
413    the body is larger than ``max_body``, as sent or once decoded
415    the content type is not JSON, or (where smsgate decodes the body, as under ASGI) a
       ``Content-Encoding`` other than gzip or deflate
503    ``max_pending`` callbacks are still running, or (``answer_after_callback``) the
       callback failed or ran past ``callback_timeout``: ``Retry-After`` says when to
       try again
=====  =================================================================================

Each answer is ``text/plain``; one given before the body has all been read (413, 408, and
403 or 415 to a body still arriving) closes the connection, the rest unread.

What it guarantees: no answer is a 500; nothing invalid reaches a callback; every callback
ends within ``callback_timeout`` (then it is cancelled), so hung callbacks cannot fill
``max_pending``; a payload whose callback failed, timed out or was cancelled at shutdown is
never lost silently: it is logged at ERROR, passed to ``on_failure``, and forgotten, so that
a repeat from the provider reaches the callback again; with ``answer_after_callback`` the
provider is told to try again instead of 200. The secret never appears in a log line smsgate
writes; a server's access log shows request paths, so serve aiohttp with `AccessLogger`, and
add `SecretFilter` to an ASGI server's access logger. What needs a proxy in front: slow
clients trickling their headers (servers read headers before any application runs),
connection limits and TLS.
"""

from smsgate.webhooks._aiohttp import AccessLogger
from smsgate.webhooks._asgi import AsgiApp
from smsgate.webhooks._calls import FailureCallback
from smsgate.webhooks._calls import _Recent as _Recent  # for the tests of the repeat window
from smsgate.webhooks._core import (
    SECRET_HEADER,
    BodyReader,
    InboundCallback,
    ReportCallback,
    WebhookAnswer,
    WebhookRequest,
)
from smsgate.webhooks._logs import SecretFilter
from smsgate.webhooks._receiver import WebhookReceiver

__all__ = [
    "SECRET_HEADER",
    "AccessLogger",
    "AsgiApp",
    "BodyReader",
    "FailureCallback",
    "InboundCallback",
    "ReportCallback",
    "SecretFilter",
    "WebhookAnswer",
    "WebhookReceiver",
    "WebhookRequest",
]
