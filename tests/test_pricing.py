"""What sending costs, counted before anything is sent: parts by encoding, credits by each
provider's price rule, and the messages a character or two makes UCS-2."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import smsgate
from smsgate import Encoding, Message, estimate
from smsgate.errors import ConfigurationError, ValidationError
from smsgate.pricing import PRICING, Pricing, Tally, Ucs2Switch, pricing_of
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.providers.smsworks import SmsWorksGateway
from smsgate.registry import register_provider, unregister_provider
from smsgate.sandbox._smsworks_rules import charge
from smsgate.testing import FakeGateway

UK, FR = "+447700900123", "+33612345678"
QUOTE = "\N{RIGHT SINGLE QUOTATION MARK}"


def m(text, to=UK):
    return Message(to, text)


@pytest.mark.parametrize(
    ("to", "parts", "credits"),
    [(UK, 1, 1), (UK, 3, 3), (FR, 1, 2), (FR, 4, 8), ("+4412345", 2, 2)],
)
def test_the_sms_works_charges_a_credit_a_part_and_double_outside_the_uk(to, parts, credits):
    assert PRICING["smsworks"].credits(to, parts) == credits


@pytest.mark.parametrize("to", [UK, FR, "+12025550123"])
def test_sms_scheduler_charges_a_credit_a_part_wherever_it_goes(to):
    assert PRICING["smsscheduler"].credits(to, 3) == 3
    assert not PRICING["smsscheduler"].is_abroad(to)


def test_the_sandbox_charges_by_the_same_rule_as_the_estimate():
    for to in (UK, FR):
        parts, credits = charge("x" * 161, to)
        assert credits == PRICING["smsworks"].credits(to, parts)
    assert charge("x" * 161, FR) == (2, 4)


@pytest.mark.parametrize(
    ("text", "estimated", "charged"),
    [
        ("a" * 152 + "€" + "a" * 152, 3, 2),  # the escape of € would straddle two parts
        ("a" * 150 + "€" + "a" * 155, 3, 3),
        ("a" * 160, 1, 1),
        ("a" * 161, 2, 2),
        ("😀" * 35, 1, 1),  # 70 UTF-16 units: one part
        ("😀" * 36, 2, 2),
        ("a" * 66 + "😀" + "中" * 66, 3, 2),  # the surrogate pair would straddle two parts
        ("a" * 66 + "😀" + "中" * 67, 3, 3),
    ],
)
def test_an_estimate_is_never_below_what_the_sandbox_charges(text, estimated, charged):
    # The SMS Works' documents charge "1 credit for each 153 characters", which the sandbox
    # follows; the estimate counts parts as handsets get them (an escape or a surrogate pair
    # is never split), so at a part's edge it can be one part more, never fewer.
    assert estimate([m(text)], provider="smsworks").parts == estimated
    assert charge(text, UK) == (charged, charged)


@given(st.text(alphabet=st.sampled_from("a€{}[~^|\\中😀 "), max_size=700))
@settings(max_examples=300, deadline=None)
def test_for_any_text_the_estimate_is_at_least_the_sandboxs_charge(text):
    assume(text.strip())  # a blank text is no message
    cost = estimate([m(text)], provider="smsworks")
    parts, credits = charge(text, UK)
    assert cost.parts >= parts
    assert cost.credits is not None
    assert cost.credits >= credits


def test_an_estimate_counts_messages_parts_and_credits_by_encoding():
    messages = [m("Hi"), m("x" * 161), m("中文"), m("中" * 71, FR)]

    cost = estimate(messages, provider="smsworks")

    assert (cost.messages, cost.parts, cost.credits) == (4, 6, 8)
    assert cost.by_encoding == {
        Encoding.GSM7: Tally(2, 3, 3),
        Encoding.UCS2: Tally(2, 3, 5),
    }
    assert cost.abroad == Tally(1, 2, 4)
    assert cost.pricing == PRICING["smsworks"]


def test_the_same_messages_cost_less_where_the_provider_does_not_charge_double():
    messages = [m("x" * 161, FR), m("Hi", FR)]

    assert estimate(messages, provider="smsworks").credits == 6
    assert estimate(messages, provider="smsscheduler").credits == 3
    assert estimate(messages, provider="smsscheduler").abroad == Tally(0, 0, 0)


def test_nothing_to_estimate_is_all_zero():
    cost = estimate([], provider="smsworks")

    assert (cost.messages, cost.parts, cost.credits) == (0, 0, 0)
    assert cost.by_encoding == {Encoding.GSM7: Tally(), Encoding.UCS2: Tally()}
    assert cost.switches == ()


def test_a_curly_quote_that_costs_a_part_is_found_and_named():
    text = "Don" + QUOTE + "t miss our sale: " + "x" * 60  # 77 characters

    cost = estimate([m("plain"), m(text)], provider="smsworks")

    assert cost.switches == (Ucs2Switch(index=1, characters=QUOTE, parts=2, gsm_parts=1),)
    assert cost.switched == Tally(1, 2, 2)
    assert cost.switched_gsm_parts == 1
    assert cost.switching == {QUOTE: 1}


def test_a_switch_that_costs_nothing_is_not_a_surprise():
    cost = estimate([m("Don" + QUOTE + "t")], provider="smsworks")

    assert cost.by_encoding[Encoding.UCS2] == Tally(1, 1, 1)
    assert cost.switches == ()
    assert cost.switched == Tally(0, 0, 0)


def test_a_text_in_another_script_is_ucs2_by_nature_not_by_accident():
    text = "Привет, это длинное сообщение на русском языке, оно точно длиннее семидесяти знаков."

    cost = estimate([m(text)], provider="smsworks")

    assert cost.by_encoding[Encoding.UCS2].parts == 2
    assert cost.switches == ()


def test_an_emoji_and_two_quotes_are_counted_by_character():
    wave = "\N{WAVING HAND SIGN}"
    texts = [
        "\u201cBig\u201d sale " + wave + " " + "x" * 70,
        wave + " " + "y" * 80,
        "z" * 100,
    ]

    cost = estimate([m(t) for t in texts], provider="smsworks", keep=1)

    assert cost.switched.messages == 2
    assert len(cost.switches) == 1  # kept: one; counted: both
    assert cost.switches[0].characters == "\u201c\u201d" + wave
    assert cost.switching == {"\u201c": 1, "\u201d": 1, wave: 2}


def test_an_estimate_reads_a_generator_once_without_holding_it():
    read = []

    def messages():
        for i in range(1000):
            read.append(i)
            yield m(f"Offer {i}")

    cost = estimate(messages(), provider="smsworks")

    assert cost.messages == 1000
    assert len(read) == 1000


def test_the_provider_may_be_given_by_its_gateway_class():
    messages = [m("Hi", FR)]

    assert estimate(messages, provider=SmsWorksGateway).credits == 2
    assert estimate(messages, provider=SmsSchedulerGateway).credits == 1


def test_a_plug_in_gives_its_own_price_rule_on_its_gateway_class():
    class AcmeGateway(FakeGateway):
        pricing = Pricing(per_part=0.5, home="+33", home_name="France", abroad=3)

    register_provider("acme", AcmeGateway)
    try:
        assert estimate([m("Hi", FR), m("Hi", UK)], provider="acme").credits == 2
        assert estimate([m("Hi", UK)], provider=AcmeGateway).credits == 1.5
    finally:
        unregister_provider("acme")


def test_a_provider_without_a_price_rule_is_counted_without_credits():
    cost = estimate([m("Hi"), m("x" * 200)], provider="fake")

    assert (cost.messages, cost.parts, cost.credits, cost.pricing) == (2, 3, None, None)
    assert cost.by_encoding[Encoding.GSM7] == Tally(2, 3, None)
    assert cost.abroad == Tally(0, 0, None)


def test_an_unknown_provider_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="provider: unknown"):
        estimate([m("Hi")], provider="nope")


@pytest.mark.parametrize("given", [42, None, SmsWorksGateway(token="JWT x", sender="Shop")])
def test_a_provider_that_is_neither_a_name_nor_a_class_is_refused(given):
    with pytest.raises(ValidationError, match="provider: must be a provider's name or gateway"):
        pricing_of(given)


def test_only_messages_can_be_estimated():
    with pytest.raises(ValidationError, match="messages: item 1 is a dict, not a Message"):
        estimate([m("Hi"), {"to": UK, "text": "Hi"}], provider="smsworks")  # type: ignore[list-item]


def test_estimate_and_its_result_are_public():
    assert smsgate.estimate is estimate
    assert smsgate.Estimate.__module__ == "smsgate.pricing"
