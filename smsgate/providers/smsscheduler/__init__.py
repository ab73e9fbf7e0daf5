"""SMS Scheduler (https://sms-scheduler.com): JSON over HTTPS, authenticated by a bearer token.

Endpoints (base ``https://sms-scheduler.com/api/v1``) and the methods that call them:

=========================  ===================================================================
``POST /sms``               `SmsSchedulerGateway.send` and `SmsSchedulerGateway.schedule`
``GET /sms/{id}``           `SmsSchedulerGateway.status` (one SMS: one recipient)
``DELETE /sms/{id}``        `SmsSchedulerGateway.cancel`
``GET /message/{id}``       `SmsSchedulerGateway.batch_status` (every SMS of one request)
``DELETE /message/{id}``    `SmsSchedulerGateway.cancel_batch`
=========================  ===================================================================

One ``POST /sms`` is one *message* (``message_id``) to many numbers, and each number gets its
own *SMS* (``sms_ids``). A `Receipt` is per recipient: its ``message_id`` is that recipient's
SMS id and its ``batch_id`` the request's message id.

The package is a pure codec — `schema` (the wire classes) and `codec` (the status table,
builders, readers, `parse_error`) — beside a thin `SmsSchedulerGateway` (`gateway`).

Three published versions of the API page disagree (base URL, ``bearer``/``Bearer``,
``sms_ids`` values as lists or single integers); the choices are noted beside the code.
"""

from smsgate.providers.smsscheduler.codec import (
    BASE_URL,
    DATE_FORMAT,
    NAME,
    STATUSES,
    StatusRule,
    check_supported,
    delivery_date,
    immediate_date,
    parse_code,
    parse_created,
    parse_error,
    parse_report,
    parse_success,
    sms_payload,
)
from smsgate.providers.smsscheduler.gateway import SmsSchedulerGateway

__all__ = [
    "BASE_URL",
    "DATE_FORMAT",
    "NAME",
    "STATUSES",
    "SmsSchedulerGateway",
    "StatusRule",
    "check_supported",
    "delivery_date",
    "immediate_date",
    "parse_code",
    "parse_created",
    "parse_error",
    "parse_report",
    "parse_success",
    "sms_payload",
]
