import pytest
from tenacity import RetryCallState, Retrying

from smsgate import (
    AuthenticationError,
    InsufficientCredit,
    InvalidRequest,
    Message,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    TransportError,
)
from smsgate.providers.smsworks import SmsWorksGateway
from smsgate.retry import RetryPolicy, should_retry
from tests.support.providers import SMSWORKS

BASE, TOKEN = SMSWORKS.base, SMSWORKS.token
fixture, calls = SMSWORKS.fixture, SMSWORKS.calls

P = "acme"


@pytest.mark.parametrize(
    ("error", "send", "status"),
    [
        (TransportError("refused", provider=P, maybe_sent=False), True, True),
        (TransportError("timed out", provider=P, maybe_sent=True), False, True),
        (RateLimited(provider=P, http_status=429), True, True),
        (ProviderUnavailable(provider=P, http_status=503, retryable=True), True, True),
        (ProviderUnavailable(provider=P, http_status=500), False, True),
        (ProviderUnavailable(provider=P, http_status=502), False, True),
        (ProviderUnavailable(provider=P, http_status=504), False, True),
        # documented "rejected, not charged": nothing was taken, but trying again is no use
        (ProviderUnavailable(provider=P, http_status=503, maybe_sent=False), False, True),
        (ProviderError(provider=P, http_status=303), False, False),
        (InvalidRequest(provider=P, http_status=400), False, False),
        (AuthenticationError(provider=P, http_status=401), False, False),
        (InsufficientCredit(provider=P, http_status=402), False, False),
        (NotFound(provider=P, http_status=404), False, False),
        (ProviderError(provider=P, http_status=409), False, False),
        (ValueError("a bug"), False, False),
    ],
)
def test_what_is_retried(error, send, status):
    assert should_retry(error, idempotent=False) is send
    assert should_retry(error, idempotent=True) is status


def state_after(error: BaseException, attempt: int) -> RetryCallState:
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


def test_waits_grow_with_jitter_up_to_the_cap():
    policy = RetryPolicy(backoff=0.5, max_backoff=4.0)
    refused = TransportError("refused", provider=P, maybe_sent=False)
    for attempt in range(1, 8):
        waits = {policy._wait(state_after(refused, attempt)) for _ in range(50)}
        assert all(0 <= w <= min(4.0, 0.5 * 2 ** (attempt - 1)) for w in waits)
        assert len(waits) > 1  # jittered


def test_retry_after_is_honoured_and_too_long_a_wait_gives_up():
    policy = RetryPolicy(max_retry_after=30)
    soon = RateLimited(provider=P, http_status=429, retry_after=7)
    assert policy._wait(state_after(soon, 1)) == 7
    assert policy._retryable(idempotent=False)(soon)
    later = RateLimited(provider=P, http_status=429, retry_after=120)
    assert not policy._retryable(idempotent=False)(later)


# --- through a gateway -----------------------------------------------------------------------


@pytest.fixture
async def gateway():
    async with SmsWorksGateway(token=TOKEN, sender="Acme", retries=2) as works:
        yield works


async def test_a_429_is_retried_after_its_retry_after(gateway, mock_http, retrying):
    mock_http.post(BASE + "/message/send", status=429, headers={"Retry-After": "3"})
    mock_http.post(BASE + "/message/send", status=201, payload=fixture("send"))
    receipt = await gateway.send(Message("+447700900123", "Hi"))
    assert receipt.message_id == "5b4ce5ba2b1e7a3a8c2a8d51"
    assert len(calls(mock_http, "POST", "/message/send")) == 2
    assert retrying == [3.0]


async def test_a_documented_try_again_is_retried(gateway, mock_http, retrying):
    busy = {"message": "Service database error", "errorCode": 5002, "status": "ERROR"}
    mock_http.post(BASE + "/message/send", status=503, payload=busy)
    mock_http.post(BASE + "/message/send", status=201, payload=fixture("send"))
    await gateway.send(Message("+447700900123", "Hi"))
    assert len(calls(mock_http, "POST", "/message/send")) == 2
    assert len(retrying) == 1


async def test_a_send_that_may_have_gone_is_never_retried(gateway, mock_http, retrying):
    mock_http.post(BASE + "/message/send", exception=TimeoutError())
    with pytest.raises(TransportError) as caught:
        await gateway.send(Message("+447700900123", "Hi"))
    assert caught.value.maybe_sent is True
    assert len(calls(mock_http, "POST", "/message/send")) == 1
    assert retrying == []


async def test_an_unexplained_5xx_to_a_send_is_not_retried(gateway, mock_http, retrying):
    mock_http.post(BASE + "/message/send", status=500, body="<html>oops</html>")
    with pytest.raises(ProviderUnavailable):
        await gateway.send(Message("+447700900123", "Hi"))
    assert len(calls(mock_http, "POST", "/message/send")) == 1


async def test_a_status_is_retried_on_a_5xx_and_a_timeout(gateway, mock_http, retrying):
    mock_http.get(BASE + "/messages/1", status=502, body="bad gateway")
    mock_http.get(BASE + "/messages/1", exception=TimeoutError())
    mock_http.get(BASE + "/messages/1", payload=fixture("message_delivered"))
    report = await gateway.status("1")
    assert report.status == "delivered"
    assert len(calls(mock_http, "GET", "/messages/1")) == 3


async def test_retries_stop_after_the_last_attempt(gateway, mock_http, retrying):
    mock_http.post(BASE + "/message/send", status=429, repeat=True)
    with pytest.raises(RateLimited):
        await gateway.send(Message("+447700900123", "Hi"))
    assert len(calls(mock_http, "POST", "/message/send")) == 3
    assert len(retrying) == 2


async def test_retries_zero_turns_retrying_off(mock_http, retrying):
    mock_http.post(BASE + "/message/send", status=429, repeat=True)
    async with SmsWorksGateway(token=TOKEN, sender="Acme", retries=0) as gateway:
        with pytest.raises(RateLimited):
            await gateway.send(Message("+447700900123", "Hi"))
    assert len(calls(mock_http, "POST", "/message/send")) == 1


async def test_set_testing_turns_retrying_off_everywhere(gateway, mock_http):
    # the suite runs with set_testing(True); see tests/conftest.py
    mock_http.post(BASE + "/message/send", status=429, repeat=True)
    with pytest.raises(RateLimited):
        await gateway.send(Message("+447700900123", "Hi"))
    assert len(calls(mock_http, "POST", "/message/send")) == 1


# --- rate limits -----------------------------------------------------------------------------


async def test_rate_limits_are_taken_per_request_and_per_message(mock_http, monkeypatch):
    mock_http.post(BASE + "/batch/any", status=201, payload=fixture("batch"))
    mock_http.get(BASE + "/messages/1", payload=fixture("message_delivered"))
    gateway = SmsWorksGateway(
        token=TOKEN, sender="Acme", requests_per_second=50, messages_per_second=1000
    )
    taken: dict[str, list[int]] = {"requests": [], "messages": []}

    class Spy:
        """Stands in for a limiter and records each amount taken (Python 3.13 refuses to
        replace a method on an instance of aiolimiter's slotted AsyncLimiter)."""

        def __init__(self, kind: str) -> None:
            self.kind = kind

        async def acquire(self, amount: float = 1) -> None:
            taken[self.kind].append(int(amount))

    assert gateway._request_rate is not None
    assert gateway._message_rate is not None
    monkeypatch.setattr(gateway, "_request_rate", Spy("requests"))
    monkeypatch.setattr(gateway, "_message_rate", Spy("messages"))
    messages = [Message(f"+4477009{i:05d}", f"n{i}") for i in range(2500)]
    await gateway.send_batch(messages)
    await gateway.status("1")
    await gateway.aclose()
    assert taken["requests"] == [1, 1]
    assert taken["messages"] == [2500]  # the status request carries no message


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"retries": -1}, "retries: must be a whole number"),
        ({"retries": 1.5}, "retries: must be a whole number"),
        ({"retry_backoff": 0}, "retry_backoff: must be a positive number"),
        ({"requests_per_second": 0}, "requests_per_second: must be a positive number"),
        ({"messages_per_second": -5}, "messages_per_second: must be a positive number"),
    ],
)
def test_bad_retry_and_rate_settings_are_refused(options, problem):
    from smsgate import ConfigurationError

    with pytest.raises(ConfigurationError, match=problem):
        SmsWorksGateway(token=TOKEN, **options)
