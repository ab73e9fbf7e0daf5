"""`smsgate sandbox` for your own code: `--env` prints the `export` lines that point a shell
at it, the running sandbox prints them for every provider, `--verbose` logs each request,
and the sequence the README shows works in bash and in sh."""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator

import pytest

from smsgate.cli._common import OK, USAGE
from smsgate.sandbox import Sandbox
from tests.support.cli import run

BIN = os.path.dirname(sys.executable)  # where `smsgate` and `python` are


pytestmark = pytest.mark.usefixtures("no_smsgate_environment")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shell_environment() -> dict[str, str]:
    """The environment of a new shell: no SMSGATE_* variable, this interpreter's tools first."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_")}
    environment["PATH"] = BIN + os.pathsep + environment.get("PATH", "")
    return environment


@contextlib.contextmanager
def sandbox_process(*options: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``smsgate sandbox`` in a process of its own: yields it and the lines it printed up to
    its ``credits:`` line; stops it with SIGTERM (killed if it does not stop)."""
    command = [sys.executable, "-m", "smsgate", "sandbox", *options]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=shell_environment(),
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline()]
            while not lines[-1].startswith("credits:"):
                assert lines[-1], "the sandbox ended before it said how to use it"
                lines.append(process.stdout.readline())
            yield process, [line.rstrip("\n") for line in lines]
            process.terminate()
            assert process.wait(timeout=10) == OK
        finally:
            process.kill()


# --- smsgate sandbox --env -----------------------------------------------------------------


def test_env_prints_only_shell_lines_for_the_default_port(capsys):
    code, out, err = run(capsys, "sandbox", "--env", "smsworks")

    assert (code, err) == (OK, "")
    assert out.splitlines() == [
        # what the key-and-secret login sets, which The SMS Works would refuse beside a token
        "unset SMSGATE_CUSTOMER_ID",
        "unset SMSGATE_KEY",
        "unset SMSGATE_SECRET",
        "export SMSGATE_PROVIDER=smsworks",
        "export SMSGATE_BASE_URL=http://127.0.0.1:8025/smsworks/v1",
        "export SMSGATE_TOKEN='JWT sandbox-token'",
        "export SMSGATE_SENDER=Sandbox",
    ]


def test_env_quotes_each_value_for_a_shell(capsys):
    code, out, _ = run(capsys, "sandbox", "--env", "smsscheduler", "--port", "9000")

    assert code == OK
    assert out.splitlines() == [
        "export SMSGATE_PROVIDER=smsscheduler",
        "export SMSGATE_BASE_URL=http://127.0.0.1:9000/smsscheduler/api/v1",
        "export SMSGATE_TOKEN=sandbox-token",
        "export SMSGATE_SENDER_ID=1",
        """export SMSGATE_SENDERS='{"Sandbox": 1}'""",
        "export SMSGATE_TIMEZONE=Europe/Paris",
    ]


def test_env_gives_the_values_the_running_sandbox_takes(capsys):
    _, out, _ = run(capsys, "--json", "sandbox", "--env", "smsscheduler", "--port", "9000")

    config = Sandbox().config("smsscheduler", port=9000)
    assert json.loads(out) == {
        f"SMSGATE_{key.upper()}": json.dumps(value) if isinstance(value, dict) else str(value)
        for key, value in config.items()
    }


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["--env", "smsworkz"],
            "--env: the sandbox emulates smsworks, smsscheduler, not 'smsworkz'; did you mean "
            "'smsworks'?",
        ),
        (["--env", "pigeon"], "--env: the sandbox emulates smsworks, smsscheduler, not 'pigeon'"),
        (
            ["--env", "smsworks", "--port", "0"],
            "--port: --env needs the port the sandbox listens on (0 picks one when it starts)",
        ),
    ],
)
def test_env_refuses_what_it_cannot_point_at(capsys, argv, line):
    code, out, err = run(capsys, "sandbox", *argv)

    assert (code, out, err) == (USAGE, "", f"smsgate: error: {line}\n")


def test_env_starts_no_server():
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "smsgate", "sandbox", "--env", "smsworks", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        env=shell_environment(),
        check=False,
    )

    assert (done.returncode, done.stderr) == (OK, "")
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


# --- the running sandbox -------------------------------------------------------------------


def test_the_sandbox_prints_pasteable_export_lines_for_each_provider():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with sandbox_process("--port", str(port)) as (_, lines):
        pass

    assert lines == [
        f"sandbox on {url} — Ctrl-C or SIGTERM to stop",
        "# smsworks",
        "unset SMSGATE_CUSTOMER_ID",
        "unset SMSGATE_KEY",
        "unset SMSGATE_SECRET",
        "export SMSGATE_PROVIDER=smsworks",
        f"export SMSGATE_BASE_URL={url}/smsworks/v1",
        "export SMSGATE_TOKEN='JWT sandbox-token'",
        "export SMSGATE_SENDER=Sandbox",
        "# smsworks, with its key and secret instead",
        "unset SMSGATE_TOKEN",
        "export SMSGATE_PROVIDER=smsworks",
        f"export SMSGATE_BASE_URL={url}/smsworks/v1",
        "export SMSGATE_CUSTOMER_ID=sandbox",
        "export SMSGATE_KEY=sandbox-key",
        "export SMSGATE_SECRET=sandbox-secret",
        "export SMSGATE_SENDER=Sandbox",
        "# smsscheduler",
        "export SMSGATE_PROVIDER=smsscheduler",
        f"export SMSGATE_BASE_URL={url}/smsscheduler/api/v1",
        "export SMSGATE_TOKEN=sandbox-token",
        "export SMSGATE_SENDER_ID=1",
        """export SMSGATE_SENDERS='{"Sandbox": 1}'""",
        "export SMSGATE_TIMEZONE=Europe/Paris",
        f'# in another shell: eval "$(smsgate sandbox --env smsworks --port {port})"; then '
        "smsgate.from_env() in your code sends here",
        "credits: 1,000,000 on each account (--credits)",
    ]


def test_the_banner_names_no_port_when_it_is_the_default():
    command = [sys.executable, "-m", "smsgate", "sandbox"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=shell_environment()
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stderr is not None
            lines = [process.stdout.readline()]
            if not lines[0] and "address already in use" in process.stderr.read():
                pytest.skip("port 8025 is taken on this machine")
            while not lines[-1].startswith("credits:"):
                lines.append(process.stdout.readline())
            process.terminate()
            assert process.wait(timeout=10) == OK
        finally:
            process.kill()

    assert lines[0] == "sandbox on http://127.0.0.1:8025 — Ctrl-C or SIGTERM to stop\n"
    assert lines[-2] == (
        '# in another shell: eval "$(smsgate sandbox --env smsworks)"; then smsgate.from_env() '
        "in your code sends here\n"
    )


def test_a_port_taken_already_is_one_line_and_exit_code_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "smsgate", "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            env=shell_environment(),
            check=False,
        )

    assert (done.returncode, done.stdout) == (USAGE, "")
    assert done.stderr == (
        f"smsgate: error: --port: cannot listen on 127.0.0.1:{port} (address already in use); "
        "is a sandbox running there already? Stop it, or choose another --port\n"
    )


def test_a_providers_lines_pasted_into_a_shell_configure_it():
    with sandbox_process("--port", str(free_port())) as (_, lines):
        pass
    start = lines.index("# smsscheduler")
    block = lines[start + 1 : start + 7]
    show = 'python -c "import os, json; print(json.dumps({k: v for k, v in os.environ.items() '
    show += "if k.startswith('SMSGATE_')}))\""

    done = subprocess.run(
        ["bash", "-c", "\n".join([*block, show])],
        capture_output=True,
        text=True,
        timeout=30,
        env=shell_environment(),
        check=True,
    )

    url = lines[0].split()[2]
    assert json.loads(done.stdout) == {
        "SMSGATE_PROVIDER": "smsscheduler",
        "SMSGATE_BASE_URL": f"{url}/smsscheduler/api/v1",
        "SMSGATE_TOKEN": "sandbox-token",
        "SMSGATE_SENDER_ID": "1",
        "SMSGATE_SENDERS": '{"Sandbox": 1}',
        "SMSGATE_TIMEZONE": "Europe/Paris",
    }


def test_verbose_logs_each_request_on_stderr():
    port = free_port()
    with sandbox_process("--port", str(port), "--verbose") as (process, lines):
        config = Sandbox().config("smsworks", port=port)
        for path in ("/credits/balance", "/no-such-path"):
            request = urllib.request.Request(
                config["base_url"] + path, headers={"Authorization": config["token"]}
            )
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=5).close()
        process.terminate()
        assert process.stderr is not None
        logged = process.stderr.read().splitlines()

    assert lines[0].startswith("sandbox on ")  # requests go to stderr, not into the banner
    assert len(logged) == 2
    assert re.fullmatch(r"GET /smsworks/v1/credits/balance 200 \d+ ms", logged[0])
    assert re.fullmatch(r"GET /smsworks/v1/no-such-path 404 \d+ ms", logged[1])


# --- the README's sequence, for real -------------------------------------------------------

SEND_PY = """
import asyncio

import smsgate


async def main():
    async with smsgate.from_env() as gateway:
        receipt = await gateway.send(gateway.message("+447700900123", "Hello from my code"))
        print(receipt.message_id)


asyncio.run(main())
"""


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_the_sandbox_then_eval_env_then_your_own_code_sends_to_the_sandbox(tmp_path, shell):
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell} here")
    (tmp_path / "send.py").write_text(textwrap.dedent(SEND_PY), encoding="utf-8")
    port = free_port()
    steps = f'eval "$(smsgate sandbox --env smsworks --port {port})"\npython send.py'
    with sandbox_process("--port", str(port)):  # 1. smsgate sandbox &
        done = subprocess.run(  # 2. eval "$(smsgate sandbox --env smsworks)"; 3. python send.py
            [shell, "-c", steps],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env=shell_environment(),
            check=False,
        )
        assert done.returncode == 0, done.stderr
        message_id = done.stdout.strip()
        config = Sandbox().config("smsworks", port=port)
        request = urllib.request.Request(
            f"{config['base_url']}/messages/{message_id}",
            headers={"Authorization": config["token"]},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            held = json.loads(answer.read())

    assert (held["messageid"], held["destination"], held["content"]) == (
        message_id,
        447700900123,
        "Hello from my code",
    )


def test_the_token_lines_pasted_after_the_key_and_secret_lines_leave_one_login(capsys):
    code, token_lines, _ = run(capsys, "sandbox", "--env", "smsworks")
    assert code == OK
    key_and_secret = (
        "export SMSGATE_CUSTOMER_ID=sandbox SMSGATE_KEY=sandbox-key SMSGATE_SECRET=sandbox-secret"
    )
    script = f"{key_and_secret}\n{token_lines}\nenv | grep ^SMSGATE_ | sort"
    shell = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, timeout=10, env={"PATH": "/bin"}
    )

    assert shell.stdout.splitlines() == [
        "SMSGATE_BASE_URL=http://127.0.0.1:8025/smsworks/v1",
        "SMSGATE_PROVIDER=smsworks",
        "SMSGATE_SENDER=Sandbox",
        "SMSGATE_TOKEN=JWT sandbox-token",
    ]
