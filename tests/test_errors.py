import pytest

import smsgate.errors
from smsgate import FailureReason
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
    SmsGateError,
    TransportError,
    Unresolved,
    UnsupportedFeature,
    ValidationError,
    error_class_for_status,
    may_have_sent,
)


@pytest.mark.parametrize(
    ("error_class", "parent"),
    [
        (ConfigurationError, SmsGateError),
        (ValidationError, SmsGateError),
        (ValidationError, ValueError),
        (UnsupportedFeature, SmsGateError),
        (GatewayError, SmsGateError),
        (ProviderError, GatewayError),
        (AuthenticationError, ProviderError),
        (PermissionDenied, ProviderError),
        (InsufficientCredit, ProviderError),
        (InvalidRequest, ProviderError),
        (NotFound, ProviderError),
        (RateLimited, ProviderError),
        (ProviderUnavailable, ProviderError),
        (TransportError, GatewayError),
        (KeyConflict, GatewayError),
        (Unresolved, GatewayError),
    ],
)
def test_the_error_tree(error_class, parent):
    assert issubclass(error_class, parent)


def test_the_module_docstring_draws_every_error_class():
    doc = smsgate.errors.__doc__
    for name in smsgate.errors.__all__:
        if name != "error_class_for_status":
            assert name in doc


@pytest.mark.parametrize(
    ("http_status", "error_class"),
    [
        (400, InvalidRequest),
        (401, AuthenticationError),
        (402, InsufficientCredit),
        (403, PermissionDenied),
        (404, NotFound),
        (409, ProviderError),
        (422, InvalidRequest),
        (429, RateLimited),
        (500, ProviderUnavailable),
        (502, ProviderUnavailable),
        (503, ProviderUnavailable),
        (504, ProviderUnavailable),
    ],
)
def test_error_class_for_status(http_status, error_class):
    assert error_class_for_status(http_status) is error_class


@pytest.mark.parametrize(
    ("error_class", "permanent", "retryable", "reason", "advice"),
    [
        (ProviderError, True, False, FailureReason.PROVIDER_ERROR, "check the request"),
        (AuthenticationError, True, False, FailureReason.PROVIDER_ERROR, "check the token"),
        (PermissionDenied, True, False, FailureReason.ACCOUNT, "permissions"),
        (InsufficientCredit, True, False, FailureReason.INSUFFICIENT_CREDIT, "top up"),
        (InvalidRequest, True, False, FailureReason.INVALID_REQUEST, "fix the input"),
        (NotFound, True, False, FailureReason.PROVIDER_ERROR, "check the id"),
        (RateLimited, False, True, FailureReason.PROVIDER_ERROR, "slow down"),
        (ProviderUnavailable, False, False, FailureReason.PROVIDER_ERROR, "check before sending"),
    ],
)
def test_provider_errors_carry_defaults_and_say_what_to_do(
    error_class, permanent, retryable, reason, advice
):
    error = error_class("It went wrong", provider="acme", http_status=418, code=4999)
    assert (error.permanent, error.retryable, error.reason) == (permanent, retryable, reason)
    assert str(error).startswith("acme answered HTTP 418 error 4999: It went wrong (")
    assert advice in str(error)


def test_provider_error_defaults_can_be_overridden_per_instance():
    error = ProviderUnavailable(
        provider="acme",
        http_status=503,
        code=5002,
        permanent=False,
        retryable=True,
        reason=FailureReason.PROVIDER_ERROR,
        body={"errorCode": 5002},
    )
    assert error.retryable is True
    assert error.body == {"errorCode": 5002}
    assert (
        str(error)
        == "acme answered HTTP 503 error 5002 (the provider took nothing; try again later)"
    )


def test_a_long_detail_is_cut_to_an_excerpt_on_one_line():
    error = ProviderUnavailable("<html>\n" + "x" * 1000, provider="acme", http_status=500)
    message = str(error)
    assert "\n" not in message
    assert len(message) < 300
    assert "…" in message


def test_invalid_request_carries_per_field_errors_and_names_them():
    error = InvalidRequest(
        provider="smsscheduler",
        http_status=400,
        errors={"phone_numbers": ["The following phone number is invalid: +123456789"]},
    )
    assert error.errors == {"phone_numbers": ["The following phone number is invalid: +123456789"]}
    assert "phone_numbers: The following phone number is invalid: +123456789" in str(error)


def test_rate_limited_carries_retry_after():
    error = RateLimited(provider="acme", http_status=429, retry_after=2.5)
    assert error.retry_after == 2.5


@pytest.mark.parametrize(
    ("maybe_sent", "advice"),
    [
        (True, "the provider may have accepted it; check before sending again"),
        (False, "nothing was sent; it is safe to try again"),
    ],
)
def test_transport_error_says_whether_it_is_safe_to_resend(maybe_sent, advice):
    error = TransportError("timed out", provider="acme", maybe_sent=maybe_sent)
    assert error.maybe_sent is maybe_sent
    assert str(error) == f"acme: timed out ({advice})"


def test_validation_error_names_the_field_and_the_problem():
    error = ValidationError("to", "is empty")
    assert (error.field, error.problem, str(error)) == ("to", "is empty", "to: is empty")


def test_unsupported_feature_names_provider_feature_and_hint():
    error = UnsupportedFeature("smsscheduler", "flash messages", "send a normal SMS instead")
    assert str(error) == "smsscheduler does not support flash messages; send a normal SMS instead"


# --- the one rule: what a failed send means --------------------------------------------------


@pytest.mark.parametrize(
    ("error", "maybe_sent"),
    [
        # Only a 4xx proves the provider took nothing; anything else may have been taken.
        *[(ProviderError(provider="p", http_status=s), False) for s in (400, 404, 409, 413, 499)],
        *[(ProviderError(provider="p", http_status=s), True) for s in (301, 303, 307, 500, 599)],
        (ProviderError(provider="p"), True),  # an error in a 2xx body
        *[(ProviderUnavailable(provider="p", http_status=s), True) for s in (500, 502, 503, 504)],
        # ... unless the provider documents that the answer means nothing was taken.
        (ProviderUnavailable(provider="p", http_status=503, maybe_sent=False), False),
        (ProviderUnavailable(provider="p", http_status=503, retryable=True), False),
        (InvalidRequest(provider="p", http_status=400), False),
        (InvalidRequest(provider="p", http_status=503), False),  # the class says: refused
        (AuthenticationError(provider="p", http_status=401), False),
        (PermissionDenied(provider="p", http_status=403), False),
        (InsufficientCredit(provider="p", http_status=402), False),
        (NotFound(provider="p", http_status=404), False),
        (RateLimited(provider="p", http_status=429), False),
        (TransportError("refused", provider="p", maybe_sent=False), False),
        (TransportError("timed out", provider="p", maybe_sent=True), True),
        (GatewayError("a bug", provider="p"), True),
        (KeyConflict("k", [], provider="p", problem="2 messages"), True),
        (Unresolved("k", provider="p", waited=30), True),
    ],
)
def test_maybe_sent_follows_the_one_rule(error, maybe_sent):
    assert error.maybe_sent is maybe_sent
    assert may_have_sent(error) is maybe_sent


@pytest.mark.parametrize(
    ("error", "maybe_sent"),
    [
        (ValidationError("to", "x"), False),
        (ConfigurationError("x"), False),
        (UnsupportedFeature("p", "x"), False),
        (KeyError("an adapter's bug"), True),
        (RuntimeError("anything else"), True),
    ],
)
def test_errors_raised_before_any_request_never_may_have_sent_and_unknown_ones_may(
    error, maybe_sent
):
    assert may_have_sent(error) is maybe_sent


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (
            ProviderUnavailable(provider="p", http_status=502),
            "it may have taken the message; check before sending it again",
        ),
        (
            ProviderUnavailable(provider="p", http_status=503, retryable=True),
            "the provider took nothing; try again later",
        ),
        (
            ProviderUnavailable(provider="p", http_status=503, maybe_sent=False),
            "the provider took nothing and sent nothing",
        ),
    ],
)
def test_a_5xx_says_whether_the_message_may_have_been_taken(error, advice):
    assert str(error).endswith(f"({advice})")


def test_lookup_errors_say_what_was_found_and_what_to_do():
    conflict = KeyConflict("k-1", ["a", "b"], provider="smsworks", problem="2 messages")
    unresolved = Unresolved("k-2", provider="smsworks", waited=30.4)
    assert (conflict.key, conflict.reports) == ("k-1", ["a", "b"])
    assert str(conflict) == (
        "smsworks: 2 messages under idempotency key 'k-1'; look at them before sending again"
    )
    assert (unresolved.key, unresolved.waited) == ("k-2", 30.4)
    assert str(unresolved).startswith(
        "smsworks: the message with idempotency key 'k-2': not found after 30 s of looking"
    )
