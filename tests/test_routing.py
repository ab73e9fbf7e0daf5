import json

import pytest

import smsgate
from smsgate import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequest,
    Message,
    NotFound,
    ProviderUnavailable,
    SmsGateway,
    TransportError,
    ValidationError,
    send_all,
)
from smsgate.routing import RoutingGateway
from smsgate.testing import FakeGateway

UK, FR = "+447700900123", "+33612345678"


def refused(name):
    return TransportError("refused", provider=name, maybe_sent=False)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def pair():
    primary, backup = FakeGateway(name="primary"), FakeGateway(name="backup")
    router = RoutingGateway(providers=[primary, backup], failures=2, cooldown=30)
    router._clock = Clock()
    return router, primary, backup


def test_the_router_is_an_sms_gateway():
    assert isinstance(RoutingGateway(providers=[FakeGateway()]), SmsGateway)


async def test_failover_moves_on_when_nothing_was_sent(pair):
    router, primary, backup = pair
    primary.fail(refused("primary"))
    receipt = await router.send(Message(UK, "Hi"))
    assert receipt.provider == "backup"
    assert (len(primary.outbox), len(backup.outbox)) == (0, 1)


async def test_failover_never_moves_on_when_it_may_have_sent(pair):
    router, primary, backup = pair
    primary.fail(
        TransportError("timed out", provider="primary", maybe_sent=True), after_accepting=True
    )
    with pytest.raises(TransportError) as caught:
        await router.send(Message(UK, "Hi"))
    assert caught.value.maybe_sent is True
    assert (len(primary.outbox), len(backup.outbox)) == (1, 0)


@pytest.mark.parametrize("http_status", [500, 502, 503, 504])
async def test_failover_never_moves_on_after_a_5xx(pair, http_status):
    router, primary, backup = pair
    error = ProviderUnavailable("Bad Gateway", provider="primary", http_status=http_status)
    primary.fail(error, after_accepting=True)  # stored, then the error: it will be sent
    with pytest.raises(ProviderUnavailable) as caught:
        await router.send(Message(UK, "Hi"))
    assert caught.value.provider == "primary"  # the provider that may have it
    assert str(caught.value).startswith(f"primary answered HTTP {http_status}")
    assert (len(primary.outbox), len(backup.outbox)) == (1, 0)
    assert router.circuits["primary"].failures == 1  # it still counts against the provider


async def test_failover_moves_on_after_an_answer_documented_as_nothing_taken(pair):
    router, primary, backup = pair
    primary.fail(ProviderUnavailable(provider="primary", http_status=503, maybe_sent=False))
    receipt = await router.send(Message(UK, "Hi"))
    assert receipt.provider == "backup"
    assert (len(primary.outbox), len(backup.outbox)) == (0, 1)


def test_the_router_announces_requests_when_every_provider_does():
    assert RoutingGateway(
        providers=[FakeGateway(name="a"), FakeGateway(name="b")]
    ).announces_dispatch

    class Quiet(FakeGateway):
        announces_dispatch = False

    assert not RoutingGateway(providers=[FakeGateway(name="a"), Quiet(name="b")]).announces_dispatch


async def test_the_last_error_is_raised_when_every_provider_fails(pair):
    router, primary, backup = pair
    primary.fail(refused("primary"))
    backup.fail(ProviderUnavailable(provider="backup", http_status=503, retryable=True))
    with pytest.raises(ProviderUnavailable) as caught:
        await router.send(Message(UK, "Hi"))
    assert caught.value.provider == "backup"


async def test_a_message_specific_refusal_moves_on_without_opening_the_circuit(pair):
    router, primary, _ = pair
    primary.fail(InvalidRequest(provider="primary", http_status=400), times=5)
    for _ in range(5):
        assert (await router.send(Message(UK, "Hi"))).provider == "backup"
    assert not router.circuits["primary"].is_open


async def test_a_failing_provider_is_skipped_for_its_cool_down_then_probed_once(pair):
    router, primary, _ = pair
    clock = router._clock
    primary.fail(refused("primary"), times=None)
    for _ in range(2):
        await router.send(Message(UK, "Hi"))
    assert router.circuits["primary"].is_open
    before = router.circuits["primary"].failures
    for _ in range(10):
        assert (await router.send(Message(UK, "Hi"))).provider == "backup"
    assert router.circuits["primary"].failures == before  # skipped: not asked at all
    clock.now += 31
    primary._failures.clear()  # the provider has recovered
    assert (await router.send(Message(UK, "Hi"))).provider == "primary"  # the one trial
    assert not router.circuits["primary"].is_open
    assert (await router.send(Message(UK, "Hi"))).provider == "primary"


async def test_a_failed_probe_opens_the_circuit_again(pair):
    router, primary, _ = pair
    primary.fail(AuthenticationError(provider="primary", http_status=401), times=None)
    for _ in range(2):
        await router.send(Message(UK, "Hi"))
    router._clock.now += 31
    await router.send(Message(UK, "Hi"))  # the probe fails
    assert router.circuits["primary"].is_open
    assert router.circuits["primary"].open_until == router._clock.now + 30


def test_only_one_probe_at_a_time():
    circuit = smsgate.routing.Circuit(threshold=1, cooldown=5)
    circuit.failed(0)
    assert not circuit.allow(1)
    assert circuit.allow(6)
    assert not circuit.allow(6)  # the trial is under way
    circuit.succeeded()
    assert circuit.allow(7)


async def test_when_every_circuit_is_open_the_providers_are_tried_anyway(pair):
    router, primary, backup = pair
    for gateway in (primary, backup):
        router.circuits[gateway.name].failed(router._clock())
        router.circuits[gateway.name].failed(router._clock())
    assert (await router.send(Message(UK, "Hi"))).provider == "primary"


async def test_round_robin_takes_turns():
    a, b = FakeGateway(name="a"), FakeGateway(name="b")
    router = RoutingGateway(providers=[a, b], strategy="round_robin")
    providers = [(await router.send(Message(UK, f"n{i}"))).provider for i in range(6)]
    assert providers == ["a", "b", "a", "b", "a", "b"]


async def test_routing_by_country_sends_each_country_its_way():
    uk, fr = FakeGateway(name="uk"), FakeGateway(name="fr")
    router = RoutingGateway(providers=[uk, fr], strategy="by_country", routes={"fr": "fr"})
    assert (await router.send(Message(FR, "Salut"))).provider == "fr"
    assert (await router.send(Message(UK, "Hi"))).provider == "uk"
    assert (await router.send(Message("+12015550123", "Hey"))).provider == "uk"
    fr.fail(refused("fr"))
    assert (await router.send(Message(FR, "Salut"))).provider == "uk"  # and fails over


async def test_status_and_cancel_go_to_the_provider_that_accepted(pair):
    from datetime import UTC, datetime, timedelta

    router, primary, _ = pair
    primary.fail(refused("primary"))
    receipt = await router.schedule(Message(UK, "Later"), datetime.now(UTC) + timedelta(days=1))
    assert receipt.provider == "backup"
    assert (await router.status(receipt)).provider == "backup"
    assert (await router.cancel(receipt)).status == "cancelled"
    assert (await router.status(receipt.message_id)).provider == "backup"  # asked in turn
    with pytest.raises(NotFound):
        await router.status("nobody-has-this")
    stranger = receipt.__class__(provider="other", message_id="1", to=UK, status="queued")
    with pytest.raises(ValidationError, match="not one of this gateway's"):
        await router.status(stranger)


async def test_bulk_sends_work_through_the_router(pair):
    router, primary, backup = pair
    primary.fail(refused("primary"), times=3)
    messages = [Message(f"+4477009{i:05d}", "Hi") for i in range(100)]
    summary = await send_all(router, messages, concurrency=4)
    assert summary.accepted == 100
    assert len(primary.outbox) + len(backup.outbox) == 100


async def test_closing_the_router_closes_every_provider(pair):
    router, primary, backup = pair
    await router.aclose()
    assert primary.closed
    assert backup.closed


def test_the_router_is_built_from_configuration():
    router = smsgate.from_config(
        {
            "provider": "routing",
            "strategy": "round_robin",
            "providers": [{"provider": "fake", "name": "a"}, {"provider": "fake", "name": "b"}],
        }
    )
    assert isinstance(router, RoutingGateway)
    assert [g.name for g in router.gateways] == ["a", "b"]


def test_the_router_is_built_from_the_environment():
    router = smsgate.from_env(
        {
            "SMSGATE_PROVIDER": "routing",
            "SMSGATE_PROVIDERS": json.dumps([{"provider": "fake", "name": n} for n in "ab"]),
            "SMSGATE_COOLDOWN": "5",
        }
    )
    assert isinstance(router, RoutingGateway)
    assert [g.name for g in router.gateways] == ["a", "b"]
    assert router.circuits["a"].cooldown == 5.0


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"providers": []}, "providers: give at least one"),
        ({"providers": [FakeGateway(), FakeGateway()]}, "names must differ"),
        ({"providers": [FakeGateway()], "strategy": "random"}, "strategy: must be one of"),
        (
            {"providers": [FakeGateway()], "routes": {"FR": "nobody"}},
            "routes: each region must name one of the providers",
        ),
        (
            {"providers": [FakeGateway()], "routes": {"France": "fake"}},
            "routes: regions must be a two-letter",
        ),
        ({"providers": [FakeGateway()], "failures": 0}, "failures: must be a whole number"),
        ({"providers": [{"provider": "nope"}]}, "provider: unknown; available providers"),
    ],
)
def test_bad_routing_configuration_is_refused(options, problem):
    with pytest.raises(ConfigurationError, match=problem):
        RoutingGateway(**options)
