"""One error body in every HTTP API's OpenAPI description.

A request FastAPI cannot parse gets ``{"detail": [ {loc, msg, type}, ... ]}``; a request that
parses but makes no sense (a range backwards, an unknown alert, a stale version) gets
``{"detail": "the reason"}``. Both answer 422, so the description declares both: a client (or a
fuzzer checking every answer against the description) can rely on ``detail`` being one of the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA = "ErrorDetail"


def _declare_error_detail(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ValidationError" not in components:
        return schema  # no operation takes input FastAPI validates: nothing answers 422
    components[ERROR_SCHEMA] = {
        "title": ERROR_SCHEMA,
        "type": "object",
        "required": ["detail"],
        "properties": {
            "detail": {
                "anyOf": [
                    {"type": "string", "description": "why the request was refused"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                ]
            }
        },
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422")
            if answer is not None:
                answer["description"] = "the request is invalid; `detail` says why"
                answer["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}
    return schema


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` declare the 422 body the app really sends (see the module docstring)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _declare_error_detail(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
