"""TwiML read into our call-control document.

Our documents are TwiML's close cousin (the same verbs), so TwiML is parsed by the same safe SAX
reader (voice/document.py: no DTDs, no entities, a size cap, line numbers), its raw tree rewritten
to our schema, then validated by the same schema. The rewrite:

- attributes we honour pass through; Twilio attributes we do not (``voice`` names, ``statusCallback``
  on a noun, ``actionOnEmptyResult``…) are dropped, as Twilio itself continues after a schema
  warning (12200);
- ``<Gather>`` and ``<Record>`` without ``action`` post to the document's own URL, as Twilio does;
- ``loop="0"`` (Twilio: forever) plays 100 times; ``<Dial record="record-from-…">`` records;
- ``<Dial><Sip>`` dials the SIP address (a registered SIP endpoint through the SIP edge, or any
  SIP phone), its ``username``/``password`` attributes dropped;
- what we cannot do (speech input, ``<Client>``, ``<Conference>``, ``<Enqueue>``…) is a document
  error, which the engine reports as ``call.error`` and answers the way Twilio answers 12100: an
  apology, then the call ends (decision 1226).
"""

from __future__ import annotations

from cpaas.voice.document import Document, DocumentError, Verb, parse_tree, validate_tree

#: verb -> the TwiML attributes we honour (anything else is dropped).
HONOURED: dict[str, frozenset[str]] = {
    "Say": frozenset({"voice", "language", "loop"}),
    "Play": frozenset({"loop"}),
    "Pause": frozenset({"length"}),
    "Gather": frozenset({"numDigits", "timeout", "finishOnKey", "action", "method"}),
    "Dial": frozenset({"callerId", "timeout", "timeLimit", "action", "method", "record"}),
    "Number": frozenset(),
    "Sip": frozenset(),
    "Record": frozenset({"maxLength", "timeout", "finishOnKey", "action", "method", "playBeep"}),
    "Redirect": frozenset({"method"}),
    "Hangup": frozenset(),
    "Reject": frozenset({"reason"}),
}
NOT_SUPPORTED = {
    "Client": "<Dial><Client> is not supported: there are no Twilio Client endpoints here",
    "Conference": "<Dial><Conference> is not supported", "Queue": "<Dial><Queue> is not supported",
    "Sim": "<Dial><Sim> is not supported", "Application": "<Dial><Application> is not supported",
}
VOICE_NAMES = ("man", "woman", "alice")


def _rewrite(node: Verb, base_url: str | None) -> None:
    if node.name in NOT_SUPPORTED:
        raise DocumentError(NOT_SUPPORTED[node.name], node.line)
    honoured = HONOURED.get(node.name)
    if honoured is None:
        raise DocumentError(f"<{node.name}> is not supported by this platform", node.line)
    attrs = node.attrs
    if node.name == "Gather":
        kinds = set(attrs.get("input", "dtmf").split())
        if kinds != {"dtmf"}:
            raise DocumentError('<Gather input> must be "dtmf": speech recognition is not supported', node.line)
    if node.name in ("Say", "Play") and attrs.get("loop") == "0":
        attrs["loop"] = "100"
    if node.name == "Say" and (attrs.get("voice", "").startswith("Polly.") or attrs.get("voice") in VOICE_NAMES):
        attrs.pop("voice")  # Twilio's voice names mean nothing to our speech engine
    if node.name == "Dial" and "record" in attrs:
        attrs["record"] = "false" if attrs["record"] in ("do-not-record", "false") else "true"
    if node.name in ("Gather", "Record") and "action" not in attrs and base_url:
        attrs["action"] = base_url
    node.attrs = {name: value for name, value in attrs.items() if name in honoured}
    for child in node.children:
        _rewrite(child, base_url)


def parse_twiml(source: str | bytes, base_url: str | None = None) -> Document:
    """A TwiML document as our Document; raises DocumentError (with its line) if it cannot run."""
    root = parse_tree(source)
    for node in root.children:
        _rewrite(node, base_url)
    return validate_tree(root, base_url=base_url)
