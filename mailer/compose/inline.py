"""CSS inlining: the only module that calls premailer, once per edition variant."""

from __future__ import annotations

import logging

from premailer import Premailer


def inline_css(html: str, css: str) -> str:
    """Move ``css`` into ``style`` attributes; rules that cannot be inlined (media queries) stay
    in one ``<style>`` in ``<head>``, the only place Gmail keeps them."""
    return str(
        Premailer(
            html,
            css_text=css,
            keep_style_tags=False,
            remove_classes=False,  # the media queries still select by class
            strip_important=False,  # they win over inline styles only with !important
            disable_validation=True,
            allow_network=False,
            allow_loading_external_files=False,
            disable_link_rewrites=True,
            # premailer would turn CSS widths into attributes (an image's width="552" into
            # width="100%" height="auto"); Outlook draws images by that attribute, so the
            # templates write every width and height attribute themselves
            disable_basic_attributes=["width", "height"],
            cssutils_logging_level=logging.CRITICAL,
        ).transform()
    )
