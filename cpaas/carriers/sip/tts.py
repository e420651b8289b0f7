"""Text to speech for ``Say``: espeak-ng (Debian) rendered, sox-resampled to 8 kHz 16-bit mono.

Rendered prompts are kept (by text, voice, language) in a small in-process cache: IVR menus
repeat the same sentences, and a render costs ~50 ms of CPU.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import OrderedDict

CACHE_SIZE = 256
_cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()


class TtsError(RuntimeError):
    pass


def available() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def espeak_voice(voice: str, language: str) -> str:
    """espeak-ng's voice name for a document's ``language`` ("en-US" → "en-us"); ``voice`` "woman"
    picks espeak's female variant."""
    name = (language or "en-US").lower()
    return f"{name}+f3" if voice in ("woman", "female", "alice") else name


async def render(text: str, *, voice: str = "", language: str = "") -> bytes:
    """``text`` as 16-bit little-endian 8 kHz mono samples."""
    key = (text, espeak_voice(voice, language))
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    wav = await _run(["espeak-ng", "-v", key[1], "--stdout", "--", text], b"")
    if not wav:  # an unknown voice: espeak says so on stderr and writes nothing
        wav = await _run(["espeak-ng", "--stdout", "--", text], b"")
    pcm = await _run(["sox", "-t", "wav", "-", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1",
                      "-L", "-"], wav)
    _cache[key] = pcm
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return pcm


async def to_pcm(data: bytes, kind: str) -> bytes:
    """Audio of type ``kind`` ("wav", "mp3") converted by sox to 8 kHz 16-bit mono samples."""
    return await _run(["sox", "-t", kind, "-", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1",
                       "-L", "-"], data)


async def _run(argv: list[str], data: bytes) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate(data)
    if process.returncode != 0:
        raise TtsError(f"{argv[0]} failed ({process.returncode}): {err.decode(errors='replace')[-300:]}")
    return out
