"""The SMS Works and SMS Scheduler as the tests meet them: where each lives, a token, its
recorded answers (``tests/fixtures/<name>/``), and the calls aioresponses recorded to it.
The SMS Works publishes an OpenAPI spec; `schema_errors` checks bodies against it."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import aioresponses
import attrs
import yaml
from aioresponses.core import RequestCall
from openapi_schema_validator import OAS30Validator

from tests.support.mocking import recorded, recorded_request

FIXTURES = Path(__file__).parent.parent / "fixtures"


@attrs.frozen
class Provider:
    """One HTTP provider: its name in smsgate, its production API root and a token."""

    name: str
    base: str
    token: str

    def fixture(self, name: str) -> Any:
        """The recorded answer ``tests/fixtures/<provider>/<name>.json``."""
        return json.loads((FIXTURES / self.name / f"{name}.json").read_text())

    def calls(self, mocked: aioresponses.aioresponses, method: str, path: str) -> list[RequestCall]:
        """The calls aioresponses recorded to ``method`` the API's ``path``."""
        return recorded(mocked, method, self.base + path)

    def sent(
        self, mocked: aioresponses.aioresponses, method: str, path: str, index: int = 0
    ) -> tuple[Any, Any]:
        """The headers and JSON body of one recorded call to the API's ``path``."""
        return recorded_request(mocked, method, self.base + path, index)


SMSWORKS = Provider(
    name="smsworks",
    base="https://api.thesmsworks.co.uk/v1",
    token="JWT eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.t0k3n-s3cr3t",
)
SMSSCHEDULER = Provider(
    name="smsscheduler",
    base="https://sms-scheduler.com/api/v1",
    token="sk-live-0123456789-s3cr3t",
)


@functools.cache
def smsworks_spec() -> dict[str, Any]:
    """The SMS Works' OpenAPI spec 1.10.0 with the bugs its own header lists patched, and
    ``POST /auth/token`` added as spec 1.5.0 and the guide document it."""
    spec: dict[str, Any] = copy.deepcopy(
        yaml.safe_load((FIXTURES / "smsworks" / "openapi.yaml").read_text())
    )
    schemas = spec["components"]["schemas"]
    # The spec's own header lists these bugs (Message.metadata; Query.metadata has the same
    # declaration, and its example is an array too): the live API takes arrays here.
    for name in ("Message", "Query"):
        schemas[name]["properties"]["metadata"] = {
            "type": "array",
            "items": {"$ref": "#/components/schemas/MetaData"},
        }
    schemas["MessageArray"] = {"type": "array", "items": {"$ref": "#/components/schemas/Message"}}
    schemas["SendMessageResponse"]["properties"]["messageparts"] = {"type": "number"}
    # /auth/token is documented in spec 1.5.0 and the guide, not in 1.10.0.
    schemas["TokenRequest"] = {
        "type": "object",
        "required": ["customerid", "key", "secret"],
        "properties": {name: {"type": "string"} for name in ("customerid", "key", "secret")},
        "additionalProperties": False,
    }
    schemas["TokenResponse"] = {
        "type": "object",
        "required": ["token"],
        "properties": {"token": {"type": "string"}},
    }
    error = {"$ref": "#/components/schemas/ExtendedErrorModel"}
    spec["paths"]["/auth/token"] = {
        "post": {
            "responses": {
                200: _json_schema({"$ref": "#/components/schemas/TokenResponse"}),
                401: _json_schema(error),
                "default": _json_schema(error),
            }
        }
    }
    return spec


def _json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json;charset=UTF-8": {"schema": schema}}}


def _smsworks_components() -> dict[str, Any]:
    components: dict[str, Any] = smsworks_spec()["components"]
    return components


def schema_errors(body: Any, schema: str) -> list[str]:
    """What The SMS Works spec's schema ``schema`` finds wrong with ``body`` (empty when
    valid)."""
    validator = OAS30Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": _smsworks_components()}
    )
    return [error.message for error in validator.iter_errors(body)]
