"""Stand-ins for what a gateway Session needs, for tests that drive a session without sockets."""

from __future__ import annotations

from cpaas.im.gateway.session import Session


class _Token:
    id, expires_at = "imt_1", None


class _User:
    user_id, app_id = "bob", "app_1"


class _App:
    pk = "app_1"


def synced_session(hub=None, raw=None) -> Session:
    """Bob's session in app_1, synced, at seq 0 of ``cnv_1``; ``raw`` a fake raw-write transport."""
    session = Session(hub, None, app=_App(), user=_User(), token=_Token(), device="d",
                      raw=raw.extension() if raw is not None else None)
    session.synced = True
    session.cursors["cnv_1"] = 0
    return session
