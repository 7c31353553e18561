"""A digest's news layout, pure: the lead story (the editor's first pick, else the newest: the
edition's first article), then the others, grouped by section when they come from several (groups
in the order the edition first reaches them, articles without a section last), each numbered
for the plain-text part."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

OTHER_NEWS = "أخبار أخرى"  # the heading of articles without a section, among sectioned ones


class HasSection(Protocol):
    @property
    def section(self) -> str | None: ...


A = TypeVar("A", bound=HasSection)


@dataclass(frozen=True)
class Group(Generic[A]):
    heading: str | None  # None: a single group, shown without a heading
    articles: tuple[A, ...]
    start: int  # the number of its first article (the lead is 1)


@dataclass(frozen=True)
class Layout(Generic[A]):
    lead: A | None
    groups: tuple[Group[A], ...]


def news_layout(articles: Sequence[A]) -> Layout[A]:
    if not articles:
        return Layout(None, ())
    lead, rest = articles[0], articles[1:]
    sections = list(dict.fromkeys(a.section for a in rest))
    if len(sections) <= 1:
        return Layout(lead, (Group(None, tuple(rest), 2),) if rest else ())
    groups: list[Group[A]] = []
    start = 2
    for name in sorted(sections, key=lambda s: s is None):  # articles without a section last
        members = tuple(a for a in rest if a.section == name)
        groups.append(Group(name or OTHER_NEWS, members, start))
        start += len(members)
    return Layout(lead, tuple(groups))
