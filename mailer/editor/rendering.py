"""Rendering for editor previews: the sending code's own renderers, run in a render thread
(``core.offload``) and kept in a small cache, so that a preview page and its two frames, which
the browser asks for at once, render a draft once and never on the event loop."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from mailer.compose import notices
from mailer.compose.message import Rendered
from mailer.compose.render import ArticleView, DigestView, Renderer
from mailer.core.headers import Identity
from mailer.core.memo import Memo
from mailer.core.offload import off_loop
from mailer.shares import mail


class PreviewRenderer:
    """``Renderer`` in a render thread with a small cache, so the page and its two frames (which
    the browser asks for at once) render a draft once."""

    def __init__(self, renderer: Renderer, size: int = 32) -> None:
        self.renderer = renderer
        self._cache: Memo[str, Rendered] = Memo(size)

    async def _cached(self, key: str, make: Callable[[], Rendered]) -> Rendered:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return await self._cache.get(digest, lambda: off_loop(make))

    async def digest(self, view: DigestView, identity: Identity) -> Rendered:
        return await self._cached(repr(("digest", view, identity)), lambda: self.renderer.digest(view, identity))

    async def render(
        self, kind: str, identity: Identity, context: Mapping[str, Any], list_name: str | None
    ) -> Rendered:
        return await self._cached(
            repr((kind, identity, list_name, sorted(context.items()))),
            lambda: self.renderer.render(kind, identity, context, list_name=list_name),
        )

    async def share(self, article: ArticleView, site_url: str | None) -> Rendered:
        identity = mail.share_identity(self.renderer.settings)
        return await self._cached(
            repr(("share", identity, article, site_url)),
            lambda: mail.render_share(self.renderer, identity, article, with_note=False, site_url=site_url),
        )

    async def notice(self, kind: str, identity: Identity, site_url: str | None) -> Rendered:
        make = notices.RENDERERS[kind]
        return await self._cached(repr(("notice", kind, identity, site_url)),
                                  lambda: make(self.renderer, identity, site_url))
