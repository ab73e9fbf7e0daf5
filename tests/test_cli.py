"""The ``smsgate`` command: output, exit codes and errors, against the sandbox."""

import asyncio
import csv
import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

import smsgate
from smsgate import __version__
from smsgate.cli import main
from smsgate.cli._common import FAILED, OK, UNCERTAIN, USAGE, exit_code
from smsgate.cli._progress import line_ranges
from smsgate.errors import (
    AuthenticationError,
    ConfigurationError,
    InsufficientCredit,
    InvalidRequest,
    ProviderUnavailable,
    TransportError,
    UnsupportedFeature,
    ValidationError,
)
from smsgate.gateway import BalanceGateway
from smsgate.journal import JournalError
from smsgate.journal._sqlite_store import writing
from smsgate.journal.sqlite import SqliteJournal
from tests.support.cli import export, run
from tests.support.sandbox import ThreadedSandbox, settle

UK = "+447700900123"


pytestmark = pytest.mark.usefixtures("no_smsgate_environment")


@pytest.fixture(scope="module")
def sandbox():
    """A sandbox served from a thread of its own, as the commands run their own loops."""
    with ThreadedSandbox(seed=1, failure_rate=0, send_delay=0.02, deliver_delay=0.02) as box:
        yield box


@pytest.fixture
def use(sandbox, monkeypatch):
    """Configure a provider of the sandbox through SMSGATE_* variables."""
    for key in [k for k in os.environ if k.startswith("SMSGATE_")]:
        monkeypatch.delenv(key)

    def configure(provider):
        export(monkeypatch, sandbox.config(provider))

    return configure


def run_json(capsys, *argv):
    code, out, err = run(capsys, "--json", *argv)
    assert code == OK, err
    return json.loads(out)


def later(hours=1):
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat(timespec="seconds")


# --- the verbs -----------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "status"), [("smsworks", "sent"), ("smsscheduler", "queued")])
def test_send_through_either_provider(capsys, use, sandbox, provider, status):
    use(provider)

    receipt = run_json(capsys, "send", UK, "Your code is 2468", "--reference", "order-17")

    assert receipt["provider"] == provider
    assert (receipt["to"], receipt["status"], receipt["reference"]) == (UK, status, "order-17")
    assert "raw" not in receipt
    sent = {sms.id: sms.text for sms in sandbox.messages(provider)}
    assert sent[receipt["message_id"]] == "Your code is 2468"


def test_send_prints_a_table_for_people(capsys, use):
    use("smsworks")

    code, out, err = run(capsys, "send", UK, "Hi")

    assert (code, err) == (OK, "")
    assert re.search(r"status\s+│ sent", out)
    assert re.search(r"to\s+│ \+447700900123", out)


def test_schedule_then_status_then_cancel(capsys, use):
    use("smsscheduler")

    scheduled = run_json(capsys, "schedule", UK, "Later", "--at", later())
    status = run_json(capsys, "status", scheduled["message_id"])
    cancelled = run_json(capsys, "cancel", scheduled["message_id"])

    assert scheduled["status"] == status["status"] == "scheduled"
    assert cancelled["status"] == "cancelled"


def test_status_can_wait_for_the_final_status(capsys, use):
    use("smsworks")
    receipt = run_json(capsys, "send", UK, "Hi")

    report = run_json(capsys, "status", receipt["message_id"], "--wait", "--timeout", "10")

    assert report["status"] == "delivered"


def test_national_numbers_are_read_in_the_region_given(capsys, use):
    use("smsworks")

    receipt = run_json(capsys, "send", "07700 900123", "Hi", "--region", "GB")

    assert receipt["to"] == UK


def test_balance_of_the_sms_works(capsys, use, sandbox):
    use("smsworks")

    answer = run_json(capsys, "balance")

    assert answer == {"provider": "smsworks", "credits": sandbox.credits("smsworks")}


def test_providers_lists_every_provider_and_its_options(capsys):
    listed = run_json(capsys, "providers")

    assert sorted(listed) == ["fake", "routing", "smsscheduler", "smsworks"]
    options = {o["name"]: o for o in listed["smsscheduler"]}
    assert options["token"] == {
        "name": "token",
        "required": True,
        "type": "str",
        "default": None,
        "description": "the API token from the account page (sent as Authorization: Bearer ...)",
    }
    assert "session" not in options  # an object: nothing a shell can give
    assert options["timezone"]["required"] is False


# --- configuration -------------------------------------------------------------------------


def test_configuration_from_a_toml_file(capsys, sandbox, tmp_path):
    config = sandbox.config("smsscheduler")
    lines = [f"{key} = {json.dumps(value)}" for key, value in config.items() if key != "senders"]
    path = tmp_path / "smsgate.toml"
    path.write_text("[smsgate]\n" + "\n".join(lines) + "\n", encoding="utf-8")

    receipt = run_json(capsys, "--config", str(path), "send", UK, "Hi")

    assert receipt["provider"] == "smsscheduler"


def test_flags_override_the_environment(capsys, use, sandbox):
    use("smsworks")

    code, _, err = run(capsys, "-o", "token=JWT forged", "send", UK, "Hi")

    assert code == FAILED
    assert err.startswith("smsgate: error: smsworks answered HTTP 401")


def test_an_option_without_a_value_is_a_usage_error(capsys):
    code, _, err = run(capsys, "-p", "fake", "-o", "default_region", "send", UK, "Hi")

    assert code == USAGE
    assert "--option takes KEY=VALUE; one of them has no '='" in err


def test_no_provider_is_a_one_line_usage_error(capsys):
    code, out, err = run(capsys, "send", UK, "Hi")

    assert (code, out) == (USAGE, "")
    assert err.strip().splitlines() == [
        "smsgate: error: no provider: give --provider, set SMSGATE_PROVIDER, or use --config "
        "with an [smsgate] table"
    ]


def test_a_missing_config_file_is_a_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "--config", str(tmp_path / "none.toml"), "send", UK, "Hi")

    assert code == USAGE
    assert "cannot read" in err


# --- errors and exit codes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["send", "not a number", "Hi"], "to: 'not a number' is not a phone number"),
        (["send", UK, ""], "text: "),
        (["schedule", UK, "Hi", "--at", "tomorrow"], "at: 'tomorrow' is not an ISO 8601"),
        (["schedule", UK, "Hi", "--at", "2030-01-01T09:00"], "has no time zone"),
        (["schedule", UK, "Hi", "--at", "2020-01-01T09:00+00:00"], "is not in the future"),
        (["balance"], "fake does not support a balance query"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(capsys, argv, problem):
    code, out, err = run(capsys, "-p", "fake", *argv)

    assert (code, out) == (USAGE, "")
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("smsgate: error: ")
    assert problem in err
    assert "Traceback" not in err


def test_an_unknown_message_is_exit_code_1(capsys, use):
    use("smsworks")

    code, _, err = run(capsys, "status", "no-such-id")

    assert code == FAILED
    assert "smsworks answered HTTP 404" in err


def test_a_provider_that_cannot_be_reached_is_exit_code_1(capsys, closed_port_url):
    code, _, err = run(
        capsys, "-p", "smsworks", "-o", f"base_url={closed_port_url}", "-o", "token=JWT t",
        "send", UK, "Hi", "--sender", "Acme",
    )  # fmt: skip

    assert code == FAILED
    assert "smsgate: error: " in err


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigurationError("x"), USAGE),
        (ValidationError("to", "x"), USAGE),
        (UnsupportedFeature("p", "x"), USAGE),
        (AuthenticationError(provider="p", http_status=401), FAILED),
        (InvalidRequest(provider="p", http_status=400), FAILED),
        (ProviderUnavailable(provider="p", http_status=503), UNCERTAIN),
        (ProviderUnavailable(provider="p", http_status=502), UNCERTAIN),
        (ProviderUnavailable(provider="p", http_status=503, maybe_sent=False), FAILED),
        (ProviderUnavailable(provider="p", http_status=503, retryable=True), FAILED),
        (TransportError("x", provider="p", maybe_sent=False), FAILED),
        (TransportError("x", provider="p", maybe_sent=True), UNCERTAIN),
    ],
)
def test_exit_codes_by_error(error, code):
    assert exit_code(error) == code


@pytest.mark.parametrize(
    "error",
    [
        ProviderUnavailable(provider="p", http_status=503),
        TransportError("x", provider="p", maybe_sent=True),
    ],
)
def test_an_uncertain_failure_of_a_command_that_sends_nothing_is_exit_code_1(error):
    assert exit_code(error, sending=False) == FAILED


def test_unknown_commands_are_usage_errors(capsys):
    code, _, err = run(capsys, "nope")

    assert (code, err) == (
        USAGE,
        "smsgate: error: no such command 'nope' for `smsgate` (try --help)\n",
    )


def test_the_version(capsys):
    code, out, _ = run(capsys, "--version")

    assert (code, out) == (OK, "smsgate, version 0.1.0.dev0\n")


def test_python_m_smsgate_runs_the_command_and_exits_with_its_code(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["smsgate", "--version"])

    with pytest.raises(SystemExit) as exited:
        runpy.run_module("smsgate", run_name="__main__")

    assert exited.value.code == OK
    assert capsys.readouterr().out == f"smsgate, version {__version__}\n"


def test_without_the_cli_extra_the_command_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "click", None)
    monkeypatch.delitem(sys.modules, "smsgate.cli._commands")

    code, _, err = run(capsys, "--version")

    assert code == USAGE
    assert err == 'smsgate: error: the command line needs click: pip install "smsgate[cli]"\n'


# --- bulk ----------------------------------------------------------------------------------


def write_csv(tmp_path, text):
    path = tmp_path / "messages.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_bulk_sends_every_row(capsys, use, sandbox, tmp_path):
    use("smsscheduler")
    before = len(sandbox.messages("smsscheduler"))
    rows = "".join(f"+4477009002{i:02d},Sale {i % 3},,r{i}\n" for i in range(60))
    path = write_csv(tmp_path, "to,text,sender,reference\n" + rows)

    summary = run_json(capsys, "bulk", path)

    assert summary["accepted"] == 60
    assert (summary["failed"], summary["uncertain"], summary["unsent"]) == (0, 0, 0)
    assert summary["problems"] == []
    assert len(sandbox.messages("smsscheduler")) == before + 60


def test_bulk_reports_bad_rows_by_line_and_exits_1(capsys, use, tmp_path):
    use("smsworks")
    path = write_csv(tmp_path, f"to,text\n{UK},Hi\nnot a number,Hi\n{UK},\n")

    code, out, _ = run(capsys, "--json", "bulk", path)

    summary = json.loads(out)
    assert code == FAILED
    assert (summary["accepted"], summary["failed"]) == (1, 2)
    assert [(p["row"], p["status"]) for p in summary["problems"]] == [
        (3, "failed"),
        (4, "failed"),
    ]


def test_bulk_shows_progress_and_a_summary_table(capsys, use, tmp_path):
    use("smsworks")
    path = write_csv(tmp_path, f"to,text\n{UK},Hi\n")

    code, out, err = run(capsys, "bulk", path)

    assert code == OK
    assert "sending through smsworks" in err
    assert re.search(r"accepted.*\n.*\n.*│ 1 ", out)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "number,text\n+447700900123,Hi\n",
            "needs the columns to and text (missing: to); its header, read with ',' between "
            "columns, names: 'number', 'text'",
        ),
        ("", "is empty: it needs a header line naming its columns, such as to,text"),
    ],
)
def test_bulk_checks_the_columns_before_sending(capsys, tmp_path, text, problem):
    path = write_csv(tmp_path, text)
    code, out, err = run(capsys, "-p", "fake", "bulk", path)

    assert (code, out) == (USAGE, "")
    assert err == f"smsgate: error: FILE: {path!r} {problem}\n"


def test_bulk_takes_a_file_with_columns_of_its_own(capsys, tmp_path):
    path = write_csv(tmp_path, "to,text,colour\n+447700900123,Hi,red\n")

    code, out, err = run(capsys, "--json", "-p", "fake", "bulk", path, "--no-journal")

    assert (code, err) == (OK, "")
    assert json.loads(out)["accepted"] == 1


def test_bulk_of_a_missing_file_is_a_usage_error(capsys, tmp_path):
    code, _, err = run(capsys, "-p", "fake", "bulk", str(tmp_path / "none.csv"))

    assert code == USAGE
    assert "cannot read" in err


# --- demo and sandbox ----------------------------------------------------------------------


def test_the_demo_runs_every_step_through_both_providers(capsys):
    results = run_json(capsys, "demo", "--messages", "300")

    assert sorted(results) == ["smsscheduler", "smsworks"]
    for result in results.values():
        assert result["tracked to"] in {"delivered", "undelivered", "expired", "rejected"}
        assert (result["scheduled"], result["cancelled"]) == ("scheduled", "cancelled")
        assert (result["accepted"], result["failed"], result["uncertain"]) == (300, 0, 0)


def test_the_sandbox_command_serves_until_interrupted():
    command = [sys.executable, "-m", "smsgate", "sandbox", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        try:
            first = process.stdout.readline()
            started = re.match(r"sandbox on (http://127\.0\.0\.1:\d+) ", first)
            assert started is not None
            url = started.group(1)
            request = urllib.request.Request(
                url + "/smsworks/v1/credits/balance",
                headers={"Authorization": "JWT sandbox-token"},
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                assert json.loads(answer.read()) == {"credits": 1_000_000}
            assert process.stdout.readline() == "# smsworks\n"
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == OK
        finally:
            process.kill()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a script's background job starts


@pytest.mark.parametrize(
    ("stop", "sigint_ignored"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
)
def test_the_sandbox_command_stops_cleanly_on_sigint_or_sigterm(stop, sigint_ignored):
    command = [sys.executable, "-m", "smsgate", "sandbox", "--port", "0"]
    setup = _ignore_sigint if sigint_ignored else None
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=setup) as process:
        assert process.stdout is not None
        try:
            lines = [process.stdout.readline()]
            while not lines[-1].startswith("credits:"):
                assert lines[-1]
                lines.append(process.stdout.readline())
            process.send_signal(stop)
            assert process.wait(timeout=10) == OK
            rest = process.stdout.read()
        finally:
            process.kill()

    assert lines[0].endswith("Ctrl-C or SIGTERM to stop\n")
    assert rest == f"sandbox stopped ({stop.name})\n"


def test_the_sandbox_command_shows_the_key_and_secret_and_takes_credits():
    command = [
        sys.executable,
        "-m",
        "smsgate",
        "--json",
        "sandbox",
        "--port",
        "0",
        "--credits",
        "0",
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        try:
            shown = json.loads(process.stdout.readline())
            login = shown["logins"]["smsworks"]["key and secret"]

            async def send_and_ask_balance():
                async with smsgate.from_config(login) as gateway:
                    assert isinstance(gateway, BalanceGateway)
                    with pytest.raises(InsufficientCredit):
                        await gateway.send(gateway.message("+447700900123", "Hi"))
                    return await gateway.balance()

            balance = asyncio.run(send_and_ask_balance())
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == OK
        finally:
            process.kill()

    assert shown["credits"] == {"smsworks": 0, "smsscheduler": 0}
    assert login == {
        "provider": "smsworks",
        "base_url": shown["url"] + "/smsworks/v1",
        "customer_id": "sandbox",
        "key": "sandbox-key",
        "secret": "sandbox-secret",
        "sender": "Sandbox",
    }
    assert shown["logins"]["smsscheduler"] == {}
    assert balance == 0


def test_the_sandbox_command_refuses_negative_credits(capsys):
    assert main(["sandbox", "--credits", "-1"]) == USAGE
    assert "--credits" in capsys.readouterr().err


# --- uncertain outcomes ----------------------------------------------------------------------


def held(sandbox, provider, to):
    return [sms for sms in sandbox.messages(provider) if sms.to == to]


@pytest.mark.parametrize(
    ("provider", "fault"),
    [("smsworks", "502"), ("smsworks", "500"), ("smsworks", "drop"), ("smsscheduler", "504")],
)
def test_send_after_a_5xx_or_a_dropped_answer_is_exit_code_3(capsys, use, sandbox, provider, fault):
    use(provider)
    to = "+447700900771" if provider == "smsworks" else "+447700900772"
    before = len(held(sandbox, provider, to))
    sandbox.inject(provider, fault)

    code, out, err = run(capsys, "send", to, "Hi")

    assert code == UNCERTAIN
    assert out == ""
    assert "check before sending" in err or "may have accepted it" in err
    assert len(held(sandbox, provider, to)) == before + 1  # it was indeed stored


def test_send_refused_with_the_documented_5001_is_exit_code_1(capsys, use, sandbox):
    use("smsworks")
    sandbox.inject("smsworks", "5001")

    code, _, err = run(capsys, "send", "+447700900773", "Hi")

    assert code == FAILED
    assert "error 5001" in err
    assert [s.outcome for s in held(sandbox, "smsworks", "+447700900773")] == ["REJECTED"]


def test_an_uncertain_status_lookup_is_not_exit_code_3(capsys, use, sandbox):
    use("smsworks")
    receipt = run_json(capsys, "send", "+447700900774", "Hi")
    sandbox.inject("smsworks", "502", path="/no-such-sending-path")  # never met

    code, _, _ = run(capsys, "-o", "base_url=http://127.0.0.1:9/x", "status", receipt["message_id"])

    assert code == FAILED


def bulk_rows(tmp_path, first, count, text="Offer {i}"):
    rows = "".join(f"+4477009{first + i:05d},{text.format(i=i)}\n" for i in range(count))
    return write_csv(tmp_path, "to,text\n" + rows)


def test_bulk_looks_uncertain_rows_up_and_counts_the_found_ones_accepted(
    capsys, use, sandbox, tmp_path
):
    use("smsworks")
    sandbox.inject("smsworks", "502", path="/batch/any")  # stored, then a load balancer's 502
    path = bulk_rows(tmp_path, 1000, 40)

    code, out, err = run(capsys, "--json", "bulk", path, "--patience", "2")

    summary = json.loads(out)
    assert code == OK, err
    assert (summary["accepted"], summary["uncertain"], summary["resolved"]) == (40, 0, 40)
    assert summary["problems"] == []
    for i in range(40):
        assert len(held(sandbox, "smsworks", f"+4477009{1000 + i:05d}")) == 1  # once each


def test_bulk_lists_every_uncertain_row_where_the_provider_cannot_be_searched(
    capsys, use, sandbox, tmp_path
):
    use("smsscheduler")
    sandbox.inject("smsscheduler", "500")
    path = bulk_rows(tmp_path, 1100, 30, text="Same text")

    code, out, _ = run(capsys, "--json", "bulk", path)

    summary = json.loads(out)
    assert code == UNCERTAIN
    assert (summary["accepted"], summary["uncertain"], summary["resolved"]) == (0, 30, 0)
    assert [p["row"] for p in summary["problems"]] == list(range(2, 32))
    assert {p["status"] for p in summary["problems"]} == {"uncertain"}
    assert all(held(sandbox, "smsscheduler", f"+4477009{1100 + i:05d}") for i in range(30))


def test_bulk_prints_uncertain_rows_that_were_not_found_for_people(capsys, use, sandbox, tmp_path):
    use("smsworks")
    sandbox.inject("smsworks", "504", stored=False, path="/batch/any")
    path = bulk_rows(tmp_path, 1200, 3)

    code, out, _ = run(capsys, "bulk", path, "--patience", "0")

    assert code == UNCERTAIN
    assert "uncertain rows: the provider may have them; check before sending them again" in out
    assert [line.split("│")[1].strip() for line in out.splitlines() if "+4477009012" in line] == [
        "2",
        "3",
        "4",
    ]
    assert "not found" in out
    assert not any(held(sandbox, "smsworks", f"+4477009{1200 + i:05d}") for i in range(3))


def test_line_ranges_are_compact():
    assert line_ranges([]) == ""
    assert line_ranges([2, 3, 4, 9, 11, 12]) == "2-4, 9, 11-12"


def provider_environment(sandbox, provider):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_")}
    for key, value in sandbox.config(provider).items():
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        environment[f"SMSGATE_{key.upper()}"] = text
    return environment


def bulk_in_a_process(sandbox, provider, path, *options, signals=(), latency=1.0):
    """Run ``smsgate --json bulk`` in a process of its own; once its first requests are in
    flight (held by the sandbox's latency), send it ``signals``, 0.1 s apart."""
    before = len(sandbox.messages(provider))
    sandbox.latency = latency
    command = [sys.executable, "-m", "smsgate", "--json", "bulk", str(path), *options]
    try:
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=provider_environment(sandbox, provider),
        ) as process:
            if signals:
                deadline = time.monotonic() + 20
                while len(sandbox.messages(provider)) == before and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(0.2)  # the first requests are in flight
                for number in signals:
                    process.send_signal(number)
                    time.sleep(0.1)
            out, err = process.communicate(timeout=60)
    finally:
        sandbox.latency = 0.0
    settle(sandbox)  # let the sandbox finish what was in flight
    return process.returncode, out, err


def test_ctrl_c_twice_during_bulk_prints_what_became_of_every_row_read(sandbox, tmp_path):
    # Three texts: SMS Scheduler takes 500 numbers of one text a request, and the run holds
    # 1,000 rows at most, so some wait for their group to fill while others are in flight.
    rows = "".join(f"+4477009{2000 + i:05d},Sale {i % 3}\n" for i in range(3000))
    path = write_csv(tmp_path, "to,text\n" + rows)
    ours = [f"+4477009{2000 + i:05d}" for i in range(3000)]

    code, out, err = bulk_in_a_process(
        sandbox, "smsscheduler", path, "--concurrency", "2", signals=[signal.SIGINT] * 2
    )

    assert code == 130, err
    assert "Ctrl-C again to stop them now" in err
    summary = json.loads(out)
    assert summary["interrupted"] is True
    assert summary["resume"].startswith("smsgate --json bulk ")
    problems = {p["row"]: p for p in summary["problems"]}
    unsent = set(summary["unsent_rows"])
    stored = {sms.to for sms in sandbox.messages("smsscheduler")} & set(ours)
    assert summary["uncertain"] > 0  # the second Ctrl-C stopped requests in flight
    assert summary["unsent"] == len(unsent) > 0
    read = summary["accepted"] + summary["failed"] + summary["uncertain"] + summary["unsent"]
    assert read < 3000  # stopped part-way
    told = set()  # rows the summary says were accepted or may have been
    for row in range(2, read + 2):
        to = ours[row - 2]
        if row in unsent:
            assert to not in stored
        elif row not in problems:  # accepted
            assert to in stored
            told.add(to)
        elif problems[row]["status"] == "uncertain":
            told.add(to)
    assert stored <= told  # the provider holds nothing we called failed or unsent


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_lets_requests_in_flight_finish_and_a_rerun_resumes(sandbox, tmp_path, stop):
    first = 5000 if stop == signal.SIGINT else 9000
    ours = [f"+4477009{first + i:05d}" for i in range(3000)]
    rows = "".join(f"{to},Sale {i % 3}\n" for i, to in enumerate(ours))
    path = write_csv(tmp_path, "to,text\n" + rows)
    credits = sandbox.credits("smsscheduler")

    code, out, err = bulk_in_a_process(
        sandbox, "smsscheduler", path, "--concurrency", "2", signals=[stop]
    )

    assert code == 130, err
    summary = json.loads(out)
    assert summary["uncertain"] == 0  # the requests in flight were answered
    assert summary["unsent"] > 0
    assert summary["resume"] == f"smsgate --json bulk {path} --concurrency 2"

    code, out, err = bulk_in_a_process(
        sandbox, "smsscheduler", path, "--concurrency", "2", latency=0
    )

    assert code == 0, err
    again = json.loads(out)
    assert again["earlier"] == summary["accepted"]
    assert again["accepted"] == 3000
    mine = set(ours)
    stored = Counter(sms.to for sms in sandbox.messages("smsscheduler") if sms.to in mine)
    assert stored == Counter(ours)  # every row exactly once
    assert credits - sandbox.credits("smsscheduler") == 3000


def test_a_run_stopped_then_resumed_with_another_at_is_refused_and_sends_nothing_then(
    sandbox, tmp_path
):
    ours = [f"+447700{40_000 + i:06d}" for i in range(3000)]
    path = write_csv(
        tmp_path, "to,text\n" + "".join(f"{to},Sale {i % 3}\n" for i, to in enumerate(ours))
    )
    at, other = datetime(2099, 12, 24, 9, tzinfo=UTC), datetime(2099, 12, 24, 10, tzinfo=UTC)
    first = ("--concurrency", "2", "--at", at.isoformat())
    mine = set(ours)

    def stored():
        return [sms for sms in sandbox.messages("smsscheduler") if sms.to in mine]

    code, out, err = bulk_in_a_process(
        sandbox, "smsscheduler", path, *first, signals=[signal.SIGINT]
    )
    assert code == 130, err
    sent = len(stored())
    assert 0 < sent < 3000

    moved = bulk_in_a_process(sandbox, "smsscheduler", path, "--at", other.isoformat(), latency=0)
    now = bulk_in_a_process(sandbox, "smsscheduler", path, latency=0)

    refusal = (
        f"--at: run 'messages.csv' of journal '{path}.journal' was begun with --at "
        "2099-12-24T09:00:00+00:00: give that --at to resume it, or --run with a new name to "
        "send the file as a new run; nothing was sent"
    )
    assert moved[:2] == now[:2] == (USAGE, "")
    assert json.loads(moved[2]) == {"error": refusal, "exit_code": USAGE, "kind": "ValidationError"}
    assert "was begun with --at 2099-12-24T09:00:00+00:00" in now[2]
    assert len(stored()) == sent  # nothing at another time, nor at once

    code, out, err = bulk_in_a_process(sandbox, "smsscheduler", path, *first, latency=0)

    assert code == OK, err
    assert json.loads(out)["accepted"] == 3000
    assert Counter(sms.to for sms in stored()) == Counter(ours)  # every row once
    assert {sms.send_at for sms in stored()} == {at}  # all at the time the run began with


# --- journalled bulk runs ------------------------------------------------------------------


def numbers(first, count):
    return [f"+447700{first + i:06d}" for i in range(count)]


def rows_file(tmp_path, first, count, name="messages.csv"):
    path = tmp_path / name
    text = "to,text,reference\n" + "".join(
        f"{to},Offer {i},ref-{i}\n" for i, to in enumerate(numbers(first, count))
    )
    path.write_text(text, encoding="utf-8")
    return path


def test_bulk_rerun_resumes_and_says_what_it_skipped(capsys, use, sandbox, tmp_path):
    use("smsworks")
    path = rows_file(tmp_path, 20_000, 30)

    first = run_json(capsys, "bulk", str(path))
    code, out, err = run(capsys, "bulk", str(path))

    assert first["accepted"] == 30
    assert code == OK
    assert "30 rows were done in an earlier session of this run (journal)" in out
    assert "nothing to send: every row of" in err
    assert "--run with a new name, or --no-journal" in err
    ours = set(numbers(20_000, 30))
    assert Counter(s.to for s in sandbox.messages("smsworks") if s.to in ours) == Counter(ours)
    assert path.with_name("messages.csv.journal").exists()


def test_bulk_without_a_journal_sends_again_and_another_run_name_too(
    capsys, use, sandbox, tmp_path
):
    use("smsscheduler")
    path = rows_file(tmp_path, 20_100, 5)
    journal = tmp_path / "elsewhere.journal"

    run_json(capsys, "bulk", str(path), "--journal", str(journal))
    again = run_json(capsys, "bulk", str(path), "--journal", str(journal), "--run", "second")
    third = run_json(capsys, "bulk", str(path), "--no-journal")

    assert (again["earlier"], third["earlier"]) == (0, 0)
    assert Counter(s.to for s in sandbox.messages("smsscheduler"))[numbers(20_100, 1)[0]] == 3
    assert not path.with_name("messages.csv.journal").exists()


def test_bulk_refuses_a_file_changed_since_its_journalled_run(capsys, use, sandbox, tmp_path):
    use("smsworks")
    path = rows_file(tmp_path, 20_200, 10)
    run_json(capsys, "bulk", str(path))
    before = len(sandbox.messages("smsworks"))
    path.write_text(path.read_text().replace("Offer 4,", "Offer four,"), encoding="utf-8")

    code, _, err = run(capsys, "bulk", str(path))

    assert code == USAGE
    assert "input 4 is not what the journal recorded" in err
    assert "nothing was sent" in err
    assert "nothing to send" not in err
    assert len(sandbox.messages("smsworks")) == before


def test_bulk_out_writes_one_row_per_input(capsys, use, sandbox, tmp_path):
    use("smsworks")
    path = rows_file(tmp_path, 20_300, 3)
    with path.open("a", encoding="utf-8") as file:
        file.write("not a number,Hi,bad\n")
    out_path = tmp_path / "results.csv"

    code, _, _ = run(capsys, "bulk", str(path), "--out", str(out_path))

    assert code == FAILED
    with out_path.open(newline="", encoding="utf-8") as file:
        written = sorted(csv.DictReader(file), key=lambda row: int(row["line"]))
    assert [(r["line"], r["to"], r["reference"], r["outcome"]) for r in written] == [
        ("2", numbers(20_300, 3)[0], "ref-0", "accepted"),
        ("3", numbers(20_300, 3)[1], "ref-1", "accepted"),
        ("4", numbers(20_300, 3)[2], "ref-2", "accepted"),
        ("5", "not a number", "bad", "failed"),  # the cell as the file has it
    ]
    assert all(r["message_id"] or r["batch_id"] for r in written[:3])
    assert "to:" in written[3]["error"]


def test_bulk_lists_every_problem_in_json_and_the_first_ones_for_people(
    capsys, use, sandbox, tmp_path
):
    use("smsworks")
    path = tmp_path / "bad.csv"
    path.write_text("to,text\n" + "not a number,Hi\n" * 45, encoding="utf-8")

    code, out, _ = run(capsys, "--json", "bulk", str(path), "--no-journal")
    listed = json.loads(out)["problems"]
    _, shown, _ = run(capsys, "bulk", str(path), "--no-journal")

    assert code == FAILED
    assert [p["row"] for p in listed] == list(range(2, 47))  # every one, by line
    assert "… and 25 more: every row is in --json, or in the file --out FILE writes" in shown


# The SMS Works takes 5,000 a request (three requests, two at once); SMS Scheduler 500.
ROWS = {"smsworks": 12_000, "smsscheduler": 3_000}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("provider", "stop"),
    [
        ("smsworks", signal.SIGKILL),
        ("smsscheduler", signal.SIGKILL),
        ("smsworks", signal.SIGINT),
        ("smsscheduler", signal.SIGTERM),
    ],
)
def test_bulk_stopped_or_killed_then_rerun_costs_exactly_one_credit_a_row(
    sandbox, tmp_path, provider, stop
):
    first = {signal.SIGKILL: 100_000, signal.SIGINT: 200_000, signal.SIGTERM: 300_000}[stop]
    first += 50_000 if provider == "smsscheduler" else 0
    rows = ROWS[provider]
    ours = numbers(first, rows)
    mine = set(ours)
    path = tmp_path / "campaign.csv"
    path.write_text(
        "to,text\n" + "".join(f"{to},Sale {i % 3}\n" for i, to in enumerate(ours)),
        encoding="utf-8",
    )
    credits = sandbox.credits(provider)
    options = ("--concurrency", "2", "--patience", "2")

    code, out, err = bulk_in_a_process(sandbox, provider, path, *options, signals=[stop])

    if stop == signal.SIGKILL:
        assert code == -signal.SIGKILL
        assert out == ""
    else:
        assert code == 130, err
        assert json.loads(out)["resume"].startswith("smsgate --json bulk ")
    taken = Counter(s.to for s in sandbox.messages(provider) if s.to in mine)
    assert 0 < sum(taken.values()) < rows  # stopped part-way

    code, out, err = bulk_in_a_process(sandbox, provider, path, *options, latency=0)

    summary = json.loads(out)
    stored = Counter(s.to for s in sandbox.messages(provider) if s.to in mine)
    assert stored == Counter(ours)  # every row exactly once
    assert credits - sandbox.credits(provider) == rows
    assert summary["earlier"] + summary["resolved"] + summary["uncertain"] > 0  # it resumed
    if provider == "smsworks":  # what was in flight at the kill was found at the provider
        assert code == OK, err
        assert summary["accepted"] == rows
    else:  # the provider cannot be searched: in flight at the kill means uncertain
        assert code == (UNCERTAIN if stop == signal.SIGKILL else OK), err
        assert summary["accepted"] + summary["uncertain"] == rows


def test_track_follows_a_journalled_run_and_records_each_status(capsys, use, sandbox, tmp_path):
    use("smsworks")
    path = rows_file(tmp_path, 20_400, 12)
    run_json(capsys, "bulk", str(path))
    journal = path.with_name("messages.csv.journal")

    counts = run_json(capsys, "track", "--journal", str(journal), "--interval", "0.05")

    assert counts == {"run": "messages.csv", "statuses": {"delivered": 12}}

    async def deliveries():
        async with SqliteJournal(journal) as opened:
            log = await opened.open("messages.csv", provider="smsworks")
            return [entry.delivery async for entry in log.entries()]

    assert asyncio.run(deliveries()) == ["delivered"] * 12


def test_track_asks_which_run_when_the_journal_holds_several(capsys, use, sandbox, tmp_path):
    use("smsworks")
    path = rows_file(tmp_path, 20_500, 2)
    journal = tmp_path / "shared.journal"
    run_json(capsys, "bulk", str(path), "--journal", str(journal), "--run", "a")
    run_json(capsys, "bulk", str(path), "--journal", str(journal), "--run", "b")

    code, _, err = run(capsys, "track", "--journal", str(journal))

    assert code == USAGE
    assert "the journal holds runs 'a', 'b': pick one" in err


@pytest.mark.parametrize("times", [1, 2])
def test_ctrl_c_during_send_waits_for_the_answer_or_says_it_may_have_gone(sandbox, tmp_path, times):
    to = f"+4477009{20_600 + times:05d}"
    before = len(held(sandbox, "smsworks", to))
    sandbox.latency = 1.0
    command = [sys.executable, "-m", "smsgate", "send", to, "Hi"]
    try:
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=provider_environment(sandbox, "smsworks"),
        ) as process:
            deadline = time.monotonic() + 20
            while len(held(sandbox, "smsworks", to)) == before and time.monotonic() < deadline:
                time.sleep(0.01)
            for _ in range(times):
                process.send_signal(signal.SIGINT)
                time.sleep(0.1)
            out, err = process.communicate(timeout=20)
    finally:
        sandbox.latency = 0.0

    assert len(held(sandbox, "smsworks", to)) == before + 1  # it went, once
    assert "waiting for the provider's answer" in err
    if times == 1:
        assert process.returncode == OK, err
        assert "Sent" in out
    else:
        assert process.returncode == UNCERTAIN
        assert "it may have been sent; look it up before sending it again" in err


def test_bulk_reports_what_it_did_when_its_journal_breaks(
    capsys, use, sandbox, tmp_path, monkeypatch
):
    use("smsworks")
    path = rows_file(tmp_path, 20_700, 50)
    begin, transactions = writing.__enter__, [0]

    def fails_from_the_fourth(self):  # open, fold, the dispatch; then the outcomes fail
        transactions[0] += 1
        if transactions[0] >= 4:
            raise JournalError("disk full (simulated)")
        return begin(self)

    monkeypatch.setattr(writing, "__enter__", fails_from_the_fourth)

    code, out, err = run(capsys, "bulk", str(path), "--concurrency", "1")

    assert code == FAILED
    assert "accepted" in out  # the table of what it did
    assert "smsgate: error: disk full (simulated)" in err


def test_an_interrupted_run_without_a_journal_gives_no_command_to_resume(sandbox, tmp_path):
    rows = "".join(f"{to},Sale {i % 3}\n" for i, to in enumerate(numbers(21_000, 3000)))
    path = write_csv(tmp_path, "to,text\n" + rows)

    code, out, _ = bulk_in_a_process(
        sandbox,
        "smsscheduler",
        path,
        "--no-journal",
        "--concurrency",
        "2",
        signals=[signal.SIGINT],
    )

    assert code == 130
    assert json.loads(out)["resume"] is None


def test_track_follows_two_messages_to_one_number_in_one_batch(capsys, use, sandbox, tmp_path):
    use("smsworks")
    path = tmp_path / "twice.csv"
    path.write_text("to,text\n+447700921100,Hi\n+447700921100,Hi\n", encoding="utf-8")
    run_json(capsys, "bulk", str(path))

    counts = run_json(capsys, "track", "--journal", str(path) + ".journal", "--interval", "0.05")

    assert counts["statuses"] == {"delivered": 2}


def test_bulk_refuses_to_write_its_results_over_its_input(capsys, tmp_path):
    path = rows_file(tmp_path, 21_200, 2)
    code, _, err = run(capsys, "-p", "fake", "bulk", str(path), "--out", str(path))
    assert code == USAGE
    assert err == "smsgate: error: --out: must not be the input file or the journal\n"
    assert path.read_text().startswith("to,text,reference")
