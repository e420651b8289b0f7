"""Write call-control documents from Python::

    doc = VoiceResponse()
    with doc.gather(num_digits=1, action="https://example.com/menu") as menu:
        menu.say("Press 1 for sales.")
    doc.say("We did not get your choice. Goodbye.").hangup()
    str(doc)  # '<?xml version="1.0" encoding="UTF-8"?><Response><Gather ...'
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement, tostring


def _attrs(**values) -> dict[str, str]:
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        head, *rest = name.split("_")
        key = head + "".join(part.capitalize() for part in rest)
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


class _Verbs:
    def __init__(self, element: Element) -> None:
        self.element = element

    def _add(self, name: str, text: str | None = None, **attrs) -> Element:
        child = SubElement(self.element, name, _attrs(**attrs))
        if text is not None:
            child.text = text
        return child

    def say(self, text: str, *, voice: str | None = None, language: str | None = None,
            loop: int | None = None):
        self._add("Say", text, voice=voice, language=language, loop=loop)
        return self

    def play(self, url: str, *, loop: int | None = None):
        self._add("Play", url, loop=loop)
        return self

    def pause(self, length: int | None = None):
        self._add("Pause", length=length)
        return self


class Gather(_Verbs):
    def __enter__(self) -> Gather:
        return self

    def __exit__(self, *exc) -> None:
        return None


class VoiceResponse(_Verbs):
    def __init__(self) -> None:
        super().__init__(Element("Response"))

    def gather(self, *, num_digits: int | None = None, timeout: int | None = None,
               finish_on_key: str | None = None, action: str | None = None,
               method: str | None = None) -> Gather:
        return Gather(self._add("Gather", num_digits=num_digits, timeout=timeout,
                                finish_on_key=finish_on_key, action=action, method=method))

    def dial(self, number: str, *, caller_id: str | None = None, timeout: int | None = None,
             time_limit: int | None = None, action: str | None = None, record: bool | None = None):
        self._add("Dial", number, caller_id=caller_id, timeout=timeout, time_limit=time_limit,
                  action=action, record=record)
        return self

    def record(self, *, max_length: int | None = None, timeout: int | None = None,
               finish_on_key: str | None = None, action: str | None = None, play_beep: bool | None = None):
        self._add("Record", max_length=max_length, timeout=timeout, finish_on_key=finish_on_key,
                  action=action, play_beep=play_beep)
        return self

    def redirect(self, url: str, *, method: str | None = None):
        self._add("Redirect", url, method=method)
        return self

    def hangup(self):
        self._add("Hangup")
        return self

    def reject(self, *, reason: str | None = None):
        self._add("Reject", reason=reason)
        return self

    def to_xml(self) -> str:
        return '<?xml version="1.0" encoding="UTF-8"?>' + tostring(self.element, encoding="unicode")

    __str__ = to_xml
