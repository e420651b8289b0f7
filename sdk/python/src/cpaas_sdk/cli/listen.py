"""``cpaas listen``: receive your app's webhooks on your machine while you develop, like ``stripe listen``.

It registers a temporary webhook endpoint pointing at a small local server, prints the endpoint's
signing secret, prints each event as it arrives (after checking its signature), forwards it
unchanged to ``--forward-to`` and deletes the endpoint on exit — on Ctrl-C, SIGTERM or SIGHUP
alike (decision 0863); only SIGKILL leaves it behind.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO

import httpx

from cpaas_sdk.cli import config
from cpaas_sdk.client import Client
from cpaas_sdk.errors import ApiError, CpaasError
from cpaas_sdk.webhooks import WebhookVerificationError, verify_webhook

# Signals that end a run the way Ctrl-C does: the endpoint is deleted before the process exits
# (a terminal closed, `kill`, a process manager stopping it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

FORWARDED_HEADERS = ("content-type", "webhook-id", "webhook-timestamp", "webhook-signature", "user-agent")


def add_parser(commands, parents: list[argparse.ArgumentParser] | None = None) -> None:
    parser = commands.add_parser("listen", help="receive webhooks locally and forward them to your app",
                                 parents=parents or [])
    parser.add_argument("--forward-to", required=True, help="URL of your local handler, e.g. http://localhost:8000/hook")
    parser.add_argument("--events", default="", help="comma-separated event types (default: all)")
    parser.add_argument("--port", type=int, default=0, help="local port to listen on (default: any free port)")
    parser.add_argument("--public-url", default="",
                        help="the URL the platform should call, if it cannot reach this machine directly (a tunnel)")
    parser.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    if not args.api_key:
        print("cpaas listen: pass --api-key, run `cpaas login`, or set CPAAS_API_KEY", file=sys.stderr)
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
    def __init__(self, *, api_key: str, api_base: str = config.DEFAULT_API_BASE, forward_to: str,
                 events: list[str] | None = None, port: int = 0, public_url: str = "",
                 out: TextIO | None = None) -> None:
        # Runs on the developer's own machine: it calls our API and forwards to the developer's own
        # local URL, never a URL on the platform's side.
        self.api = Client(api_key, base_url=api_base, timeout=15)
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
        self.secret = ""

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def register(self) -> str:
        try:
            endpoint = self.api.webhook_endpoints.create(url=self.url, description="cpaas listen (temporary)",
                                                         event_types=self.events)
        except ApiError as exc:
            raise ListenError(f"could not register an endpoint ({exc.status}): {exc.message}") from None
        except CpaasError as exc:
            raise ListenError(f"could not register an endpoint: {exc}") from None
        self.endpoint_id, self.secret = endpoint.id, endpoint.secret
        return endpoint.secret

    def unregister(self) -> None:
        if self.endpoint_id:
            self.api.webhook_endpoints.delete(self.endpoint_id)
            self.endpoint_id = None

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        now = datetime.now(UTC).strftime("%H:%M:%S")
        try:
            event = verify_webhook(body, headers, secret=self.secret)
        except (WebhookVerificationError, ValueError):
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
    def _stop_on_signals(self) -> Iterator[None]:
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
