"""Mail HTML opened in Chromium the way a reader's client shows it: a viewport of a given width,
light or dark, images served (placeholders) or blocked; and what the screen shows of it."""

from __future__ import annotations

from typing import Any

from tests.support.images import serve_images

# The characters of an element in the order they appear on screen, left to right (one line: the
# caller sets white-space:nowrap), each measured with Range.getClientRects(); ties (a combining
# mark on its letter) keep their logical order.
VISUAL_ORDER = """(el) => {
  const chars = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let index = 0;
  while (walker.nextNode()) {
    const node = walker.currentNode;
    for (let i = 0; i < node.data.length; i++, index++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (rect) chars.push({c: node.data[i], x: rect.left + rect.width / 2, i: index});
    }
  }
  chars.sort((a, b) => (a.x - b.x) || (a.i - b.i));
  return chars.map(c => c.c).join('');
}"""

# the same text as a plain block with the element's font: what the site's article page shows
PLAIN_TWIN = """([el, dir]) => {
  const twin = document.createElement('div');
  twin.setAttribute('dir', dir);
  twin.style.font = getComputedStyle(el).font;
  twin.style.whiteSpace = 'nowrap';
  twin.textContent = el.textContent;
  document.body.appendChild(twin);
  return twin;
}"""


async def open_mail(browser: Any, html: str, *, width: int, scheme: str = "light", blocked: bool = False) -> Any:
    page = await browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    await serve_images(page, blocked=blocked)
    await page.set_content(html, wait_until="load")
    return page


async def one_line(page: Any) -> None:
    """No wrapping anywhere (the bidi order does not depend on it; line breaks would)."""
    await page.add_style_tag(content="* { white-space: nowrap !important; }")
