from typing import Any

from smsgate._optiondocs import declared_defaults, described


class Base:
    """A base.

    Args:
        timeout: seconds a request may take. More on it
            here.
        host, port: where to listen, e.g. ``127.0.0.1`` and 0; port 0 picks one.
        **options: passed on.

    Raises:
        ValueError: never an option.
    """

    def __init__(self, *, timeout: float = 30.0, host: str = "127.0.0.1", port: int = 0) -> None:
        pass


class Child(Base):
    """A child.

    Give a token.

    Args:
        token (str): the `token`, sent as it is
            (``"JWT ..."``). Not repeated.
        timeout: the child's own words.
    """

    def __init__(self, *, token: str, **options: Any) -> None:
        super().__init__(**options)


def test_each_option_gets_the_first_sentence_of_its_description_the_class_first():
    assert described(Child) == {
        "token": 'the token, sent as it is ("JWT ...")',
        "timeout": "the child's own words",
        "host": "where to listen, e.g. 127.0.0.1 and 0; port 0 picks one",
        "port": "where to listen, e.g. 127.0.0.1 and 0; port 0 picks one",
    }


def test_a_function_factory_is_described_by_its_own_docstring():
    def factory(*, name: str = "x") -> None:
        """Make one.

        Args:
            name: its name.
        """

    assert described(factory) == {"name": "its name"}


def test_no_docstring_or_no_args_section_describes_nothing():
    def bare(*, name: str = "x") -> None:
        pass

    def no_args() -> None:
        """Nothing to say.

        Returns:
            nothing: at all.
        """

    assert described(bare) == {}
    assert described(no_args) == {}


def test_defaults_come_from_the_class_then_its_bases():
    assert declared_defaults(Child) == {"timeout": 30.0, "host": "127.0.0.1", "port": 0}


def test_defaults_of_a_function_factory():
    def factory(*, name: str = "x", region: str | None = None, token: str) -> None:
        pass

    assert declared_defaults(factory) == {"name": "x", "region": None}
