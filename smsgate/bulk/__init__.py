"""Bulk sending: many messages through any gateway, concurrently, one outcome per message.

`send_many` reads its input lazily (a list, an iterator or an async iterator), checks each
message before any request, groups messages into the provider's batch requests where the
gateway can batch (`BatchingGateway`), and otherwise sends them one by one, with at most
``concurrency`` requests in flight. It streams an `Outcome` for every input, in the order they
complete; each carries the input's index and reference.

Guarantees:

- Every input taken from the source gets exactly one outcome, however the run ends (done,
  ``break``, ``cancel()``, a timeout, a callback or a loop body that raises, ``aclose()``):
  ``ACCEPTED`` (with its receipt), ``FAILED`` (with a typed error; nothing was sent),
  ``UNCERTAIN`` (its request left and the provider may have taken it: look it up before
  sending it again) or ``UNSENT`` (the run stopped before its request left). Outcomes the run
  could not hand over because it was stopped are kept in ``summary.unseen``.
- An invalid message fails alone, before any request. A batch the provider refuses as a whole
  (a certain ``InvalidRequest``) is split until the bad messages are isolated, and the rest go
  out. An error on one request never stops the others, and no exception escapes for a
  per-message problem.
- At most ``concurrency * chunk_size`` messages are held at once, whatever the input's size.
- With a journal (``journal=``, ``run=``), each input is recorded as claimed, dispatched
  (before its request leaves) and answered, so that a run killed at any instant resumes
  with nothing sent twice and nothing skipped (`smsgate.journal`).
"""

from smsgate.bulk._core import SINGLE_SEND_CHUNK as SINGLE_SEND_CHUNK
from smsgate.bulk._core import Item as Item
from smsgate.bulk._run import BulkSend, send_all, send_many
from smsgate.bulk._summary import Progress, Summary
from smsgate.gateway import BatchingGateway
from smsgate.outcomes import Outcome, OutcomeStatus

__all__ = [
    "BatchingGateway",
    "BulkSend",
    "Outcome",
    "OutcomeStatus",
    "Progress",
    "Summary",
    "send_all",
    "send_many",
]
