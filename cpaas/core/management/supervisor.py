"""A small process supervisor for the embedded default: start children, stream logs, stop them all.

Each child runs in its own process group, so a Ctrl-C in the terminal reaches only this supervisor,
which then stops every child in order (SIGTERM to the child, SIGKILL to its group after a grace
period). Celery would otherwise see the terminal's SIGINT and our SIGTERM together and turn a warm
shutdown into a cold one.

A child that dies on its own is restarted after a backoff (1 s, doubling to 30 s) when
``restart=True`` (runplatform, decision 1403); one that died ``GIVE_UP_DEATHS`` times within
``GIVE_UP_WINDOW`` seconds is broken, not unlucky: the supervisor says so, stops everything and
exits 1, so a crash loop never looks healthy. A service (PostgreSQL, Redis) that dies stops
everything, as does any child when ``restart=False``.

Services (the embedded PostgreSQL and Redis) start first and stop last: the supervisor waits
until each answers, runs a ``prepare`` step (migrations), and only then starts the other children.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

_COLOURS = ("36", "33", "35", "32", "34", "31")
# Ctrl-C, `kill`, and the terminal closing (SIGHUP) all mean: stop every child, then exit.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GIVE_UP_DEATHS = 5
GIVE_UP_WINDOW = 60.0
BACKOFF_MAX = 30.0


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = field(default=None, repr=False)
    # A service: started before the others, which wait until ``ready()`` is true; stopped last.
    ready: Callable[[], bool] | None = None
    stop_signal: int = signal.SIGTERM
    user: str | None = None
    group: str | None = None
    deaths: deque = field(default_factory=lambda: deque(maxlen=GIVE_UP_DEATHS), repr=False)
    restart_at: float | None = None


class StartFailed(RuntimeError):
    """A service exited or did not answer in time."""


class Supervisor:
    """Runs ``children`` until a signal asks it to stop or one of them exits.

    ``run()`` returns 0 after a requested stop in which every child exited, 1 otherwise.
    """

    def __init__(self, children: Sequence[tuple[str, Sequence[str]] | Child], *, env: dict[str, str] | None = None,
                 cwd: str | os.PathLike | None = None, out: TextIO | None = None,
                 grace_seconds: float = 10.0, ready_seconds: float = 60.0, restart: bool = False,
                 backoff_seconds: float = 1.0) -> None:
        self.children = [c if isinstance(c, Child) else Child(c[0], list(c[1])) for c in children]
        self.ready_seconds = ready_seconds
        self.env = env
        self.cwd = cwd
        self.out = out or sys.stdout
        self.grace_seconds = grace_seconds
        self.restart = restart
        self.backoff_seconds = backoff_seconds
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._width = max((len(c.name) for c in self.children), default=0)
        self._colour = hasattr(self.out, "isatty") and self.out.isatty()
        self._out_broken = False
        self.last_output = time.monotonic()

    # --- output -----------------------------------------------------------------------------
    def say(self, text: str, name: str = "") -> None:
        prefix = f"{name or 'run':<{self._width}} | "
        if self._colour:
            index = next((i for i, c in enumerate(self.children) if c.name == name), -1)
            colour = _COLOURS[index % len(_COLOURS)] if index >= 0 else "1"
            prefix = f"\033[{colour}m{prefix}\033[0m"
        with self._lock:
            self.last_output = time.monotonic()
            if self._out_broken:
                return
            try:
                for line in text.splitlines() or [""]:
                    self.out.write(f"{prefix}{line}\n")
                self.out.flush()
            except (OSError, ValueError):
                # The terminal or pipe went away (e.g. `make run | tee` interrupted): keep draining
                # the children's output so they never block on a full pipe, and keep shutting down.
                self._out_broken = True

    def _pump(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        for line in child.process.stdout:
            self.say(line.rstrip("\n"), child.name)

    # --- lifecycle --------------------------------------------------------------------------
    def start(self, prepare: Callable[[], None] | None = None) -> None:
        """Start the services, wait until they answer, run ``prepare``, then start the others."""
        services = [c for c in self.children if c.ready is not None]
        for child in services:
            self._spawn(child)
        for child in services:
            self._await_ready(child)
        if prepare is not None:
            prepare()
        for child in self.children:
            if child.ready is None and not self._stop_requested.is_set():
                self._spawn(child)

    def _await_ready(self, child: Child) -> None:
        deadline = time.monotonic() + self.ready_seconds
        while not child.ready():
            if child.process.poll() is not None:
                raise StartFailed(f"{child.name} exited with status {child.process.returncode} while starting")
            if time.monotonic() > deadline or self._stop_requested.is_set():
                raise StartFailed(f"{child.name} did not answer within {self.ready_seconds:.0f}s")
            time.sleep(0.05)

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(  # noqa: S603 - argv built by our own commands
            child.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            process_group=0,
            user=child.user,
            group=child.group,
            extra_groups=[] if child.user else None,
        )
        child.reader = threading.Thread(target=self._pump, args=(child,), daemon=True,
                                        name=f"log-{child.name}")
        child.reader.start()
        self.say(f"started {child.name} (pid {child.process.pid})")

    def request_stop(self, signum: int | None = None, frame=None) -> None:
        self._stop_requested.set()

    def exited(self) -> list[Child]:
        return [c for c in self.children if c.process is not None and c.process.poll() is not None]

    def wait(self, on_tick: Callable[[], None] | None = None, tick_seconds: float = 0.2) -> int:
        """Block until a stop is requested or a child exits for good; then stop everything."""
        failed: list[Child] = []
        while not self._stop_requested.is_set():
            failed = [child for child in self.exited() if child.restart_at is None and not self._revive(child)]
            if failed:
                break
            self._restart_due()
            if on_tick is not None:
                on_tick()
            self._stop_requested.wait(tick_seconds)
        for child in failed:
            self.say(f"{child.name} exited with status {child.process.returncode}; stopping the others")
        if not failed:
            self.say("stopping (waiting for running tasks to finish)")
        clean = self.stop()
        return 0 if clean and not failed else 1

    def _revive(self, child: Child) -> bool:
        """Schedule a dead child's restart; False when it must not be (a service, restarts off, or
        it keeps dying quickly)."""
        if not self.restart or child.ready is not None:
            return False
        now = time.monotonic()
        child.deaths.append(now)
        _signal(child.process.pid, signal.SIGKILL, group=True)  # what it left in its group goes too
        code = child.process.returncode
        if len(child.deaths) == GIVE_UP_DEATHS and now - child.deaths[0] < GIVE_UP_WINDOW:
            self.say(f"{child.name} exited {GIVE_UP_DEATHS} times within {GIVE_UP_WINDOW:.0f}s (last status "
                     f"{code}); giving up: fix the cause above and start again")
            return False
        recent = sum(1 for at in child.deaths if now - at < GIVE_UP_WINDOW)
        delay = min(self.backoff_seconds * 2 ** (recent - 1), BACKOFF_MAX)
        child.restart_at = now + delay
        self.say(f"{child.name} exited with status {code}; restarting it in {delay:g}s")
        return True

    def _restart_due(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None and now >= child.restart_at:
                if child.reader is not None:
                    child.reader.join(timeout=2)
                child.restart_at = None
                self._spawn(child)

    def stop(self) -> bool:
        """Stop the children, then the services they use; see ``_stop``."""
        clean = self._stop([c for c in self.children if c.ready is None])
        return self._stop([c for c in self.children if c.ready is not None]) and clean

    def _stop(self, children: list[Child]) -> bool:
        """Signal every running child, then SIGKILL the groups of those still alive after the grace."""
        running = [c for c in children if c.process is not None and c.process.poll() is None]
        for child in reversed(running):
            _signal(child.process.pid, child.stop_signal, group=False)
        deadline = time.monotonic() + self.grace_seconds
        clean = True
        for child in running:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                clean = False
                self.say(f"{child.name} did not stop within {self.grace_seconds:.0f}s; killing it")
                _signal(child.process.pid, signal.SIGKILL, group=True)
                child.process.wait()
        # Whatever a child left in its group (pool processes) goes with it.
        for child in children:
            if child.process is not None:
                _signal(child.process.pid, signal.SIGKILL, group=True)
        for child in children:
            if child.reader is not None:
                child.reader.join(timeout=2)
        for child in running:
            code = child.process.returncode
            # 0, or death by the SIGTERM we sent (uvicorn re-raises it after a clean shutdown).
            how = "" if code in (0, -child.stop_signal) else f" (status {code})"
            self.say(f"{child.name} stopped{how}")
        return clean

    def run(self, on_tick: Callable[[], None] | None = None, prepare: Callable[[], None] | None = None) -> int:
        previous = {sig: signal.signal(sig, self.request_stop) for sig in _STOP_SIGNALS}
        try:
            try:
                self.start(prepare)
                return self.wait(on_tick)
            except BaseException:
                self.stop()
                raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _signal(pid: int, sig: int, *, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
