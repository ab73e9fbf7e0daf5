"""The README and the docs site: every Python example runs as it is, and the site builds.

Every ```python block of README.md and of each page under docs/ is run here, but those of the
pages in `RUN_ELSEWHERE`, whose own test modules run them in their own way. Examples that talk
to a provider are answered by aioresponses with the provider's recorded answers
(tests/fixtures), so they run the real adapter code without a network; the README's
``send.py`` is run against a real sandbox, with the environment ``smsgate sandbox --env
smsworks`` gives. A block that is not meant to run begins with a ``# not run: <reason>``
line; a Python block that is neither run nor so marked fails `test_every_python_block_is_seen`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import smsgate
from tests.support.mocking import mocked_http
from tests.support.providers import SMSSCHEDULER, SMSWORKS
from tests.support.sandbox import FAST, ThreadedSandbox

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

# Pages whose Python examples another test module runs, in its own way: page -> that module.
RUN_ELSEWHERE = {
    "docs/quiet-hours.md": "tests/test_quiet.py",
    "docs/suppression.md": "tests/test_suppression.py",
    "docs/webhooks.md": "tests/test_webhooks_asgi.py",
}

NOT_RUN = "# not run:"
SEND_PY = "# send.py\n"

# A block as this module reads it, and anything a reader of Markdown could take for a Python
# block: another spelling (py, python3, pycon), a block indented under a list, a ~~~ fence,
# attributes after the language.
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
ANY_PYTHON_FENCE = re.compile(
    r"^[ \t]*(?:`{3,}|~{3,})[ \t]*\{?[ \t]*\.?(?:python3?|py3?|pycon)\b",
    re.IGNORECASE | re.MULTILINE,
)
ANY_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def name_of(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


PAGES = [README, *sorted(DOCS.rglob("*.md"))]
BLOCKS = [
    (name_of(page), number, code)
    for page in PAGES
    for number, code in enumerate(PYTHON_BLOCK.findall(page.read_text(encoding="utf-8")))
]
OURS = [block for block in BLOCKS if block[0] not in RUN_ELSEWHERE]
MARKED = [block for block in OURS if block[2].startswith(NOT_RUN)]
SENDERS = [block for block in OURS if block[2].startswith(SEND_PY)]
EXAMPLES = [block for block in OURS if block not in MARKED and block not in SENDERS]


def ids(blocks: list[tuple[str, int, str]]) -> list[str]:
    return [f"{page}-{number}" for page, number, _ in blocks]


def run(page: str, code: str) -> None:
    exec(compile(code, str(ROOT / page), "exec"), {"__name__": "__docs__"})


def any_path(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(SMSWORKS.base + prefix) + r".*")


@pytest.fixture
def mock_http(monkeypatch):
    """Provider answers are mocked; the sandbox on 127.0.0.1 is real."""
    with mocked_http(monkeypatch, passthrough=["http://127.0.0.1"]) as mocked:
        yield mocked


@pytest.fixture
def provider_answers(mock_http):
    answers = [
        ("post", "/auth/token", 200, SMSWORKS.fixture("token")),
        ("post", "/message/send", 201, SMSWORKS.fixture("send")),
        ("post", "/message/flash", 201, SMSWORKS.fixture("flash")),
        ("post", "/message/schedule", 200, SMSWORKS.fixture("schedule_array")),
        ("delete", "/messages/schedule/", 200, SMSWORKS.fixture("cancelled")),
        ("get", "/messages/", 200, SMSWORKS.fixture("message")),
        ("post", "/messages", 200, [SMSWORKS.fixture("message")]),
        ("post", "/batch/send", 201, SMSWORKS.fixture("batch")),
        ("post", "/batch/any", 201, SMSWORKS.fixture("batch")),
        ("post", "/batch/schedule", 201, SMSWORKS.fixture("batch")),
        ("get", "/batch/", 200, SMSWORKS.fixture("batch_messages")),
        ("delete", "/batches/schedule/", 200, SMSWORKS.fixture("cancelled")),
        ("get", "/credits/balance", 200, SMSWORKS.fixture("credits")),
    ]
    for method, path, status, payload in answers:
        getattr(mock_http, method)(any_path(path), status=status, payload=payload, repeat=True)
    scheduler = re.escape(SMSSCHEDULER.base)
    created = {"message_id": 7, "sms_ids": {"+33612345678": [70]}}
    mock_http.post(re.compile(scheduler + "/sms$"), payload=created, repeat=True)
    for method, path, payload in [
        ("get", "/sms/", {"phone_number": "+33612345678", "status": 13}),
        ("delete", "/sms/", {"success": True}),
        ("get", "/message/", [{"id": 70, "phone_number": "+33612345678", "status": 13}]),
        ("delete", "/message/", {"success": 1}),
    ]:
        pattern = re.compile(scheduler + re.escape(path) + ".*")
        getattr(mock_http, method)(pattern, payload=payload, repeat=True)
    return mock_http


# --- which blocks run where ------------------------------------------------------------------


def test_the_readme_and_the_docs_have_examples():
    readme = [block for block in OURS if block[0] == "README.md"]
    assert len(readme) == 2
    assert len(SENDERS) == 2  # the README's send.py, and Getting started's
    assert len(EXAMPLES) >= 25


@pytest.mark.parametrize("page", PAGES, ids=[name_of(page) for page in PAGES])
def test_every_python_block_is_seen(page):
    """A block spelled so that this module would not find it would run nowhere."""
    text = page.read_text(encoding="utf-8")
    assert len(ANY_PYTHON_FENCE.findall(text)) == len(PYTHON_BLOCK.findall(text)), (
        f"{name_of(page)} has a Python block this module does not read: fence it as "
        "```python at the start of a line"
    )


@pytest.mark.parametrize(("page", "module"), RUN_ELSEWHERE.items())
def test_the_pages_run_elsewhere_are_run_there(page, module):
    source = (ROOT / module).read_text(encoding="utf-8")
    assert f'"{Path(page).name}"' in source
    assert "```python" in source
    assert "exec(compile(" in source
    assert PYTHON_BLOCK.findall((ROOT / page).read_text(encoding="utf-8"))


@pytest.mark.parametrize(("page", "number", "code"), MARKED, ids=ids(MARKED))
def test_a_block_that_is_not_run_says_why(page, number, code):
    reason = code.splitlines()[0].removeprefix(NOT_RUN).strip()
    assert len(reason) >= 10, f"{page} example {number}: say why it is not run"


# --- running them ----------------------------------------------------------------------------


@pytest.mark.parametrize(("page", "number", "code"), EXAMPLES, ids=ids(EXAMPLES))
def test_example_runs(page, number, code, provider_answers):
    run(page, code)


@pytest.mark.parametrize(("page", "number", "code"), SENDERS, ids=ids(SENDERS))
def test_send_py_sends_through_the_sandbox(page, number, code, monkeypatch, capsys):
    for name in [name for name in os.environ if name.startswith("SMSGATE_")]:
        monkeypatch.delenv(name)
    with ThreadedSandbox(seed=1, failure_rate=0, **FAST) as sandbox:
        # What `eval "$(smsgate sandbox --env smsworks)"` exports.
        for option, value in sandbox.config("smsworks").items():
            monkeypatch.setenv(f"SMSGATE_{option.upper()}", str(value))
        run(page, code)
        stored = sandbox.messages("smsworks")

    assert [(sms.to, sms.text, sms.sender) for sms in stored] == [
        ("+447700900123", "Hello from send.py", "Sandbox")
    ]
    assert capsys.readouterr().out == f"smsworks {stored[0].id} sent\n"


# --- what the examples may hold --------------------------------------------------------------


def far_future(year: int) -> bool:
    return year > datetime.now(UTC).year + 20


@pytest.mark.parametrize(("page", "number", "code"), BLOCKS, ids=ids(BLOCKS))
def test_no_example_holds_a_date_that_will_pass(page, number, code):
    years = re.findall(r"\bdatetime\(\s*(\d{4})\b", code)
    years += re.findall(r"['\"](\d{4})-\d\d-\d\d", code)
    assert all(far_future(int(year)) for year in years), (
        f"{page} example {number}: compute the date (datetime.now(UTC) + timedelta(...)) "
        "or take one far in the future"
    )


@pytest.mark.parametrize("page", PAGES, ids=[name_of(page) for page in PAGES])
def test_no_command_is_given_a_date_that_will_pass(page):
    blocks = ANY_BLOCK.findall(page.read_text(encoding="utf-8"))
    years = [int(year) for block in blocks for year in re.findall(r"--at[ =](\d{4})-", block)]
    assert all(far_future(year) for year in years), name_of(page)


def test_the_readme_stays_a_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, "move what is not a first step into docs/"


def slug(heading: str) -> str:
    """The anchor GitHub and mkdocs both give a heading such as ours."""
    words = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return words.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = ANY_BLOCK.sub("", page.read_text(encoding="utf-8"))
    return {slug(heading) for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


def test_the_readme_links_lead_to_files_and_headings():
    """mkdocs checks the links between pages; the README, read on GitHub, is checked here."""
    links = re.findall(r"\]\(([^)\s]+)\)", README.read_text(encoding="utf-8"))
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(local) >= 20
    for link in local:
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else README
        assert target.is_file(), link
        if anchor:
            assert anchor in anchors(target), link


def test_slug_is_the_anchor_of_a_heading():
    assert slug("Uncertain sends: look them up") == "uncertain-sends-look-them-up"
    assert slug("Asking: `wait_for_final` and `track`") == "asking-wait_for_final-and-track"


# --- the site --------------------------------------------------------------------------------


def test_the_api_reference_names_everything_smsgate_exports():
    reference = (DOCS / "reference" / "index.md").read_text(encoding="utf-8")
    missing = [
        name for name in smsgate.__all__ if name != "__version__" and f"[{name}][" not in reference
    ]
    assert missing == []


def test_the_api_reference_leaves_the_command_line_out():
    pages = (DOCS / "reference").glob("*.md")
    assert not [page for page in pages if "smsgate.cli" in page.read_text(encoding="utf-8")]


def test_the_docs_site_builds_without_a_warning(tmp_path):
    needed = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
    absent = [name for name in needed if importlib.util.find_spec(name.split(".")[0]) is None]
    if absent and os.environ.get("CI"):
        pytest.fail(f"CI must build the docs site, and {', '.join(absent)} is not installed")
    if absent:
        pytest.skip(f"{', '.join(absent)} not installed: pip install -e '.[dev]'")
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert "WARNING" not in built.stderr
    reference = (site / "reference" / "model" / "index.html").read_text(encoding="utf-8")
    assert 'id="smsgate.model.Message"' in reference
    assert (site / "providers" / "smsworks" / "index.html").is_file()
