"""The API's JSON parser: what Python's ``json`` accepts but the rest of the stack cannot take is
refused here, at the edge, with a 400 that names where it is.

Three things parse as valid JSON yet fail deeper down, as a 500 after part of the work is done:
a NUL character (PostgreSQL text cannot hold it), an unpaired surrogate such as ``"\\ud800"``
(it cannot be encoded as UTF-8 for the database or the response), and nesting deep enough to
exhaust the interpreter's recursion limit in the parser, a serializer or the JSON encoder. Non-finite
numbers (``NaN``, ``1e999``) cannot be written back out either. The same checks serve query strings,
URL parameters and IM gateway frames (:func:`text_problem`).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from rest_framework.parsers import JSONParser

from cpaas.core.errors import ApiError

#: Deeper bodies are refused (``nesting_too_deep``). Our own documents (call-control instructions,
#: metadata, custom IM content) stay far below; 32 leaves room without letting a body recurse.
MAX_DEPTH = 32

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _parse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored or echoed (NUL or an unpaired surrogate), or None if it can."""
    match = _BAD_TEXT.search(value)
    if match is None:
        return None
    return "a NUL character" if match.group() == "\x00" else "an unpaired UTF-16 surrogate"


def bad_characters(param: str | None, problem: str) -> ApiError:
    where = f"`{param}`" if param else "The request"
    return ApiError(f"{where} contains {problem}, which is not allowed in text.", code="invalid_characters",
                    param=param)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check_tree(data: Any, *, check_text: bool = True, check_depth: bool = True) -> None:
    """Walks parsed JSON once, iteratively; raises on the first bad string or too-deep value."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if check_text and (problem := text_problem(value)):
                raise bad_characters(path or None, problem)
            continue
        if not isinstance(value, dict | list):
            continue
        if check_depth and depth >= MAX_DEPTH:
            raise ApiError(f"JSON may be nested at most {MAX_DEPTH} levels deep.", code="nesting_too_deep",
                           param=path or None)
        if isinstance(value, dict):
            for key, item in value.items():
                child = _join(path, key)
                if check_text and (problem := text_problem(key)):
                    raise bad_characters(child, problem)
                stack.append((item, child, depth + 1))
        else:
            stack.extend((item, _join(path, index), depth + 1) for index, item in enumerate(value))


def json_loads(raw: bytes | str) -> Any:
    """Parse a JSON document from a client; every refusal is an :class:`ApiError` (400)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError:
        raise ApiError("The request body is not valid UTF-8.", code="invalid_json") from None
    try:
        data = json.loads(text, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        raise ApiError(f"JSON may be nested at most {MAX_DEPTH} levels deep.", code="nesting_too_deep") from None
    except ValueError as exc:
        raise ApiError(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    # Cheap guards first: NUL and surrogates can only arrive escaped (``\\u…``; raw ones are refused
    # by the parser or the UTF-8 decoder), and depth needs at least MAX_DEPTH brackets.
    check_text = "\\u" in text
    check_depth = text.count("[") + text.count("{") >= MAX_DEPTH
    if check_text or check_depth:
        check_tree(data, check_text=check_text, check_depth=check_depth)
    return data


class ApiJsonParser(JSONParser):
    """DRF's JSON parser with the refusals above (settings: ``DEFAULT_PARSER_CLASSES``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return json_loads(stream.read() if stream is not None else b"")
