"""Shared pieces for The SMS Works tests: fixtures on disk, the spec, recorded calls."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS30Validator

from tests.conftest import recorded, recorded_request

FIXTURES = Path(__file__).parent.parent / "fixtures" / "smsworks"
BASE = "https://api.thesmsworks.co.uk/v1"
TOKEN = "JWT eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.t0k3n-s3cr3t"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@functools.cache
def _components() -> dict[str, Any]:
    spec = yaml.safe_load((FIXTURES / "openapi.yaml").read_text())
    components = copy.deepcopy(spec["components"])
    schemas = components["schemas"]
    # The spec's own header lists these bugs (Message.metadata; Query.metadata has the same
    # declaration, and its example is an array too): the live API takes arrays here.
    for name in ("Message", "Query"):
        schemas[name]["properties"]["metadata"] = {
            "type": "array",
            "items": {"$ref": "#/components/schemas/MetaData"},
        }
    schemas["MessageArray"] = {"type": "array", "items": {"$ref": "#/components/schemas/Message"}}
    # /auth/token is documented in spec 1.5.0 and the guide, not in 1.10.0.
    schemas["TokenRequest"] = {
        "type": "object",
        "required": ["customerid", "key", "secret"],
        "properties": {name: {"type": "string"} for name in ("customerid", "key", "secret")},
        "additionalProperties": False,
    }
    return components


def schema_errors(body: Any, schema: str) -> list[str]:
    """What the spec's schema ``schema`` finds wrong with ``body`` (empty when valid)."""
    validator = OAS30Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": _components()}
    )
    return [error.message for error in validator.iter_errors(body)]


def calls(mocked: Any, method: str, path: str) -> list[Any]:
    return recorded(mocked, method, BASE + path)


def sent(mocked: Any, method: str, path: str, index: int = 0) -> tuple[Any, Any]:
    """The headers and JSON body of a recorded call."""
    return recorded_request(mocked, method, BASE + path, index)
