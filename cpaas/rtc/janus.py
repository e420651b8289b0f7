"""The platform's client of one Janus media server's HTTP API (the AudioBridge plugin).

Clients never reach this API: it listens on a private address and the platform does all signalling
(decision 1501). Any transport failure or error answer raises ``MediaServerDown`` / ``JanusError``.
Its own httpx calls are not the egress's business: the URL is a media server an operator
registered in the placement table, never a URL a tenant gave.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

AUDIOBRIDGE = "janus.plugin.audiobridge"


class MediaServerDown(Exception):
    """The media server did not answer (connection refused, timeout)."""


class JanusError(Exception):
    """The media server answered with an error."""


@dataclass(frozen=True)
class Joined:
    session: int
    handle: int
    answer_sdp: str


class Janus:
    def __init__(self, api_url: str, admin_key: str, *, timeout: float = 5.0) -> None:
        self.url = api_url.rstrip("/")
        self.admin_key = admin_key
        self.timeout = timeout

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": secrets.token_hex(8)}
        try:
            reply = httpx.post(self.url + path, json=body, timeout=self.timeout).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise MediaServerDown(str(exc)) from exc
        if reply.get("janus") == "error":
            raise JanusError(reply.get("error", {}).get("reason", "error"))
        return reply

    def _plugin(self, reply: dict[str, Any]) -> dict[str, Any]:
        data = reply.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise JanusError(data["error"])
        return data

    def session(self) -> tuple[int, int]:
        """A new session with an AudioBridge handle on it."""
        session = self._post("", {"janus": "create"})["data"]["id"]
        handle = self._post(f"/{session}", {"janus": "attach", "plugin": AUDIOBRIDGE})["data"]["id"]
        return session, handle

    def destroy(self, session: int) -> None:
        """Hang up and forget a session (its participant leaves the room); gone already is fine."""
        with contextlib.suppress(JanusError):
            self._post(f"/{session}", {"janus": "destroy"})

    def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """One synchronous AudioBridge request on a short-lived session."""
        session, handle = self.session()
        try:
            return self._plugin(self._post(f"/{session}/{handle}", {"janus": "message", "body": body}))
        finally:
            self.destroy(session)

    def room_create(self, room: str, *, description: str, max_participants: int, record_file: str = "") -> None:
        """A private room; ``record_file``: Janus writes the room's mix there as WAV until it is destroyed."""
        body = {"request": "create", "room": room, "admin_key": self.admin_key, "permanent": False,
                "description": description[:100], "is_private": True, "sampling_rate": 48000,
                "audiolevel_event": False, "default_prebuffering": 4}
        if record_file:
            body.update(record=True, record_file=record_file)
        self.request(body)

    def room_destroy(self, room: str) -> None:
        """Destroy the room; every participant in it is dropped by Janus. Gone already is fine."""
        try:
            self.request({"request": "destroy", "room": room, "permanent": False})
        except JanusError as exc:
            if "No such room" not in str(exc):
                raise

    def participants(self, room: str) -> list[dict[str, Any]]:
        return self.request({"request": "listparticipants", "room": room}).get("participants", [])

    def mute(self, room: str, participant_id: str, *, muted: bool) -> None:
        """Moderation: (un)mute a participant in the mix (it cannot undo this: it holds no handle)."""
        self.request({"request": "mute" if muted else "unmute", "room": room, "id": participant_id})

    def join(self, room: str, *, participant_id: str, display: str, offer_sdp: str, muted: bool) -> Joined:
        """Join ``room`` with the client's SDP offer; returns the held session and Janus's answer.

        ``muted``: the participant is not mixed (a subscriber-only token); it holds no handle of its
        own, so it cannot unmute itself.
        """
        session, handle = self.session()
        try:
            self._post(f"/{session}/{handle}", {
                "janus": "message",
                "body": {"request": "join", "room": room, "id": participant_id, "display": display[:64],
                         "muted": muted, "suspended": False},
                "jsep": {"type": "offer", "sdp": offer_sdp}})
            for _ in range(20):
                try:
                    event = httpx.get(f"{self.url}/{session}", params={"maxev": 1},
                                      timeout=self.timeout + 30).json()
                except (httpx.HTTPError, ValueError) as exc:
                    raise MediaServerDown(str(exc)) from exc
                data = self._plugin(event) if event.get("janus") == "event" else {}
                if event.get("jsep", {}).get("type") == "answer":
                    return Joined(session, handle, event["jsep"]["sdp"])
                if data.get("audiobridge") == "event" and data.get("error"):
                    raise JanusError(data["error"])
            raise JanusError("no answer to the join")
        except Exception:
            self.destroy(session)
            raise
