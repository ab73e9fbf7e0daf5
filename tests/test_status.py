import ast
import inspect

import pytest

from smsgate import DeliveryStatus, FailureReason
from smsgate import status as status_module


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (DeliveryStatus.SCHEDULED, False),
        (DeliveryStatus.QUEUED, False),
        (DeliveryStatus.SENT, False),
        (DeliveryStatus.DELIVERED, True),
        (DeliveryStatus.UNDELIVERED, True),
        (DeliveryStatus.EXPIRED, True),
        (DeliveryStatus.REJECTED, True),
        (DeliveryStatus.CANCELLED, True),
        (DeliveryStatus.UNKNOWN, False),
    ],
)
def test_is_final_tells_whether_a_status_can_still_change(status, final):
    assert status.is_final is final


def test_the_table_above_covers_every_status():
    assert len(DeliveryStatus) == 9


def test_statuses_compare_equal_to_their_lower_case_names():
    assert DeliveryStatus.DELIVERED == "delivered"  # type: ignore[comparison-overlap]
    assert DeliveryStatus("undelivered") is DeliveryStatus.UNDELIVERED


def _documented_members(enum_class):
    """Names of members followed by a docstring in the class body."""
    tree = ast.parse(inspect.getsource(status_module))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == enum_class)
    documented = set()
    for assign, following in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(assign, ast.Assign)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            [target] = assign.targets
            assert isinstance(target, ast.Name)
            documented.add(target.id)
    return documented


@pytest.mark.parametrize("enum_class", [DeliveryStatus, FailureReason])
def test_every_member_documents_what_it_guarantees(enum_class):
    assert _documented_members(enum_class.__name__) == set(enum_class.__members__)


def test_failure_reasons_cover_the_design_vocabulary():
    assert {r.name for r in FailureReason} >= {
        "INVALID_RECIPIENT",
        "INVALID_SENDER",
        "INVALID_CONTENT",
        "INSUFFICIENT_CREDIT",
        "BLOCKED",
        "EXPIRED",
        "UNSUPPORTED_DESTINATION",
        "NETWORK",
        "PROVIDER_ERROR",
        "UNKNOWN",
    }
