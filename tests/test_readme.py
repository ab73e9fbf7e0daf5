"""Every Python example in the README runs as it is.

Examples that talk to a provider are answered by aioresponses with the provider's recorded
answers (tests/fixtures), so they run the real adapter code without a network.
"""

import re
from pathlib import Path

import pytest

from tests.support.mocking import mocked_http
from tests.support.providers import SMSSCHEDULER, SMSWORKS

README = Path(__file__).parent.parent / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


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


def test_the_readme_has_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_readme_example_runs(code, provider_answers):
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
