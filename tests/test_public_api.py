import inspect

import smsgate

PUBLIC = [
    "AuthenticationError",
    "BatchReceipt",
    "BatchingGateway",
    "BulkSend",
    "ConfigurationError",
    "DeliveryStatus",
    "Encoding",
    "Estimate",
    "FailureReason",
    "GatewayError",
    "InboundMessage",
    "InsufficientCredit",
    "InvalidRequest",
    "KeyConflict",
    "Message",
    "MessageRef",
    "NotFound",
    "Outcome",
    "OutcomeStatus",
    "PermissionDenied",
    "Progress",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "Receipt",
    "RecipientSuppressed",
    "Segments",
    "SmsGateError",
    "SmsGateway",
    "StatusReport",
    "StatusTimeout",
    "Summary",
    "Tracker",
    "TransportError",
    "Unresolved",
    "UnsupportedFeature",
    "ValidationError",
    "__version__",
    "available_providers",
    "connect",
    "estimate",
    "from_config",
    "from_env",
    "from_toml",
    "may_have_sent",
    "normalize_number",
    "resolve",
    "segments",
    "send_all",
    "send_many",
    "track",
    "try_send",
    "wait_for_final",
]


def test_all_is_pinned_and_sorted():
    assert smsgate.__all__ == PUBLIC
    assert sorted(smsgate.__all__) == smsgate.__all__


def test_every_public_name_is_importable():
    for name in smsgate.__all__:
        assert hasattr(smsgate, name), name


def test_every_public_class_and_function_has_a_docstring():
    for name in smsgate.__all__:
        value = getattr(smsgate, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name


def test_the_version_matches_the_installed_distribution():
    from importlib.metadata import version

    assert smsgate.__version__ == version("smsgate")


def test_the_package_ships_type_information():
    from importlib.resources import files

    assert files("smsgate").joinpath("py.typed").is_file()
