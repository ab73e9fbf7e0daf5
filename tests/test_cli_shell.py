"""The command line in a shell's terms: one-line errors in the words of its flags (or one
JSON object with --json), the group's options after a command (the later of two winning),
configuration from a shell's environment, `smsgate providers`, and `smsgate status --wait`
showing the status. What --at takes is in test_cli_when.py."""

import json
import logging
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import click
import pytest

import smsgate
from smsgate.cli import _campaign, main  # noqa: F401 (_campaign: registers campaign)
from smsgate.cli._commands import cli
from smsgate.cli._common import FAILED, INTERRUPTED, OK, USAGE
from smsgate.cli._shell import SHELL_WORDS, hoisted, in_shell_words
from smsgate.errors import ValidationError
from smsgate.model import check_send_time
from tests.support.cli import export, run
from tests.support.sandbox import ThreadedSandbox

UK = "+447700900123"


pytestmark = pytest.mark.usefixtures("no_smsgate_environment")


@pytest.fixture(scope="module")
def sandbox():
    """A sandbox whose messages are sent at once and delivered a second later."""
    with ThreadedSandbox(seed=1, failure_rate=0, send_delay=0, deliver_delay=1.0) as box:
        yield box


# --- every error is one line, in the words of the command line -----------------------------


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["send", "--foo"],
            "no such option '--foo' for `smsgate send` (try --help)",
        ),
        (
            ["send", UK, "Hi", "--jsn"],
            "no such option '--jsn' for `smsgate send`: did you mean '--json'? (try --help)",
        ),
        (
            ["send", UK, "Hi", "--regoin", "GB"],
            "no such option '--regoin' for `smsgate send`: did you mean '--region'? (try --help)",
        ),
        (["nope"], "no such command 'nope' for `smsgate` (try --help)"),
        (["sned"], "no such command 'sned' for `smsgate`: did you mean 'send'? (try --help)"),
        (["send", UK], "missing argument TEXT for `smsgate send` (try --help)"),
        (["schedule", UK, "Hi"], "missing option --at for `smsgate schedule` (try --help)"),
        (
            ["send", UK, "Hi", "again"],
            "got unexpected extra argument (again) for `smsgate send` (try --help)",
        ),
        (["-p"], "option '-p' requires an argument (try --help)"),
        (["status", "x", "--timeout", "soon"], "--timeout: 'soon' is not a valid float"),
        (["sandbox", "--port", "70000"], "--port: 70000 is not in the range 0<=x<=65535"),
        (["suppress", "add", "--list", "x"],
         "missing argument NUMBER... for `smsgate suppress add` (try --help)"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_and_exit_code_2(capsys, argv, line):
    code, out, err = run(capsys, *argv)

    assert (code, out, err) == (USAGE, "", f"smsgate: error: {line}\n")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["send", "07700 900123", "Hi"],
            "to: '07700 900123' has no country code: write it as +<country code><number>, or "
            "pass --region GB (or set SMSGATE_DEFAULT_REGION=GB)",
        ),
        (
            ["-p", "smsworkz", "send", UK, "Hi"],
            "provider: unknown (did you mean 'smsworks'?); available providers: fake, routing, "
            "smsscheduler, smsworks",
        ),
        (
            ["-o", "default_regoin=GB", "send", UK, "Hi"],
            "unknown option 'default_regoin' (did you mean 'default_region'?) for provider "
            "'fake'; valid options: default_region, name",
        ),
        (["balance"], "fake does not support a balance query"),
    ],
)
def test_errors_from_the_library_are_one_line_in_shell_words(capsys, argv, line):
    code, out, err = run(capsys, "-p", "fake", *argv)

    assert (code, out, err) == (USAGE, "", f"smsgate: error: {line}\n")


def test_what_the_library_tells_python_callers_is_said_in_shell_words():
    now = datetime(2030, 1, 1, 9, tzinfo=UTC)
    errors = []
    for call in (
        lambda: smsgate.normalize_number("07700 900123"),
        lambda: check_send_time(datetime(2030, 1, 1, 10), now=now),
        lambda: check_send_time(datetime(2029, 1, 1, tzinfo=UTC), now=now),
    ):
        with pytest.raises(ValidationError) as caught:
            call()
        errors.append(in_shell_words(str(caught.value)))

    assert errors == [
        "to: '07700 900123' has no country code: write it as +<country code><number>, or pass "
        "--region GB (or set SMSGATE_DEFAULT_REGION=GB)",
        "at: 2030-01-01T10:00:00 has no time zone; give its offset or zone: --at "
        '2099-12-24T09:00+01:00 or --at "2099-12-24 09:00 Europe/London"',
        "at: 2029-01-01T00:00:00+00:00 is not in the future; to send now, use `smsgate send`",
    ]


async def test_a_sender_the_providers_need_is_asked_for_in_shell_words():
    for provider, config in (("smsworks", {"token": "JWT t"}), ("smsscheduler", {"token": "t"})):
        async with smsgate.connect(provider, **config) as gateway:
            with pytest.raises(ValidationError) as caught:
                await gateway.send(gateway.message(UK, "Hi"))
        said = in_shell_words(str(caught.value))
        assert not any(python in said for python, _ in SHELL_WORDS)
        assert "--sender" in said


def test_a_multi_line_error_is_said_on_one_line(capsys, monkeypatch):
    def refuse(self):
        raise smsgate.ConfigurationError("first line\n  second line")

    monkeypatch.setattr("smsgate.cli._common.Settings.gateway", refuse)

    code, _, err = run(capsys, "-p", "fake", "send", UK, "Hi")

    assert (code, err) == (USAGE, "smsgate: error: first line second line\n")


# --- --json: errors as one JSON object -----------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "error", "kind"),
    [
        (
            ["send", "--foo", "--json"],
            "no such option '--foo' for `smsgate send` (try --help)",
            "UsageError",
        ),
        (
            ["--json", "-p", "fake", "schedule", UK, "Hi", "--at", "2099-12-24T09:00"],
            "--at: 2099-12-24T09:00 has no time zone: give its offset (2099-12-24T09:00+01:00) "
            'or its zone ("2099-12-24T09:00 Europe/London")',
            "UsageError",
        ),
        (
            ["send", "07700900123", "Hi", "--json", "-p", "fake"],
            "to: '07700900123' has no country code: write it as +<country code><number>, or "
            "pass --region GB (or set SMSGATE_DEFAULT_REGION=GB)",
            "ValidationError",
        ),
        (
            ["--json", "send", UK, "Hi"],
            "no provider: give --provider, set SMSGATE_PROVIDER, or use --config with an "
            "[smsgate] table",
            "ConfigurationError",
        ),
        (
            ["-p", "fake", "--json", "balance"],
            "fake does not support a balance query",
            "UnsupportedFeature",
        ),
    ],
)
def test_with_json_an_error_is_one_json_object_on_stderr(capsys, argv, error, kind):
    code, out, err = run(capsys, *argv)

    assert (code, out) == (USAGE, "")
    assert err.count("\n") == 1
    assert err.endswith("\n")
    assert json.loads(err) == {"error": error, "exit_code": USAGE, "kind": kind}


def test_with_json_a_refusal_by_the_provider_is_json_with_exit_code_1(capsys, sandbox):
    code, out, err = run(
        capsys, "--json", "-p", "smsworks", "-o", f"base_url={sandbox.base_url('smsworks')}",
        "-o", "token=JWT forged", "send", UK, "Hi", "--sender", "Acme",
    )  # fmt: skip

    assert (code, out) == (FAILED, "")
    answer = json.loads(err)
    assert (answer["exit_code"], answer["kind"]) == (FAILED, "AuthenticationError")
    assert answer["error"].startswith("smsworks answered HTTP 401")
    assert "forged" not in err


# --- the group's options after a command ---------------------------------------------------


def test_the_groups_options_work_after_the_command(capsys):
    code, out, err = run(capsys, "send", UK, "Hi", "--json", "-p", "fake", "-o", "name=mine")

    assert (code, err) == (OK, "")
    assert json.loads(out)["provider"] == "mine"


def test_the_groups_options_work_after_a_command_of_a_command_group(capsys, tmp_path):
    listed = tmp_path / "optouts.sqlite"
    code, out, err = run(capsys, "suppress", "add", UK, "--list", str(listed), "--json")

    assert (code, err) == (OK, "")
    assert json.loads(out) == {"added": [UK], "already_listed": []}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["send", UK, "Hi", "-p", "fake"], ["-p", "fake", "send", UK, "Hi"]),
        (["send", "--json", UK, "Hi"], ["--json", "send", UK, "Hi"]),
        (["send", UK, "Hi", "--provider=fake"], ["--provider=fake", "send", UK, "Hi"]),
        (["send", UK, "Hi", "-pfake"], ["-pfake", "send", UK, "Hi"]),
        (
            ["send", UK, "Hi", "-o", "a=1", "--option", "b=2", "-c", "f.toml"],
            ["-o", "a=1", "--option", "b=2", "-c", "f.toml", "send", UK, "Hi"],
        ),
        # The value of a command's own option stays its own, whatever it looks like.
        (
            ["send", UK, "Hi", "--reference", "-p", "-p", "fake"],
            ["-p", "fake", "send", UK, "Hi", "--reference", "-p"],
        ),
        # An option a command takes itself is its own: campaign status --json.
        (
            ["campaign", "status", "x", "--json", "-p", "fake"],
            ["-p", "fake", "campaign", "status", "x", "--json"],
        ),
        # Before the command, and after --, nothing moves.
        (["-p", "fake", "send", UK, "Hi"], ["-p", "fake", "send", UK, "Hi"]),
        (["send", "--", UK, "--json"], ["send", "--", UK, "--json"]),
        (["-p", "a", "send", "--", UK, "-p"], ["-p", "a", "send", "--", UK, "-p"]),
        (["send", "-p", "a", "--", UK, "-p", "b"], ["-p", "a", "send", "--", UK, "-p", "b"]),
        # After the group's own options, so that the later of an option given twice wins.
        (["-p", "a", "send", UK, "Hi", "-p", "b"], ["-p", "a", "-p", "b", "send", UK, "Hi"]),
        (
            ["-o", "x=1", "--json", "send", UK, "Hi", "-o", "x=2"],
            ["-o", "x=1", "--json", "-o", "x=2", "send", UK, "Hi"],
        ),
        (
            ["-p", "a", "campaign", "status", "x", "-p", "b"],
            ["-p", "a", "-p", "b", "campaign", "status", "x"],
        ),
        # --help and --version stay the command's.
        (["send", "--help"], ["send", "--help"]),
        (["send", "--version"], ["send", "--version"]),
    ],
)
def test_hoisting_moves_only_the_groups_own_options(args, expected):
    with click.Context(cli, info_name="smsgate") as context:
        assert hoisted(cli, context, args) == expected


def test_an_option_after_the_command_overrides_the_same_one_before_it(capsys, monkeypatch, sandbox):
    export(monkeypatch, sandbox.config("smsworks"))

    code, out, err = run(
        capsys, "--json", "-o", "sender=First", "send", UK, "Which sender?", "-o", "sender=Second"
    )

    assert (code, err) == (OK, "")
    stored = {sms.id: sms for sms in sandbox.messages("smsworks")}[json.loads(out)["message_id"]]
    assert (stored.sender, stored.text) == ("Second", "Which sender?")


@pytest.mark.parametrize(
    ("before", "after"), [("smsworks", "smsscheduler"), ("smsscheduler", "smsworks")]
)
def test_a_provider_after_the_command_overrides_the_one_before_it(
    capsys, monkeypatch, sandbox, before, after
):
    export(monkeypatch, sandbox.config(after))

    code, out, err = run(capsys, "--json", "-p", before, "send", UK, "Which way?", "-p", after)

    assert (code, err) == (OK, "")
    receipt = json.loads(out)
    assert receipt["provider"] == after
    assert {sms.id: sms.text for sms in sandbox.messages(after)}[receipt["message_id"]] == (
        "Which way?"
    )
    assert receipt["message_id"] not in {sms.id for sms in sandbox.messages(before)}


def test_a_text_that_is_an_option_of_the_group_after_double_dash_stays_the_text(
    capsys, monkeypatch, sandbox
):
    export(monkeypatch, sandbox.config("smsworks"))

    code, out, err = run(capsys, "send", "--json", "-p", "smsworks", "--", UK, "-p")

    assert (code, err) == (OK, "")
    receipt = json.loads(out)
    assert receipt["provider"] == "smsworks"
    assert {sms.id: sms.text for sms in sandbox.messages("smsworks")}[receipt["message_id"]] == "-p"


def test_a_commands_help_is_still_its_own(capsys):
    code, out, _ = run(capsys, "send", "--help")

    assert code == OK
    assert out.startswith("Usage: smsgate send [OPTIONS] TO TEXT")


# --- configuration from a shell's environment ----------------------------------------------


def test_a_webhook_secret_in_the_environment_stops_no_command(capsys, monkeypatch, sandbox):
    export(monkeypatch, sandbox.config("smsworks"))
    monkeypatch.setenv("SMSGATE_WEBHOOK_SECRET", "s3cr3t")

    code, out, err = run(capsys, "--json", "send", UK, "Hi")
    receipt = json.loads(out)
    assert (code, err) == (OK, "")
    for argv in (["status", receipt["message_id"]], ["balance"], ["providers"]):
        code, out, err = run(capsys, "--json", *argv)
        assert (code, err) == (OK, ""), argv
    assert smsgate.from_env().name == "smsworks"


def test_another_providers_variables_are_ignored_when_switching_with_p(
    capsys, monkeypatch, sandbox, caplog
):
    caplog.set_level("DEBUG", logger="smsgate.config")
    export(monkeypatch, sandbox.config("smsworks"))  # SMSGATE_SENDER among them
    scheduler = sandbox.config("smsscheduler")

    code, out, err = run(
        capsys, "--json", "send", UK, "Hi", "-p", "smsscheduler",
        "-o", f"base_url={scheduler['base_url']}", "-o", f"token={scheduler['token']}",
        "-o", f"sender_id={scheduler['sender_id']}",
    )  # fmt: skip

    assert (code, err) == (OK, "")
    assert json.loads(out)["provider"] == "smsscheduler"
    assert caplog.messages == [
        "SMSGATE_SENDER ignored: provider 'smsscheduler' takes no option 'sender'"
    ]


def test_a_sender_smsscheduler_lacks_is_asked_for_in_shell_words(capsys, monkeypatch, sandbox):
    export(monkeypatch, sandbox.config("smsworks"))

    code, out, err = run(capsys, "-p", "smsscheduler", "send", UK, "Hi")

    assert (code, out) == (USAGE, "")
    assert err == (
        "smsgate: error: sender: SMS Scheduler needs a sender: set SMSGATE_SENDER_ID (or pass "
        "-o sender_id=ID), or pass --sender with a name SMSGATE_SENDERS gives an id\n"
    )


def test_a_missing_option_says_which_variable_or_flag_to_set(capsys, monkeypatch):
    export(monkeypatch, {"provider": "smsworks", "sender": "Sandbox"})

    code, out, err = run(capsys, "-p", "smsscheduler", "send", UK, "Hi")

    assert (code, out) == (USAGE, "")
    assert err == (
        "smsgate: error: missing option 'token' for provider 'smsscheduler': set "
        "SMSGATE_TOKEN or pass -o token=VALUE\n"
    )


def test_a_missing_option_of_a_config_file_says_where_to_add_it(capsys, tmp_path):
    path = tmp_path / "sms.toml"
    path.write_text('[smsgate]\nprovider = "smsscheduler"\n', encoding="utf-8")

    code, _, err = run(capsys, "--config", str(path), "send", UK, "Hi")

    assert code == USAGE
    assert err == (
        "smsgate: error: missing option 'token' for provider 'smsscheduler': add token to the "
        f"[smsgate] table of {str(path)!r}, or pass -o token=VALUE\n"
    )


def test_a_bad_value_from_a_variable_names_the_variable_and_from_a_flag_the_option(
    capsys, monkeypatch
):
    export(monkeypatch, {"provider": "smsscheduler", "token": "t", "timezone": "Mars/Base"})

    from_variable = run(capsys, "send", UK, "Hi")
    from_flag = run(capsys, "-o", "timezone=Mars/Base", "send", UK, "Hi")

    assert from_variable == (
        USAGE,
        "",
        "smsgate: error: SMSGATE_TIMEZONE: must be an IANA time zone name such as 'Europe/Paris'\n",
    )
    assert from_flag == (
        USAGE,
        "",
        "smsgate: error: timezone: must be an IANA time zone name such as 'Europe/Paris'\n",
    )


def test_an_unknown_option_given_with_o_is_still_an_error(capsys, monkeypatch, sandbox):
    export(monkeypatch, sandbox.config("smsworks"))

    code, _, err = run(capsys, "-o", "sendr=Acme", "send", UK, "Hi")

    assert code == USAGE
    assert err.startswith(
        "smsgate: error: unknown option 'sendr' (did you mean 'sender'?) for provider "
        "'smsworks'; valid options: "
    )


# --- smsgate providers ---------------------------------------------------------------------


def test_providers_in_json_give_type_default_and_description(capsys):
    code, out, err = run(capsys, "--json", "providers")

    listed = json.loads(out)
    assert (code, err) == (OK, "")
    assert listed["fake"] == [
        {
            "name": "default_region",
            "required": False,
            "type": "str | None",
            "default": None,
            "description": "the country national numbers are read in, as for real gateways",
        },
        {
            "name": "name",
            "required": False,
            "type": "str",
            "default": "fake",
            "description": "the provider name it reports (give two fakes different names to "
            "test routing)",
        },
    ]
    scheduler = {o["name"]: o for o in listed["smsscheduler"]}
    assert scheduler["token"] == {
        "name": "token",
        "required": True,
        "type": "str",
        "default": None,
        "description": "the API token from the account page (sent as Authorization: Bearer ...)",
    }
    assert scheduler["retries"]["default"] == 2


def test_providers_hide_what_a_shell_cannot_set(capsys):
    listed = json.loads(run(capsys, "--json", "providers")[1])
    _, shown, _ = run(capsys, "providers")

    for provider in ("smsworks", "smsscheduler"):
        names = {o["name"] for o in listed[provider]}
        assert {"token", "base_url", "timeout"} <= names
        assert not names & {"session", "rate_limiter"}
    assert "session" not in shown
    assert "rate_limiter" not in shown


def test_providers_for_people_show_a_table_a_provider(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")

    code, out, _ = run(capsys, "providers")

    assert code == OK
    lines = [" ".join(re.sub("[│┃]", " ", line).split()) for line in out.splitlines()]
    assert "smsscheduler" in lines
    assert "option type default description" in lines
    assert (
        "token str required the API token from the account page (sent as Authorization: Bearer ...)"
    ) in lines
    assert "senders Mapping[str, int] - sender names to their ids, so that " in " ".join(lines)
    assert "timeout float 30.0 seconds one try of a request may take, answer included" in lines
    assert "idempotency_keys bool true put each message's idempotency key" in " ".join(lines)


# --- smsgate status --wait -----------------------------------------------------------------


def sent(capsys, monkeypatch, sandbox):
    export(monkeypatch, sandbox.config("smsworks"))
    code, out, err = run(capsys, "--json", "send", UK, "Hi")
    assert code == OK, err
    return json.loads(out)["message_id"]


def test_status_wait_shows_each_status_on_stderr_when_not_on_a_terminal(
    capsys, monkeypatch, sandbox
):
    message_id = sent(capsys, monkeypatch, sandbox)

    code, out, err = run(capsys, "status", message_id, "--wait", "--timeout", "10")

    assert code == OK
    assert err.splitlines() == [f"message {message_id}: sent", f"message {message_id}: delivered"]
    assert re.search(r"status\s+│ delivered", out)


def test_status_wait_with_json_prints_only_the_final_status(capsys, monkeypatch, sandbox):
    message_id = sent(capsys, monkeypatch, sandbox)

    code, out, err = run(capsys, "--json", "status", message_id, "--wait", "--timeout", "10")

    assert (code, err) == (OK, "")
    assert json.loads(out)["status"] == "delivered"


def test_status_wait_that_times_out_says_where_the_message_is(capsys, monkeypatch, sandbox):
    message_id = sent(capsys, monkeypatch, sandbox)

    code, out, err = run(capsys, "status", message_id, "--wait", "--timeout", "0.3")

    assert (code, out) == (FAILED, "")
    assert err.splitlines() == [
        f"message {message_id}: sent",
        f"smsgate: error: message {message_id} is still sent after 0.3 seconds; wait longer "
        "with --timeout",
    ]


def test_status_wait_on_a_terminal_updates_one_line(capsys, monkeypatch, sandbox):
    message_id = sent(capsys, monkeypatch, sandbox)
    environment = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    environment.pop("NO_COLOR", None)
    leader, follower = pty.openpty()
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "smsgate", "status", message_id, "--wait", "--timeout", "10"],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            env=environment,
        ) as process:
            os.close(follower)
            out, _ = process.communicate(timeout=30)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)

    assert process.returncode == OK
    assert f"message {message_id}: sent, waiting for its final status".encode() in shown
    assert b"\x1b[" in shown  # the line is redrawn in place, then cleared
    assert f"message {message_id}: sent\n".encode() not in shown.replace(b"\r\n", b"\n")
    assert re.search(r"status\s+│ delivered", out)


def test_ctrl_c_with_json_is_one_json_object_too(capsys, monkeypatch):
    asked = threading.Event()

    class Heard(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("GET /smsworks/v1/messages/"):
                asked.set()  # status --wait has had its first answer, or is about to

    heard = Heard()
    requests = logging.getLogger("smsgate.sandbox.requests")
    requests.addHandler(heard)
    monkeypatch.setattr(requests, "level", logging.INFO)
    slow = {"failure_rate": 0, "send_delay": 0, "deliver_delay": 60, "log_requests": True}
    try:
        with ThreadedSandbox(**slow) as box:
            message_id = sent(capsys, monkeypatch, box)  # and SMSGATE_* set for the process
            with subprocess.Popen(
                [sys.executable, "-m", "smsgate", "--json", "status", message_id, "--wait"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ) as process:
                try:
                    assert asked.wait(30)
                    time.sleep(0.2)  # the answer is in; the next look is seconds away
                    process.send_signal(signal.SIGINT)
                    out, err = process.communicate(timeout=30)
                finally:
                    process.kill()
    finally:
        requests.removeHandler(heard)

    assert (process.returncode, out) == (INTERRUPTED, "")
    assert json.loads(err) == {"error": "interrupted", "exit_code": 130, "kind": "Interrupted"}
