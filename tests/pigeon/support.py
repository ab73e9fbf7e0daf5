"""Registering Pigeon Post for a test, through the public registry APIs only."""

import contextlib
from collections.abc import Iterator

from smsgate.registry import register_provider, unregister_provider
from smsgate.sandbox import register_emulator, unregister_emulator
from tests.pigeon.adapter import PigeonGateway
from tests.pigeon.emulator import EMULATOR


@contextlib.contextmanager
def registered() -> Iterator[None]:
    register_provider("pigeon", PigeonGateway)
    register_emulator(EMULATOR)
    try:
        yield
    finally:
        unregister_provider("pigeon")
        unregister_emulator("pigeon")
