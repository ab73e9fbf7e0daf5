"""The SMS Works' pure checks made before any request: credentials, the default sender and a
batch's messages."""

import pytest

from smsgate import ConfigurationError, Message, UnsupportedFeature, ValidationError
from smsgate.providers.smsworks import MAX_BATCH
from smsgate.providers.smsworks.codec import KEY_NAME, check_batch
from smsgate.providers.smsworks.credentials import configured_sender, read_credentials
from smsgate.redaction import Secret

TO = "+447700900123"
NONE = {"token": None, "customer_id": None, "key": None, "secret": None}


def test_a_token_is_kept_without_the_line_break_it_was_pasted_with():
    login = read_credentials(**(NONE | {"token": " JWT eyJhbGciOi.e30.c2ln\n"}))
    assert login.token == Secret("JWT eyJhbGciOi.e30.c2ln")
    assert login.login is None
    assert login.advice.startswith("check the token")


def test_key_and_secret_become_the_token_request_body_under_its_own_names():
    login = read_credentials(
        **(NONE | {"customer_id": "C-1\n", "key": " key-123456", "secret": "secret-123456 "})
    )
    assert login.token is None
    assert login.login == {
        "customerid": Secret("C-1"),
        "key": Secret("key-123456"),
        "secret": Secret("secret-123456"),
    }
    assert login.advice == "check customer_id, key and secret"


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ({}, "smsworks needs credentials"),
        ({"customer_id": "C-1", "key": "key-123456"}, "smsworks needs credentials"),
        ({"token": "JWT x", "key": "key-123456"}, "not both"),
        ({"token": ""}, "token: must be non-empty text"),
        ({"token": " \n"}, "token: must be non-empty text"),
        ({"token": 42}, "token: must be non-empty text"),
        ({"customer_id": "C-1", "key": "  ", "secret": "s-123456"}, "key: must be non-empty"),
        ({"customer_id": "C-1", "key": "k-123456", "secret": " "}, "secret: must be non-empty"),
        ({"customer_id": 7, "key": "k-123456", "secret": "s-123456"}, "customer_id: must be"),
    ],
)
def test_missing_mixed_or_empty_credentials_are_refused_without_their_values(given, error):
    with pytest.raises(ConfigurationError, match=error) as caught:
        read_credentials(**(NONE | given))
    assert "123456" not in str(caught.value)


def test_the_default_sender_is_checked_as_a_setting():
    assert configured_sender(None) is None
    assert configured_sender("Shop42") == "Shop42"
    with pytest.raises(ConfigurationError, match=r"^sender: must be text$"):
        configured_sender(42)
    with pytest.raises(ConfigurationError, match=r"^sender: use 3 to 11 letters and digits"):
        configured_sender("My Shop!")


def message(**fields):
    return Message(**({"to": TO, "text": "hi"} | fields))


def test_a_batch_of_messages_is_returned_as_it_was_given():
    batch = [message(), message(text="other")]
    assert check_batch(batch) is batch


@pytest.mark.parametrize(
    ("batch", "error", "text"),
    [
        ([], ValidationError, "is empty"),
        ([message()] * (MAX_BATCH + 1), ValidationError, f"at most {MAX_BATCH} a batch"),
        ([message(), {"to": TO}], ValidationError, "holds a dict, not a Message"),
        (
            [message(provider_options={"smsworks": {"flash": True}})],
            UnsupportedFeature,
            "flash messages in a batch",
        ),
        ([message(metadata={KEY_NAME: "mine"})], ValidationError, "smsgate's own key"),
    ],
)
def test_a_batch_that_cannot_go_as_one_request_is_refused(batch, error, text):
    with pytest.raises(error, match=text):
        check_batch(batch)
