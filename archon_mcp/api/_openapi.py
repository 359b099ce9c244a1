"""The OpenAPI 3.1 document, generated from the endpoint declarations and the pydantic models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from archon_mcp import __version__

if TYPE_CHECKING:
    from archon_mcp.api._routes import Endpoint, Param

_KIND_SCHEMA: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date-time": {"type": "string", "format": "date-time"},
    "uuid": {"type": "string", "format": "uuid"},
}

_ERROR_TEXT = {
    400: "Invalid input: the message says what to fix.",
    401: "Missing or wrong bearer token.",
    403: "A browser request from another origin (only this server's own origin and ARCHON_ALLOWED_ORIGINS).",
    404: "No such session or endpoint.",
    409: "The session's state does not allow this (e.g. already ended).",
    413: "The body is larger than ARCHON_MAX_API_BODY_BYTES.",
    415: "The body is not sent as Content-Type: application/json.",
    503: "The database or the embedding model is unavailable; retry later.",
}


def _parameter(param: Param) -> dict[str, Any]:
    schema = dict(_KIND_SCHEMA[param.kind])
    if param.default is not None:
        schema["default"] = param.default
    return {
        "name": param.name,
        "in": param.where,
        "required": param.required or param.where == "path",
        "description": param.description,
        "schema": schema,
    }


def openapi_document(endpoints: tuple[Endpoint, ...]) -> dict[str, Any]:
    from archon_mcp.api._routes import ErrorBody

    # Responses are documented as serialized, request bodies as validated: one schema per model name.
    responses = sorted({ErrorBody, *(e.response for e in endpoints)}, key=lambda m: m.__name__)
    bodies = sorted({e.body for e in endpoints if e.body is not None}, key=lambda m: m.__name__)
    refs, defs = models_json_schema(
        [(m, "serialization") for m in responses] + [(m, "validation") for m in bodies],
        ref_template="#/components/schemas/{model}",
    )

    def ref(model: type[BaseModel], mode: str = "serialization") -> dict[str, Any]:
        return refs[(model, mode)]

    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        responses: dict[str, Any] = {
            str(e.status): {"description": "Success.", "content": {"application/json": {"schema": ref(e.response)}}}
        }
        for status in (*e.errors, *((413, 415) if e.body is not None else ()), 401, 403):
            responses[str(status)] = {
                "description": _ERROR_TEXT[status],
                "content": {"application/json": {"schema": ref(ErrorBody)}},
            }
        operation: dict[str, Any] = {
            "summary": e.summary,
            "operationId": e.handler.__name__.lstrip("_"),
            "tags": [e.tag],
            "parameters": [_parameter(p) for p in e.params],
            "responses": responses,
        }
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(e.body, "validation")}},
            }
        paths.setdefault("/api" + e.path, {})[e.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "archon-mcp REST API",
            "version": __version__,
            "description": "Sessions and events of AI agents: the same services and validation as the MCP tools. "
            'Errors are `{"error": {"type": ..., "message": ...}}`. When the server has a token, send '
            "`Authorization: Bearer <token>`.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
