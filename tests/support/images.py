"""Pictures for mail rendered in Chromium: the articles' image URLs answered with generated PNGs
(no network; the standard library's zlib writes them), everything else off loopback refused."""

from __future__ import annotations

import struct
import zlib
from functools import cache
from typing import Any

IMAGE_HOST = "https://news.example.com/images/"
PALETTE = [((32, 58, 96), (196, 120, 64)), ((24, 88, 72), (220, 200, 150)), ((90, 40, 60), (240, 170, 120)),
           ((40, 40, 44), (150, 170, 190)), ((70, 90, 30), (230, 220, 170))]


@cache  # pure Python, a fraction of a second each: made once per process, not once per page
def png(width: int, height: int, seed: int = 0) -> bytes:
    """A photo-like placeholder: a diagonal gradient between two colours, a darker band below."""
    top, bottom = PALETTE[seed % len(PALETTE)]
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")  # filter type 0 per row
        for x in range(width):
            t = (x / max(width - 1, 1) + y / max(height - 1, 1)) / 2
            shade = 0.7 if y > height * 0.72 else 1.0
            row += bytes(int((a + (b - a) * t) * shade) for a, b in zip(top, bottom, strict=True))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
            + chunk(b"IEND", b""))


async def serve_images(page: Any, *, blocked: bool = False) -> None:
    """Answer ``IMAGE_HOST`` with placeholders (or refuse them: images blocked, as Outlook does
    by default); refuse every other request that would leave the machine."""

    async def handle(route: Any) -> None:
        url = route.request.url
        if url.startswith(IMAGE_HOST) and not blocked:
            await route.fulfill(status=200, content_type="image/png", body=png(640, 360, sum(url.encode())))
        elif url.startswith(("http://127.0.0.1", "data:", "about:")):
            await route.continue_()
        else:
            await route.abort()

    await page.route("**/*", handle)
