"""smsgate: send SMS from asyncio services through any provider with one API.

>>> import asyncio, smsgate
>>> async def main():
...     async with smsgate.connect("fake", default_region="GB") as gateway:
...         receipt = await gateway.send(gateway.message("07700 900123", "Hello"))
...         report = await gateway.status(receipt)
...     return receipt.to, report.status
>>> asyncio.run(main())
('+447700900123', <DeliveryStatus.QUEUED: 'queued'>)
"""

from smsgate import routing, testing  # noqa: F401 (they register "routing" and "fake")
from smsgate._version import __version__
from smsgate.bulk import BatchingGateway, BulkSend, Progress, Summary, send_all, send_many
from smsgate.config import available_providers, connect, from_config, from_env, from_toml
from smsgate.encoding import Encoding, Segments, segments
from smsgate.errors import (
    AuthenticationError,
    ConfigurationError,
    GatewayError,
    InsufficientCredit,
    InvalidRequest,
    KeyConflict,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RecipientSuppressed,
    SmsGateError,
    TransportError,
    Unresolved,
    UnsupportedFeature,
    ValidationError,
    may_have_sent,
)
from smsgate.gateway import SmsGateway
from smsgate.model import (
    BatchReceipt,
    InboundMessage,
    Message,
    MessageRef,
    Receipt,
    StatusReport,
    normalize_number,
)
from smsgate.outcomes import Outcome, OutcomeStatus, resolve, try_send
from smsgate.pricing import Estimate, estimate
from smsgate.status import DeliveryStatus, FailureReason
from smsgate.tracking import StatusTimeout, Tracker, track, wait_for_final

__all__ = [
    "AuthenticationError",
    "BatchReceipt",
    "BatchingGateway",
    "BulkSend",
    "ConfigurationError",
    "DeliveryStatus",
    "Encoding",
    "Estimate",
    "FailureReason",
    "GatewayError",
    "InboundMessage",
    "InsufficientCredit",
    "InvalidRequest",
    "KeyConflict",
    "Message",
    "MessageRef",
    "NotFound",
    "Outcome",
    "OutcomeStatus",
    "PermissionDenied",
    "Progress",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "Receipt",
    "RecipientSuppressed",
    "Segments",
    "SmsGateError",
    "SmsGateway",
    "StatusReport",
    "StatusTimeout",
    "Summary",
    "Tracker",
    "TransportError",
    "Unresolved",
    "UnsupportedFeature",
    "ValidationError",
    "__version__",
    "available_providers",
    "connect",
    "estimate",
    "from_config",
    "from_env",
    "from_toml",
    "may_have_sent",
    "normalize_number",
    "resolve",
    "segments",
    "send_all",
    "send_many",
    "track",
    "try_send",
    "wait_for_final",
]
