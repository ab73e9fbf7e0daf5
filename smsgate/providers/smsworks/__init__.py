"""The SMS Works (https://thesmsworks.co.uk): JSON over HTTPS, authenticated by a JWT.

Endpoints (base ``https://api.thesmsworks.co.uk/v1``) and the methods that call them:

==========================================  ==========================================
``POST /auth/token``                         first request of a key/secret gateway
``POST /message/send``                       `SmsWorksGateway.send`
``POST /message/flash``                      `SmsWorksGateway.send` with ``flash``
``POST /message/schedule``                   `SmsWorksGateway.schedule`
``GET /messages/{id}``                       `SmsWorksGateway.status`
``POST /messages``                           `SmsWorksGateway.search`, `SmsWorksGateway.find`
``DELETE /messages/schedule/{id}``           `SmsWorksGateway.cancel`
``POST /batch/send``                         `SmsWorksGateway.send_batch` (one text)
``POST /batch/any``                          `SmsWorksGateway.send_batch` (distinct texts)
``POST /batch/schedule``                     `SmsWorksGateway.schedule_batch`
``GET /batch/{id}``                          `SmsWorksGateway.batch_status`
``DELETE /batches/schedule/{id}``            `SmsWorksGateway.cancel_batch`
``GET /credits/balance``                     `SmsWorksGateway.balance`
==========================================  ==========================================

Each message carries smsgate's idempotency key (`Message.key`) in its metadata, as
``{"key": "smsgate_key", "value": ...}`` beside the caller's own pairs, so that a send whose
outcome is uncertain can be looked up with ``POST /messages`` (`SmsWorksGateway.find`).
``idempotency_keys=False`` turns this off. ``/batch/send`` and ``/batch/schedule`` (one text
to many numbers) take no metadata: with keys on, immediate batches go through ``/batch/any``,
and scheduled batches go without keys (their messages cannot be looked up).

The SMS Works also POSTs to the account's own URLs: a delivery report for each message, and
each incoming SMS (`parse_webhook` reads both; `smsgate.webhooks` serves them).

The package is a pure codec — `schema` (the wire classes and the API's names), `codec`
(checks and request builders), `answers` (tables and readers, `parse_error`), `credentials`
(their checks) and `webhooks` — beside a thin `SmsWorksGateway` (`gateway`) that holds the
credentials and does the I/O.

The contract is the provider's developer guide and OpenAPI spec 1.10.0. Where they disagree
(content length, tag length, the schedule date format, the shape of ``/message/schedule``'s
answer) the choices are noted beside the code that makes them.
"""

from smsgate.providers.smsworks.codec import (
    BASE_URL,
    ERRORS,
    KEY_NAME,
    MAX_BATCH,
    MAX_SEARCH,
    NAME,
    STATUSES,
    ErrorRule,
    batch_payload,
    check_metadata,
    check_sender,
    message_payload,
    parse_batch_status,
    parse_error,
    parse_logged,
    parse_status,
    parse_time,
    schedule_time,
    search_query,
    wire_number,
)
from smsgate.providers.smsworks.gateway import SmsWorksGateway
from smsgate.providers.smsworks.webhooks import parse_delivery_report, parse_inbound, parse_webhook

__all__ = [
    "BASE_URL",
    "ERRORS",
    "KEY_NAME",
    "MAX_BATCH",
    "MAX_SEARCH",
    "NAME",
    "STATUSES",
    "ErrorRule",
    "SmsWorksGateway",
    "batch_payload",
    "check_metadata",
    "check_sender",
    "message_payload",
    "parse_batch_status",
    "parse_delivery_report",
    "parse_error",
    "parse_inbound",
    "parse_logged",
    "parse_status",
    "parse_time",
    "parse_webhook",
    "schedule_time",
    "search_query",
    "wire_number",
]
