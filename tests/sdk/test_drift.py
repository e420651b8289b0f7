"""The SDK and the OpenAPI schema agree: every operation of the served ``/v1/openapi.json`` is what
some SDK method sends (same HTTP method, same path, path parameters named as the schema names
them), or is listed in EXCLUDED with its reason; and every SDK method sends an operation that is
in the schema. Each method is *called* with placeholder arguments and the request it sends is
read at httpx's transport, so the check covers what the code does, not what it declares."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import re
from pathlib import Path

import httpx
import pytest

from cpaas_sdk import AsyncClient, Client
from cpaas_sdk.pagination import AsyncPager, Pager

# operationId -> why the SDK does not call it. Empty today; a new endpoint the SDK should not
# cover (an operator-only or machine-to-machine route) goes here with its reason.
EXCLUDED: dict[str, str] = {}

_spec = importlib.util.spec_from_file_location(
    "unasync", Path(__file__).resolve().parents[2] / "sdk" / "python" / "unasync.py")
unasync = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(unasync)

EMPTY_LIST = {"object": "list", "has_more": False, "data": []}


def served_schema(live) -> dict:
    return httpx.get(f"{live.url}/v1/openapi.json", timeout=30).json()


def schema_operations(schema: dict) -> dict[tuple[str, str], str]:
    return {(method.upper(), path): op["operationId"]
            for path, item in schema["paths"].items() for method, op in item.items()
            if isinstance(op, dict) and "operationId" in op}


def request_fields(schema: dict, operation_id: str) -> tuple[set[str], set[str]] | None:
    """(properties, required) of an operation's JSON body, when the schema declares them."""
    for item in schema["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                if body and "$ref" in body:
                    body = schema["components"]["schemas"][body["$ref"].split("/")[-1]]
                if not body or not body.get("properties"):
                    return None
                return set(body["properties"]), set(body.get("required", []))
    return None


def placeholder(name: str, annotation: str):
    if annotation == "Items" or annotation.startswith("list[dict"):
        return [{}]
    if annotation == "Strings" or annotation.startswith("list"):
        return ["x"]
    if annotation.startswith("dict"):
        return {}
    if annotation.startswith("int"):
        return 1
    return f"x-{name}"  # path parameters come back as x-<name> in the path


def methods(namespace) -> list[tuple[str, object]]:
    found = []
    for attr, resource in vars(namespace).items():
        if attr.startswith("_"):
            continue
        if not hasattr(resource, "_requester"):  # a namespace of resources (client.im)
            found += [(f"{attr}.{name}", method) for name, method in methods(resource)]
            continue
        for name, method in inspect.getmembers(resource, inspect.ismethod):
            if not name.startswith("_"):
                found.append((f"{attr}.{name}", method))
    return found


def arguments(method) -> dict:
    return {name: placeholder(name, str(p.annotation)) for name, p in inspect.signature(method).parameters.items()
            if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}


def template_of(path: str, operations: dict[tuple[str, str], str], method: str) -> str | None:
    """The schema path that ``path`` is, when its x-<name> placeholders stand for {name}."""
    for verb, template in operations:
        if verb == method and re.sub(r"\{(\w+)\}", lambda m: f"x-{m.group(1)}", template) == path:
            return template
    return None


def recording_transport(sent: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=EMPTY_LIST)
    return httpx.MockTransport(answer)


def sync_methods() -> list[tuple[str, object]]:
    return methods(Client("sk_test_drift", base_url="http://api.test"))


def called_operations_sync() -> dict[str, list[tuple[str, str]]]:
    sent: list[httpx.Request] = []
    client = Client("sk_test_drift", base_url="http://api.test",
                    http_client=httpx.Client(transport=recording_transport(sent)))
    calls = {}
    for name, method in methods(client):
        sent.clear()
        result = method(**arguments(method))
        if isinstance(result, Pager):
            list(result)
        calls[name] = [(r.method, r.url.path) for r in sent]
    return calls


def called_operations_async() -> dict[str, list[tuple[str, str]]]:
    sent: list[httpx.Request] = []

    async def run():
        client = AsyncClient("sk_test_drift", base_url="http://api.test",
                             http_client=httpx.AsyncClient(transport=recording_transport(sent)))
        calls = {}
        for name, method in methods(client):
            sent.clear()
            result = method(**arguments(method))
            if isinstance(result, AsyncPager):
                [item async for item in result]
            else:
                await result
            calls[name] = [(r.method, r.url.path) for r in sent]
        return calls

    return asyncio.run(run())


@pytest.mark.parametrize("calls", [called_operations_sync, called_operations_async], ids=["sync", "async"])
def test_every_operation_of_the_schema_has_an_sdk_method_and_no_method_calls_anything_else(live, calls):
    operations = schema_operations(served_schema(live))
    covered, unknown = set(), {}
    for name, requests in calls().items():
        assert requests, f"{name} sent no request"
        for method, path in requests:
            template = template_of(path, operations, method)
            if template is None:
                unknown[name] = f"{method} {path}"
            else:
                covered.add(operations[(method, template)])
    assert unknown == {}, "SDK methods calling what the schema does not have (or with other path parameter names)"
    missing = sorted(set(operations.values()) - covered - set(EXCLUDED))
    assert missing == [], "operations of /v1/openapi.json with no SDK method: add one, or exclude it with a reason"
    assert sorted(set(EXCLUDED) & covered) == [], "an excluded operation has an SDK method: drop the exclusion"
    assert sorted(set(EXCLUDED) - set(operations.values())) == [], "an exclusion names no operation"


def test_the_body_fields_of_each_method_are_the_schemas(live):
    """A method's keyword arguments are fields of its operation's body, and it takes every
    required one (where the schema declares the body's fields)."""
    schema = served_schema(live)
    operations = schema_operations(schema)
    calls = called_operations_sync()
    wrong = {}
    for name, method in sync_methods():
        (sent,) = calls[name][-1:]  # hangup calls update: the last request is the operation
        template = template_of(sent[1], operations, sent[0])
        fields = request_fields(schema, operations[(sent[0], template)]) if sent[0] != "GET" else None
        if fields is None:
            continue
        properties, required = fields
        params = inspect.signature(method).parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            continue
        path_params = set(re.findall(r"\{(\w+)\}", template))
        taken = {"from" if n == "from_" else n for n in params} - {"idempotency_key"} - path_params
        if name.endswith(".hangup"):
            taken |= {"status"}
        if taken - properties or required - taken:
            wrong[name] = {"unknown": sorted(taken - properties), "missing": sorted(required - taken)}
    assert wrong == {}


def test_the_sync_resources_are_generated_from_the_async_ones():
    assert unasync.TARGET.read_text() == unasync.generate(), "run: python sdk/python/unasync.py"
