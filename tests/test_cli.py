"""The ``smsgate`` command: output, exit codes and errors, against the sandbox."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from smsgate.cli import main
from smsgate.cli._commands import FAILED, OK, UNCERTAIN, USAGE, exit_code
from smsgate.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequest,
    ProviderUnavailable,
    TransportError,
    UnsupportedFeature,
    ValidationError,
)
from smsgate.sandbox import Sandbox

UK = "+447700900123"


@pytest.fixture(scope="module")
def sandbox():
    """A sandbox served from a thread of its own, as the commands run their own loops."""
    loop = asyncio.new_event_loop()
    box = Sandbox(seed=1, failure_rate=0, send_delay=0.02, deliver_delay=0.02)
    started = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(box.start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(box.stop())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    yield box
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def use(sandbox, monkeypatch):
    """Configure a provider of the sandbox through SMSGATE_* variables."""
    for key in [k for k in os.environ if k.startswith("SMSGATE_")]:
        monkeypatch.delenv(key)

    def configure(provider):
        for key, value in sandbox.config(provider).items():
            text = json.dumps(value) if isinstance(value, dict) else str(value)
            monkeypatch.setenv(f"SMSGATE_{key.upper()}", text)

    return configure


@pytest.fixture(autouse=True)
def no_environment(monkeypatch):
    for key in [k for k in os.environ if k.startswith("SMSGATE_")]:
        monkeypatch.delenv(key)


def run(capsys, *argv):
    """Run the command; returns (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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
    assert options["token"] == {"name": "token", "required": True, "type": "str"}
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
    assert "--option takes KEY=VALUE, not 'default_region'" in err


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

    assert code == USAGE
    assert "No such command 'nope'" in err


def test_the_version(capsys):
    code, out, _ = run(capsys, "--version")

    assert (code, out) == (OK, "smsgate, version 0.1.0.dev0\n")


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
        ("number,text\n+447700900123,Hi\n", "needs columns to and text (missing: to)"),
        ("to,text,colour\n+447700900123,Hi,red\n", "has unknown columns colour"),
        ("", "needs columns to and text (missing: to, text)"),
    ],
)
def test_bulk_checks_the_columns_before_sending(capsys, tmp_path, text, problem):
    code, _, err = run(capsys, "-p", "fake", "bulk", write_csv(tmp_path, text))

    assert code == USAGE
    assert problem in err
    assert "columns are to, text, sender, reference" in err


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
        try:
            first = process.stdout.readline()
            url = re.match(r"sandbox on (http://127\.0\.0\.1:\d+) ", first).group(1)
            request = urllib.request.Request(
                url + "/smsworks/v1/credits/balance",
                headers={"Authorization": "JWT sandbox-token"},
            )
            with urllib.request.urlopen(request, timeout=5) as answer:
                assert json.loads(answer.read()) == {"credits": 1_000_000}
            assert "SMSGATE_PROVIDER=smsworks" in process.stdout.readline()
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=10) == OK
        finally:
            process.kill()
