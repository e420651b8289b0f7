"""A real third-party SIP user agent (Debian's baresip) for tests that need a far end.

``baresip_ua(workdir)`` starts one baresip process on loopback ports with its own config in
``workdir``: it auto-answers every call, sends a WAV (or silence) as its microphone, records what
it hears to WAV files, and is driven over baresip's ``ctrl_tcp`` JSON interface (dial, DTMF,
hang up) whose events (``CALL_ESTABLISHED``, ``CALL_DTMF_START``, ``REGISTER_OK``…) a test can
wait for. It registers with digest auth to a registrar when given a username and password.

Why baresip: it is in Debian, starts in ~50 ms without a sound card, speaks PCMU/PCMA and
RFC 4733 telephone-events, and its ``sndfile`` filter records the decoded far-end audio. What we
measured and why it was chosen is in docs/decisions/0980-voice-sip-engines.md.

baresip 1.0 quirks this module absorbs:
- it binds TCP ``sip_port + 1`` for TLS too, so both ports must be free;
- its file source hangs the call up at end of file, so the WAV it plays is padded with silence
  to ``hold_seconds``;
- it has no null audio player; ``aubridge`` with a device of its own is one that nothing reads.
"""

from __future__ import annotations

import array
import contextlib
import json
import math
import queue
import random
import shutil
import socket
import subprocess
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BARESIP = "baresip"
MODULES_DIR = Path("/usr/lib/baresip/modules")
RATE = 8000  # the sample rate of PCMU/PCMA; every WAV this module writes is 8 kHz mono 16-bit


class SipUAError(RuntimeError):
    """The UA did not start, or an awaited event did not come."""


def missing_binaries() -> list[str]:
    """Names of the Debian programs this module needs that are not installed (for skip reasons)."""
    return [name for name in (BARESIP,) if not shutil.which(name)] + (
        [] if (MODULES_DIR / "sndfile.so").exists() else [f"{MODULES_DIR}/sndfile.so"]
    )


# --- WAV helpers -------------------------------------------------------------------------------

def write_tone(path: Path, *, seconds: float, hz: float = 440.0, amplitude: float = 0.3) -> Path:
    """A sine tone (8 kHz mono 16-bit): audio whose presence at the far end is easy to prove."""
    frames = int(seconds * RATE)
    samples = array.array("h", (int(amplitude * 32767 * math.sin(2 * math.pi * hz * n / RATE)) for n in range(frames)))
    _write_samples(path, samples)
    return path


def write_speech(path: Path, text: str) -> Path:
    """``text`` spoken by espeak-ng and resampled to 8 kHz with sox (both from Debian)."""
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(path)],
                   check=True, capture_output=True)
    raw.unlink()
    return path


def wav_rms(path: Path) -> float:
    """Root-mean-square level of a 16-bit WAV, 0.0 (silence) to 1.0 (full scale)."""
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit samples, got {8 * w.getsampwidth()}-bit")
        samples = array.array("h", w.readframes(w.getnframes()))
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def _write_samples(path: Path, samples: array.array) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())


def _source_wav(play: Path | None, hold_seconds: float, dest: Path) -> Path:
    """``play`` as 8 kHz mono 16-bit, padded with silence to ``hold_seconds`` (see module doc)."""
    samples = array.array("h")
    if play is not None:
        with wave.open(str(play)) as w:
            native = (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        if not native:
            converted = dest.with_suffix(".converted.wav")
            subprocess.run(["sox", str(play), "-r", str(RATE), "-c", "1", "-b", "16", str(converted)],
                           check=True, capture_output=True)
            play = converted
        with wave.open(str(play)) as w:
            samples.frombytes(w.readframes(w.getnframes()))
    samples.extend([0] * max(0, int(hold_seconds * RATE) - len(samples)))
    _write_samples(dest, samples)
    return dest


# --- ports -------------------------------------------------------------------------------------

def _free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_ports() -> tuple[int, int, int]:
    """(sip, ctrl, rtp_base): SIP on UDP+TCP, TLS on TCP sip+1, ctrl on TCP, ten RTP ports on UDP."""
    rng = random.Random()
    for _ in range(200):
        sip, ctrl, rtp = rng.randrange(21000, 29000, 2), rng.randrange(31000, 32000), rng.randrange(33000, 39000, 10)
        if (_free(sip, socket.SOCK_DGRAM) and _free(sip, socket.SOCK_STREAM) and _free(sip + 1, socket.SOCK_STREAM)
                and _free(ctrl, socket.SOCK_STREAM) and all(_free(p, socket.SOCK_DGRAM) for p in range(rtp, rtp + 10))):
            return sip, ctrl, rtp
    raise SipUAError("no free loopback ports for a SIP UA")


# --- the UA ------------------------------------------------------------------------------------

@dataclass
class SipUA:
    """A running baresip. Events arrive on ``events`` from one reader thread started in ``_connect``."""

    name: str
    workdir: Path
    sip_port: int
    ctrl_port: int
    aor: str
    process: subprocess.Popen
    events: queue.Queue = field(default_factory=queue.Queue)
    _sock: socket.socket | None = None
    _reader: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uri(self) -> str:
        """Where to reach this UA directly (not through a registrar)."""
        return f"sip:{self.name}@127.0.0.1:{self.sip_port}"

    @property
    def recordings_dir(self) -> Path:
        return self.workdir / "recordings"

    def command(self, command: str, params: str = "") -> None:
        """Send one ctrl_tcp command (``dial``, ``sndcode``, ``hangup``, ``quit``…)."""
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        with self._lock:
            assert self._sock is not None
            self._sock.sendall(b"%d:%s," % (len(body), body))

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def send_dtmf(self, digits: str, gap: float = 0.25) -> None:
        """RFC 4733 telephone-events on the current call, one digit every ``gap`` seconds."""
        for digit in digits:
            self.command("sndcode", digit)
            time.sleep(gap)

    def hangup(self) -> None:
        self.command("hangup")

    def wait_event(self, kind: str, timeout: float = 10.0) -> dict:
        """The next event of type ``kind`` (earlier events of other types are dropped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if event.get("type") == kind:
                return event
            if event.get("type") == "EXITED":
                break
        raise SipUAError(f"{self.name}: no {kind} within {timeout} s; log tail:\n{self.log_tail()}")

    def received_audio(self) -> list[Path]:
        """WAVs of what this UA heard, one per call, oldest first (sndfile's ``*-dec.wav``)."""
        return sorted(self.recordings_dir.glob("dump-*-dec.wav"), key=lambda p: p.stat().st_mtime)

    def log_tail(self, lines: int = 30) -> str:
        log = self.workdir / "baresip.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])

    def _connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise SipUAError(f"{self.name}: baresip exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SipUAError(f"{self.name}: ctrl_tcp did not open:\n{self.log_tail()}") from None
                time.sleep(0.05)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_events, name=f"sipua-{self.name}", daemon=True)
        self._reader.start()

    def _read_events(self) -> None:
        """Parse ctrl_tcp netstrings (``LEN:JSON,``) into ``events`` until the socket closes."""
        buf = b""
        assert self._sock is not None
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.events.put({"type": "EXITED"})
                return
            buf += chunk
            while (colon := buf.find(b":")) > 0 and len(buf) >= colon + 2 + int(buf[:colon]):
                size = int(buf[:colon])
                message = json.loads(buf[colon + 1:colon + 1 + size])
                buf = buf[colon + 2 + size:]
                if message.get("event"):
                    self.events.put(message)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask baresip to quit (it hangs up and unregisters), then TERM, then KILL."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError, AssertionError):
                self.command("quit")
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        if self._sock is not None:
            self._sock.close()
        if self._reader is not None:
            self._reader.join(timeout=timeout)


_CONFIG = """\
poll_method poll
sip_listen 127.0.0.1:{sip}
net_interface 127.0.0.1
audio_player aubridge,{device}
audio_alert aubridge,{device}
audio_source aufile,{source}
audio_srate 8000
audio_channels 1
rtp_ports {rtp}-{rtp_end}
module_path {modules}
module g711.so
{codec_modules}module aufile.so
module aubridge.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl}
snd_path {recordings}
"""


@contextlib.contextmanager
def baresip_ua(
    workdir: Path,
    *,
    name: str = "ua",
    play: Path | None = None,
    hold_seconds: float = 60.0,
    registrar: str | None = None,
    username: str | None = None,
    password: str | None = None,
    domain: str | None = None,
    outbound: str | None = None,
    codecs: str = "PCMU,PCMA",
    auto_answer: bool = True,
    codec_modules: tuple[str, ...] = (),
    start_timeout: float = 10.0,
) -> Iterator[SipUA]:
    """A running baresip in ``workdir`` (created), stopped on exit.

    ``play`` is its microphone (any WAV sox reads; silence if None), held for ``hold_seconds`` per
    call. With ``registrar`` ("host:port"), ``username`` and ``password`` it registers there with
    digest auth (wait for ``REGISTER_OK``/``REGISTER_FAIL``) and its address becomes
    ``sip:username@registrar``; without, it answers on ``ua.uri`` and never registers. With
    ``domain`` too, its address is ``sip:username@domain`` and every request goes to ``registrar``
    as its outbound proxy (the domain need not resolve). ``outbound`` ("host:port") sends an
    unregistered UA's requests through a proxy.
    ``auto_answer=False``: incoming calls ring until the caller gives up (CANCEL).
    ``codec_modules`` loads more codecs than G.711 (``("g722",)``; name them in ``codecs`` too).
    """
    if missing := missing_binaries():
        raise SipUAError(f"not installed: {', '.join(missing)}")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "recordings").mkdir(exist_ok=True)
    source = _source_wav(play, hold_seconds, workdir / "source.wav")
    sip, ctrl, rtp = _pick_ports()
    (workdir / "config").write_text(_CONFIG.format(
        sip=sip, ctrl=ctrl, rtp=rtp, rtp_end=rtp + 9, device=f"{name}-{sip}", source=source,
        modules=MODULES_DIR, recordings=workdir / "recordings",
        codec_modules="".join(f"module {name}.so\n" for name in codec_modules),
    ))
    # A registering account is added with `uanew` once ctrl_tcp is connected, so that its
    # REGISTER_OK / REGISTER_FAIL event cannot fire before anyone listens.
    params = f";answermode={'auto' if auto_answer else 'manual'};audio_codecs={codecs}"
    if registrar:
        if not (username and password):
            raise ValueError("a registrar needs a username and a password")
        aor = f"sip:{username}@{domain or registrar}"
        params += f";auth_pass={password};regint=60"
        if domain:
            params += f';outbound="sip:{registrar}"'
    else:
        aor = f"sip:{name}@127.0.0.1:{sip}"
        params += ";regint=0"
        if outbound:
            params += f';outbound="sip:{outbound}"'
    (workdir / "accounts").write_text("" if registrar else f"<{aor}>{params}\n")
    with open(workdir / "baresip.log", "wb") as log:
        process = subprocess.Popen([BARESIP, "-4", "-f", str(workdir)], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=workdir)
    ua = SipUA(name=name, workdir=workdir, sip_port=sip, ctrl_port=ctrl, aor=aor, process=process)
    try:
        ua._connect(start_timeout)
        if registrar:
            ua.command("uanew", f"<{aor}>{params}")
        yield ua
    finally:
        ua.stop()
