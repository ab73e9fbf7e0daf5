"""Pigeon Post, added from outside ``smsgate/``, works like the built-in providers: by
configuration, against the sandbox, in bulk, tracked, routed, and served by ``smsgate
sandbox`` when installed by entry point. (The contract suite runs it too:
tests/providers/test_contract.py.)"""

from __future__ import annotations

import textwrap
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import smsgate
from smsgate import DeliveryStatus
from smsgate.gateway import BalanceGateway, BatchingGateway, can_find
from smsgate.routing import RoutingGateway
from smsgate.sandbox import Sandbox
from tests.pigeon.adapter import PigeonGateway
from tests.pigeon.emulator import EMULATOR, KEY
from tests.support.sandbox import sandbox_command

REPO = Path(__file__).resolve().parents[2]
UK, FR = "+447700900123", "+33612345678"


@pytest.fixture
async def sandbox(pigeon_registered):
    async with Sandbox(seed=1, failure_rate=0, send_delay=0.01, deliver_delay=0.01) as running:
        yield running


def test_it_is_built_by_configuration_like_any_provider(pigeon_registered):
    gateway = smsgate.connect("pigeon", key=KEY, default_region="GB")
    assert isinstance(gateway, PigeonGateway)
    assert "pigeon" in smsgate.registry.available_providers()
    assert isinstance(gateway, BalanceGateway)
    assert not isinstance(gateway, BatchingGateway)
    assert not can_find(gateway)


async def test_a_message_is_sent_and_delivered_through_the_sandbox(sandbox):
    async with smsgate.from_config(sandbox.config("pigeon")) as gateway:
        receipt = await gateway.send(gateway.message(UK, "Coo"))
        report = await smsgate.wait_for_final(gateway, receipt, interval=0.02, timeout=5)
        assert isinstance(gateway, BalanceGateway)
        credits = await gateway.balance()
    assert report.status is DeliveryStatus.DELIVERED
    [stored] = sandbox.messages("pigeon")
    assert (stored.id, stored.to, stored.text) == (receipt.message_id, UK, "Coo")
    assert credits == sandbox.credits("pigeon")


async def test_a_scheduled_message_is_cancelled_at_the_provider(sandbox):
    async with smsgate.from_config(sandbox.config("pigeon")) as gateway:
        at = datetime.now(UTC) + timedelta(hours=1)
        receipt = await gateway.schedule(gateway.message(UK, "Later"), at)
        report = await gateway.cancel(receipt)
    assert (receipt.status, report.status) == (DeliveryStatus.SCHEDULED, DeliveryStatus.CANCELLED)
    [stored] = sandbox.messages("pigeon")
    assert stored.stage.value == "cancelled"


async def test_send_many_sends_each_message_once(sandbox):
    async with smsgate.from_config(sandbox.config("pigeon")) as gateway:
        messages = [gateway.message(f"+4477009001{n:02}", f"Hello {n}") for n in range(40)]
        summary = await smsgate.send_all(gateway, messages, concurrency=8)
    assert (summary.accepted, summary.failed, summary.uncertain) == (40, 0, 0)
    stored = sandbox.messages("pigeon")
    assert sorted(m.to for m in stored) == sorted(m.to for m in messages)


async def test_the_tracker_follows_its_messages_to_their_end(sandbox):
    async with smsgate.from_config(sandbox.config("pigeon")) as gateway:
        receipts = [await gateway.send(gateway.message(n, "Track")) for n in (UK, FR)]
        finals = {}
        async for report in smsgate.track(gateway, receipts, interval=0.02, timeout=5):
            if report.status.is_final:
                finals[report.message_id] = report.status
    assert finals == {r.message_id: DeliveryStatus.DELIVERED for r in receipts}


async def test_a_router_fails_over_from_it_to_a_built_in_provider(sandbox):
    sandbox.inject("pigeon", "429")  # refused: nothing taken, safe to send elsewhere
    config = {
        "provider": "routing",
        "strategy": "failover",
        "providers": [sandbox.config("pigeon"), sandbox.config("smsworks")],
    }
    async with smsgate.from_config(config) as router:
        assert isinstance(router, RoutingGateway)
        receipt = await router.send(router.message(UK, "Either way"))
    assert receipt.provider == "smsworks"
    assert sandbox.messages("pigeon") == []
    assert [m.to for m in sandbox.messages("smsworks")] == [UK]


def test_smsgate_sandbox_serves_it_when_installed_by_entry_point(tmp_path):
    info = tmp_path / "pigeon_post-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pigeon-post\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [smsgate.providers]
            pigeon = tests.pigeon.adapter:PigeonGateway

            [smsgate.emulators]
            pigeon = tests.pigeon.emulator:EMULATOR
            """
        )
    )
    with sandbox_command(str(tmp_path), str(REPO)) as (url, lines):
        lines = [line.rstrip("\n") for line in lines]
        block = lines[lines.index("# pigeon") :]
        assert block[1:3] == [
            "export SMSGATE_PROVIDER=pigeon",
            f"export SMSGATE_BASE_URL={url}/pigeon/v2",
        ]
        request = urllib.request.Request(url + "/pigeon/v2/balance", headers={"X-Pigeon-Key": KEY})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200
    assert EMULATOR.name == "pigeon"
