"""The README's gallery: the digest, the share mail and the welcome mail, each at 375 and 600 px,
light and dark, screenshotted in Chromium from real rendered mail (the project's renderer,
premailer and MIME code on the site's own article, read back from the message's HTML part).
The article photos are generated placeholders (no network here); everything else is the mail.

    python bench/gallery.py [--out tests/screenshots/gallery] [--chromium /usr/bin/chromium]

It also prints what the pictures measure: the page height of each, and the HTML size and the
phone height of a ten-story and a twenty-story digest.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailer.core.settings import load_settings  # noqa: E402
from tests.support import samples  # noqa: E402
from tests.support.mailview import open_mail  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests/screenshots/gallery")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.async_api import async_playwright

    settings = load_settings(
        data_dir=Path(tempfile.mkdtemp()), secret_key="gallery-" + "x" * 40, site_url=samples.SITE,
        base_url="https://newsletter.news.example.com", sender_address="newsletter@news.example.com",
    )
    mails = {
        "digest": samples.html_of(samples.digest(settings, samples.articles(8, without_image=(3,)))),
        "share": samples.html_of(samples.share(settings, samples.articles(1)[0], sender_name="سارة")),
        "welcome": samples.html_of(samples.welcome(settings)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            for kind, html in mails.items():
                for width in (375, 600):
                    for scheme in ("light", "dark"):
                        page = await open_mail(browser, html, width=width, scheme=scheme)
                        path = args.out / f"{kind}-{width}-{scheme}.png"
                        await page.screenshot(path=str(path), full_page=True)
                        height = await page.evaluate("document.documentElement.scrollHeight")
                        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {height} px high")
                        await page.close()
            for stories in (10, 20):
                html = samples.html_of(samples.digest(settings, samples.articles(stories, without_image=(3,))))
                page = await open_mail(browser, html, width=375)
                height = await page.evaluate("document.documentElement.scrollHeight")
                size = len(html.encode()) / 1024
                print(f"digest of {stories} stories: {size:.1f} KB of HTML, {height} px on a 375 px phone")
                await page.close()
        finally:
            await browser.close()


if __name__ == "__main__":
    asyncio.run(main())
