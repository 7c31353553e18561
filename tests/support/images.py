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


@cache  # made once per process, not once per page
def png(width: int, height: int, seed: int = 0) -> bytes:
    """A photo-like placeholder: a diagonal gradient between two colours, a darker band below.
    Each row is a slice of one precomputed gradient (a per-pixel loop took seconds an image)."""
    top, bottom = PALETTE[seed % len(PALETTE)]
    span = max(2 * (width - 1), 1)

    def gradient(shade: float) -> bytes:
        return b"".join(
            bytes(int((a + (b - a) * k / span) * shade) for a, b in zip(top, bottom, strict=True))
            for k in range(span + 1)
        )

    light, dark = gradient(1.0), gradient(0.7)
    rows = []
    for y in range(height):
        offset = round(y * (width - 1) / max(height - 1, 1))
        ground = dark if y > height * 0.72 else light
        rows.append(b"\x00" + ground[3 * offset:3 * (offset + width)])  # filter type 0 per row

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
