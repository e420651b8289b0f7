"""Call-control documents: parsed safely, validated against a schema, errors with line numbers.

A document is ``<Response>`` holding verbs (``Say``, ``Play``, ``Pause``, ``Gather``, ``Dial``,
``Record``, ``Redirect``, ``Hangup``, ``Reject``). Parsing goes through defusedxml's SAX reader
(no DTDs, no entities, no external references) after a size check, so a hostile document costs
at most ``VOICE_MAX_DOCUMENT_BYTES`` of memory; the SAX locator gives each element its line, so
every error names the line and the reason. Nothing here raises anything but DocumentError.
"""

from __future__ import annotations

import re
import xml.sax
import xml.sax.handler
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import phonenumbers
from defusedxml import DefusedXmlException
from defusedxml.sax import parseString

from cpaas.voice import conf


class DocumentError(Exception):
    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line else reason)

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "line": self.line}


@dataclass
class Verb:
    name: str
    attrs: dict[str, Any]
    text: str
    line: int
    children: list[Verb] = field(default_factory=list)


@dataclass
class Document:
    verbs: list[Verb]
    base_url: str | None = None


# --- attribute types: each takes the raw string and returns the value or raises ValueError ----

def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if not low <= value <= high:
            raise ValueError(f"must be an integer from {low} to {high}")
        return value
    return parse


def _bool(raw: str) -> bool:
    if raw.strip().lower() in ("true", "1", "yes"):
        return True
    if raw.strip().lower() in ("false", "0", "no"):
        return False
    raise ValueError("must be true or false")


def _choice(*values: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in values:
            raise ValueError(f"must be one of {', '.join(values)}")
        return raw
    return parse


def _short(limit: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return raw
    return parse


_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")


def _language(raw: str) -> str:
    if not _LANGUAGE.match(raw):
        raise ValueError("must be a language tag like en-US")
    return raw


def _finish_key(raw: str) -> str:
    if raw not in ("", *"0123456789#*"):
        raise ValueError("must be one of 0-9, #, * or empty")
    return raw


def _url(raw: str) -> str:
    raw = raw.strip()
    parts = urlsplit(raw)
    if parts.scheme and parts.scheme not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    if not raw or len(raw) > 2000 or (parts.scheme and not parts.netloc):
        raise ValueError("must be a URL")
    return raw


def _e164(raw: str) -> str:
    raw = raw.strip()
    try:
        number = phonenumbers.parse(raw, None)
        valid = raw.startswith("+") and phonenumbers.is_valid_number(number)
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        raise ValueError("must be a phone number in E.164 format")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _sip_uri(raw: str) -> str:
    """A ``sip:user@host[:port]`` address (a platform SIP endpoint or any SIP phone)."""
    raw = raw.strip()
    user, at, host = raw[4:].partition("@")
    if not raw.startswith("sip:") or not at or not user or not host or len(raw) > 255 or any(
            ch in raw for ch in " <>\"\r\n;?"):
        raise ValueError("must be a SIP address like sip:alice@pbx.example.com")
    return raw


_METHOD = _choice("POST", "GET")
_PROMPTS = ("Say", "Play", "Pause")

# verb -> attributes (name -> type), text (None: none allowed, or a type; required if "required"),
# allowed children.
SCHEMA: dict[str, dict[str, Any]] = {
    "Say": {"attrs": {"voice": _short(64), "language": _language, "loop": _int_range(1, 100)},
            "text": _short(4000), "required": True, "children": ()},
    "Play": {"attrs": {"loop": _int_range(1, 100)}, "text": _url, "required": True, "children": ()},
    "Pause": {"attrs": {"length": _int_range(1, 600)}, "text": None, "children": ()},
    "Gather": {"attrs": {"numDigits": _int_range(1, 64), "timeout": _int_range(1, 600),
                         "finishOnKey": _finish_key, "action": _url, "method": _METHOD},
               "text": None, "children": _PROMPTS},
    "Dial": {"attrs": {"callerId": _e164, "timeout": _int_range(1, 600), "timeLimit": _int_range(1, 14400),
                       "action": _url, "method": _METHOD, "record": _bool},
             "text": _e164, "children": ("Number", "Sip")},
    "Number": {"attrs": {}, "text": _e164, "required": True, "children": ()},
    "Sip": {"attrs": {}, "text": _sip_uri, "required": True, "children": ()},
    "Record": {"attrs": {"maxLength": _int_range(1, 3600), "timeout": _int_range(1, 60),
                         "finishOnKey": _finish_key, "action": _url, "method": _METHOD, "playBeep": _bool},
               "text": None, "children": ()},
    "Redirect": {"attrs": {"method": _METHOD}, "text": _url, "required": True, "children": ()},
    "Hangup": {"attrs": {}, "text": None, "children": ()},
    "Reject": {"attrs": {"reason": _choice("rejected", "busy")}, "text": None, "children": ()},
}
TOP_LEVEL = ("Say", "Play", "Pause", "Gather", "Dial", "Record", "Redirect", "Hangup", "Reject")
URL_ATTRS = ("action",)


class _Builder(xml.sax.handler.ContentHandler):
    """Builds raw nodes (name, attrs, text, line, children) from SAX events."""

    def __init__(self) -> None:
        super().__init__()
        self.locator = None
        self.stack: list[Verb] = []
        self.root: Verb | None = None

    def setDocumentLocator(self, locator) -> None:
        self.locator = locator

    def startElement(self, name, attrs) -> None:
        line = self.locator.getLineNumber() if self.locator else 0
        node = Verb(name=name, attrs=dict(attrs.items()), text="", line=line)
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def endElement(self, name) -> None:
        self.stack.pop()

    def characters(self, content) -> None:
        if self.stack:
            self.stack[-1].text += content


def _check(node: Verb, *, base_url: str | None, parent: str) -> Verb:
    spec = SCHEMA.get(node.name)
    if spec is None:
        raise DocumentError(f"unknown verb <{node.name}>", node.line)
    if parent == "Response" and node.name not in TOP_LEVEL:
        raise DocumentError(f"<{node.name}> is not allowed directly in <Response>", node.line)
    attrs: dict[str, Any] = {}
    for name, raw in node.attrs.items():
        kind = spec["attrs"].get(name)
        if kind is None:
            raise DocumentError(f"unknown attribute `{name}` on <{node.name}>", node.line)
        try:
            attrs[name] = kind(raw)
        except ValueError as exc:
            raise DocumentError(f"attribute `{name}` on <{node.name}> {exc}", node.line) from None
        if name in URL_ATTRS:
            attrs[name] = _resolve(attrs[name], base_url, node)
    text = node.text.strip()
    children = [_check(child, base_url=base_url, parent=node.name) for child in node.children]
    for child in children:
        if child.name not in spec["children"]:
            raise DocumentError(f"<{child.name}> is not allowed inside <{node.name}>", child.line)
    if text:
        if spec["text"] is None or children:
            raise DocumentError(f"<{node.name}> does not take text", node.line)
        try:
            text = spec["text"](text)
        except ValueError as exc:
            raise DocumentError(f"the text of <{node.name}> {exc}", node.line) from None
        if spec["text"] is _url:
            text = _resolve(text, base_url, node)
    elif spec.get("required"):
        raise DocumentError(f"<{node.name}> needs text", node.line)
    if node.name == "Dial":
        if bool(text) == bool(children) or len(children) > 1:
            raise DocumentError("<Dial> needs one number, as its text or one <Number> or <Sip>", node.line)
        if children:
            text = children[0].text
            children = []
    return Verb(name=node.name, attrs=attrs, text=text, line=node.line, children=children)


def _resolve(url: str, base_url: str | None, node: Verb) -> str:
    if urlsplit(url).scheme:
        return url
    if not base_url:
        raise DocumentError(f"<{node.name}> needs an absolute URL in inline instructions", node.line)
    return urljoin(base_url, url)


def parse_document(source: str | bytes, *, base_url: str | None = None) -> Document:
    """Parse and validate one document; raise DocumentError(reason, line) if it is not valid."""
    return validate_tree(parse_tree(source), base_url=base_url)


def parse_tree(source: str | bytes) -> Verb:
    """The raw element tree of a document (no schema applied): its root, checked to be a bare
    ``<Response>``. A dialect (TwiML) rewrites this tree, then hands it to :func:`validate_tree`."""
    raw = source.encode() if isinstance(source, str) else source
    if len(raw) > conf.VOICE_MAX_DOCUMENT_BYTES:
        raise DocumentError(f"the document is larger than {conf.VOICE_MAX_DOCUMENT_BYTES} bytes")
    if not raw.strip():
        raise DocumentError("the document is empty")
    builder = _Builder()
    try:
        parseString(raw, builder)
    except xml.sax.SAXParseException as exc:
        raise DocumentError(f"not well-formed XML: {exc.getMessage()}", exc.getLineNumber()) from None
    except DefusedXmlException as exc:
        raise DocumentError(f"forbidden XML construct ({type(exc).__name__})") from None
    except (xml.sax.SAXException, ValueError) as exc:
        raise DocumentError(f"not well-formed XML: {exc}") from None
    root = builder.root
    if root is None or root.name != "Response":
        raise DocumentError("the root element must be <Response>", root.line if root else None)
    if root.attrs:
        raise DocumentError("<Response> takes no attributes", root.line)
    if root.text.strip():
        raise DocumentError("<Response> does not take text", root.line)
    return root


def validate_tree(root: Verb, *, base_url: str | None = None) -> Document:
    """Check a raw tree against the schema: typed attributes, URLs resolved against ``base_url``."""
    verbs = [_check(node, base_url=base_url, parent="Response") for node in root.children]
    return Document(verbs=verbs, base_url=base_url)
