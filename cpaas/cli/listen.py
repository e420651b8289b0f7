"""``cpaas listen``: receive your app's webhooks on your machine while you develop, like ``stripe listen``.

It registers a temporary webhook endpoint pointing at a small local server, prints the endpoint's
signing secret, prints each event as it arrives (after checking its signature), forwards it
unchanged to ``--forward-to`` and deletes the endpoint on exit.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TextIO

import httpx

from cpaas.core.env import env

# Signals that end a run the way Ctrl-C does: the endpoint is deleted before the process exits
# (a terminal closed, `kill`, a process manager stopping it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

FORWARDED_HEADERS = ("content-type", "webhook-id", "webhook-timestamp", "webhook-signature", "user-agent")


def add_parser(commands) -> None:
    parser = commands.add_parser("listen", help="receive webhooks locally and forward them to your app")
    parser.add_argument("--forward-to", required=True, help="URL of your local handler, e.g. http://localhost:8000/hook")
    parser.add_argument("--api-key", default=_default_api_key(),
                        help="sk_test_… (default: CPAAS_API_KEY, else the key `make run` wrote to var/demo_key)")
    parser.add_argument("--api-base", default=env.url("CPAAS_API_BASE", "http://localhost:8000"),
                        help="the platform's base URL (or CPAAS_API_BASE)")
    parser.add_argument("--events", default="", help="comma-separated event types (default: all)")
    parser.add_argument("--port", type=int, default=0, help="local port to listen on (default: any free port)")
    parser.add_argument("--public-url", default="",
                        help="the URL the platform should call, if it cannot reach this machine directly (a tunnel)")
    parser.set_defaults(handler=_command)


def _default_api_key() -> str | None:
    """CPAAS_API_KEY, else the demo key ``make run`` keeps in its var directory, so the README's
    ``cpaas listen --forward-to …`` works as written from the repository's root."""
    if env.str("CPAAS_API_KEY"):
        return env.str("CPAAS_API_KEY")
    demo_key = Path(env.str("CPAAS_VAR_DIR") or "var") / "demo_key"
    try:
        return demo_key.read_text().strip() or None
    except OSError:
        return None


def _command(args: argparse.Namespace) -> int:
    if not args.api_key:
        print("cpaas listen: pass --api-key or set CPAAS_API_KEY", file=sys.stderr)
        return 2
    events = [e.strip() for e in args.events.split(",") if e.strip()]
    try:
        Listener(api_key=args.api_key, api_base=args.api_base, forward_to=args.forward_to, events=events,
                 port=args.port, public_url=args.public_url).run()
    except ListenError as exc:
        print(f"cpaas listen: {exc}", file=sys.stderr)
        return 1
    return 0


class ListenError(Exception):
    pass


class Listener:
    def __init__(self, *, api_key: str, api_base: str, forward_to: str, events: list[str] | None = None,
                 port: int = 0, public_url: str = "", out: TextIO | None = None) -> None:
        # Runs on the developer's own machine: it calls our API and forwards to the developer's own
        # local URL, never a URL on the platform's side, so it needs no egress guard.
        self.api = httpx.Client(base_url=api_base.rstrip("/") + "/v1",
                                headers={"Authorization": f"Bearer {api_key}"}, timeout=15)
        self.forward = httpx.Client(timeout=30, follow_redirects=False)
        self.forward_to = forward_to
        self.events = events or []
        self.out = out or sys.stdout
        self.stopped = threading.Event()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = listener.handle(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = public_url or f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.endpoint_id: str | None = None
        self.verifier = None

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def register(self) -> str:
        response = self.api.post("/webhook-endpoints", json={
            "url": self.url, "description": "cpaas listen (temporary)", "event_types": self.events,
        })
        if response.status_code != 201:
            try:
                error = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                error = response.text[:200]
            raise ListenError(f"could not register an endpoint ({response.status_code}): {error}")
        body = response.json()
        self.endpoint_id = body["id"]
        from standardwebhooks import Webhook

        self.verifier = Webhook(body["secret"])
        return body["secret"]

    def unregister(self) -> None:
        if self.endpoint_id:
            self.api.delete(f"/webhook-endpoints/{self.endpoint_id}")
            self.endpoint_id = None

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        now = datetime.now(UTC).strftime("%H:%M:%S")
        try:
            event = self.verifier.verify(body, headers)
        except Exception:
            self.say(f"{now}  !!  rejected a request with a bad signature")
            return 400
        self.say(f"{now}  --> {event.get('type')} [{event.get('id')}]")
        forwarded = {name: headers[name] for name in FORWARDED_HEADERS if name in headers}
        try:
            answer = self.forward.post(self.forward_to, content=body, headers=forwarded)
        except httpx.HTTPError as exc:
            self.say(f"{now}  <-- could not reach {self.forward_to}: {type(exc).__name__}")
            return 502
        self.say(f"{now}  <-- {answer.status_code} from {self.forward_to}")
        return answer.status_code if 200 <= answer.status_code < 600 else 502

    def run(self) -> None:
        with self._stop_on_signals():
            secret = self.register()
            thread = threading.Thread(target=self.server.serve_forever, daemon=True)
            thread.start()
            try:
                self.say(f"Ready! Listening on {self.url} as endpoint {self.endpoint_id}")
                self.say(f"Your webhook signing secret is {secret} (valid while this runs)")
                self.say(f"Forwarding {', '.join(self.events) if self.events else 'all events'} to "
                         f"{self.forward_to} — Ctrl-C to stop")
                while not self.stopped.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            finally:
                self.server.shutdown()
                self.server.server_close()
                self.unregister()
                self.say("Stopped; the temporary endpoint was deleted.")

    @contextmanager
    def _stop_on_signals(self):
        """SIGINT, SIGTERM and SIGHUP stop the loop (so ``finally`` deletes the endpoint) instead of
        killing the process with the endpoint left behind. Only the main thread may set handlers."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, lambda *_: self.stop()) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def stop(self) -> None:
        self.stopped.set()


