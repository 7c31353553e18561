"""The digest's news layout, pure: the lead first, then sections in the edition's order."""

from __future__ import annotations

from dataclasses import dataclass

from mailer.compose.layout import OTHER_NEWS, news_layout


@dataclass(frozen=True)
class A:
    title: str
    section: str | None


def test_lead_then_groups_by_section_in_the_editions_order_unsectioned_last() -> None:
    items = [A("1", "رياضة"), A("2", None), A("3", "سياسة"), A("4", "رياضة"), A("5", "سياسة")]
    layout = news_layout(items)
    assert layout.lead == items[0]
    assert [(g.heading, [a.title for a in g.articles], g.start) for g in layout.groups] == [
        ("سياسة", ["3", "5"], 2), ("رياضة", ["4"], 4), (OTHER_NEWS, ["2"], 5),
    ]


def test_one_section_or_none_needs_no_heading() -> None:
    same = news_layout([A("1", "رياضة"), A("2", "رياضة"), A("3", "رياضة")])
    assert [(g.heading, len(g.articles), g.start) for g in same.groups] == [(None, 2, 2)]
    assert news_layout([A("1", None)]).groups == ()
    empty = news_layout([])
    assert empty.lead is None and empty.groups == ()
