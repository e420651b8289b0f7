"""OpenAPI additions: the bearer-key scheme and the error envelope on every operation."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import serializers

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "code", "message", "param", "request_id", "retryable", "doc_url"],
            "properties": {
                "type": {"type": "string"},
                "code": {"type": "string", "description": "Stable cause; see /docs/errors"},
                "message": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "request_id": {"type": ["string", "null"]},
                "retryable": {"type": "boolean"},
                "doc_url": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}


LIST_SCHEMA = {
    "type": "object",
    "description": "A page of a cursor-paginated list; see the operation's description for its items.",
    "required": ["object", "has_more", "data"],
    "properties": {
        "object": {"type": "string", "const": "list"},
        "url": {"type": "string"},
        "has_more": {"type": "boolean"},
        "data": {"type": "array", "items": {"type": "object"}},
    },
}
_FREE_FORM = {"type": "object", "additionalProperties": {}}


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "cpaas.core.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "sk_test_… or sk_live_…"}


def document_list_envelopes(result, generator, request, public):
    """Postprocessing hook: a ``*_list`` operation whose view declared only ``dict`` answers the list
    envelope, never a bare array or an arbitrary object; say so (views with a serializer for their
    items use :func:`list_envelope` instead)."""
    result.setdefault("components", {}).setdefault("schemas", {})["List"] = LIST_SCHEMA
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or not operation.get("operationId", "").endswith("_list"):
                continue
            content = operation.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
            if content is not None and content.get("schema") == _FREE_FORM:
                content["schema"] = {"$ref": "#/components/schemas/List"}
    return result


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: every operation documents the error envelope as its default response."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault(
                    "default",
                    {"description": "Error", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}},
                )
    return result


def list_envelope(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The schema of a cursor-paginated list (cpaas.core.pagination.paginate): the envelope with
    ``data`` holding ``item`` objects, never a bare array."""
    return type(name, (serializers.Serializer,), {
        "object": serializers.CharField(),
        "url": serializers.CharField(),
        "has_more": serializers.BooleanField(),
        "data": item(many=True),
        "__module__": item.__module__,
    })
