"""Reading outcomes a test knows the shape of."""

from __future__ import annotations

from smsgate import Message, Outcome, Receipt


def receipt_of(outcome: Outcome) -> Receipt:
    """The receipt of an outcome that has one (an accepted one)."""
    assert outcome.receipt is not None, f"outcome {outcome.index} has no receipt: {outcome}"
    return outcome.receipt


def message_of(outcome: Outcome) -> Message:
    """The message of an outcome whose input became one."""
    assert outcome.message is not None, f"outcome {outcome.index} has no message: {outcome}"
    return outcome.message
