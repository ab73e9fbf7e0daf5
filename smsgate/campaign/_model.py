"""What a campaign is made of, and how it stands: its error, each row as stored, and the
counts of its chunks. Pure: no database here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from smsgate.errors import SmsGateError
from smsgate.model import Message

__all__ = ["FAILED_JOBS_KEPT", "CampaignError", "CampaignStatus", "ChunkStatus", "stored_row"]

# Chunk jobs that failed (each after its own retries) before the chunk is left for a person
# to look at: workers stop queueing it again by themselves (`Campaigns.requeue` does).
FAILED_JOBS_KEPT = 3

_FIELDS = frozenset(
    ("to", "text", "sender", "reference", "tag", "metadata", "region", "provider_options")
)


class CampaignError(SmsGateError):
    """A campaign cannot be started, queued or read: the name is taken or unknown, a row is
    not a message, a chunk is queued already, or the database cannot be used."""


@attrs.frozen
class ChunkStatus:
    """Where one chunk of a campaign stands, by its journal.

    Attributes:
        chunk: its number, from 0.
        rows: how many rows it holds.
        accepted: rows the provider took.
        failed: rows the provider refused, or that could not be sent.
        uncertain: rows whose request left with no answer that settled them.
        suppressed: rows not sent because their recipient opted out (a suppression list).
        failed_jobs: jobs of this chunk that failed, each after all its tries.
        queued: a job of this chunk is waiting or running.
        pending: rows with no outcome yet (not read, or on their way).
        stuck: rows are pending, no job is queued, and its jobs failed `FAILED_JOBS_KEPT`
            times: no worker queues it again by itself (see `Campaigns.requeue`).
    """

    chunk: int
    rows: int
    accepted: int = 0
    failed: int = 0
    uncertain: int = 0
    suppressed: int = 0
    failed_jobs: int = 0
    queued: bool = False

    @property
    def pending(self) -> int:
        return self.rows - self.accepted - self.failed - self.uncertain - self.suppressed

    @property
    def stuck(self) -> bool:
        return self.failed_jobs >= FAILED_JOBS_KEPT and self.pending > 0 and not self.queued


@attrs.frozen
class CampaignStatus:
    """Where a campaign stands: its chunks, and their sums."""

    name: str
    chunks: tuple[ChunkStatus, ...]

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.chunks)

    @property
    def accepted(self) -> int:
        return sum(c.accepted for c in self.chunks)

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.chunks)

    @property
    def uncertain(self) -> int:
        return sum(c.uncertain for c in self.chunks)

    @property
    def suppressed(self) -> int:
        return sum(c.suppressed for c in self.chunks)

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.chunks)

    @property
    def stuck(self) -> tuple[int, ...]:
        """The chunks no worker will take up again by itself (`ChunkStatus.stuck`)."""
        return tuple(c.chunk for c in self.chunks if c.stuck)

    @property
    def done(self) -> bool:
        """Whether every row has an outcome."""
        return self.pending == 0

    def as_dict(self, *, chunks: bool = False) -> dict[str, Any]:
        """The counts as JSON-ready data (each chunk's too, with ``chunks``)."""
        totals: dict[str, Any] = {
            "name": self.name,
            "rows": self.rows,
            "accepted": self.accepted,
            "failed": self.failed,
            "uncertain": self.uncertain,
            "suppressed": self.suppressed,
            "pending": self.pending,
            "stuck": list(self.stuck),
        }
        if chunks:
            totals["chunks"] = [
                {**attrs.asdict(c), "pending": c.pending, "stuck": c.stuck} for c in self.chunks
            ]
        return totals


def stored_row(item: Message | Mapping[str, Any], position: int) -> dict[str, Any]:
    """A row as stored: the message's fields, checked by building it.

    Raises:
        CampaignError: it is not a message (``position`` from 0 names it, from 1).
    """
    if isinstance(item, Message):
        fields: dict[str, Any] = {"to": item.to, "text": item.text}
        for name in ("sender", "reference", "tag"):
            if getattr(item, name) is not None:
                fields[name] = getattr(item, name)
        if item.metadata:
            fields["metadata"] = dict(item.metadata)
        if item.provider_options:
            fields["provider_options"] = {k: dict(v) for k, v in item.provider_options.items()}
        if item.validity is not None:
            raise CampaignError(f"row {position + 1}: validity cannot be kept in a campaign yet")
        return fields
    if not isinstance(item, Mapping):
        raise CampaignError(f"row {position + 1}: a Message or a mapping of its fields")
    fields = {k: v for k, v in item.items() if v not in (None, "")}
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise CampaignError(f"row {position + 1}: unknown field {', '.join(unknown)}")
    try:
        Message(**fields)
    except (SmsGateError, TypeError) as exc:
        raise CampaignError(f"row {position + 1}: {exc}") from None
    return fields
