import pytest

import smsgate.errors
from smsgate import FailureReason
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
    error_class_for_status,
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
