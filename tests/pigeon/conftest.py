import pytest


@pytest.fixture
def pigeon_registered():
    from tests.pigeon.support import registered

    with registered():
        yield
