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

from smsgate._version import __version__
from smsgate.bulk import (
    BatchingGateway,
    BulkSend,
    Outcome,
    OutcomeStatus,
    Progress,
    Summary,
    send_all,
    send_many,
)
from smsgate.config import available_providers, connect, from_config, from_env, from_toml
from smsgate.encoding import Encoding, Segments, segments
from smsgate.errors import (
    AuthenticationError,
    ConfigurationError,
    GatewayError,
    InsufficientCredit,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    SmsGateError,
    TransportError,
    UnsupportedFeature,
    ValidationError,
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
    "FailureReason",
    "GatewayError",
    "InboundMessage",
    "InsufficientCredit",
    "InvalidRequest",
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
    "Segments",
    "SmsGateError",
    "SmsGateway",
    "StatusReport",
    "StatusTimeout",
    "Summary",
    "Tracker",
    "TransportError",
    "UnsupportedFeature",
    "ValidationError",
    "__version__",
    "available_providers",
    "connect",
    "from_config",
    "from_env",
    "from_toml",
    "normalize_number",
    "segments",
    "send_all",
    "send_many",
    "track",
    "wait_for_final",
]
