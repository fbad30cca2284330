"""What a WAV, AIFF or AU header promises: finding files cut off after their header was written.

libsndfile trusts the sizes in these headers only partly; :func:`header_truncation` compares the
sample data a header declares with the bytes the file holds, so :func:`speech.audio.info` can warn
about a cut-off download or copy (and :func:`speech.audio.load` can say why a file holds no
samples). Pure byte parsing of the first 64 KiB; any parse failure means "nothing to say".
"""

from __future__ import annotations

import os
import struct

__all__ = ["SIZED_FORMATS", "header_truncation"]

#: soundfile's names of the containers whose header sizes are parsed here (others are not re-read).
SIZED_FORMATS = ("WAV", "WAVEX", "AIFF", "AU")

# AU encodings -> bytes per sample (8-bit mu-law/linear/A-law, 16/24/32-bit PCM, float, double)
_AU_WIDTH = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}


def _unknown_size(n: int) -> bool:
    """Data sizes that streaming writers put in a header when the length is not known yet."""
    return n == 0 or n >= 0x7FFF0000


def header_truncation(p: str) -> tuple[int, int] | None:
    """``(frames the header promises, whole frames the file holds)`` when a WAV / AIFF / AU
    header declares more sample data than the file holds, else None.

    Only the first 64 KiB are parsed (the headers' chunk lists); any parse failure means "nothing
    to say": decoding problems are libsndfile's to report.
    """
    try:
        size = os.path.getsize(p)
        with open(p, "rb") as fh:
            head = fh.read(65536)
        got = _declared_data(head)
    except (OSError, struct.error, ValueError):
        return None
    if got is None:
        return None
    data_offset, data_bytes, frame_bytes = got
    if frame_bytes <= 0 or _unknown_size(data_bytes) or data_offset + data_bytes <= size:
        return None
    promised, held = data_bytes // frame_bytes, max(0, size - data_offset) // frame_bytes
    return (promised, held) if promised > held else None


def _declared_data(head: bytes) -> tuple[int, int, int] | None:
    """(offset of the sample data, bytes the header says it holds, bytes per frame) from a WAV,
    AIFF or AU header, or None for other formats / compressed data."""
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        end = "<" if head[:4] == b"RIFF" else ">"
        pos, frame_bytes = 12, 0
        for _ in range(256):
            if pos + 8 > len(head):
                return None
            cid, csize = head[pos:pos + 4], struct.unpack(end + "I", head[pos + 4:pos + 8])[0]
            if cid == b"fmt ":
                frame_bytes = struct.unpack(end + "H", head[pos + 20:pos + 22])[0]  # block align
            elif cid == b"data":
                return pos + 8, csize, frame_bytes
            pos += 8 + csize + (csize & 1)
        return None
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        pos, frame_bytes = 12, 0
        for _ in range(256):
            if pos + 8 > len(head):
                return None
            cid, csize = head[pos:pos + 4], struct.unpack(">I", head[pos + 4:pos + 8])[0]
            if cid == b"COMM":
                channels, _, bits = struct.unpack(">hIh", head[pos + 8:pos + 16])
                if head[8:12] == b"AIFC" and head[pos + 26:pos + 30] not in (b"NONE", b"sowt"):
                    return None  # compressed: bytes per frame vary
                frame_bytes = channels * ((bits + 7) // 8)
            elif cid == b"SSND":
                offset = struct.unpack(">I", head[pos + 8:pos + 12])[0]
                return pos + 16 + offset, csize - 8 - offset, frame_bytes
            pos += 8 + csize + (csize & 1)
        return None
    if head[:4] == b".snd":
        offset, nbytes, enc, _, channels = struct.unpack(">IIIII", head[4:24])
        width = _AU_WIDTH.get(enc)
        if width is None or nbytes == 0xFFFFFFFF:
            return None
        return offset, nbytes, width * channels
    return None
