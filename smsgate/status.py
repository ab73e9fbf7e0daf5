"""One status vocabulary for every provider, and one vocabulary of reasons for failure."""

from __future__ import annotations

from enum import StrEnum, unique

__all__ = ["DeliveryStatus", "FailureReason"]


@unique
class DeliveryStatus(StrEnum):
    """Where a message stands, whatever provider carried it.

    Each adapter maps its provider's words or codes onto these, and keeps the raw one in
    ``provider_status``. Use `is_final` to know whether it can still change.
    """

    SCHEDULED = "scheduled"
    """Held by the provider until its send time; it can still be cancelled. Not charged yet."""

    QUEUED = "queued"
    """Accepted by the provider, not yet handed to a mobile network."""

    SENT = "sent"
    """Handed to a mobile network; no delivery receipt yet."""

    DELIVERED = "delivered"
    """The network confirmed delivery to the handset. Final."""

    UNDELIVERED = "undelivered"
    """The network tried and failed (bad number, handset unreachable ...). Final."""

    EXPIRED = "expired"
    """The network gave up when the validity period ran out. Final."""

    REJECTED = "rejected"
    """Refused by the provider or platform and never sent; ``reason`` says why. Final."""

    CANCELLED = "cancelled"
    """Cancelled at the caller's request before it was sent. Final."""

    UNKNOWN = "unknown"
    """The provider reported something it cannot or we do not recognise. May still change."""

    @property
    def is_final(self) -> bool:
        """Whether this status can no longer change."""
        return self in _FINAL


_FINAL = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED,
        DeliveryStatus.EXPIRED,
        DeliveryStatus.REJECTED,
        DeliveryStatus.CANCELLED,
    }
)


@unique
class FailureReason(StrEnum):
    """Why a message failed or was refused, in provider-neutral terms."""

    INVALID_RECIPIENT = "invalid_recipient"
    """The number is wrong, missing, or not in service."""

    INVALID_SENDER = "invalid_sender"
    """The sender is missing, too long, or not allowed on the account."""

    INVALID_CONTENT = "invalid_content"
    """The text is missing, too long, has characters or words the provider refuses."""

    INVALID_REQUEST = "invalid_request"
    """Some other part of the request was refused (a tag too long, a malformed option)."""

    INSUFFICIENT_CREDIT = "insufficient_credit"
    """The account ran out of credit."""

    BLOCKED = "blocked"
    """The recipient is blacklisted, opted out, or the carrier blocked the message."""

    EXPIRED = "expired"
    """The validity period ended before the message could be delivered."""

    UNSUPPORTED_DESTINATION = "unsupported_destination"
    """The account or provider cannot send to that country or network."""

    ACCOUNT = "account"
    """The account is not authorised, not found, or disabled."""

    NETWORK = "network"
    """The mobile network was unavailable."""

    PROVIDER_ERROR = "provider_error"
    """The provider failed internally."""

    UNKNOWN = "unknown"
    """The provider gave no reason, or one we do not recognise."""
