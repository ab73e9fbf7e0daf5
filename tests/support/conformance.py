"""Every answer the sandbox's The SMS Works gives, held to the provider's OpenAPI spec.

`watch` adds a middleware to each `Sandbox` made while it is on: each answer of the SMS
Works emulator is validated against the response schema the spec declares for that
operation and HTTP status (``default`` when the status has none of its own), and each problem
is kept in `Conformance.problems`. An answer that no operation of the spec covers (a path the
API does not have) must be an ExtendedErrorModel. Answers to injected faults (marked
``X-Sandbox-Fault``: a proxy's page, a dropped connection) are not the API's and are left out.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import attrs
import pytest
from aiohttp import web
from openapi_schema_validator import OAS30Validator

from smsgate.sandbox import Sandbox
from tests.support.providers import smsworks_spec

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@functools.cache
def _operations() -> list[tuple[re.Pattern[str], dict[str, Any]]]:
    """Each path of the spec as a pattern, literal paths first (``/messages/schedule``
    before ``/messages/{messageid}``)."""
    paths = smsworks_spec()["paths"]
    ordered = sorted(paths, key=lambda path: path.count("{"))
    return [(re.compile(re.sub(r"\{[^}]+\}", "[^/]+", path)), paths[path]) for path in ordered]


def response_schema(method: str, path: str, status: int) -> dict[str, Any] | str:
    """The schema the spec declares for this answer, or what is wrong with the answer's
    status (a text)."""
    extended = {"$ref": "#/components/schemas/ExtendedErrorModel"}
    for pattern, item in _operations():
        if pattern.fullmatch(path):
            operation = item.get(method.lower())
            if operation is None:
                return extended  # a method the path does not take: the API's own error
            responses = operation["responses"]
            declared = responses.get(status, responses.get(str(status), responses.get("default")))
            if declared is None:
                return f"{method} {path}: the spec declares no {status} answer"
            content = declared.get("content")
            if not content:
                return f"{method} {path}: the spec declares a {status} answer with no body"
            schema: dict[str, Any] = next(iter(content.values()))["schema"]
            return schema
    return extended


def problems_with(method: str, path: str, status: int, content_type: str, body: bytes) -> list[str]:
    """What is wrong with one answer of the API, by its spec (empty when nothing is)."""
    where = f"{method} {path} -> {status}"
    schema = response_schema(method, path, status)
    if isinstance(schema, str):
        return [schema]
    if content_type != "application/json":
        return [f"{where}: answered {content_type or 'no content type'}, not JSON"]
    try:
        data = json.loads(body)
    except ValueError:
        return [f"{where}: the body is not JSON"]
    validator = OAS30Validator({**schema, "components": smsworks_spec()["components"]})
    return [f"{where}: {error.message} in {data!r}" for error in validator.iter_errors(data)]


@attrs.define
class Conformance:
    """The problems found in the sandbox's answers, and how many answers were checked."""

    problems: list[str] = attrs.field(factory=list)
    checked: int = 0

    def middleware(self, prefix: str) -> Any:
        @web.middleware
        async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not request.path.startswith(prefix + "/"):
                return await handler(request)
            path = request.path[len(prefix) :]
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # aiohttp's own answer, such as a 413
                self._check(request.method, path, exc)
                raise
            except Exception as exc:
                self.checked += 1
                self.problems.append(f"{request.method} {path}: the handler raised {exc!r}")
                raise
            if "X-Sandbox-Fault" not in response.headers:
                self._check(request.method, path, response)
            return response

        return check

    def _check(self, method: str, path: str, response: web.StreamResponse) -> None:
        assert isinstance(response, web.Response)
        body = response.body if isinstance(response.body, bytes) else b""
        self.checked += 1
        self.problems += problems_with(method, path, response.status, response.content_type, body)


@contextlib.contextmanager
def watch() -> Iterator[Conformance]:
    """Check every answer of The SMS Works emulator in each `Sandbox` made meanwhile (and
    served in this process)."""
    found = Conformance()
    app_of = Sandbox.app

    def app(sandbox: Sandbox) -> web.Application:
        served = app_of(sandbox)
        if "smsworks" in sandbox.providers:
            served.middlewares.append(found.middleware(sandbox.providers["smsworks"].prefix))
        return served

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Sandbox, "app", app)
        yield found
